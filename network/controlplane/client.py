"""A small synchronous client of the control plane's REST API, signing with SigV4.

The CLI uses it (boto3 is a test dependency only). Errors come back as the same
exception classes the server raised, found by the ``x-amzn-ErrorType`` header, and the
verifiable history is checked here, on the client side, against the ledger digest.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ledgerdb.block import EntryKind, decode
from ledgerdb.errors import LedgerError
from ledgerdb.verify import verify_block, verify_inclusion
from network.controlplane import errors, sigv4
from network.controlplane.documents import plain
from network.controlplane.resources import DEFAULT_ACCOUNT, DEFAULT_REGION

DEFAULT_ENDPOINT = "http://127.0.0.1:7100"


class ClientError(errors.ControlPlaneError):
    """The server could not be reached or answered something that is not the API."""


@dataclass(frozen=True)
class Client:
    endpoint: str = DEFAULT_ENDPOINT
    access_key_id: str = DEFAULT_ACCOUNT
    secret: str = "local"
    region: str = DEFAULT_REGION
    timeout: float = 30.0

    @classmethod
    def from_environment(cls, endpoint: str | None = None) -> Client:
        return cls(
            endpoint or os.environ.get("CONSORTIUM_ENDPOINT", DEFAULT_ENDPOINT),
            os.environ.get("AWS_ACCESS_KEY_ID", DEFAULT_ACCOUNT),
            os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            os.environ.get("AWS_REGION", DEFAULT_REGION),
        )

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        parts = urlsplit(self.endpoint)
        raw_path = quote(path, safe="/-_.~")
        raw_query = urlencode({k: v for k, v in (query or {}).items() if v is not None}, doseq=True)
        data = b"" if body is None else json.dumps(body).encode()
        headers = sigv4.sign(
            method,
            parts.netloc,
            raw_path,
            raw_query,
            data,
            self.access_key_id,
            self.secret,
            self.region,
            datetime.now(UTC),
        )
        headers["content-type"] = "application/json"
        url = f"{self.endpoint.rstrip('/')}{raw_path}" + (f"?{raw_query}" if raw_query else "")
        request = urllib.request.Request(
            url, data=data if body is not None else None, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as failure:
            raise _error(failure) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ClientError(f"cannot reach the control plane at {self.endpoint}: {exc}") from None

    def pages(
        self, path: str, key: str, query: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following NextToken."""
        query = dict(query or {})
        while True:
            page = self.call("GET", path, query=query)
            yield from page.get(key, [])
            if not page.get("NextToken"):
                return
            query["nextToken"] = page["NextToken"]


def _error(failure: urllib.error.HTTPError) -> errors.ControlPlaneError:
    code = (failure.headers.get("x-amzn-ErrorType") or "").split(":")[0]
    try:
        message = json.loads(failure.read()).get("message", "")
    except ValueError:
        message = ""
    kind = getattr(errors, code, None)
    if isinstance(kind, type) and issubclass(kind, errors.ControlPlaneError):
        return kind(message or code)
    return ClientError(f"HTTP {failure.code} from the control plane: {message or failure.reason}")


class HistoryNotVerified(errors.ControlPlaneError):
    """An entry of a proposal's history does not check out against the ledger digest."""


def verify_history(history: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Check every entry: its block's hashes, its inclusion in the digest, its document.

    Returns the entries with ``Verified: True``; raises HistoryNotVerified naming the
    first entry that fails, so a server cannot misreport a vote without being caught.
    """
    try:
        digest = base64.b64decode(history["Digest"])
        tip = int(history["DigestTip"])
    except (KeyError, TypeError, ValueError) as exc:
        raise HistoryNotVerified(f"history carries no usable digest: {exc}") from None
    checked = []
    for entry in history.get("Entries", []):
        where = f"{entry.get('Table')} {entry.get('DocumentId')} v{entry.get('Version')}"
        try:
            block = decode(base64.b64decode(entry["Block"]))
            verify_block(block)
            proof = [base64.b64decode(h) for h in entry["Proof"]]
            verify_inclusion(block.block_hash, block.sequence_no, tip, proof, digest)
        except (LedgerError, KeyError, ValueError) as exc:
            raise HistoryNotVerified(f"{where}: {exc}") from None
        revisions = [e.revision() for e in block.entries if e.kind is EntryKind.REVISION]
        matching = [
            r
            for r in revisions
            if str(r.metadata["id"]) == entry["DocumentId"]
            and int(r.metadata["version"]) == entry["Version"]
        ]
        if not matching or plain(matching[0].data) != entry["Document"]:
            raise HistoryNotVerified(
                f"{where}: the document differs from the one in block {block.sequence_no}"
            )
        checked.append(
            {
                **entry,
                "SequenceNo": block.sequence_no,
                "BlockHash": base64.b64encode(block.block_hash).decode(),
                "Verified": True,
            }
        )
    return checked
