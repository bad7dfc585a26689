"""The contract-author fixtures, used by the chaincode tests themselves."""

from chaincode.testing.plugin import (  # noqa: F401
    chaincode_collections,
    chaincode_harness,
    chaincode_name,
    chaincode_policy,
    chaincode_shim,
    chaincode_transport,
    identities,
)
