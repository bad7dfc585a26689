"""A chaincode-as-a-service address that the peer dials on demand, and dials again after
the contract's stream ends (a restart in dev mode, a redeployed container)."""

from __future__ import annotations

import asyncio

from chaincode.errors import ShimError
from chaincode.shim import ChaincodeHandler, Invoker
from chaincode.transport import ClientTLS, GrpcStream


class ChaincodeEndpoint:
    def __init__(
        self,
        address: str,
        *,
        tls: ClientTLS | None = None,
        expected_name: str | None = None,
        invoker: Invoker | None = None,
        timeout: float = 30.0,
        dial_timeout: float = 5.0,
    ) -> None:
        self.address = address
        self._tls = tls
        self._expected_name = expected_name
        self._invoker = invoker
        self._timeout = timeout
        self._dial_timeout = dial_timeout
        self._handler: ChaincodeHandler | None = None
        self._lock = asyncio.Lock()

    async def handler(self) -> ChaincodeHandler:
        """The connected handler, dialling (again) if there is none or its stream ended."""
        async with self._lock:
            if self._handler is not None and self._handler.connected:
                return self._handler
            if self._handler is not None:
                await self._handler.close()
                self._handler = None
            stream = await GrpcStream.dial(self.address, tls=self._tls, timeout=self._dial_timeout)
            handler = ChaincodeHandler(stream, invoker=self._invoker, timeout=self._timeout)
            try:
                await handler.register(expected_name=self._expected_name)
            except ShimError as exc:
                await stream.close()
                raise ShimError(f"chaincode at {self.address}: {exc}") from None
            self._handler = handler
            return handler

    async def close(self) -> None:
        async with self._lock:
            if self._handler is not None:
                await self._handler.close()
                self._handler = None
