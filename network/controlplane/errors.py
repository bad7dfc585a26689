"""The control plane's errors: AMB's exception types, each with its HTTP status.

The name of the class is the wire name: the REST layer sends it as the
``x-amzn-ErrorType`` header and the message as ``{"message": ...}``, which is exactly
what botocore's rest-json parser reads to raise ``client.exceptions.<Name>``.
"""

from __future__ import annotations

from network.errors import NetworkError


class ControlPlaneError(NetworkError):
    """Base of every error a caller can cause; ``status`` is the HTTP status AMB uses."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__


class InvalidRequestException(ControlPlaneError):
    """The request is malformed: a field is missing, of the wrong type or out of range."""

    status = 400


class IllegalActionException(ControlPlaneError):
    """The request is well formed but not allowed in the resource's current state."""

    status = 400


class TooManyTagsException(ControlPlaneError):
    """A resource would carry more tags than AMB allows (50)."""

    status = 400


class AccessDeniedException(ControlPlaneError):
    """The caller's account may not act on this resource."""

    status = 403


class ResourceNotFoundException(ControlPlaneError):
    """The network, member, node, proposal or invitation does not exist."""

    status = 404


class ResourceAlreadyExistsException(ControlPlaneError):
    """A resource with this name already exists where names must be unique."""

    status = 409


class ResourceNotReadyException(ControlPlaneError):
    """The resource exists but is not AVAILABLE yet (or any more)."""

    status = 409


class ResourceLimitExceededException(ControlPlaneError):
    """A quota (members per network, nodes per member…) would be exceeded."""

    status = 429


class ThrottlingException(ControlPlaneError):
    """Too many requests in too short a time; retry later."""

    status = 429


class InternalServiceErrorException(ControlPlaneError):
    """The service itself failed (e.g. its ledger); the request may be retried."""

    status = 500


class StoreError(NetworkError):
    """The state store could not read or write durably; the request is not acknowledged."""
