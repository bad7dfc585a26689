"""Each channel's height on every node that serves it (the orderers and the channel's
members' peers), asked over Deliver for the newest block as each member's user, as
``consortium status`` asks; a node that does not answer has no height (None)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fabric_protos.orderer import ab_pb2_grpc
from fabric_protos.peer import events_pb2_grpc

from network.explorer.config import ExplorerConfig, ExplorerConfigError
from network.gateway_client import signer_of, tls_identity_of
from network.status import deliver_height, height_or_none
from peers.channel import OrdererEndpoint
from proto.credentials import TlsIdentity

TIMEOUT = 1.5


async def heights_on_nodes(config: ExplorerConfig, channel: str) -> dict[str, int | None]:
    """Node name → height of ``channel`` (None: no answer)."""
    names = {node.address: node.name for node in config.nodes}
    questions: list[tuple[str, Any]] = []
    members = [m for m in config.channels.get(channel, []) if m in config.members]
    for n, member in enumerate(members):
        try:
            connection = config.connection(member)
        except (ExplorerConfigError, OSError, ValueError):
            continue
        signer = signer_of(connection, "user1")
        client = tls_identity_of(connection, "user1")
        ends = list(connection.get("gateways") or [connection["gateway"]])
        kinds = [(end, events_pb2_grpc.DeliverStub) for end in ends]
        if n == 0:  # the orderers, asked once, as the first member's user
            kinds = [(end, ab_pb2_grpc.AtomicBroadcastStub) for end in connection["orderers"]]
            kinds += [(end, events_pb2_grpc.DeliverStub) for end in ends]
        for end, stub in kinds:
            name = names.get(end["endpoint"], end["endpoint"])
            questions.append((name, _ask(end, stub, signer, channel, client)))
    answers = await asyncio.gather(*(question for _, question in questions))
    return {name: height for (name, _), height in zip(questions, answers, strict=True)}


async def _ask(
    end: dict[str, Any], stub_type: Any, signer: Any, channel: str, client: TlsIdentity | None
) -> int | None:
    tls_root = Path(end["tlsRootCert"]).read_bytes()
    endpoint = OrdererEndpoint(end["endpoint"], tls_root, client=client)
    async with endpoint.channel() as grpc_channel:
        question = deliver_height(stub_type(grpc_channel), signer, channel)
        return await height_or_none(asyncio.wait_for(question, TIMEOUT))
