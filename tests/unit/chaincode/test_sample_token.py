"""token sample: ERC-20-style balances and allowances under composite keys."""

from __future__ import annotations

import pytest

from chaincode.client_identity import ClientIdentity
from chaincode.samples.token import Token


@pytest.fixture
def contract():
    return Token()


@pytest.fixture
def chaincode_name() -> str:
    return "token"


@pytest.fixture
def accounts(identities):
    minter = identities("Org1MSP", "minter")
    alice = identities("Org2MSP", "alice")
    bob = identities("Org2MSP", "bob")
    return {
        name: (who, ClientIdentity.from_creator(who.creator).get_id())
        for name, who in {"minter": minter, "alice": alice, "bob": bob}.items()
    }


async def _setup(harness, accounts, supply=1000):
    minter = accounts["minter"][0]
    assert (await harness.invoke("Initialize", "Coin", "CN", 2, identity=minter)).ok
    assert (await harness.invoke("Mint", supply, identity=minter)).ok


async def test_mint_transfer_and_balances(chaincode_harness, accounts):
    await _setup(chaincode_harness, accounts)
    minter, minter_id = accounts["minter"]
    _alice, alice_id = accounts["alice"]
    sent = await chaincode_harness.invoke("Transfer", alice_id, 300, identity=minter)
    assert sent.ok, sent.failure()
    assert sent.event.json() == {"from": minter_id, "to": alice_id, "value": 300}
    balance_key = f"\x00balance\x00{alice_id}\x00"
    assert sent.writes()[balance_key] == b"300"
    assert (await chaincode_harness.query("BalanceOf", alice_id)).payload == b"300"
    assert (await chaincode_harness.query("TotalSupply")).payload == b"1000"
    holders = (await chaincode_harness.query("Holders")).json()
    assert holders == {alice_id: 300, minter_id: 700}


async def test_only_the_minter_org_mints(chaincode_harness, accounts):
    await _setup(chaincode_harness, accounts)
    alice, _ = accounts["alice"]
    denied = await chaincode_harness.invoke("Mint", 5, identity=alice)
    assert "not authorized to mint" in denied.message


async def test_insufficient_funds_and_allowances(chaincode_harness, accounts):
    await _setup(chaincode_harness, accounts)
    minter, minter_id = accounts["minter"]
    alice, alice_id = accounts["alice"]
    _bob, bob_id = accounts["bob"]
    broke = await chaincode_harness.invoke("Transfer", bob_id, 1, identity=alice)
    assert "insufficient funds" in broke.message
    assert (await chaincode_harness.invoke("Approve", alice_id, 50, identity=minter)).ok
    allowed = await chaincode_harness.query("Allowance", minter_id, alice_id)
    assert allowed.payload == b"50"
    spent = await chaincode_harness.invoke("TransferFrom", minter_id, bob_id, 40, identity=alice)
    assert spent.ok, spent.failure()
    over = await chaincode_harness.invoke("TransferFrom", minter_id, bob_id, 20, identity=alice)
    assert "not have enough allowance" in over.message
    assert (await chaincode_harness.query("BalanceOf", bob_id)).payload == b"40"


async def test_double_spend_from_one_account_conflicts(chaincode_harness, accounts):
    await _setup(chaincode_harness, accounts, supply=100)
    minter, _ = accounts["minter"]
    _alice, alice_id = accounts["alice"]
    _bob, bob_id = accounts["bob"]
    first = await chaincode_harness.simulate("Transfer", alice_id, 100, identity=minter)
    second = await chaincode_harness.simulate("Transfer", bob_id, 100, identity=minter)
    assert chaincode_harness.commit(first) == "VALID"
    assert chaincode_harness.commit(second) == "MVCC_READ_CONFLICT"
