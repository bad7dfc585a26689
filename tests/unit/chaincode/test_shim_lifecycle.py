"""Handler lifecycle: registration rules, duplicate txids, keepalives, closing."""

from __future__ import annotations

import asyncio

import pytest
from cc_probe import Message, Probe, T, completed
from fabric_protos.peer import chaincode_pb2

from chaincode.errors import ChaincodeDisconnected, ShimError
from chaincode.memory import MemoryState
from chaincode.runner import contract_service
from chaincode.shim import ChaincodeHandler
from chaincode.simulation import TxSimulator
from chaincode.transport import InProcessStream


class Silent:
    async def Connect(self, request_iterator, context):
        async for _message in request_iterator:
            pass


class SaysReady:
    async def Connect(self, request_iterator, context):
        await context.write(Message(type=T.READY))
        async for _message in request_iterator:
            pass


class CountingStream(InProcessStream):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[int] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message.type)
        await super().send(message)


def _pipe(servicer) -> InProcessStream:
    stream = CountingStream()
    stream.serve(servicer)
    return stream


async def test_no_register_within_the_timeout():
    handler = ChaincodeHandler(_pipe(Silent()))
    with pytest.raises(ShimError, match="did not send REGISTER within"):
        await handler.register(timeout=0.2)
    await handler.close()


async def test_first_message_must_be_register():
    handler = ChaincodeHandler(_pipe(SaysReady()))
    with pytest.raises(ShimError, match="READY where REGISTER was expected"):
        await handler.register()
    await handler.close()


async def test_registered_name_must_match_when_expected():
    handler = ChaincodeHandler(_pipe(contract_service("other", Probe())))
    with pytest.raises(ShimError, match="registered as 'other', expected 'probe'"):
        await handler.register(expected_name="probe")
    await handler.close()


async def test_register_answers_registered_then_ready():
    stream = _pipe(contract_service("probe", Probe()))
    handler = ChaincodeHandler(stream)
    assert await handler.register() == "probe"
    assert stream.sent[:2] == [T.REGISTERED, T.READY]
    assert handler.connected
    await handler.close()
    assert not handler.connected


async def _execute(handler, txid: str, *args: bytes, timeout: float | None = None):
    simulator = TxSimulator(MemoryState(), txid)
    return await handler.execute(
        "ch", txid, chaincode_pb2.ChaincodeInput(args=list(args)), simulator, timeout=timeout
    )


async def test_duplicate_txid_in_flight_is_refused_and_keepalives_flow():
    stream = _pipe(contract_service("probe", Probe()))
    handler = ChaincodeHandler(stream, keepalive=0.05)
    await handler.register()
    slow = asyncio.create_task(_execute(handler, "tx1", b"Sleep", b"0.3"))
    await asyncio.sleep(0.05)
    with pytest.raises(ShimError, match="already executing"):
        await _execute(handler, "tx1", b"Get", b"k")
    result = await slow
    assert result.response.status == 200
    assert T.KEEPALIVE in stream.sent
    await handler.close()


async def test_closed_handler_refuses_new_work():
    handler = ChaincodeHandler(_pipe(contract_service("probe", Probe())))
    await handler.register()
    await handler.close()
    with pytest.raises(ChaincodeDisconnected):
        await _execute(handler, "tx2", b"Get", b"k")


async def test_init_message_reaches_the_contract():
    handler = ChaincodeHandler(_pipe(contract_service("probe", Probe())))
    await handler.register()
    simulator = TxSimulator(MemoryState(), "tx3")
    result = await handler.execute(
        "ch", "tx3", chaincode_pb2.ChaincodeInput(args=[]), simulator, is_init=True
    )
    assert result.response.status == 200
    assert result.response.payload == b"Default initiator successful."
    await handler.close()


def test_completed_helper_builds_a_response():
    request = Message(type=T.TRANSACTION, txid="t", channel_id="c")
    assert completed(request).type == T.COMPLETED


async def test_execute_before_register_is_refused():
    handler = ChaincodeHandler(_pipe(contract_service("probe", Probe())))
    with pytest.raises(ShimError, match="has not registered"):
        await _execute(handler, "tx4", b"Get", b"k")
    await handler.close()
