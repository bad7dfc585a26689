"""QLDB's control plane (boto3 ``qldb``) and its session API, on one port, for many ledgers.

Former QLDB users point ``AWS_ENDPOINT_URL_QLDB`` and ``AWS_ENDPOINT_URL_QLDB_SESSION`` at
the same ``consortium ledger serve`` port. The two APIs are told apart as AWS tells them
apart: the session API is ``POST /`` with ``X-Amz-Target: QLDBSession.SendCommand`` (AWS
JSON 1.0, ``ledgerdb.qldb_session``); the control plane is REST-JSON, one path per
operation, exactly as botocore's ``qldb`` 2019-01-02 model defines them (method, path,
query string, body members, epoch-second timestamps, Ion text in ``ValueHolder``).

Errors are QLDB's: the model's exception name in ``x-amzn-ErrorType`` and ``__type``, its
HTTP status, a message naming the field (and ``ParameterName`` / ``ResourceName``), never
a bare 404. Every operation validates all of its input before it changes anything.

Proofs are QLDB's: GetRevision's proof folds with ``dot`` from the revision hash to the
digest, GetBlock's from the block hash (``ledgerdb.revision_proof``), so the tutorial's
verifier accepts them. Exports run as QLDB's did, in the background
(``ledgerdb.qldb_export``). Kinesis streaming is not offered: its operations answer
``InvalidParameterException`` saying so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

from aiohttp import web
from amazon.ion import simpleion

from ledgerdb import errors
from ledgerdb.block import new_id
from ledgerdb.database import LedgerDatabase
from ledgerdb.export import block_ion_text
from ledgerdb.ion_input import load_untrusted
from ledgerdb.qldb_export import ExportTarget, run_export
from ledgerdb.qldb_ledgers import (
    PERMISSIONS_MODES,
    LedgerExists,
    LedgerProtected,
    LedgerRecord,
    QldbLedgers,
    ledger_arn,
)
from ledgerdb.qldb_permissions import LedgerAccess, Policies
from ledgerdb.qldb_session import (
    BadRequestException,
    QldbSessionError,
    QldbSessionServer,
    authenticate,
    send_command,
)
from ledgerdb.sigv4 import Credentials

__all__ = ["QldbControlError", "QldbEndpoint", "start_qldb_endpoint"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_LEDGER_NAME = re.compile(r"(?!^.*--)(?!^[0-9]+$)(?!^-)(?!.*-$)^[A-Za-z0-9-]{1,32}$")
_UNIQUE_ID = re.compile(r"^[A-Za-z0-9-]{22}$")
_NEXT_TOKEN = re.compile(r"^[A-Za-z0-9+/=-]{4,1024}$")
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{3,255}$")
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
_INNER_TOKEN = 22  # the session table's tokens; the ledger's name follows in ours
CONTENT_TYPE = "application/json"
_MAX_BODY = 8 * 1024 * 1024


# --- errors: the qldb model's exception shapes -------------------------------------------


class QldbControlError(errors.LedgerError):
    """A control-plane error; ``code`` is the model's exception name."""

    status = 400
    code = "InvalidParameterException"

    def __init__(self, message: str, **fields: str) -> None:
        super().__init__(message)
        self.fields = fields

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "Message": str(self), "message": str(self), **self.fields}


class InvalidParameterException(QldbControlError):
    """A request member is missing or malformed; ``ParameterName`` names it."""


class ResourceNotFoundException(QldbControlError):
    """No ledger (or export, or ARN) of that name on this server."""

    status, code = 404, "ResourceNotFoundException"


class ResourcePreconditionNotMetException(QldbControlError):
    """The ledger is not in a state for this: deletion protection on, no block yet."""

    status, code = 412, "ResourcePreconditionNotMetException"


class ResourceAlreadyExistsException(QldbControlError):
    """CreateLedger named a ledger that exists."""

    status, code = 409, "ResourceAlreadyExistsException"


class UnknownOperation(QldbControlError):
    """No operation of either API has this method and path."""

    status, code = 404, "UnknownOperationException"


def _missing_ledger(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"Ledger {name} does not exist", ResourceType="Ledger", ResourceName=name
    )


# --- request members ---------------------------------------------------------------------


def _name(value: Any, field: str = "Name") -> str:
    if not isinstance(value, str) or not _LEDGER_NAME.match(value):
        raise InvalidParameterException(
            f"{field} {value!r} is not a ledger name (1-32 letters, digits and single "
            "hyphens, not all digits, no leading or trailing hyphen)",
            ParameterName=field,
        )
    return value


def _required(body: Mapping[str, Any], field: str) -> Any:
    if body.get(field) is None:
        raise InvalidParameterException(f"{field} is required", ParameterName=field)
    return body[field]


def _boolean(body: Mapping[str, Any], field: str, default: bool | None) -> bool | None:
    value = body.get(field, default)
    if value is not None and not isinstance(value, bool):
        raise InvalidParameterException(f"{field} must be a boolean", ParameterName=field)
    return value


def _permissions(value: Any) -> str:
    if value not in PERMISSIONS_MODES:
        raise InvalidParameterException(
            f"PermissionsMode {value!r} is not one of {', '.join(PERMISSIONS_MODES)}",
            ParameterName="PermissionsMode",
        )
    return value


def _tags(value: Any, field: str = "Tags") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 200:
        raise InvalidParameterException(f"{field} must map at most 200 keys", ParameterName=field)
    for key, item in value.items():
        if not 1 <= len(key) <= 128 or not isinstance(item, str) or len(item) > 256:
            raise InvalidParameterException(
                f"{field}: tag {key!r} needs a 1-128 character key and a value of at most 256",
                ParameterName=field,
            )
    return dict(value)


def _kms(body: Mapping[str, Any]) -> None:
    key = body.get("KmsKey")
    if key not in (None, "AWS_OWNED_KMS_KEY"):
        raise InvalidParameterException(
            "KmsKey: customer managed KMS keys are not supported; omit it or give "
            "AWS_OWNED_KMS_KEY",
            ParameterName="KmsKey",
        )


def _ion_struct(holder: Any, field: str) -> Any:
    """A ``ValueHolder`` (``{"IonText": …}``) holding one Ion struct."""
    if not isinstance(holder, dict) or not isinstance(holder.get("IonText"), str):
        raise InvalidParameterException(f"{field} must be {{IonText: …}}", ParameterName=field)
    try:
        value = load_untrusted(holder["IonText"])
    except Exception as exc:  # amazon.ion raises several unrelated types on bad text
        raise InvalidParameterException(
            f"{field}.IonText is not one Ion value: {exc}", ParameterName=field
        ) from None
    if not isinstance(value, Mapping):
        raise InvalidParameterException(
            f"{field}.IonText must be an Ion struct", ParameterName=field
        )
    return value


def _address(holder: Any, field: str, database: LedgerDatabase) -> int:
    """The sequence number of a ``{strandId, sequenceNo}`` address in this ledger."""
    value = _ion_struct(holder, field)
    strand, number = value.get("strandId"), value.get("sequenceNo")
    if not isinstance(strand, str) or isinstance(number, bool) or not isinstance(number, int):
        raise InvalidParameterException(
            f"{field} must be {{strandId: string, sequenceNo: int}}", ParameterName=field
        )
    if strand != database.strand_id:
        raise InvalidParameterException(
            f"{field}.strandId {strand!r} is not this ledger's strand", ParameterName=field
        )
    tip = database.journal.tip
    if number < 0 or tip is None or number > tip.sequence_no:
        raise InvalidParameterException(
            f"{field}.sequenceNo {number} is not a block of this ledger "
            f"(0 to {-1 if tip is None else tip.sequence_no})",
            ParameterName=field,
        )
    return int(number)


def _timestamp(body: Mapping[str, Any], field: str) -> float:
    value = _required(body, field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterException(f"{field} must be a timestamp", ParameterName=field)
    return float(value)


def _ion_text(value: Any) -> dict[str, str]:
    return {"IonText": simpleion.dumps(value, binary=False, omit_version_marker=True)}


def _describe(record: LedgerRecord) -> dict[str, Any]:
    return {
        "Name": record.name,
        "Arn": record.arn,
        "State": "ACTIVE",
        "CreationDateTime": record.created,
        "PermissionsMode": record.permissions_mode,
        "DeletionProtection": record.deletion_protection,
    }


def _page(items: list[Any], query: Mapping[str, str], key: str) -> dict[str, Any]:
    """One page of ``items`` (already in order) by QLDB's MaxResults / NextToken."""
    raw_max = query.get("max_results", "100")
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= 100:
        raise InvalidParameterException("MaxResults must be 1 to 100", ParameterName="MaxResults")
    start = 0
    if "next_token" in query:
        token = query["next_token"]
        try:
            start = int(base64.b64decode(token, validate=True).decode().removeprefix("from:"))
        except ValueError:
            start = -1
        if not _NEXT_TOKEN.match(token) or not 0 <= start <= len(items):
            raise InvalidParameterException(
                "NextToken is not one this API gave", ParameterName="NextToken"
            )
    stop = start + int(raw_max)
    page: dict[str, Any] = {key: items[start:stop]}
    if stop < len(items):
        page["NextToken"] = base64.b64encode(f"from:{stop}".encode()).decode()
    return page


# --- the endpoint -------------------------------------------------------------------------


class QldbEndpoint:
    """One aiohttp application: the session API for every ledger plus the control plane."""

    def __init__(
        self,
        ledgers: QldbLedgers,
        *,
        export_target: ExportTarget,
        any_name_ledger: str | None = None,
        credentials: Credentials | None = None,
        policies: Policies | None = None,
    ) -> None:
        self.ledgers = ledgers
        self.policies = policies  # STANDARD-mode ledgers: who may run which PartiQL command
        self.credentials = credentials  # None: SigV4 headers are checked, not verified
        self.export_target = export_target
        self.any_name_ledger = any_name_ledger  # --ledger without --ledger-name: any name
        self._sessions: dict[str, QldbSessionServer] = {}
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="qldb-control")
        self._exports: set[asyncio.Task[None]] = set()
        self.app = web.Application(client_max_size=_MAX_BODY)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.app.on_cleanup.append(self._on_cleanup)
        self._routes = _routes(self)

    async def _on_cleanup(self, _: web.Application) -> None:
        for task in list(self._exports):
            task.cancel()
        for server in self._sessions.values():
            await server.close()
        self._executor.shutdown(wait=True)
        self.ledgers.close()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    # -- dispatch -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "POST" and request.path == "/" and "X-Amz-Target" in request.headers:
            return await send_command(request, self._send, _MAX_BODY, self.credentials)
        try:
            await authenticate(request, self.credentials, _MAX_BODY)
            handler, params = self._route(request)
            body = await self._json(request)
            status, result = await handler(request, params, body)
            return _respond(status, result)
        except Exception as exc:
            error = self._translate(exc)
            return _respond(error.status, error.body(), error.code)

    def _route(self, request: web.Request) -> tuple[Any, dict[str, str]]:
        path = request.raw_path.split("?")[0]
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                params = {key: unquote(value) for key, value in match.groupdict().items()}
                return handler, params
        raise UnknownOperation(f"{request.method} {path} is no operation of QLDB's API")

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise InvalidParameterException(f"request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidParameterException("request body must be a JSON object")
        return body

    @staticmethod
    def _translate(exc: BaseException) -> QldbControlError | QldbSessionError:
        if isinstance(exc, QldbControlError | QldbSessionError):
            return exc
        if isinstance(exc, errors.LedgerNotFound):
            return _missing_ledger(str(exc))
        if isinstance(exc, LedgerExists):
            return ResourceAlreadyExistsException(
                f"Ledger {exc} already exists", ResourceType="Ledger", ResourceName=str(exc)
            )
        if isinstance(exc, LedgerProtected):
            return ResourcePreconditionNotMetException(str(exc), ResourceType="Ledger")
        if isinstance(exc, errors.InvalidInput):
            return InvalidParameterException(str(exc))
        log.exception("QLDB control request failed")
        error = QldbControlError("internal error; see the server log")
        error.status, error.code = 500, "InternalFailure"
        return error

    # -- the session API, routed by ledger -----------------------------------------------------

    async def _send(
        self, command: str, arguments: dict[str, Any], token: str | None, caller: str
    ) -> dict:
        """Route a session command to its ledger: by name at StartSession, then by token
        (ours is the ledger's own token followed by the ledger's name)."""
        if token is None:
            name = arguments.get("LedgerName")
            name = name if isinstance(name, str) else ""
            server = self._session_server(name)
            result = await server.answer(command, arguments, None, caller)
            return {"SessionToken": result["SessionToken"] + name}
        inner, name = token[:_INNER_TOKEN], token[_INNER_TOKEN:]
        return await self._session_server(name).answer(command, arguments, inner, caller)

    def _session_server(self, name: str) -> QldbSessionServer:
        if name not in self._sessions:
            try:
                database = self.ledgers.database(name)
                ledger_name: str | None = name
            except errors.LedgerNotFound:
                if self.any_name_ledger is None:
                    raise BadRequestException(f"Ledger {name!r} does not exist") from None
                database, ledger_name = self.ledgers.database(self.any_name_ledger), None
            served = name if ledger_name is not None else self.any_name_ledger
            assert served is not None
            access = LedgerAccess(
                self.ledgers.record(served).arn,
                partial(self._mode, served),
                self.policies,
            )
            server = QldbSessionServer(database, ledger_name=ledger_name, access=access)
            server.start()
            self._sessions[name] = server
        return self._sessions[name]

    def _mode(self, name: str) -> str:
        return self.ledgers.record(name).permissions_mode

    # -- ledgers ------------------------------------------------------------------------------

    async def create_ledger(self, request: web.Request, _: dict, body: dict) -> tuple[int, dict]:
        name = _name(_required(body, "Name"))
        mode = _permissions(_required(body, "PermissionsMode"))
        protection = _boolean(body, "DeletionProtection", True)
        tags = _tags(body.get("Tags"))
        _kms(body)
        region = _region(request)
        record = LedgerRecord(
            name, ledger_arn(region, name), time.time(), mode, bool(protection), tags
        )
        created = await self._run(self.ledgers.create, record)
        return 200, _describe(created)

    async def describe_ledger(self, _: web.Request, params: dict, __: dict) -> tuple[int, dict]:
        return 200, _describe(self.ledgers.record(_name(params["name"])))

    async def list_ledgers(self, request: web.Request, _: dict, __: dict) -> tuple[int, dict]:
        summaries = [
            {"Name": r.name, "State": "ACTIVE", "CreationDateTime": r.created}
            for r in map(self.ledgers.record, self.ledgers.names())
        ]
        return 200, _page(summaries, request.query, "Ledgers")

    async def update_ledger(self, _: web.Request, params: dict, body: dict) -> tuple[int, dict]:
        name = _name(params["name"])
        protection = _boolean(body, "DeletionProtection", None)
        _kms(body)
        self.ledgers.record(name)  # not found before anything else
        changes = {} if protection is None else {"deletion_protection": protection}
        record = await self._run(partial(self.ledgers.update, name, **changes))
        described = _describe(record)
        del described["PermissionsMode"]
        return 200, described

    async def update_permissions(
        self, _: web.Request, params: dict, body: dict
    ) -> tuple[int, dict]:
        name = _name(params["name"])
        mode = _permissions(_required(body, "PermissionsMode"))
        record = await self._run(partial(self.ledgers.update, name, permissions_mode=mode))
        return 200, {"Name": record.name, "Arn": record.arn, "PermissionsMode": mode}

    async def delete_ledger(self, _: web.Request, params: dict, __: dict) -> tuple[int, dict]:
        name = _name(params["name"])
        self.ledgers.record(name)
        await self._run(self.ledgers.delete, name)
        server = self._sessions.pop(name, None)
        if server is not None:
            await server.close()
        return 200, {}

    # -- journal: digest, block, revision -----------------------------------------------------

    def _ledger_database(self, params: dict) -> LedgerDatabase:
        return self.ledgers.database(_name(params["name"]))

    async def get_digest(self, _: web.Request, params: dict, __: dict) -> tuple[int, dict]:
        database = self._ledger_database(params)
        if database.journal.tip is None:
            raise ResourcePreconditionNotMetException(
                "the ledger's journal has no block yet", ResourceType="Ledger"
            )
        digest = await self._run(database.digest)
        return 200, {
            "Digest": base64.b64encode(digest.digest).decode(),
            "DigestTipAddress": _ion_text(digest.tip.to_dict()),
        }

    def _digest_tip(self, body: dict, database: LedgerDatabase, at_least: int) -> int | None:
        if body.get("DigestTipAddress") is None:
            return None
        tip = _address(body["DigestTipAddress"], "DigestTipAddress", database)
        if tip < at_least:
            raise InvalidParameterException(
                f"DigestTipAddress.sequenceNo {tip} is before BlockAddress.sequenceNo {at_least}",
                ParameterName="DigestTipAddress",
            )
        return tip

    async def get_block(self, _: web.Request, params: dict, body: dict) -> tuple[int, dict]:
        database = self._ledger_database(params)
        number = _address(_required(body, "BlockAddress"), "BlockAddress", database)
        tip = self._digest_tip(body, database, number)
        block, proof = await self._run(database.get_block, number, tip)
        result: dict[str, Any] = {"Block": {"IonText": block_ion_text(block)}}
        if tip is not None:
            result["Proof"] = _ion_text(proof)
        return 200, result

    async def get_revision(self, _: web.Request, params: dict, body: dict) -> tuple[int, dict]:
        database = self._ledger_database(params)
        number = _address(_required(body, "BlockAddress"), "BlockAddress", database)
        document_id = _required(body, "DocumentId")
        if not isinstance(document_id, str) or not _UNIQUE_ID.match(document_id):
            raise InvalidParameterException(
                "DocumentId must be 22 letters and digits", ParameterName="DocumentId"
            )
        tip = self._digest_tip(body, database, number)
        proof = await self._run(database.get_revision, document_id, number, tip)
        result: dict[str, Any] = {"Revision": _ion_text(proof.revision)}
        if tip is not None:
            result["Proof"] = _ion_text(proof.qldb_proof())
        return 200, result

    # -- tags ---------------------------------------------------------------------------------

    def _tagged(self, params: dict) -> LedgerRecord:
        arn = params["arn"]
        try:
            return self.ledgers.by_arn(arn)
        except errors.LedgerNotFound:
            raise ResourceNotFoundException(
                f"No ledger has the ARN {arn}", ResourceType="Ledger", ResourceName=arn
            ) from None

    async def tag_resource(self, _: web.Request, params: dict, body: dict) -> tuple[int, dict]:
        record = self._tagged(params)
        tags = _tags(_required(body, "Tags"))
        merged = {**record.tags, **tags}
        if len(merged) > 200:
            raise InvalidParameterException("a ledger holds at most 200 tags", ParameterName="Tags")
        await self._run(partial(self.ledgers.update, record.name, tags=merged))
        return 200, {}

    async def untag_resource(self, request: web.Request, params: dict, _: dict) -> tuple[int, dict]:
        record = self._tagged(params)
        keys = request.query.getall("tagKeys", [])
        kept = {key: value for key, value in record.tags.items() if key not in keys}
        await self._run(partial(self.ledgers.update, record.name, tags=kept))
        return 200, {}

    async def list_tags(self, _: web.Request, params: dict, __: dict) -> tuple[int, dict]:
        return 200, {"Tags": self._tagged(params).tags}

    # -- exports ------------------------------------------------------------------------------

    async def export_journal(self, _: web.Request, params: dict, body: dict) -> tuple[int, dict]:
        name = _name(params["name"])
        record = self.ledgers.record(name)
        description = _export_request(name, body)
        export_id = new_id()
        description.update(ExportId=export_id, ExportCreationTime=time.time(), Status="IN_PROGRESS")
        await self._run(partial(self.ledgers.update, name, exports=[*record.exports, description]))
        task = asyncio.create_task(self._export(name, export_id, dict(description)))
        self._exports.add(task)
        task.add_done_callback(self._exports.discard)
        return 200, {"ExportId": export_id}

    async def _export(self, name: str, export_id: str, description: dict[str, Any]) -> None:
        database = self.ledgers.database(name)
        try:
            writer = self.export_target.writer(description["S3ExportConfiguration"]["Bucket"])
            await self._run(run_export, database.journal, description, writer)
            status = "COMPLETED"
        except Exception:
            log.exception("journal export %s of ledger %s failed", export_id, name)
            status = "CANCELLED"
        with_status = [
            {**item, "Status": status} if item["ExportId"] == export_id else item
            for item in self.ledgers.record(name).exports
        ]
        await self._run(partial(self.ledgers.update, name, exports=with_status))

    async def describe_export(self, _: web.Request, params: dict, __: dict) -> tuple[int, dict]:
        name, export_id = _name(params["name"]), params["export_id"]
        for item in self.ledgers.record(name).exports:
            if item["ExportId"] == export_id:
                return 200, {"ExportDescription": item}
        raise ResourceNotFoundException(
            f"Export {export_id} of ledger {name} does not exist",
            ResourceType="JournalS3Export",
            ResourceName=export_id,
        )

    async def list_exports(self, request: web.Request, params: dict, _: dict) -> tuple[int, dict]:
        names = [_name(params["name"])] if "name" in params else self.ledgers.names()
        for name in names:
            self.ledgers.record(name)
        exports = [item for name in names for item in self.ledgers.record(name).exports]
        return 200, _page(exports, request.query, "JournalS3Exports")

    async def kinesis(self, _: web.Request, params: dict, __: dict) -> tuple[int, dict]:
        self.ledgers.record(_name(params["name"]))
        raise InvalidParameterException(
            "Streaming the journal to Kinesis is not supported by ledgerdb; "
            "use ExportJournalToS3, or follow the journal with the ledgerdb client",
            ParameterName="KinesisConfiguration",
        )


def _export_request(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The export's description as DescribeJournalS3Export shows it, every member checked."""
    start = _timestamp(body, "InclusiveStartTime")
    end = _timestamp(body, "ExclusiveEndTime")
    if not start < end:
        raise InvalidParameterException(
            "InclusiveStartTime must be before ExclusiveEndTime", ParameterName="InclusiveStartTime"
        )
    role = _required(body, "RoleArn")
    if not isinstance(role, str) or not 20 <= len(role) <= 1600:
        raise InvalidParameterException("RoleArn must be an ARN", ParameterName="RoleArn")
    config = _required(body, "S3ExportConfiguration")
    if not isinstance(config, dict):
        raise InvalidParameterException(
            "S3ExportConfiguration must be a structure", ParameterName="S3ExportConfiguration"
        )
    bucket, prefix = config.get("Bucket"), config.get("Prefix")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket):
        raise InvalidParameterException(
            f"S3ExportConfiguration.Bucket {bucket!r} is not a bucket name",
            ParameterName="S3ExportConfiguration.Bucket",
        )
    if not isinstance(prefix, str) or len(prefix) > 128 or ".." in prefix:
        raise InvalidParameterException(
            "S3ExportConfiguration.Prefix must be a string of at most 128 characters",
            ParameterName="S3ExportConfiguration.Prefix",
        )
    encryption = config.get("EncryptionConfiguration")
    if not isinstance(encryption, dict) or encryption.get("ObjectEncryptionType") not in (
        "SSE_KMS",
        "SSE_S3",
        "NO_ENCRYPTION",
    ):
        raise InvalidParameterException(
            "S3ExportConfiguration.EncryptionConfiguration.ObjectEncryptionType must be "
            "SSE_KMS, SSE_S3 or NO_ENCRYPTION",
            ParameterName="S3ExportConfiguration.EncryptionConfiguration",
        )
    form = body.get("OutputFormat", "ION_TEXT")
    if form not in ("ION_TEXT", "ION_BINARY", "JSON"):
        raise InvalidParameterException(
            f"OutputFormat {form!r} is not ION_TEXT, ION_BINARY or JSON",
            ParameterName="OutputFormat",
        )
    return {
        "LedgerName": name,
        "InclusiveStartTime": start,
        "ExclusiveEndTime": end,
        "S3ExportConfiguration": config,
        "RoleArn": role,
        "OutputFormat": form,
    }


def _region(request: web.Request) -> str:
    """The region the client signed for: the ARNs it gets back name it."""
    match = _REGION.search(request.headers.get("Authorization", ""))
    return match[1] if match else "us-east-1"


def _respond(status: int, payload: Mapping[str, Any], error: str | None = None) -> web.Response:
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}
    if error is not None:
        headers["x-amzn-ErrorType"] = error
    return web.Response(status=status, body=json.dumps(payload).encode(), headers=headers)


Handler = Callable[[web.Request, dict, dict], Awaitable[tuple[int, dict]]]


def _routes(endpoint: QldbEndpoint) -> list[tuple[str, re.Pattern[str], Handler]]:
    """Method and path of every operation, as the qldb model's ``requestUri`` gives them."""
    ledger = r"/ledgers/(?P<name>[^/]+)"
    table = [
        ("POST", r"/ledgers", endpoint.create_ledger),
        ("GET", r"/ledgers", endpoint.list_ledgers),
        ("GET", ledger, endpoint.describe_ledger),
        ("PATCH", ledger, endpoint.update_ledger),
        ("DELETE", ledger, endpoint.delete_ledger),
        ("PATCH", ledger + "/permissions-mode", endpoint.update_permissions),
        ("POST", ledger + "/digest", endpoint.get_digest),
        ("POST", ledger + "/block", endpoint.get_block),
        ("POST", ledger + "/revision", endpoint.get_revision),
        ("POST", ledger + "/journal-s3-exports", endpoint.export_journal),
        ("GET", ledger + "/journal-s3-exports", endpoint.list_exports),
        ("GET", ledger + "/journal-s3-exports/(?P<export_id>[^/]+)", endpoint.describe_export),
        ("GET", r"/journal-s3-exports", endpoint.list_exports),
        ("POST", ledger + "/journal-kinesis-streams", endpoint.kinesis),
        ("GET", ledger + "/journal-kinesis-streams(?:/[^/]+)?", endpoint.kinesis),
        ("DELETE", ledger + "/journal-kinesis-streams/[^/]+", endpoint.kinesis),
        ("POST", r"/tags/(?P<arn>.+)", endpoint.tag_resource),
        ("GET", r"/tags/(?P<arn>.+)", endpoint.list_tags),
        ("DELETE", r"/tags/(?P<arn>.+)", endpoint.untag_resource),
    ]
    return [(method, re.compile(path), handler) for method, path, handler in table]


async def start_qldb_endpoint(
    ledgers: QldbLedgers,
    host: str,
    port: int,
    *,
    export_target: ExportTarget,
    any_name_ledger: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    credentials: Credentials | None = None,
    policies: Policies | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve both QLDB APIs for ``ledgers`` (over TLS with ``ssl_context``); returns the
    runner and the bound port."""
    endpoint = QldbEndpoint(
        ledgers,
        export_target=export_target,
        any_name_ledger=any_name_ledger,
        credentials=credentials,
        policies=policies,
    )
    runner = web.AppRunner(endpoint.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]
