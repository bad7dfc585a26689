"""The one error root of ``chaincode``: every message names the failing input.

Classes kept next to the code that raises them are marked with their module::

    ChaincodeError
    ├── StateError
    │   └── CollectionAccessError
    ├── MangoError
    ├── ShimError
    │   ├── ChaincodeTimeout
    │   ├── ChaincodeDisconnected
    │   └── ChaincodeFailed         shim
    ├── ContractLoadError
    └── PackagingError

Contract code is not ours to root: ``client_identity.py`` (copied into contracts, which
import only the Fabric contract API) keeps its ``ClientIdentityError(ValueError)``.
"""

from __future__ import annotations


class ChaincodeError(Exception):
    """Base of every error raised by ``chaincode``."""


class StateError(ChaincodeError):
    """A state access the ledger rules forbid (empty key, write after a paginated query…)."""


class CollectionAccessError(StateError):
    """The caller may not read or write a private data collection."""


class MangoError(ChaincodeError):
    """A malformed CouchDB Mango query; the message names the bad operator or field."""


class ShimError(ChaincodeError):
    """The chaincode broke the shim protocol or could not be reached."""


class ChaincodeTimeout(ShimError):
    """The chaincode did not complete a transaction within the per-call timeout."""


class ChaincodeDisconnected(ShimError):
    """The chaincode's stream ended while a transaction was in flight."""


class ContractLoadError(ChaincodeError):
    """A contract directory could not be imported or holds no contract."""


class PackagingError(ChaincodeError):
    """A chaincode package could not be built from the given input."""
