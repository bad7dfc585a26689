"""``Seal(collection, key)`` with the bid in the transient field ``bid``; ``Note(key,
text)`` and ``Remove(key)`` blindly; ``History(key)`` as the peer's GetHistoryForKey
answers it.

The official Python shim leaves ``put_private_data`` unimplemented, so the private write
goes through its handler's PUT_STATE with the collection named, as the Go and Node shims
send it."""

import json

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext


class PrivateNotes(Contract):
    Name = "sealed"

    def get_evaluate_transactions(self):
        return ["History"]

    async def Seal(self, ctx: TransactionContext, collection: str, key: str) -> None:
        stub = ctx.get_stub()
        bid = stub.get_transient()["bid"]
        await stub.client.handle_put_state(collection, key, bid, stub.channel_id, stub.tx_id)
        public = json.dumps({"sealed": True, "collection": collection}).encode()
        await stub.put_state(key, public)

    async def Note(self, ctx: TransactionContext, key: str, text: str) -> None:
        await ctx.get_stub().put_state(key, json.dumps({"text": text}).encode())

    async def Remove(self, ctx: TransactionContext, key: str) -> None:
        await ctx.get_stub().delete_state(key)

    async def History(self, ctx: TransactionContext, key: str) -> str:
        history = await ctx.get_stub().get_history_for_key(key)
        entries = []
        async for modification in history:
            entries.append(
                {
                    "txId": modification.tx_id,
                    "value": None if modification.is_delete else json.loads(modification.value),
                }
            )
        return json.dumps(entries)
