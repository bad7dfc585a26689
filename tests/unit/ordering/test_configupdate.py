"""Config updates add and remove organizations only when the right admins sign."""

from pathlib import Path

import pytest
from fabric_protos.common import configtx_pb2

from ca.channelconfig import ChannelConfig
from ca.msp import write_msp
from ordering.configtx import Organization, genesis_block, load_profile, organization_group
from ordering.configupdate import (
    apply_update,
    compute_update,
    sign_as_needed,
    sign_config_update,
)
from ordering.errors import ConfigError
from tests.support.ca_pki import Org, make_org


@pytest.fixture
def channel(profile_path: Path) -> ChannelConfig:
    return ChannelConfig.from_block(genesis_block(load_profile(profile_path), "mychannel"))


@pytest.fixture(scope="module")
def org3() -> Org:
    return make_org("Org3MSP")


def _with_org3(channel: ChannelConfig, org3: Org, tmp_path: Path) -> configtx_pb2.Config:
    write_msp(tmp_path / "org3", org3.config())
    updated = configtx_pb2.Config()
    updated.CopyFrom(channel.config)
    group = organization_group(Organization("Org3", "Org3MSP", tmp_path / "org3"), orderer=False)
    updated.channel_group.groups["Application"].groups["Org3MSP"].CopyFrom(group)
    return updated


def _admins(orgs: dict[str, Org], *mspids: str):
    return [orgs[mspid].identity(f"admin-{mspid}", "admin") for mspid in mspids]


def test_adding_an_org_needs_a_majority_of_application_admins(
    channel: ChannelConfig, orgs: dict[str, Org], org3: Org, tmp_path: Path
) -> None:
    update = compute_update("mychannel", channel.config, _with_org3(channel, org3, tmp_path))
    assert set(update.write_set.groups["Application"].groups) >= {"Org3MSP"}

    short = sign_config_update(update, _admins(orgs, "Org1MSP"))
    with pytest.raises(ConfigError, match="/Channel/Application/Admins is not satisfied"):
        apply_update(channel, short)

    signed = sign_config_update(update, _admins(orgs, "Org1MSP", "Org2MSP"))
    config = apply_update(channel, signed)
    after = ChannelConfig.from_config("mychannel", config)
    assert after.sequence == 1
    assert after.organizations("Application") == ["Org1MSP", "Org2MSP", "Org3MSP"]
    assert "Org3MSP" in after.msps
    # Everything else is untouched.
    assert (
        after.config.channel_group.groups["Orderer"]
        == channel.config.channel_group.groups["Orderer"]
    )


def test_admins_sign_only_as_many_as_the_policy_needs(
    channel: ChannelConfig, orgs: dict[str, Org], org3: Org, tmp_path: Path
) -> None:
    """Like admins passing a file around with `peer channel signconfigtx`: with three
    orgs in the channel, a MAJORITY Admins policy takes two signatures, not three."""
    orgs = {**orgs, "Org3MSP": org3}
    update = compute_update("mychannel", channel.config, _with_org3(channel, org3, tmp_path))
    three = ChannelConfig.from_config(
        "mychannel",
        apply_update(channel, sign_as_needed(channel, update, _admins(orgs, "Org1MSP", "Org2MSP"))),
    )
    without_org2 = configtx_pb2.Config()
    without_org2.CopyFrom(three.config)
    del without_org2.channel_group.groups["Application"].groups["Org2MSP"]
    removal = compute_update("mychannel", three.config, without_org2)
    everyone = _admins(orgs, "Org3MSP", "Org1MSP", "Org2MSP")
    signed = sign_as_needed(three, removal, everyone)
    assert len(signed.signatures) == 2
    assert apply_update(three, signed).sequence == 2

    with pytest.raises(ConfigError, match="/Channel/Application/Admins is not satisfied"):
        sign_as_needed(three, removal, _admins(orgs, "Org3MSP"))


def test_removing_an_org(channel: ChannelConfig, orgs: dict[str, Org]) -> None:
    updated = configtx_pb2.Config()
    updated.CopyFrom(channel.config)
    del updated.channel_group.groups["Application"].groups["Org2MSP"]
    update = compute_update("mychannel", channel.config, updated)
    config = apply_update(channel, sign_config_update(update, _admins(orgs, "Org1MSP", "Org2MSP")))
    after = ChannelConfig.from_config("mychannel", config)
    assert after.organizations("Application") == ["Org1MSP"]
    assert "Org2MSP" not in after.msps


def test_stale_read_set_is_refused(
    channel: ChannelConfig, orgs: dict[str, Org], org3: Org, tmp_path: Path
) -> None:
    update = compute_update("mychannel", channel.config, _with_org3(channel, org3, tmp_path))
    update.read_set.groups["Application"].version = 7
    envelope = sign_config_update(update, _admins(orgs, "Org1MSP", "Org2MSP"))
    with pytest.raises(ConfigError, match=r"read set has \[Group\] /Channel/Application"):
        apply_update(channel, envelope)


def test_changing_an_org_value_needs_that_orgs_admin(
    channel: ChannelConfig, orgs: dict[str, Org]
) -> None:
    updated = configtx_pb2.Config()
    updated.CopyFrom(channel.config)
    org1 = updated.channel_group.groups["Application"].groups["Org1MSP"]
    org1.policies["Readers"].CopyFrom(org1.policies["Admins"])
    update = compute_update("mychannel", channel.config, updated)

    with pytest.raises(ConfigError, match="/Channel/Application/Org1MSP/Admins"):
        apply_update(channel, sign_config_update(update, _admins(orgs, "Org2MSP")))
    config = apply_update(channel, sign_config_update(update, _admins(orgs, "Org1MSP")))
    assert config.sequence == 1


def test_update_for_another_channel_or_nothing_is_refused(
    channel: ChannelConfig, orgs: dict[str, Org]
) -> None:
    with pytest.raises(ConfigError, match="identical"):
        compute_update("mychannel", channel.config, channel.config)
    updated = configtx_pb2.Config()
    updated.CopyFrom(channel.config)
    del updated.channel_group.groups["Application"].groups["Org2MSP"]
    update = compute_update("otherchannel", channel.config, updated)
    with pytest.raises(ConfigError, match="not 'mychannel'"):
        apply_update(channel, sign_config_update(update, _admins(orgs, "Org1MSP", "Org2MSP")))
    garbage = configtx_pb2.ConfigUpdateEnvelope(config_update=b"\xff\xff")
    with pytest.raises(ConfigError, match="does not decode"):
        apply_update(channel, garbage)
