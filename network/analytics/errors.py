"""The analytics node's errors (under ``network``'s root, ``NetworkError``)."""

from __future__ import annotations

from network.errors import NetworkError


class AnalyticsError(NetworkError):
    """Base of the analytics node's errors."""


class AnalyticsConfigError(AnalyticsError):
    """The analytics node's YAML config is unusable; the message gives file, line and field."""


class BrokenChain(AnalyticsError):
    """A block that does not chain to the last one written; the message names the block.
    Nothing of it is written and the node stops."""
