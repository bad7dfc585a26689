"""Admission remembers creators that satisfied /Channel/Writers, never their signatures."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from ca.signing import KNOWN_SIGNATURES
from ordering.msgprocessor import Rejected, admit
from tests.support.orderer import OrdererFixture, transaction
from tests.support.pki import make_org


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    fixture = OrdererFixture(Path(tmp_path_factory.mktemp("admission")))
    config = ChannelConfig.from_block(fixture.genesis())
    client = fixture.client()
    endorser = fixture.orgs["Org1MSP"].identity("peer0", "peer")
    return fixture, config, client, endorser


def _tampered(envelope: common_pb2.Envelope) -> bytes:
    """The same creator and payload, with another envelope's (valid-looking) signature."""
    forged = common_pb2.Envelope()
    forged.CopyFrom(envelope)
    forged.signature = bytes(reversed(envelope.signature))
    return forged.SerializeToString()


def test_a_known_creator_still_has_each_signature_verified(setup, caplog) -> None:
    _, config, client, endorser = setup
    first = transaction(client, endorser, size=64)
    assert admit(first.SerializeToString(), lambda _: config).channel_id == "mychannel"
    KNOWN_SIGNATURES.clear()
    second = transaction(client, endorser, size=64)
    with pytest.raises(Rejected) as refused:
        admit(_tampered(second), lambda _: config)
    assert refused.value.status == common_pb2.FORBIDDEN
    # Fabric's answer names the policy, not the check; the reason is in the log only
    assert str(refused.value) == (
        "implicit policy evaluation failed - 0 sub-policies were satisfied, but this policy "
        "requires 1 of the 'Writers' sub-policies to be satisfied: permission denied"
    )
    assert "signature" in caplog.text
    assert admit(second.SerializeToString(), lambda _: config).channel_id == "mychannel"


def test_a_refused_creator_stays_refused(setup, caplog) -> None:
    _, config, _, endorser = setup
    stranger = make_org("StrangerMSP").identity("client9", "client")
    for _ in range(2):
        envelope = transaction(stranger, endorser, size=64)
        with pytest.raises(Rejected) as refused:
            admit(envelope.SerializeToString(), lambda _: config)
        assert refused.value.status == common_pb2.FORBIDDEN
        assert "StrangerMSP" not in str(refused.value) and "StrangerMSP" in caplog.text


def test_a_new_config_object_evaluates_the_policy_again(setup) -> None:
    fixture, config, client, endorser = setup
    admit(transaction(client, endorser, size=64).SerializeToString(), lambda _: config)
    fresh = ChannelConfig.from_block(fixture.genesis())
    assert admit(transaction(client, endorser, size=64).SerializeToString(), lambda _: fresh)
