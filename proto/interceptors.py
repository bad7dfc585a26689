"""A server interceptor that swaps each method's handler for a wrapped one.

grpc asks the interceptors for a handler on every call; the handlers a server
registers never change, so the wrapped handler is built once per method and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """Subclasses say which handlers they wrap (``wraps``) and how (``wrap``)."""

    def __init__(self) -> None:
        # method -> (handler as registered, wrapped handler)
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def wraps(self, handler: grpc.RpcMethodHandler) -> bool:
        raise NotImplementedError

    def wrap(self, handler: Any, method: str) -> Any:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or not self.wraps(handler):
            return handler
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is None or known[0] is not handler:
            known = self._wrapped[method] = (handler, self.wrap(handler, method))
        return known[1]
