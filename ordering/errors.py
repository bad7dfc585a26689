"""The one error hierarchy of ``ordering``: every failure names the input that caused it."""


class OrderingError(Exception):
    """Base of every error raised by ``ordering``."""


class ConfigError(OrderingError):
    """A channel profile, config block or config update is invalid."""
