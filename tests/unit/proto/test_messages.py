"""Fabric messages built by ``proto.messages`` parse, sign and hash as Fabric expects."""

import pytest
from cryptography import x509
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from ca.signing import SoftwareSigner, verify
from proto.blockhash import block_data_hash, block_header_hash
from proto.messages import build_block, build_transaction_envelope
from proto.proposal import build_proposal, sign_proposal
from proto.txid import compute_txid


def _public_key(signer: SoftwareSigner):
    return x509.load_pem_x509_certificate(signer.certificate_pem).public_key()


def _endorse(signer: SoftwareSigner, payload: bytes) -> proposal_response_pb2.ProposalResponse:
    """What an endorsing peer returns: its signature over payload ‖ endorser identity."""
    return proposal_response_pb2.ProposalResponse(
        version=1,
        response=proposal_response_pb2.Response(status=200),
        payload=payload,
        endorsement=proposal_response_pb2.Endorsement(
            endorser=signer.creator, signature=signer.sign(payload + signer.creator)
        ),
    )


def test_proposal_round_trips_and_obeys_the_txid_rule(signer: SoftwareSigner) -> None:
    proposal, tx_id = build_proposal(
        signer, "mychannel", "basic", [b"CreateAsset", b"asset1"], transient={"k": b"v"}
    )
    signed = sign_proposal(signer, proposal)

    parsed = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
    header = common_pb2.Header.FromString(parsed.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    creator = identities_pb2.SerializedIdentity.FromString(signature_header.creator)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(parsed.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input).chaincode_spec

    assert channel_header.type == common_pb2.ENDORSER_TRANSACTION
    assert channel_header.channel_id == "mychannel"
    assert channel_header.tx_id == tx_id
    assert tx_id == compute_txid(signature_header.nonce, signature_header.creator)
    assert signature_header.creator == signer.creator and creator.mspid == "Org1MSP"
    assert list(spec.input.args) == [b"CreateAsset", b"asset1"]
    assert spec.chaincode_id.name == "basic"
    assert dict(payload.TransientMap) == {"k": b"v"}
    verify(_public_key(signer), signed.proposal_bytes, signed.signature)


def test_envelope_carries_endorsements_and_drops_transient(signer: SoftwareSigner) -> None:
    proposal, tx_id = build_proposal(signer, "mychannel", "basic", [b"f"], transient={"k": b"v"})
    response = _endorse(signer, b"simulated-result")
    envelope = build_transaction_envelope(signer, proposal, [response, response])

    verify(_public_key(signer), envelope.payload, envelope.signature)
    payload = common_pb2.Payload.FromString(envelope.payload)
    assert common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id == tx_id
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(transaction.actions[0].payload)
    public = proposal_pb2.ChaincodeProposalPayload.FromString(action.chaincode_proposal_payload)
    assert dict(public.TransientMap) == {}
    assert action.action.proposal_response_payload == b"simulated-result"
    assert len(action.action.endorsements) == 2


def test_mismatched_endorsements_are_refused(signer: SoftwareSigner) -> None:
    proposal, _ = build_proposal(signer, "mychannel", "basic", [b"f"])
    responses = [_endorse(signer, b"a"), _endorse(signer, b"b")]
    with pytest.raises(ValueError, match="responses: endorsers returned different results"):
        build_transaction_envelope(signer, proposal, responses)


def test_blocks_chain_by_header_hash(signer: SoftwareSigner) -> None:
    envelopes = []
    for n in range(3):
        proposal, _ = build_proposal(signer, "mychannel", "basic", [str(n).encode()])
        envelope = build_transaction_envelope(signer, proposal, [_endorse(signer, b"r")])
        envelopes.append(envelope.SerializeToString())

    genesis = build_block(0, b"", envelopes[:1])
    second = build_block(1, block_header_hash(genesis.header), envelopes[1:])
    wire = common_pb2.Block.FromString(second.SerializeToString())

    assert wire.header.previous_hash == block_header_hash(genesis.header)
    assert wire.header.data_hash == block_data_hash(wire.data.data)
    assert len(wire.metadata.metadata) == 5
    assert block_header_hash(wire.header) != block_header_hash(genesis.header)
