"""Who may do what is decided from the caller's certificate:

* ``CreateShipment`` needs the attribute ``supplychain.role=manufacturer``;
* ``RecordCheckpoint`` needs ``supplychain.role=carrier``;
* ``TransferCustody`` and ``MarkDelivered`` are for members of the shipment's owning MSP.

``client_identity`` is the vendored copy of consortium's stdlib-only helper (a link here).
"""

import json

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext

from .client_identity import ClientIdentity

ROLE_ATTRIBUTE = "supplychain.role"
STATUSES = ("CREATED", "IN_TRANSIT", "DELIVERED")


def _encode(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class SupplyChain(Contract):
    Name = "supplychain"

    def get_evaluate_transactions(self):
        return ["ReadShipment", "QueryShipments", "ShipmentHistory"]

    @staticmethod
    def _require_role(ctx: TransactionContext, role: str) -> ClientIdentity:
        caller = ClientIdentity.from_stub(ctx.get_stub())
        if not caller.assert_attribute_value(ROLE_ATTRIBUTE, role):
            raise PermissionError(f"caller needs attribute {ROLE_ATTRIBUTE}={role}")
        return caller

    async def _load(self, ctx: TransactionContext, shipment_id: str) -> dict:
        value = await ctx.get_stub().get_state(shipment_id)
        if not value:
            raise ValueError(f"the shipment {shipment_id} does not exist")
        return json.loads(value)

    async def _save(self, ctx: TransactionContext, shipment: dict, event: str) -> None:
        stub = ctx.get_stub()
        await stub.put_state(shipment["id"], _encode(shipment))
        stub.set_event(event, _encode({"id": shipment["id"], "status": shipment["status"]}))

    async def CreateShipment(
        self, ctx: TransactionContext, shipment_id: str, product: str, destination: str
    ) -> str:
        caller = self._require_role(ctx, "manufacturer")
        if await ctx.get_stub().get_state(shipment_id):
            raise ValueError(f"the shipment {shipment_id} already exists")
        shipment = {
            "docType": "shipment",
            "id": shipment_id,
            "product": product,
            "destination": destination,
            "owner": caller.get_mspid(),
            "status": "CREATED",
            "checkpoints": [],
        }
        await self._save(ctx, shipment, "ShipmentCreated")
        return _encode(shipment).decode()

    async def RecordCheckpoint(
        self, ctx: TransactionContext, shipment_id: str, location: str, temperature: float
    ) -> None:
        caller = self._require_role(ctx, "carrier")
        shipment = await self._load(ctx, shipment_id)
        if shipment["status"] == "DELIVERED":
            raise ValueError(f"the shipment {shipment_id} is already delivered")
        shipment["status"] = "IN_TRANSIT"
        shipment["checkpoints"].append(
            {"location": location, "temperature": temperature, "by": caller.get_mspid()}
        )
        await self._save(ctx, shipment, "ShipmentMoved")

    async def TransferCustody(
        self, ctx: TransactionContext, shipment_id: str, new_owner: str
    ) -> None:
        shipment = await self._load(ctx, shipment_id)
        caller = ClientIdentity.from_stub(ctx.get_stub())
        if caller.get_mspid() != shipment["owner"]:
            raise PermissionError(f"only members of {shipment['owner']} may transfer custody")
        shipment["owner"] = new_owner
        await self._save(ctx, shipment, "CustodyTransferred")

    async def MarkDelivered(self, ctx: TransactionContext, shipment_id: str) -> None:
        shipment = await self._load(ctx, shipment_id)
        if ClientIdentity.from_stub(ctx.get_stub()).get_mspid() != shipment["owner"]:
            raise PermissionError(f"only members of {shipment['owner']} may mark delivery")
        shipment["status"] = "DELIVERED"
        await self._save(ctx, shipment, "ShipmentDelivered")

    async def ReadShipment(self, ctx: TransactionContext, shipment_id: str) -> str:
        return _encode(await self._load(ctx, shipment_id)).decode()

    async def QueryShipments(self, ctx: TransactionContext, status: str, owner: str) -> str:
        """Rich query: shipments in ``status`` (and of ``owner`` unless empty), newest id first."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        selector = {"docType": "shipment", "status": status}
        if owner:
            selector["owner"] = owner
        query = json.dumps({"selector": selector, "sort": [{"id": "desc"}]})
        results = await ctx.get_stub().get_query_result(query)
        return json.dumps([json.loads(kv.value) async for kv in results])

    async def ShipmentHistory(self, ctx: TransactionContext, shipment_id: str) -> str:
        history = await ctx.get_stub().get_history_for_key(shipment_id)
        entries = []
        async for modification in history:
            entries.append(
                {
                    "txId": modification.tx_id,
                    "isDelete": modification.is_delete,
                    "value": None if modification.is_delete else json.loads(modification.value),
                }
            )
        return json.dumps(entries)
