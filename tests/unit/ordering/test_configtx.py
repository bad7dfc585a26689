"""A configtx-style profile becomes a genesis block that orderers and peers can enforce."""

from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from ca.policy import SignedData
from ca.signing import SoftwareSigner
from ordering.configtx import genesis_block, load_profile, parse_duration, parse_size
from ordering.errors import ConfigError
from proto.blockhash import block_data_hash
from tests.support.ca_pki import Org


def _signed(signer: SoftwareSigner, data: bytes = b"payload") -> SignedData:
    return SignedData(data=data, identity=signer.creator, signature=signer.sign(data))


def test_genesis_block_round_trips_into_an_enforceable_config(
    profile_path: Path, orgs: dict[str, Org]
) -> None:
    block = genesis_block(load_profile(profile_path), "mychannel")
    wire = common_pb2.Block.FromString(block.SerializeToString())
    assert wire.header.number == 0 and wire.header.previous_hash == b""
    assert wire.header.data_hash == block_data_hash(wire.data.data)

    config = ChannelConfig.from_block(wire)
    assert config.channel_id == "mychannel"
    assert config.sequence == 0
    assert sorted(config.msps.mspids) == ["OrdererMSP", "Org1MSP", "Org2MSP"]
    assert config.organizations("Application") == ["Org1MSP", "Org2MSP"]
    assert config.batch_size.max_message_count == 50
    assert config.batch_size.preferred_max_bytes == 512 * 1024
    assert config.batch_timeout == "250ms"

    org1, org2, orderer = orgs["Org1MSP"], orgs["Org2MSP"], orgs["OrdererMSP"]
    client1 = org1.identity("client1", "client")
    peer2 = org2.identity("peer2", "peer")
    admin1, admin2 = org1.identity("a1", "admin"), org2.identity("a2", "admin")

    assert config.evaluate("/Channel/Application/Writers", [_signed(client1)])
    # Org2's Writers are client or admin only: its peer cannot write.
    assert not config.evaluate("/Channel/Application/Org2MSP/Writers", [_signed(peer2)])
    # Admins is MAJORITY of 2 organizations, so both admins must sign.
    assert not config.evaluate("/Channel/Application/Admins", [_signed(admin1)])
    assert config.evaluate("/Channel/Application/Admins", [_signed(admin1), _signed(admin2)])
    assert config.evaluate(
        "/Channel/Orderer/BlockValidation", [_signed(orderer.identity("o1", "orderer"))]
    )
    assert not config.evaluate("/Channel/Orderer/BlockValidation", [_signed(client1)])


def test_sizes_and_durations_read_like_configtx() -> None:
    assert parse_size("512 KB", "x") == 524288
    assert parse_size("10 MB", "x") == 10 * 1024 * 1024
    assert parse_size(99, "x") == 99
    assert parse_duration("2s", "x") == 2.0
    assert parse_duration("250ms", "x") == 0.25
    with pytest.raises(ConfigError, match="BatchTimeout: 'soon' is not a duration"):
        parse_duration("soon", "Orderer.BatchTimeout")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "- Name: Org1\n          ID: Org1MSP",
            "- ID: Org1MSP",
            r"Application.Organizations\[0\].Name is required",
        ),
        ("BatchSize:", "BatchSize: [", "line 9, column 25: expected"),
        ("OR('Org2MSP.peer')", "OR('Org2MSP.nobody')", "Endorsement.Rule"),
        ("MaxMessageCount: 50", "MaxMessageCount: 0", "max_message_count"),
        ("msp/org2", "msp/missing", "organization Org2"),
        ("ID: Org2MSP", "ID: Org1MSP", "'Org1MSP' appears twice"),
    ],
)
def test_bad_profiles_name_the_field(profile_path: Path, old: str, new: str, message: str) -> None:
    profile_path.write_text(profile_path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        genesis_block(load_profile(profile_path), "mychannel")


@pytest.mark.parametrize("channel_id", ["MyChannel", "1chan", "my_channel", ""])
def test_bad_channel_ids_are_refused(profile_path: Path, channel_id: str) -> None:
    with pytest.raises(ConfigError, match="channel ID"):
        genesis_block(load_profile(profile_path), channel_id)
