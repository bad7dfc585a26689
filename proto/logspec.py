"""Log levels in Fabric's logging spec, set at start and changed live; log files rotated.

Fabric's peer and orderer take ``FABRIC_LOGGING_SPEC`` (and ``PUT /logspec``) in the
form ``[<logger>[,<logger>...]=]<level>[:[<logger>[,<logger>...]=]<level>...]``: a
bare level is the default, ``gossip,msp=debug`` sets those loggers (and their children).
Our loggers are the Python module names (``peers.gateway``, ``ordering.chain``), so the
same spec works with Python's logger hierarchy. Every node process of ours is set up by
``configure`` once, so the spec, the format and the rotation are the same everywhere.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass

from proto.errors import ProtoError

# Fabric's levels; PANIC and FATAL both mean "only what stops the node".
LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "PANIC": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}
SPEC_VARIABLES = ("CONSORTIUM_LOGGING_SPEC", "FABRIC_LOGGING_SPEC")
LOG_FILE_VARIABLE = "CONSORTIUM_LOG_FILE"
LOG_MAX_BYTES_VARIABLE = "CONSORTIUM_LOG_MAX_BYTES"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogSpecError(ProtoError):
    """A logging spec that does not parse; the message quotes the faulty term."""


@dataclass(frozen=True)
class LogSpec:
    """A parsed spec: the default level and the levels of named loggers."""

    text: str
    default: int
    loggers: tuple[tuple[str, int], ...] = ()


def _level(word: str, spec: str) -> int:
    level = LEVELS.get(word.strip().upper())
    if level is None:
        raise LogSpecError(
            f"invalid logging specification {spec!r}: bad level {word.strip()!r} "
            f"(one of {', '.join(name.lower() for name in LEVELS)})"
        )
    return level


def parse(text: str) -> LogSpec:
    """Parse a Fabric logging spec; the last bare level is the default (INFO if none)."""
    spec = text.strip()
    if not spec:
        raise LogSpecError("the logging specification is empty")
    default = logging.INFO
    loggers: list[tuple[str, int]] = []
    for term in spec.split(":"):
        names, equals, word = term.rpartition("=")
        if not equals:
            default = _level(word, spec)
            continue
        level = _level(word, spec)
        for name in names.split(","):
            if not name.strip() or any(c.isspace() for c in name.strip()):
                raise LogSpecError(f"invalid logging specification {spec!r}: bad logger {name!r}")
            loggers.append((name.strip().rstrip("."), level))
    return LogSpec(spec, default, tuple(loggers))


class _Live:
    """The spec in force, so ``GET /logspec`` answers what ``PUT`` last set."""

    spec: LogSpec = LogSpec("info", logging.INFO)
    named: tuple[str, ...] = ()


def apply(spec: LogSpec) -> None:
    """Make ``spec`` the process's levels; loggers the previous spec named go back to
    following the default, so a spec replaces the last one rather than adding to it."""
    for name in _Live.named:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger().setLevel(spec.default)
    for name, level in spec.loggers:
        logging.getLogger(name).setLevel(level)
    _Live.spec, _Live.named = spec, tuple(name for name, _ in spec.loggers)


def current() -> str:
    return _Live.spec.text


def initial_spec(option: str | None) -> LogSpec:
    """``--log-level`` if given, else ``$CONSORTIUM_LOGGING_SPEC``, else
    ``$FABRIC_LOGGING_SPEC``, else ``info``."""
    if option:
        return parse(option)
    for variable in SPEC_VARIABLES:
        if os.environ.get(variable):
            return parse(os.environ[variable])
    return parse("info")


class _RotatingStdio(logging.handlers.RotatingFileHandler):
    """Rotates the node's log file by size and points stdout and stderr at the new file,
    so ``print``ed lines and tracebacks (which the supervisor sends to the same file)
    follow the log instead of growing the rotated one."""

    def doRollover(self) -> None:
        super().doRollover()
        if self.stream is not None:
            for stdio in (sys.stdout, sys.stderr):
                try:
                    stdio.flush()
                    os.dup2(self.stream.fileno(), stdio.fileno())
                except (OSError, ValueError):
                    pass


def configure(option: str | None = None) -> LogSpec:
    """Set up a node process's logging: the format, the initial spec, and — when the
    supervisor names the log file (``$CONSORTIUM_LOG_FILE``) — rotation by size
    (``$CONSORTIUM_LOG_MAX_BYTES``, 10 MB by default, 3 old files kept)."""
    spec = initial_spec(option)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = os.environ.get(LOG_FILE_VARIABLE)
    handler: logging.Handler
    if path:
        limit = int(os.environ.get(LOG_MAX_BYTES_VARIABLE) or DEFAULT_MAX_BYTES)
        handler = _RotatingStdio(path, maxBytes=limit, backupCount=BACKUPS)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    apply(spec)
    return spec
