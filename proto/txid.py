"""Fabric's transaction id rule.

A txid is not chosen freely: peers reject a proposal whose ``tx_id`` is not
hex(SHA-256(nonce ‖ creator)), which binds the id to the signer and makes replays
detectable (``BAD_PROPOSAL_TXID``).
"""

from __future__ import annotations

import hashlib
import secrets

NONCE_SIZE = 24
"""Fabric's client SDKs draw 24 random bytes per proposal."""


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_SIZE)


def compute_txid(nonce: bytes, creator: bytes) -> str:
    """Return the txid for ``nonce`` and the serialized creator identity bytes."""
    return hashlib.sha256(nonce + creator).hexdigest()
