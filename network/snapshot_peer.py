"""A peer added to a running network from a peer snapshot: the spec names the folder
(``peers: [{name: peer1, port: …, snapshot: DIR}]``) and ``up`` joins that peer to the
snapshot's channel with Fabric's ``JoinChainBySnapshot`` instead of the genesis block
(``peers.snapshot_join``), so it serves the channel from the snapshot's height without
replaying the blocks before it."""

from __future__ import annotations

import json
from pathlib import Path

from peers.snapshot_join import SIGNABLE_METADATA


def snapshot_channel(folder: str) -> str:
    """The channel a peer snapshot folder was taken of ("" without one, or unreadable:
    the peer then joins from the genesis block, and says why it cannot if asked)."""
    if not folder:
        return ""
    try:
        return str(json.loads((Path(folder) / SIGNABLE_METADATA).read_text())["channel_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
