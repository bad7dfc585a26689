"""The control-plane process: configuration, the ledger in DATA, the HTTP server.

``consortium node run control-plane --data DIR --port P [--config FILE]`` runs
``serve``. The ledger lives in ``DIR/ledger`` (a ledgerdb database), the members' CA
admin passwords in ``DIR/secrets.json``. SIGTERM and SIGINT stop it gracefully; a
kill -9 loses nothing acknowledged, because no answer leaves before its block is
durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from network.controlplane import sigv4
from network.controlplane.api import Api, Auth, Limiter
from network.controlplane.clock import ManualClock, SystemClock
from network.controlplane.errors import StoreError
from network.controlplane.keyfile import KeyFile
from network.controlplane.ledger import open_ledger
from network.controlplane.passwords import Secrets
from network.controlplane.resources import DEFAULT_REGION
from network.controlplane.service import ControlPlane
from network.errors import NetworkError
from proto.metrics import METRICS
from proto.operations import http_metrics, route_name, start_operations

log = logging.getLogger(__name__)


class ConfigError(NetworkError, ValueError):
    """The configuration file is unusable; the message names the key."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    region: str = DEFAULT_REGION
    strict: bool = False
    credentials_file: Path | None = None
    reconcile: str = "immediate"
    clock: str = "system"
    rate_limit: float = 0.0
    burst: float = 0.0
    sweep_seconds: float = 1.0
    member_quota: int | None = None


_TYPES: dict[str, tuple[type, ...]] = {
    "host": (str,),
    "region": (str,),
    "strict": (bool,),
    "credentials_file": (str,),
    "reconcile": (str,),
    "clock": (str,),
    "rate_limit": (int, float),
    "burst": (int, float),
    "sweep_seconds": (int, float),
    "member_quota": (int,),
}
_CHOICES = {"reconcile": ("immediate", "external"), "clock": ("system", "manual")}


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _TYPES:
            raise ConfigError(f"config key '{key}' is unknown; known: {', '.join(_TYPES)}")
        if not isinstance(value, _TYPES[key]) or (isinstance(value, bool) and key != "strict"):
            raise ConfigError(f"config key '{key}' has the wrong type: {value!r}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(_CHOICES[key])}")
        values[key] = value
    if "credentials_file" in values:
        values["credentials_file"] = (path.parent / values["credentials_file"]).expanduser()
    config = Config(**values)
    if config.member_quota is not None and config.member_quota < 1:
        raise ConfigError("config key 'member_quota' must be at least 1")
    if config.strict and config.credentials_file is None:
        raise ConfigError("config key 'strict' needs 'credentials_file' (the secrets to verify)")
    return config


REQUESTS = METRICS.counter(
    "controlplane_api_request_count",
    "Requests made to the control plane's API (ours).",
    ("method", "route", "status_code"),
)
DURATION = METRICS.histogram(
    "controlplane_api_request_duration",
    "Time taken in seconds to answer a control-plane request (ours).",
    ("method", "route", "status_code"),
)


def _labels(request: web.Request, status: int) -> tuple[str, ...]:
    return request.method, route_name(request), str(status)


def _ledger_problem(service: ControlPlane) -> str | None:
    """Unhealthy once the ledger failed (the process then stops and a restart replays)."""
    return None if service.broken is None else f"the ledger failed: {service.broken}"


def build(data: Path, config: Config) -> tuple[ControlPlane, web.Application]:
    data.mkdir(parents=True, exist_ok=True)
    keys: Mapping[str, sigv4.Key] = (
        KeyFile(config.credentials_file) if config.credentials_file else {}
    )
    clock = ManualClock() if config.clock == "manual" else SystemClock()
    service = ControlPlane(
        open_ledger(data / "ledger"),
        clock,
        region=config.region,
        reconcile=config.reconcile,
        secrets=Secrets(data / "secrets.json"),
        member_quota=config.member_quota,
    )
    api = Api(service, Auth(keys, config.strict), Limiter(config.rate_limit, config.burst))
    return service, api.app()


async def _sweep_forever(service: ControlPlane, seconds: float, stop: asyncio.Event) -> None:
    """Write expiries on time; stop the process if the ledger failed (restart replays it)."""
    while not stop.is_set():
        await asyncio.sleep(seconds)
        if service.broken is not None:
            log.error("stopping: the ledger failed: %s", service.broken)
            stop.set()
            return
        try:
            await service.sweep()
        except Exception:
            log.exception("expiry sweep failed")


async def serve(
    data: Path, port: int, config: Config, ready: Any = None, operations_listen: str = ""
) -> None:
    """Serve until SIGTERM/SIGINT; ``ready(port)`` is called once the socket listens.
    ``operations_listen`` (HOST:PORT) also serves /metrics, /healthz and /logspec."""
    service, app = build(data, config)
    app.middlewares.append(http_metrics(REQUESTS, DURATION, _labels))
    operations = await start_operations(
        "control plane", operations_listen, {"ledger": lambda: _ledger_problem(service)}
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("control plane listening on %s:%s, ledger in %s", config.host, bound, data)
    if ready is not None:
        ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sweeper = asyncio.create_task(_sweep_forever(service, config.sweep_seconds, stop))
    try:
        await stop.wait()
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        service.feed.close()  # long polls answer now, or cleanup would wait them out
        await runner.cleanup()
        if operations is not None:
            await operations.stop()
        with contextlib.suppress(StoreError):
            service.close()
    if service.broken is not None:
        raise StoreError(f"the control-plane ledger failed: {service.broken}")
