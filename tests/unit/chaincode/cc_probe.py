"""Contracts and scripted chaincodes the chaincode tests drive over the real protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext
from fabric_protos.peer import chaincode_pb2, chaincode_shim_pb2, proposal_response_pb2

Message = chaincode_shim_pb2.ChaincodeMessage
T = Message.Type


class Probe(Contract):
    """Uses every stub call the Python shim offers."""

    Name = "probe"

    async def Put(self, ctx: TransactionContext, key: str, value: str) -> None:
        await ctx.get_stub().put_state(key, value.encode())

    async def PutComposite(self, ctx: TransactionContext, kind: str, attribute: str) -> None:
        key = ctx.get_stub().create_composite_key(kind, [attribute])
        await ctx.get_stub().put_state(key, b"1")

    async def Get(self, ctx: TransactionContext, key: str) -> str:
        value = await ctx.get_stub().get_state(key)
        return (value or b"").decode()

    async def Delete(self, ctx: TransactionContext, key: str) -> None:
        await ctx.get_stub().delete_state(key)

    async def Keys(self, ctx: TransactionContext, start: str, end: str) -> str:
        keys = [kv.key async for kv in await ctx.get_stub().get_state_by_range(start, end)]
        return json.dumps(keys)

    async def FirstKeys(self, ctx: TransactionContext, start: str, count: int) -> str:
        iterator = await ctx.get_stub().get_state_by_range(start, "")
        keys = []
        async for kv in iterator:
            keys.append(kv.key)
            if len(keys) == count:
                break
        await iterator.aclose()
        return json.dumps(keys)

    async def Query(self, ctx: TransactionContext, query: str) -> str:
        results = await ctx.get_stub().get_query_result(query)
        return json.dumps([kv.key async for kv in results])

    async def History(self, ctx: TransactionContext, key: str) -> str:
        history = await ctx.get_stub().get_history_for_key(key)
        return json.dumps(
            [{"tx": m.tx_id, "value": m.value.decode(), "del": m.is_delete} async for m in history]
        )

    async def Emit(self, ctx: TransactionContext, name: str, payload: str) -> None:
        ctx.get_stub().set_event(name, payload.encode())

    async def Sleep(self, ctx: TransactionContext, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def Transient(self, ctx: TransactionContext, name: str) -> str:
        return ctx.get_stub().get_transient()[name].decode()

    async def PutPrivate(self, ctx: TransactionContext, collection: str, key: str) -> None:
        stub = ctx.get_stub()
        value = stub.get_transient()["value"]
        await stub.client.handle_put_state(collection, key, value, stub.channel_id, stub.tx_id)

    async def GetPrivate(self, ctx: TransactionContext, collection: str, key: str) -> str:
        stub = ctx.get_stub()
        reply = await stub.client.handle_get_state(collection, key, stub.channel_id, stub.tx_id)
        return reply.decode()


Ask = Callable[[int, object], Awaitable[Message]]
Script = Callable[[Ask, Message], Awaitable[Message | None]]


def completed(request: Message, payload: bytes = b"", status: int = 200) -> Message:
    return Message(
        type=T.COMPLETED,
        payload=proposal_response_pb2.Response(status=status, payload=payload).SerializeToString(),
        txid=request.txid,
        channel_id=request.channel_id,
    )


class ScriptedChaincode:
    """A ``protos.Chaincode`` servicer that sends raw messages, as Go or Node shims may."""

    def __init__(self, script: Script, name: str = "scripted") -> None:
        self.script = script
        self.name = name

    async def Connect(self, request_iterator, context) -> None:
        register = chaincode_pb2.ChaincodeID(name=self.name).SerializeToString()
        await context.write(Message(type=T.REGISTER, payload=register))
        incoming = request_iterator.__aiter__()
        assert (await incoming.__anext__()).type == T.REGISTERED
        assert (await incoming.__anext__()).type == T.READY
        async for request in incoming:
            if request.type not in (T.TRANSACTION, T.INIT):
                continue

            async def ask(kind: int, body: object, request: Message = request) -> Message:
                payload = body if isinstance(body, bytes) else body.SerializeToString()
                await context.write(
                    Message(
                        type=kind,
                        payload=payload,
                        txid=request.txid,
                        channel_id=request.channel_id,
                    )
                )
                return await incoming.__anext__()

            reply = await self.script(ask, request)
            if reply is None:
                return
            await context.write(reply)
