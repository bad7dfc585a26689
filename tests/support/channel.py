"""An in-process channel for peer tests: orgs, a genesis block, orderer-signed blocks
and endorsed transactions built with the same helpers the real nodes use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    policy_pb2,
    proposal_pb2,
    proposal_response_pb2,
)
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ca.msp import write_msp
from ca.policy import from_string
from ca.signing import SoftwareSigner
from chaincode.rwset import TxRWSet
from chaincode.state import Version
from ordering.configtx import genesis_block, load_profile
from peers.lifecycle import LIFECYCLE_NAMESPACE, definition_key, encode_definition
from peers.worldstate import WorldState
from proto.blockhash import block_header_hash
from proto.blocksign import sign_block
from proto.messages import build_block, build_transaction_envelope, sign_endorsement
from proto.proposal import build_proposal
from tests.support.orderer import CHANNEL, PROFILE
from tests.support.pki import Org, make_org


@dataclass
class ChannelFixture:
    root: Path
    orgs: dict[str, Org] = field(init=False)
    genesis: common_pb2.Block = field(init=False)
    orderer: SoftwareSigner = field(init=False)

    def __post_init__(self) -> None:
        self.orgs = {m: make_org(m) for m in ("OrdererMSP", "Org1MSP", "Org2MSP")}
        for mspid, org in self.orgs.items():
            write_msp(self.root / "msp" / mspid, org.config())
        batch = {"timeout": "1s", "count": "10", "absolute": "1 MB", "preferred": "512 KB"}
        (self.root / "configtx.yaml").write_text(PROFILE.format(**batch))
        self.genesis = genesis_block(load_profile(self.root / "configtx.yaml"), CHANNEL)
        self.orderer = self.orgs["OrdererMSP"].identity("orderer0", "orderer")
        self._previous = block_header_hash(self.genesis.header)
        self._number = 1
        self.peers = {
            m: self.orgs[m].identity(f"peer0.{m}", "peer") for m in ("Org1MSP", "Org2MSP")
        }
        self.clients = {
            m: self.orgs[m].identity(f"user.{m}", "client") for m in ("Org1MSP", "Org2MSP")
        }

    def block(self, envelopes: list[common_pb2.Envelope], signer: SoftwareSigner | None = None):
        block = build_block(
            self._number, self._previous, [e.SerializeToString() for e in envelopes]
        )
        sign_block(block, signer or self.orderer, last_config_index=0)
        self._previous = block_header_hash(block.header)
        self._number += 1
        return block

    def transaction(
        self,
        rwset: TxRWSet,
        chaincode: str = "basic",
        version: str = "1.0",
        client: SoftwareSigner | None = None,
        endorsers: tuple[str, ...] = ("Org1MSP", "Org2MSP"),
        results: bytes | None = None,
        event: chaincode_event_pb2.ChaincodeEvent | None = None,
    ) -> common_pb2.Envelope:
        return endorsed_transaction(
            client or self.clients["Org1MSP"],
            [self.peers[m] for m in endorsers],
            rwset,
            chaincode,
            version,
            results,
            event=event,
        )


def endorsed_transaction(
    client: SoftwareSigner,
    endorsers: list[SoftwareSigner],
    rwset: TxRWSet,
    chaincode: str = "basic",
    version: str = "1.0",
    results: bytes | None = None,
    channel_id: str = CHANNEL,
    event: chaincode_event_pb2.ChaincodeEvent | None = None,
) -> common_pb2.Envelope:
    """A signed transaction whose read/write set the test chose, endorsed by ``endorsers``
    exactly as peers sign — how a test crafts what no honest endorser would produce."""
    proposal, _ = build_proposal(client, channel_id, chaincode, [b"invoke"])
    action = proposal_pb2.ChaincodeAction(
        results=rwset.to_proto().SerializeToString() if results is None else results,
        events=b"" if event is None else event.SerializeToString(),
        response=proposal_response_pb2.Response(status=200),
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode, version=version),
    )
    responses = [sign_endorsement(peer, proposal, action) for peer in endorsers]
    return build_transaction_envelope(client, proposal, responses)


BOTH_ORGS = "AND('Org1MSP.peer', 'Org2MSP.peer')"


def define(
    state: WorldState, name: str = "basic", version: str = "1.0", policy: str = BOTH_ORGS
) -> None:
    """A committed chaincode definition, as the lifecycle would leave it (written outside
    any block, so a test needs no lifecycle transactions)."""
    definition = lifecycle_pb2.QueryChaincodeDefinitionResult(
        sequence=1,
        version=version,
        validation_parameter=policy_pb2.ApplicationPolicy(
            signature_policy=from_string(policy)
        ).SerializeToString(),
    )
    rwset = TxRWSet()
    rwset.namespace(LIFECYCLE_NAMESPACE).writes[definition_key(name)] = encode_definition(
        definition
    )
    state.commit(Version(0, 0), "define", 0.0, rwset)
