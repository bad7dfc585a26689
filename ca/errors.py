"""The one error root of ``ca``: every failure names the input that caused it.

Classes kept next to the code that raises them are marked with their module::

    CaError
    ├── SignatureError
    │   └── TokenError
    ├── CertificateError
    ├── IdentityError
    ├── MspConfigError
    ├── PolicyError
    │   └── PolicyParseError
    ├── KeyStoreError
    ├── RegistryError
    ├── SettingsError
    ├── CaRequestError          (HTTP status and Fabric CA code for the client)
    └── ChannelConfigError      channelconfig
"""


class CaError(Exception):
    """Base of every error raised by ``ca``."""


class SignatureError(CaError):
    """A signature is malformed, high-S, or does not match the message and key."""


class CertificateError(CaError):
    """A certificate, CSR or CRL cannot be parsed or does not meet the CA's rules."""


class IdentityError(CaError):
    """An identity is malformed, from another MSP, untrusted, expired, revoked or has no role."""


class MspConfigError(CaError):
    """An MSP folder or ``config.yaml`` is missing a part or names an unusable file."""


class PolicyError(CaError):
    """A policy is malformed or cannot be evaluated (unknown sub-policy, bad principal)."""


class PolicyParseError(PolicyError):
    """Fabric policy-language text does not parse; the message gives the position."""


class KeyStoreError(CaError):
    """A key cannot be stored or unlocked: missing master key, wrong master key, bad file."""


class RegistryError(CaError):
    """The identity registry refused a change (unknown or duplicate identity, bad field)."""


class SettingsError(CaError):
    """``ca.yaml`` is unreadable or a field has the wrong type or range."""


class TokenError(SignatureError):
    """A Fabric CA token is malformed or its signature does not cover this request."""


class CaRequestError(CaError):
    """A Fabric CA REST request failed: the HTTP status, Fabric CA error code and message.

    ``detail`` is the specific reason (logged by the server); for authentication and
    authorization failures Fabric CA sends clients only the generic message, and so do we.
    """

    def __init__(self, status: int, code: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail or message
