"""Notices under ``notice~<id>``; posting emits a ``Posted`` event."""

import json

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext

from .client_identity import ClientIdentity

EDITION = "first"  # what Edition() answers: tests edit it to see an upgrade or a reload


class NoticeBoard(Contract):
    Name = "board"

    def get_evaluate_transactions(self):
        return ["Read", "Edition"]

    async def Post(self, ctx: TransactionContext, notice_id: str, text: str) -> str:
        stub = ctx.get_stub()
        key = stub.create_composite_key("notice", [notice_id])
        if await stub.get_state(key):
            raise ValueError(f"notice {notice_id} exists")
        author = ClientIdentity.from_stub(stub).get_mspid()
        notice = {"id": notice_id, "text": text, "author": author, "pinned": False}
        await stub.put_state(key, json.dumps(notice, sort_keys=True).encode())
        stub.set_event("Posted", json.dumps({"id": notice_id, "author": author}).encode())
        return json.dumps(notice, sort_keys=True)

    async def Pin(self, ctx: TransactionContext, notice_id: str) -> str:
        stub = ctx.get_stub()
        if not ClientIdentity.from_stub(stub).assert_attribute_value("board.role", "moderator"):
            raise ValueError("only a board.role=moderator may pin a notice")
        key = stub.create_composite_key("notice", [notice_id])
        found = await stub.get_state(key)
        if not found:
            raise ValueError(f"notice {notice_id} does not exist")
        notice = {**json.loads(found), "pinned": True}
        await stub.put_state(key, json.dumps(notice, sort_keys=True).encode())
        return json.dumps(notice, sort_keys=True)

    async def Read(self, ctx: TransactionContext, notice_id: str) -> str:
        stub = ctx.get_stub()
        found = await stub.get_state(stub.create_composite_key("notice", [notice_id]))
        if not found:
            raise ValueError(f"notice {notice_id} does not exist")
        return found.decode()

    async def Edition(self, ctx: TransactionContext) -> str:
        return EDITION
