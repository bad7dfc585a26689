"""Assets with an ID, colour, size, owner and appraised value.

Returns, refusals and stored JSON follow fabric-samples' asset-transfer-basic
``chaincode-javascript`` (the one the real-Fabric anchor runs): assets stored with their
fields in alphabetical order and no spaces, ``CreateAsset`` returning the new asset, the
same error texts, so the fabric-samples applications and tutorials work as written. Like
fabric-samples' asset-transfer-events, every change emits a chaincode event named after
the function, carrying the asset's JSON.
"""

import json

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext


def _asset(asset_id: str, color: str, size: int, owner: str, appraised_value: int) -> dict:
    return {
        "AppraisedValue": appraised_value,
        "Color": color,
        "ID": asset_id,
        "Owner": owner,
        "Size": size,
    }


def _encode(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _as_created(asset: dict) -> str:
    """``JSON.stringify`` of the JavaScript sample's new asset: its fields in the order
    the sample lists them."""
    order = ("ID", "Color", "Size", "Owner", "AppraisedValue")
    return json.dumps({key: asset[key] for key in order}, separators=(",", ":"))


async def _save(ctx: TransactionContext, asset: dict, event: str) -> None:
    encoded = _encode(asset).encode()
    await ctx.get_stub().put_state(asset["ID"], encoded)
    ctx.get_stub().set_event(event, encoded)


INITIAL_ASSETS = [
    _asset("asset1", "blue", 5, "Tomoko", 300),
    _asset("asset2", "red", 5, "Brad", 400),
    _asset("asset3", "green", 10, "Jin Soo", 500),
    _asset("asset4", "yellow", 10, "Max", 600),
    _asset("asset5", "black", 15, "Adriana", 700),
    _asset("asset6", "white", 15, "Michel", 800),
]


class AssetTransfer(Contract):
    Name = "basic"

    def get_evaluate_transactions(self):
        return ["ReadAsset", "AssetExists", "GetAllAssets"]

    async def InitLedger(self, ctx: TransactionContext) -> None:
        for asset in INITIAL_ASSETS:
            stored = {**asset, "docType": "asset"}
            await ctx.get_stub().put_state(asset["ID"], _encode(stored).encode())

    async def CreateAsset(
        self,
        ctx: TransactionContext,
        asset_id: str,
        color: str,
        size: int,
        owner: str,
        appraised_value: int,
    ) -> str:
        if await self.AssetExists(ctx, asset_id):
            raise ValueError(f"The asset {asset_id} already exists")
        asset = _asset(asset_id, color, size, owner, appraised_value)
        await _save(ctx, asset, "CreateAsset")
        return _as_created(asset)

    async def ReadAsset(self, ctx: TransactionContext, asset_id: str) -> str:
        value = await ctx.get_stub().get_state(asset_id)
        if not value:
            raise ValueError(f"The asset {asset_id} does not exist")
        return value.decode()

    async def UpdateAsset(
        self,
        ctx: TransactionContext,
        asset_id: str,
        color: str,
        size: int,
        owner: str,
        appraised_value: int,
    ) -> None:
        if not await self.AssetExists(ctx, asset_id):
            raise ValueError(f"The asset {asset_id} does not exist")
        asset = _asset(asset_id, color, size, owner, appraised_value)
        await _save(ctx, asset, "UpdateAsset")

    async def DeleteAsset(self, ctx: TransactionContext, asset_id: str) -> None:
        if not await self.AssetExists(ctx, asset_id):
            raise ValueError(f"The asset {asset_id} does not exist")
        asset = await ctx.get_stub().get_state(asset_id)
        await ctx.get_stub().delete_state(asset_id)
        ctx.get_stub().set_event("DeleteAsset", asset)

    async def AssetExists(self, ctx: TransactionContext, asset_id: str) -> bool:
        return bool(await ctx.get_stub().get_state(asset_id))

    async def TransferAsset(self, ctx: TransactionContext, asset_id: str, new_owner: str) -> str:
        asset = json.loads(await self.ReadAsset(ctx, asset_id))
        old_owner = asset["Owner"]
        asset["Owner"] = new_owner
        await _save(ctx, asset, "TransferAsset")
        return old_owner

    async def GetAllAssets(self, ctx: TransactionContext) -> str:
        assets = []
        async for record in await ctx.get_stub().get_state_by_range("", ""):
            assets.append(json.loads(record.value))
        return _encode(assets)
