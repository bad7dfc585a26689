"""Verify a block's signatures in parallel before validation walks it in order.

Validation (``peers.validation``) checks each transaction's creator signature and its
endorsements one transaction after another, as Fabric defines the order of the codes.
The ECDSA verifications are most of that work and are independent of each other, and
``cryptography`` releases the GIL while it verifies; so the committer first collects
every (identity, message, signature) of the block and verifies them on a thread pool.
Valid ones land in ``ca.signing.KNOWN_SIGNATURES``; the ordered pass then finds them
there. Nothing is decided here: a signature that fails, an identity that does not parse
or an envelope that does not decode is simply left for the ordered pass, which gives the
code and the reason exactly as before — and still validates every identity (MSP chain,
revocation, expiry) itself. The envelopes are the committer's, read once
(``proto.envelope``): the endorsed actions decoded here are the ones validation reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from fabric_protos.common import common_pb2

from ca.errors import CaError
from ca.msp import MspManager
from proto.envelope import Invalid, ParsedTx

_WORKERS = max(2, os.cpu_count() or 1)
_POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="verify")
MIN_PARALLEL = 8
"""Fewer signatures than this are left to the ordered pass: handing them to threads
would cost more than it saves."""

SignatureCheck = tuple[bytes, bytes, bytes]
"""(serialized identity, signed message, signature)."""


def block_signatures(txs: Sequence[ParsedTx]) -> list[SignatureCheck]:
    """Every creator and endorsement signature of the block's endorser transactions."""
    checks: list[SignatureCheck] = []
    for tx in txs:
        checks.extend(_envelope_signatures(tx))
    return checks


def _envelope_signatures(tx: ParsedTx) -> Iterator[SignatureCheck]:
    if tx.header_type != common_pb2.ENDORSER_TRANSACTION or tx.signature_header is None:
        return  # the ordered pass names what does not decode
    assert tx.envelope is not None
    yield tx.signature_header.creator, tx.envelope.payload, tx.envelope.signature
    try:
        endorsed = tx.action.endorsed
    except Invalid:
        return
    for endorsement in endorsed.endorsements:
        message = endorsed.proposal_response_payload + endorsement.endorser
        yield endorsement.endorser, message, endorsement.signature


def _verify_all(checks: list[SignatureCheck], msps: MspManager) -> None:
    for identity_bytes, message, signature in checks:
        try:
            msp, identity = msps.deserialize(identity_bytes)
            msp.verify(identity, message, signature)
        except (CaError, ValueError):
            continue


def prefetch(txs: Sequence[ParsedTx], msps: MspManager) -> int:
    """Verify the signatures of a block's transactions on the pool, remembering the valid
    ones; returns how many were checked in parallel (0 when the block is too small to
    bother)."""
    checks = block_signatures(txs)
    if len(checks) < MIN_PARALLEL:
        return 0
    slices = [checks[n::_WORKERS] for n in range(_WORKERS)]
    futures = [_POOL.submit(_verify_all, part, msps) for part in slices[1:]]
    _verify_all(slices[0], msps)
    for future in futures:
        future.result()
    return len(checks)
