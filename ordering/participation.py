"""The channel participation API, as Fabric 2.3+ orderers serve it to ``osnadmin``.

``GET /participation/v1/channels`` lists channels, ``POST`` with a multipart
``config-block`` field joins one, ``GET``/``DELETE /participation/v1/channels/{name}``
shows or removes one. Errors are ``{"error": "..."}`` with Fabric's HTTP codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from fabric_protos.common import common_pb2
from google.protobuf.message import DecodeError

from ordering.errors import ConfigError

if TYPE_CHECKING:
    from ordering.chain import Chain

PREFIX = "/participation/v1/channels"


class Participant(Protocol):
    """What the API needs of an orderer node (``ordering.node.OrdererNode``), named
    here so that the node, which serves these routes, is the only one to import."""

    @property
    def chains(self) -> Mapping[str, Chain]: ...

    async def join(self, block: common_pb2.Block) -> Chain: ...

    async def remove(self, channel_id: str) -> None: ...


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own refusals in Fabric's ``{"error": …}`` (its router answers a wrong
    method or path in plain text; Fabric's answers in JSON, as every other error)."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as refused:
        response = _error(405, f"invalid request method: {request.method}")
        response.headers["Allow"] = ", ".join(sorted(refused.allowed_methods))
        return response
    except web.HTTPNotFound:
        return _error(404, f"not found: {request.path}")
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "request body is too large")


def channel_info(chain: Chain) -> dict[str, Any]:
    info = {
        "name": chain.channel_id,
        "url": f"{PREFIX}/{chain.channel_id}",
        "consensusRelation": "consenter",
        "status": "active",
        "height": chain.height,
    }
    role = getattr(chain, "role", None)  # an ordering cluster's node: cutter or follower
    if role is not None:
        record = chain.lease.record  # type: ignore[attr-defined]
        info["role"] = role
        info["leaseHolder"] = record.holder if record else None
        info["leaseTerm"] = record.term if record else None
    halted = getattr(chain, "halted", None)
    if halted is not None:  # its journal copy stopped: it neither cuts nor serves new blocks
        info["status"] = "failed"
        info["role"] = "halted"
        info["halted"] = halted
    return info


def participation_routes(node: Participant) -> list[web.RouteDef]:
    async def list_channels(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "systemChannel": None,
                "channels": [
                    {"name": name, "url": f"{PREFIX}/{name}"} for name in sorted(node.chains)
                ],
            }
        )

    async def show(request: web.Request) -> web.Response:
        chain = node.chains.get(request.match_info["name"])
        if chain is None:
            return _error(404, f"channel {request.match_info['name']!r} does not exist")
        return web.json_response(channel_info(chain))

    async def join(request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return _error(400, "request must be multipart/form-data with a config-block field")
        block_bytes = None
        async for part in await request.multipart():
            if getattr(part, "name", None) == "config-block":
                block_bytes = await part.read()  # type: ignore[union-attr]
        if block_bytes is None:
            return _error(400, "form field config-block is missing")
        try:
            block = common_pb2.Block.FromString(bytes(block_bytes))
        except DecodeError:
            return _error(400, "config-block does not decode as a Fabric block")
        try:
            chain = await node.join(block)
        except FileExistsError as exc:
            return _error(405, f"cannot join: {exc}")
        except ConfigError as exc:
            return _error(400, f"cannot join: {exc}")
        return web.json_response(channel_info(chain), status=201)

    async def remove(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            await node.remove(name)
        except KeyError:
            return _error(404, f"channel {name!r} does not exist")
        return web.Response(status=204)

    return [
        web.get(PREFIX, list_channels),
        web.post(PREFIX, join),
        web.get(PREFIX + "/{name}", show),
        web.delete(PREFIX + "/{name}", remove),
    ]
