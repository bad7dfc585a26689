"""The harness endorses as the network would: once per organization of a policy (so a
non-deterministic contract fails here, not first on the network), and optionally on the
stock shim (so a test cannot rely on consortium's repairs without knowing)."""

from __future__ import annotations

import uuid

import pytest
from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext

from chaincode.errors import ChaincodeError
from chaincode.shim import registration_matches
from chaincode.testing import ContractHarness
from chaincode.testing.harness import endorsing_orgs

BOTH = "AND('Org1MSP.peer','Org2MSP.peer')"


class Tickets(Contract):
    Name = "tickets"

    async def Issue(self, ctx: TransactionContext, owner: str) -> str:
        ticket = str(uuid.uuid4())  # differs on every peer: a 2-of-2 policy must fail
        await ctx.get_stub().put_state(ticket, owner.encode())
        return ticket

    async def IssueNamed(self, ctx: TransactionContext, ticket: str, owner: str) -> str:
        await ctx.get_stub().put_state(ticket, owner.encode())
        ctx.get_stub().set_event("Issued", ticket.encode())
        return ticket


async def test_a_non_deterministic_write_is_refused_under_a_two_org_policy(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Tickets(), name="tickets", policy=BOTH)
        issued = await harness.invoke("Issue", "ann")
        assert not issued.ok
        assert "ProposalResponsePayloads do not match" in issued.failure()
        assert "Org1MSP and Org2MSP differ in the value written to key" in issued.failure()
        assert issued.validation is None  # never ordered, nothing committed
        named = await harness.invoke("IssueNamed", "t1", "ann")
        assert named.ok, named.failure()
        assert harness.get("t1") == b"ann"


async def test_without_a_policy_the_harness_endorses_once(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Tickets(), name="tickets")
        assert (await harness.invoke("Issue", "ann")).ok


def test_a_policy_must_name_organizations():
    assert endorsing_orgs("OutOf(2, 'A.peer', 'B.member', 'A.admin')") == ("A", "B")
    assert endorsing_orgs("") == ()
    with pytest.raises(ChaincodeError, match="names no organization"):
        endorsing_orgs("AND(Org1MSP)")


async def test_the_stock_shim_drops_the_event_the_repaired_one_sends(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Tickets(), name="tickets", shim="stock")
        stock = await harness.invoke("IssueNamed", "t1", "ann")
        assert stock.ok and stock.event is None  # fabric-chaincode-python 2.5.4 drops it
        await harness.deploy(Tickets(), name="tickets")
        repaired = await harness.invoke("IssueNamed", "t2", "bob")
        assert repaired.event is not None and repaired.event.payload == b"t2"


@pytest.mark.parametrize(
    ("registered", "expected", "accepted"),
    [
        ("basic_1.0:abc", "basic_1.0:abc", True),
        ("basic_1.0", "basic_1.0:abc", True),  # the package's label
        ("auction_1.0", "basic_1.0:abc", False),
        ("auction_1.0:abc", "basic_1.0:abc", False),
        ("basic", "basic", True),
        ("basic_1.0:x", "basic", True),  # a chaincode name: its packages' labels
        ("basically_1.0", "basic", False),
        ("auction", "basic", False),
    ],
)
def test_a_peer_accepts_only_the_contract_it_dialled_for(registered, expected, accepted):
    assert registration_matches(registered, expected) is accepted
