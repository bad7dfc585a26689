"""Bids go into a collection named by the caller, its value from the transient field
``bid`` (so it never reaches the block); ``Seal`` puts a key-level endorsement policy on a
bid (Fabric's SetPrivateDataValidationParameter); ``Read`` answers "" for no bid."""

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext
from fabric_protos.peer import chaincode_shim_pb2 as shim

VALIDATION_PARAMETER = "VALIDATION_PARAMETER"


async def _ask(stub, message_type: int, payload: bytes) -> bytes:
    """One shim request the Python contract API has no method for."""
    message = shim.ChaincodeMessage(
        type=message_type, payload=payload, txid=stub.tx_id, channel_id=stub.channel_id
    )
    answer = await stub.client._Handler__ask_peer_and_listen(message, "shim")
    return answer.payload


class SealedBids(Contract):
    Name = "auction"

    def get_evaluate_transactions(self):
        return ["Read", "ReadHash"]

    async def Bid(self, ctx: TransactionContext, collection: str, item: str) -> None:
        stub = ctx.get_stub()
        bid = stub.get_transient()["bid"]
        await stub.client.handle_put_state(collection, item, bid, stub.channel_id, stub.tx_id)

    async def Read(self, ctx: TransactionContext, collection: str, item: str) -> str:
        stub = ctx.get_stub()
        found = await stub.client.handle_get_state(collection, item, stub.channel_id, stub.tx_id)
        return found.decode()

    async def ReadHash(self, ctx: TransactionContext, collection: str, item: str) -> str:
        stub = ctx.get_stub()
        request = shim.GetState(key=item, collection=collection).SerializeToString()
        return (await _ask(stub, shim.ChaincodeMessage.GET_PRIVATE_DATA_HASH, request)).hex()

    async def Seal(self, ctx: TransactionContext, collection: str, item: str, policy: str) -> None:
        """``policy``: hex of a SignaturePolicyEnvelope that must endorse later writes."""
        stub = ctx.get_stub()
        request = shim.PutStateMetadata(
            key=item,
            collection=collection,
            metadata=shim.StateMetadata(metakey=VALIDATION_PARAMETER, value=bytes.fromhex(policy)),
        )
        await _ask(stub, shim.ChaincodeMessage.PUT_STATE_METADATA, request.SerializeToString())

    async def Tick(self, ctx: TransactionContext, n: str) -> None:
        stub = ctx.get_stub()
        await stub.put_state("tick", n.encode())
