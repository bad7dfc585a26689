"""The one error hierarchy of ``peers``: every failure names the input that caused it."""


class PeerError(Exception):
    """Base of every error raised by ``peers``."""


class StorageError(PeerError):
    """The world state or block store cannot be read or written."""
