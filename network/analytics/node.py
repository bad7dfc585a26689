"""The analytics node (``consortium node run analytics --config FILE``).

Per channel, a pump follows the member's peer over ``DeliverWithPrivateData`` (as the
member's identity, like the events bridge; the peer adds the clear private data of the
collections the member belongs to) from the block after the database's checkpoint, and
writes each block as one ledgerdb transaction (``store``). ledgerdb is synchronous, so each write
runs in a worker thread; blocks of a channel are written strictly one after another.

A block that does not chain stops the node with an error naming it (exit code 2 from the
CLI); anything else the peer does (a dropped stream, a restart) is retried by
``follow_blocks_with_private_data`` from the next block not yet written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from ledgerdb.errors import LedgerError
from ledgerdb.qldb_session import start_qldb_session_server
from ledgerdb.service import LedgerServer
from network.analytics.config import AnalyticsConfig, load_config
from network.analytics.errors import AnalyticsError
from network.analytics.readonly import ReadOnlyDatabase
from network.analytics.rows import block_rows
from network.analytics.store import ChannelDatabase
from network.gateway_client import GatewayClient
from network.mqtt.config import open_gateway
from network.mqtt.deliver import follow_blocks_with_private_data
from proto.metrics import METRICS
from proto.operations import start_operations

log = logging.getLogger(__name__)

__all__ = ["load_config", "serve"]

BLOCKS = METRICS.counter(
    "analytics_blocks_written", "Blocks written to the analytics databases (ours).", ("channel",)
)
HEIGHT = METRICS.gauge(
    "analytics_height", "The next block each channel's database waits for (ours).", ("channel",)
)


async def pump(deliver: GatewayClient, channel: str, database: ChannelDatabase) -> None:
    """Write ``channel``'s blocks into ``database`` forever, from its checkpoint on."""
    done = await asyncio.to_thread(database.checkpoint)
    start = 0 if done is None else done.next_block
    HEIGHT.set(start, channel)
    log.info("analytics following %s from block %d", channel, start)
    async for delivered in follow_blocks_with_private_data(deliver, channel, start):
        block = delivered.block
        rows = block_rows(block, delivered.private_data_map)
        try:
            await asyncio.to_thread(database.write, rows, list(block.data.data))
        except LedgerError as exc:  # e.g. a value over ledgerdb's document size
            raise AnalyticsError(f"channel {channel} block {rows.number}: {exc}") from exc
        BLOCKS.add(channel)
        HEIGHT.set(rows.number + 1, channel)


async def run(config: AnalyticsConfig) -> None:
    """Open and serve every channel's database, and pump them all until cancelled."""
    async with contextlib.AsyncExitStack() as stack:
        deliver = await stack.enter_async_context(open_gateway(config.deliver))
        databases = {}
        for channel in config.channels:
            database = ChannelDatabase(config.database(channel))
            stack.callback(database.close)
            databases[channel] = database
            await _serve_database(stack, database, config, channel)
        log.info(
            "analytics serving %s on %s", ",".join(databases), config.listen(config.channels[0])
        )
        async with asyncio.TaskGroup() as group:
            for channel, database in databases.items():
                group.create_task(pump(deliver, channel, database))


async def _serve_database(
    stack: contextlib.AsyncExitStack,
    database: ChannelDatabase,
    config: AnalyticsConfig,
    channel: str,
) -> None:
    """Serve the database over ledgerdb's gRPC service, so ``consortium analytics query``
    and ``consortium ledger … --endpoint`` read it while the node holds it (one process
    per database: the journal's lock), and, when the config says ``qldb``, over QLDB's
    session API, read-only (``readonly``), so ``pyqldb`` reads it unchanged as the ledger
    named like the channel. Both stop before the database closes."""
    if qldb := config.qldb_listen(channel):  # first: up waits for the gRPC port
        host, _, port = qldb.rpartition(":")
        runner, _ = await start_qldb_session_server(
            ReadOnlyDatabase(database.db, channel), host, int(port), ledger_name=channel
        )
        stack.push_async_callback(runner.cleanup)
        log.info("analytics serves %s over QLDB's session API on %s", channel, qldb)
    server = LedgerServer(database.db)
    await server.start(config.listen(channel))
    stack.push_async_callback(server.stop)


async def serve(config: AnalyticsConfig) -> None:
    """Run until SIGTERM or SIGINT. A stop between blocks loses nothing: a block's write
    finishes (its thread is not interrupted) or never started."""
    operations = await start_operations(f"analytics {config.network}", config.operations_listen)
    task = asyncio.create_task(run(config))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except* Exception as group:  # a broken chain, a block ledgerdb refused: one line
        raise group.exceptions[0] from None
    finally:
        if operations is not None:
            await operations.stop()
    log.info("analytics stopped")
