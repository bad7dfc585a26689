"""The configuration system chaincode (``cscc``): how an admin joins a peer to a channel.

As on Fabric (``peer channel join -b block``): a proposal to chaincode ``cscc`` with
function ``JoinChain`` and the channel's genesis block as argument, signed by an admin
of the peer's own organization, and ``GetChannels`` to list joined channels; and
``JoinChainBySnapshot`` with a snapshot folder on the peer's machine (``peer channel
joinbysnapshot --snapshotpath DIR``) and ``JoinBySnapshotStatus`` (``peer channel
joinbysnapshotstatus``). These are not transactions: nothing is ordered, the peer acts
on the proposal directly. A join from a snapshot is finished when the call answers, so
the status shows one in progress only while another call is being served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, query_pb2
from google.protobuf.message import DecodeError

from ca.msp import Msp
from peers.endorser import CSCC_NAME, ProposalRefused, UnpackedProposal
from peers.local_admin import require_local_admin

CSCC = CSCC_NAME


class ConfigSystemChaincode:
    def __init__(
        self,
        local_msp: Msp,
        join: Callable[[common_pb2.Block], Awaitable[str]],
        channels: Callable[[], list[str]],
        join_by_snapshot: Callable[[str], Awaitable[str]],
        joining_from: Callable[[], str],
    ) -> None:
        self.local_msp = local_msp
        self._join = join
        self._channels = channels
        self._join_by_snapshot = join_by_snapshot
        self._joining_from = joining_from

    async def __call__(
        self, signed: proposal_pb2.SignedProposal, unpacked: UnpackedProposal
    ) -> proposal_response_pb2.ProposalResponse:
        args = list(unpacked.input.args)
        function = args[0].decode() if args else ""
        require_local_admin(self.local_msp, signed, unpacked.signature_header.creator, CSCC)
        if function == "JoinChain":
            if len(args) < 2:
                raise ProposalRefused("JoinChain needs the channel's genesis block as argument")
            try:
                block = common_pb2.Block.FromString(args[1])
            except DecodeError:
                raise ProposalRefused("JoinChain argument is not a Fabric block") from None
            channel_id = await self._join(block)
            message = f"joined channel {channel_id}"
            return proposal_response_pb2.ProposalResponse(
                version=1, response=proposal_response_pb2.Response(status=200, message=message)
            )
        if function == "JoinChainBySnapshot":
            if len(args) < 2 or not args[1]:
                raise ProposalRefused("Cannot join the channel, no snapshot directory provided")
            await self._join_by_snapshot(args[1].decode(errors="replace"))
            return _ok(b"")
        if function == "JoinBySnapshotStatus":
            folder = self._joining_from()
            status = query_pb2.JoinBySnapshotStatus(
                in_progress=bool(folder), bootstrapping_snapshot_dir=folder
            )
            return _ok(status.SerializeToString())
        if function == "GetChannels":
            answer = query_pb2.ChannelQueryResponse(
                channels=[query_pb2.ChannelInfo(channel_id=c) for c in self._channels()]
            )
            return _ok(answer.SerializeToString())
        raise ProposalRefused(
            f"cscc has no function {function!r}; use JoinChain, JoinChainBySnapshot, "
            "JoinBySnapshotStatus or GetChannels"
        )


def _ok(payload: bytes) -> proposal_response_pb2.ProposalResponse:
    return proposal_response_pb2.ProposalResponse(
        version=1, response=proposal_response_pb2.Response(status=200, payload=payload)
    )
