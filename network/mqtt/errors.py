"""The events bridge's error hierarchy: every error names the input or field it is about."""

from __future__ import annotations

from network.errors import NetworkError


class EventsError(NetworkError):
    """Base of the events bridge's errors."""


class BridgeConfigError(EventsError):
    """The bridge's YAML config is unusable; the message gives file, line and field."""


class CheckpointError(EventsError):
    """The checkpoint file cannot be read or written; the message names the file."""


class IngressError(EventsError):
    """An ingress message that cannot be submitted; ``field`` names the bad part
    (``topic``, ``payload``, ``args[2]``, ``id``, ``response_topic``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
