"""The peer's figures under Fabric's metric names, counted where they happen.

The endorser and gateway are metered by wrapping their gRPC methods when the node
registers them, and committed blocks are counted by a commit listener, so the flow's
own modules stay free of bookkeeping and a scrape costs the hot path nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from peers.committer import CommittedBlock
from proto.messages import header_type_name
from proto.metrics import METRICS, Labels

PROPOSALS_RECEIVED = METRICS.counter(
    "endorser_proposals_received", "The number of proposals received."
)
SUCCESSFUL_PROPOSALS = METRICS.counter(
    "endorser_successful_proposals", "The number of successful proposals."
)
GATEWAY_RECEIVED = METRICS.counter(
    "gateway_requests_received", "The number of gateway requests received.", ("method",)
)
GATEWAY_COMPLETED = METRICS.counter(
    "gateway_requests_completed",
    "The number of gateway requests completed.",
    ("method", "success"),
)
GATEWAY_DURATION = METRICS.histogram(
    "gateway_requests_duration",
    "The time to complete a gateway request in seconds.",
    ("method", "success"),
)
TRANSACTIONS = METRICS.counter(
    "ledger_transaction_count",
    "Number of transactions processed.",
    ("channel", "transaction_type", "chaincode", "validation_code"),
)
BLOCKS_COMMITTED = METRICS.counter(
    "ledger_blocks_committed", "Blocks committed by this peer (ours).", ("channel",)
)
COMMIT_RATE = METRICS.rate(
    "ledger_transactions_per_second",
    "Transactions committed per second over the last 10 s, every channel (ours).",
)
GATEWAY_METHODS = ("Endorse", "Evaluate", "Submit", "CommitStatus")


def _header_type(value: int | None) -> str:
    return "UNKNOWN" if value is None else header_type_name(value)


def count_block(channel_id: str, committed: CommittedBlock) -> None:
    """``ledger_transaction_count`` for every transaction of a committed block, labelled
    as Fabric labels it (type, chaincode, validation code)."""
    BLOCKS_COMMITTED.add(channel_id)
    COMMIT_RATE.add(len(committed.txs))
    for tx, verdict in zip(committed.txs, committed.verdicts, strict=False):
        TRANSACTIONS.add(
            channel_id, _header_type(tx.header_type), tx.chaincode_name, verdict.code_name
        )


def publish_heights(channels: Callable[[], Mapping[str, Any]]) -> None:
    """``ledger_blockchain_height``: each open channel's height, asked when scraped (the
    ledger already keeps it)."""

    def read() -> dict[Labels, float]:
        return {(name,): float(channel.height) for name, channel in channels().items()}

    METRICS.gauge("ledger_blockchain_height", "Height of the chain in blocks.", ("channel",), read)


def publish_halts(channels: Callable[[], Mapping[str, Any]]) -> None:
    """``ledger_commit_halted``: 1 while a channel cannot commit its next block (a full
    disk), and ``ledger_commit_failures``: the failed attempts so far — both asked when
    scraped, from the channel's own record."""

    def halted() -> dict[Labels, float]:
        return {(name,): float(c.halted is not None) for name, c in channels().items()}

    def failures() -> dict[Labels, float]:
        return {(name,): float(c.failed_commits) for name, c in channels().items()}

    METRICS.gauge(
        "ledger_commit_halted",
        "1 while the channel cannot commit its next block (ours).",
        ("channel",),
        halted,
    )
    METRICS.gauge(
        "ledger_commit_failures",
        "Block commits that failed on a ledger error and were retried (ours).",
        ("channel",),
        failures,
    )


def meter_proposals(
    endorse: Callable[..., Awaitable[tuple[Any, str | None]]],
) -> Callable[..., Awaitable[tuple[Any, str | None]]]:
    """Count proposals received and the successful ones (status below 400, as Fabric's
    endorser counts them). Wraps ``Endorser.endorse``, the one door of both the gRPC
    ``ProcessProposal`` and the gateway's in-process endorsement (which passes the
    proposal it already decoded)."""

    @functools.wraps(endorse)
    async def metered(signed: Any, unpacked: Any = None) -> tuple[Any, str | None]:
        PROPOSALS_RECEIVED.add()
        response, error = await endorse(signed, unpacked)
        if response.response.status < 400:
            SUCCESSFUL_PROPOSALS.add()
        return response, error

    return metered


def _meter_method(name: str, method: Callable[..., Awaitable[Any]]) -> Callable:
    @functools.wraps(method)
    async def metered(request: Any, context: Any) -> Any:
        GATEWAY_RECEIVED.add(name)
        started, success = time.perf_counter(), "false"
        try:
            answer = await method(request, context)
            success = "true"
            return answer
        finally:
            GATEWAY_COMPLETED.add(name, success)
            GATEWAY_DURATION.observe(time.perf_counter() - started, name, success)

    return metered


def meter_gateway(gateway: Any) -> None:
    """Wrap the gateway's unary methods with Fabric's gateway counters (an abort raises,
    so it counts as completed without success)."""
    for name in GATEWAY_METHODS:
        setattr(gateway, name, _meter_method(name, getattr(gateway, name)))
