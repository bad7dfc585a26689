"""``consortium ca serve``: the Fabric CA REST API over aiohttp.

The transport only maps routes to ``CertificateAuthority`` methods and wraps results in
Fabric CA's envelope; every decision is the authority's. Authority calls run in worker
threads, so slow work (secret hashing, signing) never stalls the event loop and two
cores serve two enrollments at once; the registry serializes database access. The token
covers the request URI exactly as received (path and query), so ``request.raw_path`` is
what is checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ca import protocol
from ca.authority import CertificateAuthority
from ca.errors import CaRequestError
from proto.metrics import METRICS
from proto.operations import http_metrics, start_operations

log = logging.getLogger("consortium.ca")
API = "/api/v1"

_Handler = Callable[[web.Request, CertificateAuthority], Awaitable[Any]]


def _envelope(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _endpoint(handler: _Handler, success_status: int = 200) -> Callable:
    async def run(request: web.Request) -> web.Response:
        authority: CertificateAuthority = request.app["authority"]
        try:
            result = await handler(request, authority)
        except CaRequestError as error:
            log.warning(
                "%s %s -> %d code %d: %s",
                request.method,
                request.path,
                error.status,
                error.code,
                error.detail,
            )
            return _envelope(error.status, protocol.failure(error))
        return _envelope(success_status, protocol.success(result))

    return run


async def _cainfo(request: web.Request, authority: CertificateAuthority) -> Any:
    caname = request.query.get("ca")
    if caname is None and request.can_read_body:
        body = await request.read()
        if body.strip():
            try:
                parsed = json.loads(body)
                caname = parsed.get("caname") if isinstance(parsed, dict) else None
            except ValueError:
                raise protocol.bad_request("Invalid request body: not JSON") from None
    return await asyncio.to_thread(authority.info, caname if isinstance(caname, str) else None)


async def _enroll(request: web.Request, authority: CertificateAuthority) -> Any:
    body = await request.read()
    return await asyncio.to_thread(authority.enroll, request.headers.get("Authorization"), body)


def _token_call(method_name: str) -> _Handler:
    async def call(request: web.Request, authority: CertificateAuthority) -> Any:
        method = getattr(authority, method_name)
        body = await request.read()
        return await asyncio.to_thread(
            method, request.headers.get("Authorization"), request.raw_path, body
        )

    return call


async def _identities(request: web.Request, authority: CertificateAuthority) -> Any:
    identity_id = request.match_info.get("id")
    return await asyncio.to_thread(
        authority.identities,
        request.headers.get("Authorization"),
        request.raw_path,
        identity_id,
        caname=request.query.get("ca"),
    )


@web.middleware
async def _fabric_errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Unknown paths, wrong methods and crashes still answer in Fabric CA's envelope."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        error = protocol.http_error(405, protocol.ERR_METHOD_NOT_ALLOWED, "Method not allowed")
    except web.HTTPNotFound:
        error = protocol.http_error(404, protocol.ERR_UNKNOWN, f"Not found: {request.path}")
    except web.HTTPRequestEntityTooLarge:
        error = protocol.http_error(
            413, protocol.ERR_READING_REQ_BODY, "Failed reading request body: too large"
        )
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        error = protocol.http_error(500, protocol.ERR_UNKNOWN, "Internal server error")
    return _envelope(error.status, protocol.failure(error))


API_REQUESTS = METRICS.counter(
    "api_request_count",
    "Number of requests made to an API",
    ("ca_name", "api_name", "status_code"),
)
API_DURATION = METRICS.histogram(
    "api_request_duration",
    "Time taken in seconds for the request to an API to be completed",
    ("ca_name", "api_name", "status_code"),
)


def _api_labels(authority: CertificateAuthority) -> Callable:
    """Fabric CA's labels: the CA, the API (``enroll``, ``identities`` …), the status."""

    def labels(request: web.Request, status: int) -> tuple[str, ...]:
        api = request.path.removeprefix(API).strip("/").split("/")[0] or "unknown"
        return authority.settings.name, api, str(status)

    return labels


def make_app(authority: CertificateAuthority) -> web.Application:
    metered = http_metrics(API_REQUESTS, API_DURATION, _api_labels(authority))
    app = web.Application(middlewares=[_fabric_errors, metered])
    app["authority"] = authority
    app.router.add_route("GET", f"{API}/cainfo", _endpoint(_cainfo))
    app.router.add_route("POST", f"{API}/cainfo", _endpoint(_cainfo))
    app.router.add_route("POST", f"{API}/enroll", _endpoint(_enroll, 201))
    app.router.add_route("POST", f"{API}/reenroll", _endpoint(_token_call("reenroll"), 201))
    app.router.add_route("POST", f"{API}/register", _endpoint(_token_call("register"), 201))
    app.router.add_route("POST", f"{API}/revoke", _endpoint(_token_call("revoke")))
    app.router.add_route("POST", f"{API}/gencrl", _endpoint(_token_call("gencrl")))
    app.router.add_route("GET", f"{API}/identities", _endpoint(_identities))
    app.router.add_route("GET", f"{API}/identities/{{id}}", _endpoint(_identities))
    return app


def tls_context(
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str],
    password: bytes | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file, password=password)
    return context


async def serve(
    authority: CertificateAuthority,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    on_ready: Callable[[str], None] | None = None,
    operations_listen: str = "",
) -> None:
    """Serve until SIGINT/SIGTERM; ``on_ready`` gets the URL once the port is bound.
    ``operations_listen`` (HOST:PORT) also serves /metrics, /healthz and /logspec, as
    Fabric CA's operations service does."""
    operations = await start_operations(
        f"ca {authority.settings.name}",
        operations_listen,
        {"registry": lambda: _registry_problem(authority)},
    )
    runner = web.AppRunner(make_app(authority), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    scheme = "https" if ssl_context else "http"
    if on_ready:
        on_ready(f"{scheme}://{host}:{bound}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if operations is not None:
            await operations.stop()
        authority.close()


def _registry_problem(authority: CertificateAuthority) -> str | None:
    """The CA is healthy while its registry database answers."""
    try:
        authority.registry.get("")
    except Exception as exc:  # sqlite3 errors and a closed registry alike
        return f"registry: {exc}"
    return None
