"""A config update broadcast to a real orderer adds an organization to the channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fabric_protos.common import common_pb2, configtx_pb2

from ca.channelconfig import ChannelConfig
from ca.msp import write_msp
from ordering.configtx import Organization, organization_group
from ordering.configupdate import compute_update, config_update_transaction, sign_config_update
from proto.blocksign import last_config_index
from tests.integration.test_orderer import assert_chain_verifies
from tests.support.orderer import CHANNEL, OrdererFixture, transaction
from tests.support.pki import make_org


async def test_config_update_adds_org3_only_with_enough_admin_signatures(tmp_path: Path) -> None:
    fixture = OrdererFixture(tmp_path)
    fixture.start()
    assert (await fixture.join())[0] == 201
    org1, org2 = fixture.orgs["Org1MSP"], fixture.orgs["Org2MSP"]
    org3 = make_org("Org3MSP")
    write_msp(tmp_path / "org3msp", org3.config())
    try:
        current = ChannelConfig.from_block(fixture.genesis())
        updated = configtx_pb2.Config()
        updated.CopyFrom(current.config)
        updated.channel_group.groups["Application"].groups["Org3MSP"].CopyFrom(
            organization_group(Organization("Org3", "Org3MSP", tmp_path / "org3msp"), False)
        )
        update = compute_update(CHANNEL, current.config, updated)
        admin1, admin2 = org1.identity("admin1", "admin"), org2.identity("admin2", "admin")
        org3_client = org3.identity("carol", "client")
        endorser = org1.identity("peer0", "peer")

        short = config_update_transaction(admin1, CHANNEL, sign_config_update(update, [admin1]))
        before = transaction(org3_client, endorser)
        responses = await fixture.broadcast([short, before])
        assert responses[0].status == common_pb2.BAD_REQUEST
        assert "/Channel/Application/Admins is not satisfied" in responses[0].info
        assert responses[1].status == common_pb2.FORBIDDEN  # Org3 is not a member yet

        full = config_update_transaction(
            admin1, CHANNEL, sign_config_update(update, [admin1, admin2])
        )
        (answer,) = await fixture.broadcast([full])
        assert answer.status == common_pb2.SUCCESS, answer.info

        fixture.stop()  # the new config survives a restart
        fixture.start()
        (after,) = await fixture.broadcast([transaction(org3_client, endorser)])
        assert after.status == common_pb2.SUCCESS, after.info
        await asyncio.sleep(0.5)

        blocks, _ = await fixture.deliver(org3_client, "oldest", "newest")
        config_block, tx_block = blocks[1], blocks[2]
        config = ChannelConfig.from_block(config_block)
        assert config.sequence == 1
        assert config.organizations("Application") == ["Org1MSP", "Org2MSP", "Org3MSP"]
        assert len(config_block.data.data) == 1
        assert last_config_index(tx_block) == 1
        assert_chain_verifies(blocks, config)
    finally:
        fixture.stop()
