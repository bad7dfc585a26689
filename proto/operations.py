"""Fabric's operations service, one module for every node: ``/metrics``, ``/healthz``,
``/logspec`` and ``/version`` over HTTP.

Fabric's peer and orderer serve these on ``operations.listenAddress`` so Prometheus,
load balancers and operators can watch and tune a running node without touching its
gRPC port. Ours answer the same paths with the same shapes:

- ``GET /metrics`` — Prometheus text (``proto.metrics.METRICS``);
- ``GET /healthz`` — ``{"status": "OK", "time": …}``, or 503 with
  ``failed_checks: [{"component", "reason"}]`` when a registered check fails;
- ``GET /logspec`` → ``{"spec": "info"}``; ``PUT /logspec`` with ``{"spec": …}``
  changes the levels live (204), a bad spec is 400 ``{"error": …}``;
- ``GET /version`` → ``{"Version": …, "CommitSHA": …}``.

It lives in ``proto`` because every part (CA, orderer, peer, control plane, bridges)
runs one and ``proto`` is the part they may all import.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from proto import logspec
from proto.metrics import METRICS, Counter, Histogram, Registry

log = logging.getLogger(__name__)
# A check returns None when healthy, else the reason (Fabric's HealthChecker returns an
# error); it may be a coroutine function. Checks that take longer than this fail.
Check = Callable[[], str | Awaitable[str | None] | None]
CHECK_SECONDS = 5.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cpu_seconds() -> dict[tuple[str, ...], float]:
    times = os.times()
    return {(): times.user + times.system}


def _rss_bytes() -> dict[tuple[str, ...], float]:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return {}
    return {(): float(pages * os.sysconf("SC_PAGE_SIZE"))}


def _version() -> str:
    try:
        return version("consortium")
    except PackageNotFoundError:
        return "unknown"


class OperationsServer:
    """One node's operations endpoints; ``start`` returns the port it listens on."""

    def __init__(self, node: str, registry: Registry = METRICS) -> None:
        self.node = node
        self.registry = registry
        self.checks: dict[str, Check] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        registry.gauge("fabric_version", "The active version of Fabric.", ("version",)).set(
            1, _version()
        )
        registry.gauge(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            read=_cpu_seconds,
        )
        registry.gauge(
            "process_resident_memory_bytes", "Resident memory size in bytes.", read=_rss_bytes
        )

    def add_check(self, component: str, check: Check) -> None:
        """Register a health check, named as ``failed_checks`` will name it."""
        self.checks[component] = check

    async def _run_check(self, check: Check) -> str | None:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, CHECK_SECONDS)
        except TimeoutError:
            return f"no answer in {CHECK_SECONDS:g}s"
        except Exception as exc:  # a check that raises has failed, with that reason
            return f"{type(exc).__name__}: {exc}"
        return result

    async def failed_checks(self) -> list[dict[str, str]]:
        failed = []
        for component, check in self.checks.items():
            reason = await self._run_check(check)
            if reason:
                failed.append({"component": component, "reason": reason})
        return failed

    # -- handlers ---------------------------------------------------------------------

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(text=self.registry.render(), content_type="text/plain", charset="utf-8")

    async def _healthz(self, _: web.Request) -> web.Response:
        failed = await self.failed_checks()
        if failed:
            body = {"status": "Service Unavailable", "time": _now(), "failed_checks": failed}
            return web.json_response(body, status=503)
        return web.json_response({"status": "OK", "time": _now()})

    async def _get_logspec(self, _: web.Request) -> web.Response:
        return web.json_response({"spec": logspec.current()})

    async def _put_logspec(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return _bad('the body is not JSON; send {"spec": "info"}')
        if not isinstance(body, dict) or not isinstance(body.get("spec"), str):
            return _bad('spec is required: a string such as "info" or "peers.gateway=debug:info"')
        try:
            spec = logspec.parse(body["spec"])
        except logspec.LogSpecError as exc:
            return _bad(f"spec: {exc}")
        logspec.apply(spec)
        log.info("%s: logging spec set to %r", self.node, spec.text)
        return web.Response(status=204)

    async def _version(self, _: web.Request) -> web.Response:
        return web.json_response({"Version": _version(), "CommitSHA": "development build"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/logspec", self._get_logspec)
        app.router.add_put("/logspec", self._put_logspec)
        app.router.add_get("/version", self._version)
        return app

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1]) if sockets else port
        log.info("%s: operations service on http://%s:%d", self.node, host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def split_listen(address: str) -> tuple[str, int]:
    """``host:port`` of an operations listen address (port 0: any free port)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"operations listen address must be HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def listen_setting(raw: object) -> str:
    """A node config's ``operations`` section (``{listen: HOST:PORT}``, as Fabric's
    ``operations.listenAddress``): the address, or "" when the section is absent.
    Raises ``ValueError`` naming the field."""
    if raw is None:
        return ""
    if not isinstance(raw, dict) or set(raw) - {"listen"} or not isinstance(raw.get("listen"), str):
        raise ValueError("operations must be a mapping with one key, listen: HOST:PORT")
    split_listen(raw["listen"])
    return raw["listen"]


async def start_operations(
    node: str, listen: str, checks: dict[str, Check] | None = None
) -> OperationsServer | None:
    """Start a node's operations service on ``listen`` (none when it is "")."""
    if not listen:
        return None
    server = OperationsServer(node)
    for component, check in (checks or {}).items():
        server.add_check(component, check)
    await server.start(*split_listen(listen))
    return server


def http_metrics(
    counter: Counter,
    duration: Histogram,
    labels: Callable[[web.Request, int], tuple[str, ...]],
) -> Callable:
    """An aiohttp middleware counting each request and its duration, labelled by
    ``labels(request, status)`` (Fabric CA's ``api_request_count`` and the like). Put it
    innermost: an error answered by an outer middleware is counted with its status."""

    @web.middleware
    async def count(request: web.Request, handler: Callable) -> web.StreamResponse:
        started, status = time.perf_counter(), 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            values = labels(request, status)
            counter.add(*values)
            duration.observe(time.perf_counter() - started, *values)

    return count


def route_name(request: web.Request) -> str:
    """The route a request matched, as declared (``/networks/{networkId}``), so label
    values stay few whatever ids the paths carry; "unmatched" for unknown paths."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
