"""What message builders need from an identity, without knowing how keys are held.

``ca`` provides implementations (software keys, the encrypted key store); builders in
``proto`` only see this protocol, so ``proto`` stays free of key handling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fabric_protos.msp import identities_pb2


class Signer(Protocol):
    @property
    def creator(self) -> bytes:
        """The serialized ``msp.SerializedIdentity`` that signatures are checked against."""
        ...

    def sign(self, message: bytes) -> bytes:
        """DER-encoded, low-S ECDSA signature over SHA-256 of ``message``."""
        ...


@dataclass(frozen=True)
class SignedData:
    """Fabric's ``protoutil.SignedData``: bytes, who claims to have signed them, the
    signature. Policies are evaluated on lists of these."""

    data: bytes
    identity: bytes
    signature: bytes


def serialize_identity(mspid: str, certificate_pem: bytes) -> bytes:
    """Fabric's creator bytes: ``SerializedIdentity {mspid, id_bytes = PEM}``."""
    return identities_pb2.SerializedIdentity(
        mspid=mspid, id_bytes=certificate_pem
    ).SerializeToString()
