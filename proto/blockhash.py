"""Block hashing exactly as Fabric computes it.

The header hash is what chains blocks (each header's ``previous_hash``); Fabric takes
SHA-256 of the ASN.1 DER encoding of ``SEQUENCE {INTEGER number, OCTET STRING
previous_hash, OCTET STRING data_hash}`` (Go's ``asn1.Marshal`` of a struct holding a
``*big.Int`` and two byte slices). The data hash is SHA-256 of the concatenated
envelope bytes, so it fixes both the transactions and their order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from fabric_protos.common import common_pb2


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _der_integer(value: int) -> bytes:
    """Minimal two's-complement big-endian encoding, as DER requires."""
    size = value.bit_length() // 8 + 1  # one spare bit keeps non-negative values positive
    return _der(0x02, value.to_bytes(size, "big", signed=True))


def block_header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """DER encoding of a block header, the preimage of its hash."""
    if number < 0:
        raise ValueError(f"block number must be non-negative, got {number}")
    body = _der_integer(number) + _der(0x04, previous_hash) + _der(0x04, data_hash)
    return _der(0x30, body)


def block_header_hash(header: common_pb2.BlockHeader) -> bytes:
    """The hash the next block carries as ``previous_hash``."""
    preimage = block_header_bytes(header.number, header.previous_hash, header.data_hash)
    return hashlib.sha256(preimage).digest()


def block_data_hash(data: Iterable[bytes]) -> bytes:
    """SHA-256 over the block's envelopes, concatenated in order."""
    digest = hashlib.sha256()
    for envelope in data:
        digest.update(envelope)
    return digest.digest()
