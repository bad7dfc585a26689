"""The orderer's figures under Fabric's metric names.

Counted in-process where they happen (``broadcast_processed_count`` in Broadcast) or
read when scraped from what the node already keeps (each channel's height).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fabric_protos.common import common_pb2

from proto.metrics import METRICS, Labels

BROADCAST_PROCESSED = METRICS.counter(
    "broadcast_processed_count",
    "The number of transactions processed.",
    ("channel", "type", "status"),
)
BROADCAST_VALIDATE = METRICS.histogram(
    "broadcast_validate_duration",
    "The time to validate a transaction in seconds.",
    ("channel", "type", "status"),
)

ORDER_RATE = METRICS.rate(
    "broadcast_transactions_per_second",
    "Transactions accepted by Broadcast per second over the last 10 s (ours).",
)


def count_broadcast(channel: str, config_update: bool | None, status: int, seconds: float) -> None:
    """One Broadcast envelope answered: its channel ("" when it did not decode that far),
    its type as Fabric names it, and the status the client was given."""
    kind = {None: "", True: "CONFIG_UPDATE", False: "ENDORSER_TRANSACTION"}[config_update]
    name = common_pb2.Status.Name(status)
    BROADCAST_PROCESSED.add(channel, kind, name)
    if status == common_pb2.SUCCESS:
        ORDER_RATE.add()
    BROADCAST_VALIDATE.observe(seconds, channel, kind, name)


def publish_heights(chains: Callable[[], Mapping[str, Any]]) -> None:
    """``ledger_blockchain_height`` per channel, read from the chains when scraped."""

    def read() -> dict[Labels, float]:
        return {(name,): float(chain.height) for name, chain in chains().items()}

    METRICS.gauge("ledger_blockchain_height", "Height of the chain in blocks.", ("channel",), read)
