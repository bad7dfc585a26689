"""The control plane's errors: AMB's exception types, each with its HTTP status.

The name of the class is the wire name: the REST layer sends it as the
``x-amzn-ErrorType`` header and the message as ``{"message": ...}``, which is exactly
what botocore's rest-json parser reads to raise ``client.exceptions.<Name>``.
"""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base of every error a caller can cause; ``status`` is the HTTP status AMB uses."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__


class InvalidRequestException(ControlPlaneError):
    status = 400


class IllegalActionException(ControlPlaneError):
    status = 400


class TooManyTagsException(ControlPlaneError):
    status = 400


class AccessDeniedException(ControlPlaneError):
    status = 403


class ResourceNotFoundException(ControlPlaneError):
    status = 404


class ResourceAlreadyExistsException(ControlPlaneError):
    status = 409


class ResourceNotReadyException(ControlPlaneError):
    status = 409


class ResourceLimitExceededException(ControlPlaneError):
    status = 429


class ThrottlingException(ControlPlaneError):
    status = 429


class InternalServiceErrorException(ControlPlaneError):
    status = 500


class StoreError(Exception):
    """The state store could not read or write durably; the request is not acknowledged."""
