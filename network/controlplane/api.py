"""AMB's REST-JSON routes over the service, so the unmodified boto3 client works.

Paths, methods and member locations (path, query string, body) are those of the
``managedblockchain`` 2018-09-24 model. Every answer is JSON; an error is the HTTP
status of its exception type, the ``x-amzn-ErrorType`` header and ``{"message"}``,
which botocore turns into ``client.exceptions.<Type>``. Non-AMB routes (the supervisor's
report, the verifiable history, the test clock) live under ``/internal`` and
``/proposals/{id}/history``.

Each operation declares its own route (``network/controlplane/operations/``), so every
one is served the same way; the routes written here are the REST layer's own: the test
clock, the events feed and ``/ping``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from network.controlplane import resources as res
from network.controlplane import sigv4
from network.controlplane.clock import ManualClock
from network.controlplane.errors import (
    AccessDeniedException,
    ControlPlaneError,
    InternalServiceErrorException,
    InvalidRequestException,
    ThrottlingException,
)
from network.controlplane.operations import OPERATIONS
from network.controlplane.operations.base import Operation
from network.controlplane.request_shapes import Int, Struct, check_path_id
from network.controlplane.service import ControlPlane

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20


@dataclass
class Limiter:
    """Per-account token bucket; ``rate`` 0 means unlimited (AMB's ThrottlingException)."""

    rate: float = 0.0
    burst: float = 0.0
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, account: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self.buckets.get(account, (self.burst or self.rate, now))
        tokens = min(self.burst or self.rate, tokens + (now - last) * self.rate)
        if tokens < 1:
            self.buckets[account] = (tokens, now)
            raise ThrottlingException(f"Rate exceeded for account {account}.")
        self.buckets[account] = (tokens - 1, now)


@dataclass
class Auth:
    keys: Mapping[str, sigv4.Key] = field(default_factory=dict)
    strict: bool = False

    def caller(self, request: web.Request, body: bytes) -> str:
        auth = sigv4.parse_authorization(request.headers.get("Authorization"))
        key = self.keys.get(auth.access_key_id)
        if self.strict:
            headers = {name.lower(): value for name, value in request.headers.items()}
            path, _, query = request.raw_path.partition("?")
            sigv4.verify(auth, key, request.method, path, query, headers, body, datetime.now(UTC))
        return sigv4.account_for(auth.access_key_id, self.keys)


def _error(exc: ControlPlaneError, request_id: str) -> web.Response:
    return web.json_response(
        {"message": exc.message},
        status=exc.status,
        headers={"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id},
    )


def _json(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidRequestException("The request body is not valid JSON.") from None


def _query(request: web.Request) -> dict[str, Any]:
    """Query members; a repeated key (``tagKeys``) becomes a list."""
    found: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        found[key] = values if len(values) > 1 or key == "tagKeys" else values[0]
    return found


def _path_ids(request: web.Request, operation: Operation) -> list[str]:
    """The route's ids in order, each checked against its shape (an ARN arrives quoted)."""
    return [check_path_id(name, unquote(request.match_info[name])) for name in operation.path_ids]


def _input(request: web.Request, operation: Operation) -> Any:
    """AMB's model puts a POST's or PATCH's input in the body, the others' in the query."""
    return request["body"] if operation.takes_body else _query(request)


_EVENTS_QUERY = Struct({"after": Int(min=-1), "wait": Int(min=0, max=60)})


class Api:
    def __init__(self, service: ControlPlane, auth: Auth, limiter: Limiter) -> None:
        self.service = service
        self.auth = auth
        self.limiter = limiter

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors])
        for operation in OPERATIONS:
            route = self._supervisor(operation) if operation.local else self._signed(operation)
            app.router.add_route(operation.method, operation.path, route)
            if operation.local and operation.method == "GET":
                app.router.add_route("HEAD", operation.path, route)  # as add_get has always
        app.router.add_post("/internal/clock", self._local(self._advance_clock))
        app.router.add_get("/internal/events", self._local(self._events))
        app.router.add_get("/ping", self._ping)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        try:
            response = await handler(request)
        except ControlPlaneError as exc:
            return _error(exc, request_id)
        except web.HTTPNotFound:
            failure = InvalidRequestException(f"No operation at {request.method} {request.path}.")
            return _error(failure, request_id)
        except web.HTTPMethodNotAllowed:
            failure = InvalidRequestException(f"{request.method} is not allowed on {request.path}.")
            return _error(failure, request_id)
        except web.HTTPRequestEntityTooLarge:
            failure = InvalidRequestException(f"The request body exceeds {MAX_BODY} bytes.")
            return _error(failure, request_id)
        except Exception:
            log.exception("internal error in %s %s", request.method, request.path)
            return _error(InternalServiceErrorException("Internal service error."), request_id)
        response.headers["x-amzn-RequestId"] = request_id
        return response

    def _signed(self, operation: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def route(request: web.Request) -> web.Response:
            raw = await request.read()
            caller = self.auth.caller(request, raw)  # who is asking comes before what
            self.limiter.take(caller)
            request["body"] = _json(raw)
            ids = _path_ids(request, operation)
            answer = await self.service.perform(operation, caller, ids, _input(request, operation))
            return web.json_response(answer)

        return route

    def _supervisor(self, operation: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The supervisor's operations act as the system account: no one signs for it."""
        return self._local(
            lambda request: self.service.perform(
                operation, res.SYSTEM, (), _input(request, operation)
            )
        )

    def _local(
        self, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The supervisor's routes answer loopback callers only."""

        async def route(request: web.Request) -> web.Response:
            remote = request.remote or ""
            try:
                loopback = ip_address(remote).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise AccessDeniedException("Internal routes answer loopback callers only.")
            request["body"] = _json(await request.read())
            return web.json_response(await handler(request))

        return route

    async def _advance_clock(self, request: web.Request) -> dict[str, Any]:
        clock = self.service.clock
        if not isinstance(clock, ManualClock):
            raise InvalidRequestException("The clock is the system clock (config: clock: manual).")
        seconds = request["body"].get("AdvanceSeconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise InvalidRequestException("AdvanceSeconds must be a non-negative number.")
        now = clock.advance(seconds)
        expired = await self.service.sweep()
        return {"Now": now.isoformat(), "Expired": expired}

    async def _events(self, request: web.Request) -> dict[str, Any]:
        """Governance events after block ``after`` (-1: all), long-polling up to ``wait`` s."""
        query = _EVENTS_QUERY.check(dict(request.query), "")
        after = query.get("after", -1)
        found = await self.service.feed.wait_after(after, query.get("wait", 0))
        return {
            "Events": [{"SequenceNo": number, **event.to_dict()} for number, event in found],
            "LastSequenceNo": found[-1][0] if found else max(after, -1),
        }

    async def _ping(self, request: web.Request) -> web.Response:
        """Health: 503 once the ledger failed, so a supervisor restarts the process."""
        if self.service.broken is not None:
            return web.json_response(
                {"Status": "failed", "Reason": self.service.broken}, status=503
            )
        return web.json_response({"Status": "ok", "LedgerTip": self.service.tip})
