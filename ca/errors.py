"""The one error hierarchy of ``ca``: every failure names the input that caused it."""


class CaError(Exception):
    """Base of every error raised by ``ca``."""


class SignatureError(CaError):
    """A signature is malformed, high-S, or does not match the message and key."""
