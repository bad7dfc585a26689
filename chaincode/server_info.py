"""How a peer dials a chaincode-as-a-service package's contract: its ``connection.json``
read by Fabric 2.5's rules (``core/container/externalbuilder/instance.go``,
``ChaincodeServerUserData.ChaincodeServerInfo``), so a package made for a real Fabric
peer connects here the same way, TLS and client certificate included.

- ``address`` is required; ``dial_timeout`` is a Go duration string or a number of
  nanoseconds, 3 s when absent or zero.
- ``tls_required`` false (or absent): plaintext, the certificate fields are ignored.
- ``tls_required`` true: ``root_cert`` is required (the contract server's CA); with
  ``client_auth_required`` also ``client_key`` and ``client_cert``, which the peer
  presents, and ``domain`` overrides the name checked in the server's certificate (Fabric
  applies ``domain`` only together with client authentication; so do we).
- Fields of the wrong JSON type make the file malformed, as Go's decoder refuses them
  (``"tls_required": "true"`` is not a boolean).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chaincode.errors import PackagingError
from chaincode.transport import ClientTLS

DEFAULT_DIAL_TIMEOUT = 3.0
"""Fabric's ``externalbuilder.DialTimeout``."""

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class ServerInfo:
    """Where and how the peer dials the contract."""

    address: str
    dial_timeout: float = DEFAULT_DIAL_TIMEOUT
    tls: ClientTLS | None = None


def go_duration(text: str) -> float:
    """Seconds in a Go duration string (``time.ParseDuration``: ``10s``, ``1m30s``,
    ``1.5h``, ``-2s``, ``0``)."""
    sign, body = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.lstrip("+"))
    if body == "0":
        return 0.0
    parts = _GO_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise PackagingError(f"connection.json: dial_timeout {text!r} is not a Go duration")
    return sign * sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def _field(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is None:  # JSON null leaves Go's zero value
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise PackagingError(
            f"connection.json: {name} must be a JSON {kind.__name__.replace('str', 'string')}"
        )
    return value


def _dial_timeout(body: dict[str, Any]) -> float:
    raw = body.get("dial_timeout")
    if raw is None:
        return DEFAULT_DIAL_TIMEOUT
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise PackagingError("connection.json: dial_timeout must be a duration string")
    seconds = go_duration(raw) if isinstance(raw, str) else raw * 1e-9
    return seconds or DEFAULT_DIAL_TIMEOUT


def server_info(raw: bytes) -> ServerInfo:
    """The dialling instructions in a ``connection.json``, or ``PackagingError`` naming
    the field Fabric would refuse."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackagingError(f"connection.json: malformed chaincode info ({exc})") from None
    if not isinstance(body, dict):
        raise PackagingError("connection.json: malformed chaincode info (not a JSON object)")
    address = _field(body, "address", str, "")
    if not address:
        raise PackagingError("connection.json: chaincode address not provided")
    dial_timeout = _dial_timeout(body)
    if not _field(body, "tls_required", bool, False):
        return ServerInfo(address, dial_timeout)
    client_auth = _field(body, "client_auth_required", bool, False)
    key, cert, root, domain = (
        _field(body, name, str, "") for name in ("client_key", "client_cert", "root_cert", "domain")
    )
    if client_auth and not key:
        raise PackagingError("connection.json: chaincode tls key not provided (client_key)")
    if client_auth and not cert:
        raise PackagingError("connection.json: chaincode tls cert not provided (client_cert)")
    if not root:
        raise PackagingError("connection.json: chaincode tls root cert not provided (root_cert)")
    tls = ClientTLS(
        root.encode(),
        key.encode() if client_auth else None,
        cert.encode() if client_auth else None,
        (domain or None) if client_auth else None,
    )
    return ServerInfo(address, dial_timeout, tls)
