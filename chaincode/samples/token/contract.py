"""Token balances under ``balance~<account>`` and allowances under
``allowance~<owner>~<spender>`` composite keys. Only the minter's MSP may mint or burn.
"""

import json

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext

from .client_identity import ClientIdentity

MINTER_MSP = "Org1MSP"
NAME_KEY, SYMBOL_KEY, DECIMALS_KEY, SUPPLY_KEY = "name", "symbol", "decimals", "totalSupply"
BALANCE, ALLOWANCE = "balance", "allowance"


def _amount(value: int, what: str) -> int:
    if value <= 0:
        raise ValueError(f"{what} must be a positive integer")
    return value


class Token(Contract):
    Name = "token"

    def get_evaluate_transactions(self):
        return [
            "BalanceOf",
            "ClientAccountBalance",
            "ClientAccountID",
            "TotalSupply",
            "Allowance",
            "TokenName",
            "Symbol",
        ]

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _caller(ctx: TransactionContext) -> ClientIdentity:
        return ClientIdentity.from_stub(ctx.get_stub())

    async def _int(self, ctx: TransactionContext, key: str) -> int:
        value = await ctx.get_stub().get_state(key)
        return int(value) if value else 0

    async def _put_int(self, ctx: TransactionContext, key: str, value: int) -> None:
        await ctx.get_stub().put_state(key, str(value).encode())

    def _balance_key(self, ctx: TransactionContext, account: str) -> str:
        return ctx.get_stub().create_composite_key(BALANCE, [account])

    async def _require_initialized(self, ctx: TransactionContext) -> None:
        if not await ctx.get_stub().get_state(NAME_KEY):
            raise ValueError("contract options need to be set before calling any function")

    async def _require_minter(self, ctx: TransactionContext) -> ClientIdentity:
        caller = self._caller(ctx)
        if caller.get_mspid() != MINTER_MSP:
            raise PermissionError("client is not authorized to mint or burn tokens")
        return caller

    async def _move(self, ctx: TransactionContext, sender: str, to: str, value: int) -> None:
        if sender == to:
            raise ValueError("cannot transfer to and from the same account")
        from_key, to_key = self._balance_key(ctx, sender), self._balance_key(ctx, to)
        balance = await self._int(ctx, from_key)
        if balance < value:
            raise ValueError(f"client account {sender} has insufficient funds")
        await self._put_int(ctx, from_key, balance - value)
        await self._put_int(ctx, to_key, await self._int(ctx, to_key) + value)

    @staticmethod
    def _event(ctx: TransactionContext, name: str, body: dict) -> None:
        ctx.get_stub().set_event(name, json.dumps(body, separators=(",", ":")).encode())

    # --- transactions -------------------------------------------------------------------

    async def Initialize(
        self, ctx: TransactionContext, name: str, symbol: str, decimals: int
    ) -> bool:
        await self._require_minter(ctx)
        if await ctx.get_stub().get_state(NAME_KEY):
            raise ValueError("contract options are already set, client is not authorized")
        stub = ctx.get_stub()
        await stub.put_state(NAME_KEY, name.encode())
        await stub.put_state(SYMBOL_KEY, symbol.encode())
        await stub.put_state(DECIMALS_KEY, str(decimals).encode())
        return True

    async def Mint(self, ctx: TransactionContext, amount: int) -> None:
        await self._require_initialized(ctx)
        minter = (await self._require_minter(ctx)).get_id()
        _amount(amount, "mint amount")
        key = self._balance_key(ctx, minter)
        await self._put_int(ctx, key, await self._int(ctx, key) + amount)
        await self._put_int(ctx, SUPPLY_KEY, await self._int(ctx, SUPPLY_KEY) + amount)
        self._event(ctx, "Transfer", {"from": "0x0", "to": minter, "value": amount})

    async def Burn(self, ctx: TransactionContext, amount: int) -> None:
        await self._require_initialized(ctx)
        minter = (await self._require_minter(ctx)).get_id()
        _amount(amount, "burn amount")
        key = self._balance_key(ctx, minter)
        balance = await self._int(ctx, key)
        if balance < amount:
            raise ValueError("minter does not have enough balance for burn")
        await self._put_int(ctx, key, balance - amount)
        await self._put_int(ctx, SUPPLY_KEY, await self._int(ctx, SUPPLY_KEY) - amount)
        self._event(ctx, "Transfer", {"from": minter, "to": "0x0", "value": amount})

    async def Transfer(self, ctx: TransactionContext, to: str, value: int) -> bool:
        await self._require_initialized(ctx)
        sender = self._caller(ctx).get_id()
        await self._move(ctx, sender, to, _amount(value, "transfer amount"))
        self._event(ctx, "Transfer", {"from": sender, "to": to, "value": value})
        return True

    async def Approve(self, ctx: TransactionContext, spender: str, value: int) -> bool:
        await self._require_initialized(ctx)
        owner = self._caller(ctx).get_id()
        key = ctx.get_stub().create_composite_key(ALLOWANCE, [owner, spender])
        await self._put_int(ctx, key, value)
        self._event(ctx, "Approval", {"owner": owner, "spender": spender, "value": value})
        return True

    async def Allowance(self, ctx: TransactionContext, owner: str, spender: str) -> int:
        await self._require_initialized(ctx)
        return await self._int(
            ctx, ctx.get_stub().create_composite_key(ALLOWANCE, [owner, spender])
        )

    async def TransferFrom(self, ctx: TransactionContext, sender: str, to: str, value: int) -> bool:
        await self._require_initialized(ctx)
        spender = self._caller(ctx).get_id()
        key = ctx.get_stub().create_composite_key(ALLOWANCE, [sender, spender])
        allowance = await self._int(ctx, key)
        if allowance < _amount(value, "transfer amount"):
            raise ValueError("the spender does not have enough allowance to spend")
        await self._move(ctx, sender, to, value)
        await self._put_int(ctx, key, allowance - value)
        self._event(ctx, "Transfer", {"from": sender, "to": to, "value": value})
        return True

    async def BalanceOf(self, ctx: TransactionContext, account: str) -> int:
        await self._require_initialized(ctx)
        return await self._int(ctx, self._balance_key(ctx, account))

    async def ClientAccountBalance(self, ctx: TransactionContext) -> int:
        return await self.BalanceOf(ctx, self._caller(ctx).get_id())

    async def ClientAccountID(self, ctx: TransactionContext) -> str:
        return self._caller(ctx).get_id()

    async def TotalSupply(self, ctx: TransactionContext) -> int:
        await self._require_initialized(ctx)
        return await self._int(ctx, SUPPLY_KEY)

    async def TokenName(self, ctx: TransactionContext) -> str:
        await self._require_initialized(ctx)
        return (await ctx.get_stub().get_state(NAME_KEY)).decode()

    async def Symbol(self, ctx: TransactionContext) -> str:
        await self._require_initialized(ctx)
        return (await ctx.get_stub().get_state(SYMBOL_KEY)).decode()

    async def Holders(self, ctx: TransactionContext) -> str:
        """Every account with a balance, by a partial composite key range over balances."""
        await self._require_initialized(ctx)
        stub = ctx.get_stub()
        holders = {}
        async for kv in await stub.get_state_by_partial_composite_key(BALANCE, []):
            _object_type, (account,) = stub.split_composite_key(kv.key)
            holders[account] = int(kv.value)
        return json.dumps(holders, sort_keys=True)
