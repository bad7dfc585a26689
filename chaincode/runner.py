"""Running a Python contract as chaincode-as-a-service, in-process or as a gRPC server.

The contract is served by ``fabric-chaincode-python``'s own shim, with two repairs the
harness and dev mode need and that a real Fabric peer would also want: the chaincode event
set with ``stub.set_event`` is sent in the COMPLETED message (2.5.4 drops it), a contract
that raises answers ERROR with the exception text instead of leaving the peer to time out,
``stub.get_transient()`` returns the proposal's transient map, and writes to the stream
are serialized (concurrent transactions otherwise break the gRPC call).
A contract directory is a Python package; every ``Contract`` subclass defined in it (or the
ones listed in its ``CONTRACTS``) becomes part of the chaincode.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import uvloop
from fabric_chaincode_python.fabric_contract_api import Contract, ContractChaincode
from fabric_chaincode_python.fabric_shim.handler import STATES, Handler
from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_chaincode_python.fabric_shim.msg_queue_handler import MsgQueueHandler
from fabric_chaincode_python.fabric_shim.server import ChaincodeService
from fabric_chaincode_python.fabric_shim.stub import ChaincodeStub
from fabric_protos.peer import (
    chaincode_pb2,
    chaincode_shim_pb2,
    chaincode_shim_pb2_grpc,
    proposal_response_pb2,
)

from chaincode.errors import ContractLoadError
from proto.collector import settle_after_start
from proto.credentials import server_credentials
from proto.server import new_server

Message = chaincode_shim_pb2.ChaincodeMessage


class _QuietShim(logging.Filter):
    """The Python shim logs every message on the ``asyncio`` logger; keep only its errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fabric_shim" not in record.pathname or record.levelno >= logging.ERROR


logging.getLogger("asyncio").addFilter(_QuietShim())

_SHIM_LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _undo_shim_logging_config() -> None:
    """Importing the Python shim runs ``logging.basicConfig(level=DEBUG)`` on the root
    logger, which floods every program that imports a contract; undo exactly that."""
    root = logging.getLogger()
    handlers = root.handlers
    if (
        root.level == logging.DEBUG
        and len(handlers) == 1
        and getattr(handlers[0].formatter, "_fmt", None) == _SHIM_LOG_FORMAT
    ):
        root.removeHandler(handlers[0])
        root.setLevel(logging.WARNING)


_undo_shim_logging_config()


class ContractStub(ChaincodeStub):
    """The Python shim's stub plus ``get_transient``, which 2.5.4 declares but leaves empty."""

    def get_transient(self) -> dict[str, bytes]:
        decoded = self.signed_proposal_pb
        if not decoded:
            return {}
        return dict(decoded["proposal"]["payload"].TransientMap)


class _SerialWriter:
    """gRPC allows one write in flight per call; the shim writes from concurrent tasks."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._lock = asyncio.Lock()

    async def write(self, message: Message) -> None:
        async with self._lock:
            await self._context.write(message)


_ANSWERS = (Message.RESPONSE, Message.ERROR)
"""What the peer sends back to a request the contract made (GET_STATE, PUT_STATE, …)."""


class ContractHandler(Handler):
    """The Python shim's handler, sending the event and turning crashes into ERROR."""

    async def chat_with_peer(self, stream: Any, context: Any) -> None:
        """The shim's own loop, the same messages in the same order, without its costs per
        message (12–22 % of the contract's CPU on CreateAsset, docs/benchmarks.md): 2.5.4
        formats every message it receives, the whole signed proposal included, into log
        strings the logger then drops, and starts a task even for a RESPONSE, which only
        completes the request waiting for it."""
        self.state = STATES.CREATED
        self.context = _SerialWriter(context)
        self.msg_queue_handler = MsgQueueHandler(self)
        register = Message(type=Message.REGISTER, payload=self.chaincode_id.SerializeToString())
        register.timestamp.FromDatetime(datetime.datetime.now())
        await self.context.write(register)
        async for message in stream:
            if self.state == STATES.READY and message.type in _ANSWERS:
                await self.msg_queue_handler.handle_msg_response(message)
            else:
                self._track_task(self.handle_message(message))
        if self._pending_tasks:
            await asyncio.gather(*self._pending_tasks, return_exceptions=True)

    async def handle_message(self, msg: Message) -> None:
        """The shim's dispatch by state, without the warning it logs for every message."""
        if msg.type == Message.KEEPALIVE:
            return
        if self.state == STATES.READY:
            await self.handle_message_ready(msg)
        elif self.state == STATES.ESTABLISHED:
            await self.handle_message_established(msg)
        else:
            await self.handle_message_created(msg)

    async def handle_stub_interaction(self, msg: Message, action: str = "Invoke") -> None:
        try:
            chaincode_input = chaincode_pb2.ChaincodeInput.FromString(msg.payload)
            stub = ContractStub(self, msg.channel_id, msg.txid, chaincode_input, msg.proposal)
            stub.chaincode_id_name = self.chaincode_id.name
            if action == "Init":
                response = await self.chaincode.init(stub)
            else:
                response = await self.chaincode.invoke(stub)
        except Exception as exc:  # the contract's own failure, reported to the peer
            await self.context.write(
                Message(
                    type=Message.ERROR,
                    payload=f"{type(exc).__name__}: {exc}".encode(),
                    txid=msg.txid,
                    channel_id=msg.channel_id,
                )
            )
            return
        if not isinstance(response, proposal_response_pb2.Response) or not response.status:
            response = proposal_response_pb2.Response(
                status=500, message=f"chaincode {action}() returned no response"
            )
        events = stub.get_events()
        await self.context.write(
            Message(
                type=Message.COMPLETED,
                payload=response.SerializeToString(),
                txid=msg.txid,
                channel_id=msg.channel_id,
                chaincode_event=events[-1] if events else None,
            )
        )


class ContractService(ChaincodeService):
    """``protos.Chaincode`` servicer: one ``ContractHandler`` per peer connection."""

    async def Connect(self, request_iterator: Any, context: Any) -> None:
        await ContractHandler(self._ccid, self._cc).chat_with_peer(request_iterator, context)


def as_chaincode(contracts: Chaincode | Contract | list[Contract]) -> Chaincode:
    """Contracts become a ``ContractChaincode``; a low-level ``Chaincode`` is used as is."""
    if isinstance(contracts, Chaincode):
        return contracts
    if isinstance(contracts, Contract):
        contracts = [contracts]
    if not contracts:
        raise ContractLoadError("contracts: at least one Contract is needed")
    return ContractChaincode.new_chaincode(*contracts)


def load_contracts(directory: str | Path) -> list[Contract]:
    """Import the package at ``directory`` under a private name and instantiate its contracts.

    The private name keeps a contract package called e.g. ``token`` from shadowing the
    standard library, and lets dev mode load a fresh copy after each change.
    """
    path = Path(directory).resolve()
    init = path / "__init__.py"
    if not init.is_file():
        raise ContractLoadError(f"directory {path}: not a Python package (no __init__.py)")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"_contract_{path.name}_{digest}"
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(path)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ContractLoadError(
            f"directory {path}: import failed ({type(exc).__name__}: {exc})"
        ) from exc
    classes = getattr(module, "CONTRACTS", None)
    if classes is None:
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Contract)
            and value.__module__.startswith(name)
        ]
    if not classes:
        raise ContractLoadError(f"directory {path}: defines no Contract subclass")
    return [cls() for cls in classes]


_LOADED: dict[Path, tuple[tuple, list[Contract]]] = {}


def _source_state(path: Path) -> tuple:
    return tuple(sorted((str(f), f.stat().st_mtime_ns) for f in path.rglob("*.py") if f.is_file()))


def load_contracts_cached(directory: str | Path) -> list[Contract]:
    """``load_contracts``, reusing the last import while no ``.py`` file has changed, so a
    test suite that deploys a directory per test imports it once."""
    path = Path(directory).resolve()
    state = _source_state(path) if path.is_dir() else ()
    cached = _LOADED.get(path)
    if cached is None or cached[0] != state:
        _LOADED[path] = (state, load_contracts(path))
    return _LOADED[path][1]


def contract_service(chaincode_id: str, contracts: Any, shim: str = "repaired") -> Any:
    """The servicer for ``contracts``: with the repairs above (``repaired``), or exactly
    as ``fabric-chaincode-python``'s own entry point serves them (``stock``), to see what a
    contract started with ``ContractChaincode.new_chaincode(...).start()`` does."""
    if shim == "stock":
        return ChaincodeService(chaincode_id, as_chaincode(contracts))
    if shim != "repaired":
        raise ContractLoadError(f"shim: {shim!r} is neither 'repaired' nor 'stock'")
    return ContractService(chaincode_id, as_chaincode(contracts))


@dataclass(frozen=True)
class ServerTLS:
    """The contract server's TLS key pair (PEM); with ``client_ca``, peers must present a
    certificate it issued (mutual TLS, ``client_auth_required`` in connection.json).
    Read from ``files``, it follows them: a renewed pair (``certs rotate``) is served
    from the next handshake on, without a restart."""

    private_key: bytes
    certificate: bytes
    client_ca: bytes | None = None
    files: tuple[Path, Path, Path | None] | None = None  # key, cert, client CA

    @classmethod
    def from_files(cls, key: Path, cert: Path, client_ca: Path | None = None) -> ServerTLS:
        try:
            return cls(
                key.read_bytes(),
                cert.read_bytes(),
                client_ca.read_bytes() if client_ca else None,
                (key, cert, client_ca),
            )
        except OSError as exc:
            raise ContractLoadError(f"TLS file {exc.filename}: {exc.strerror}") from None

    def credentials(self) -> grpc.ServerCredentials:
        if self.files is not None:
            key, cert, client_ca = self.files
            return server_credentials(cert, key, [client_ca] if client_ca else [])
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


async def serve(
    service: ContractService,
    address: str = "127.0.0.1:0",
    tls: ServerTLS | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a CCaaS gRPC server; returns it and the bound port. The port is not shared
    (gRPC sets SO_REUSEPORT by default): a second contract on a taken address fails
    instead of listening beside the first and answering for it."""
    server = new_server(options=[("grpc.so_reuseport", 0)])
    chaincode_shim_pb2_grpc.add_ChaincodeServicer_to_server(service, server)
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, tls.credentials())
    except RuntimeError:
        port = 0
    if port == 0:
        raise ContractLoadError(f"address {address}: could not listen (is it in use?)")
    await server.start()
    return server, port


async def run_server(
    directory: Path, chaincode_id: str, address: str, tls: ServerTLS | None = None
) -> None:
    """Serve the contract in ``directory`` until cancelled or terminated."""
    service = contract_service(chaincode_id, load_contracts(directory))
    server, port = await serve(service, address, tls)
    settle_after_start()
    host = address.rpartition(":")[0] or "0.0.0.0"
    print(f"serving chaincode {chaincode_id} on {host}:{port}", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(1)


def main(argv: list[str] | None = None) -> int:
    """``python -m chaincode.runner DIR``: a contract package as a CCaaS server.

    Like Fabric's CCaaS samples it reads ``CHAINCODE_ID``, ``CHAINCODE_SERVER_ADDRESS``
    and, for TLS, ``CHAINCODE_TLS_KEY``, ``CHAINCODE_TLS_CERT``, ``CHAINCODE_CLIENT_CA_CERT``
    (file paths) when the options are not given.
    """
    import argparse
    import os

    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m chaincode.runner")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--id", dest="chaincode_id", default=env("CHAINCODE_ID"))
    parser.add_argument("--address", default=env("CHAINCODE_SERVER_ADDRESS", "127.0.0.1:9999"))
    parser.add_argument("--tls-key", type=Path, default=env("CHAINCODE_TLS_KEY"))
    parser.add_argument("--tls-cert", type=Path, default=env("CHAINCODE_TLS_CERT"))
    parser.add_argument("--client-ca", type=Path, default=env("CHAINCODE_CLIENT_CA_CERT"))
    args = parser.parse_args(argv)
    chaincode_id = args.chaincode_id or args.directory.resolve().name
    try:
        tls = None
        if args.tls_key or args.tls_cert:
            if not (args.tls_key and args.tls_cert):
                raise ContractLoadError("TLS: --tls-key and --tls-cert go together")
            tls = ServerTLS.from_files(Path(args.tls_key), Path(args.tls_cert), args.client_ca)
        uvloop.run(run_server(args.directory, chaincode_id, args.address, tls))
    except ContractLoadError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
