"""Run a contract against an in-memory world state through the real shim protocol.

``ContractHarness`` plays the endorsing and committing peer: it signs a real proposal for
the chosen identity, executes it over ``Chaincode.Connect`` (an in-process pipe or a real
gRPC connection, or any external CCaaS process by address), records the read/write set,
and on ``invoke`` validates (MVCC, phantoms) and commits it as the next block.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric_protos.peer import chaincode_pb2

from chaincode import mvcc
from chaincode.collections import Collection, CollectionPolicy
from chaincode.endpoint import ChaincodeEndpoint
from chaincode.errors import ChaincodeError, ShimError
from chaincode.memory import MemoryState
from chaincode.runner import as_chaincode, contract_service, load_contracts_cached, serve
from chaincode.rwset import NamespaceRWSet, RangeQuery, TxRWSet
from chaincode.shim import ChaincodeFailed, ChaincodeHandler, TxContext
from chaincode.simulation import TxSimulator
from chaincode.state import KeyModification, StateStore, Version
from chaincode.testing.identities import Identity, IdentityFactory
from chaincode.transport import ClientTLS, GrpcStream, InProcessStream, Message
from proto.proposal import propose


@dataclass(frozen=True)
class Event:
    name: str
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class TxResult:
    """What one simulated transaction produced, for assertions."""

    tx_id: str
    function: str
    status: int = 0
    payload: bytes = b""
    message: str = ""
    event: Event | None = None
    rwset: TxRWSet = field(default_factory=TxRWSet)
    error: str | None = None
    validation: str | None = None
    chaincode: str = ""
    timestamp: float = 0.0
    """The proposal's channel-header time; key history records it, as Fabric does."""

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and 200 <= self.status < 400
            and self.validation in (None, mvcc.VALID)
        )

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)

    def failure(self) -> str:
        """Why the transaction failed, in the words the client would see."""
        if self.error:
            return self.error
        if not 200 <= self.status < 400:
            return self.message
        return self.validation or ""

    def raise_for_status(self) -> TxResult:
        if not self.ok:
            raise AssertionError(f"{self.function} failed: {self.failure()}")
        return self

    def _namespace(self, chaincode: str | None) -> NamespaceRWSet:
        return self.rwset.namespaces.get(chaincode or self.chaincode, NamespaceRWSet())

    def writes(self, chaincode: str | None = None) -> dict[str, bytes | None]:
        """Public writes of ``chaincode`` (default: the one invoked); ``None`` = delete."""
        return dict(self._namespace(chaincode).writes)

    def reads(self, chaincode: str | None = None) -> dict[str, Version | None]:
        """Public reads with the version seen; ``None`` = the key did not exist."""
        return dict(self._namespace(chaincode).reads)

    def range_reads(self, chaincode: str | None = None) -> list[RangeQuery]:
        return list(self._namespace(chaincode).range_queries)

    def private_writes(self, collection: str, chaincode: str | None = None) -> dict:
        found = self._namespace(chaincode).collections.get(collection)
        return dict(found.writes) if found else {}


def _arg(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


class ContractHarness:
    """A one-channel, in-memory peer for testing contracts; use ``async with``."""

    def __init__(
        self,
        *,
        channel: str = "mychannel",
        state: StateStore | None = None,
        timeout: float = 5.0,
        identities: IdentityFactory | None = None,
    ) -> None:
        self.channel = channel
        self.state: StateStore = state or MemoryState()
        self.timeout = timeout
        self.identities = identities or IdentityFactory()
        self.collections = CollectionPolicy()
        self.default_chaincode = ""
        self._chaincodes: dict[str, ChaincodeHandler | ChaincodeEndpoint] = {}
        self._servers: list[Any] = []
        self._policies: dict[str, tuple[str, ...]] = {}
        self._height = 1

    async def __aenter__(self) -> ContractHarness:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        for chaincode in self._chaincodes.values():
            await chaincode.close()
        self._chaincodes.clear()
        for server in self._servers:
            await server.stop(None)
        self._servers.clear()

    # --- chaincodes ------------------------------------------------------------------

    async def deploy(
        self,
        contracts: Any,
        name: str = "basic",
        *,
        transport: str = "inprocess",
        collections: Iterable[Collection] = (),
        policy: str = "",
        shim: str = "repaired",
    ) -> None:
        """Run a contract (instances, a ContractChaincode, or a package directory).

        ``policy`` (Fabric's language, e.g. ``AND('Org1MSP.peer','Org2MSP.peer')``): every
        transaction is endorsed once per organization it names, and differing results are
        refused as a peer's gateway refuses them, so a non-deterministic contract fails
        here as it would on the network. ``shim="stock"`` serves the contract exactly as
        fabric-chaincode-python's own entry point does (no repairs: events dropped, a
        raising contract never answers, ``get_transient()`` empty)."""
        if isinstance(contracts, str | Path):
            contracts = load_contracts_cached(contracts)
        service = contract_service(name, as_chaincode(contracts), shim)
        await self.deploy_service(
            service, name, transport=transport, collections=collections, policy=policy
        )

    async def deploy_service(
        self,
        service: Any,
        name: str,
        *,
        transport: str = "inprocess",
        collections: Iterable[Collection] = (),
        policy: str = "",
    ) -> None:
        """Run any ``protos.Chaincode`` servicer (e.g. a scripted one) as chaincode ``name``."""
        self._policies[name] = endorsing_orgs(policy)
        if transport == "inprocess":
            stream: Any = InProcessStream()
            stream.serve(service)
        elif transport == "grpc":
            server, port = await serve(service)
            self._servers.append(server)
            stream = await GrpcStream.dial(f"127.0.0.1:{port}")
        else:
            raise ChaincodeError(f"transport: {transport!r} is neither 'inprocess' nor 'grpc'")
        await self._attach(stream, name, collections)

    async def connect(
        self,
        address: str,
        name: str,
        *,
        tls: ClientTLS | None = None,
        collections: Iterable[Collection] = (),
        dial_timeout: float = 5.0,
        policy: str = "",
    ) -> None:
        """Drive a chaincode-as-a-service process (Python, Node, Go) listening at ``address``.

        The harness dials again whenever the contract's stream has ended, as a peer does,
        so a contract restarted by dev mode is picked up by the next call.
        """
        endpoint = ChaincodeEndpoint(
            address,
            tls=tls,
            invoker=self._invoke_chaincode,
            timeout=self.timeout,
            dial_timeout=dial_timeout,
        )
        await endpoint.handler()
        self._policies[name] = endorsing_orgs(policy)
        await self._replace(name, endpoint)
        self.collections.define(name, collections)

    async def _attach(self, stream: Any, name: str, collections: Iterable[Collection]) -> None:
        handler = ChaincodeHandler(stream, invoker=self._invoke_chaincode, timeout=self.timeout)
        try:
            await handler.register(expected_name=name)
        except ShimError:
            await stream.close()
            raise
        await self._replace(name, handler)
        self.collections.define(name, collections)

    async def _replace(self, name: str, chaincode: ChaincodeHandler | ChaincodeEndpoint) -> None:
        if name in self._chaincodes:
            await self._chaincodes[name].close()
        self._chaincodes[name] = chaincode
        self.default_chaincode = self.default_chaincode or name

    async def _handler(self, chaincode: str | None) -> tuple[str, ChaincodeHandler]:
        name = chaincode or self.default_chaincode
        found = self._chaincodes.get(name)
        if found is None:
            raise ChaincodeError(f"chaincode {name!r}: not deployed in this harness")
        if isinstance(found, ChaincodeEndpoint):
            return name, await found.handler()
        return name, found

    async def _invoke_chaincode(
        self, name: str, channel: str, chaincode_input: Any, parent: TxContext
    ) -> Message:
        if channel != self.channel:
            raise ChaincodeError(f"channel {channel}: the harness has only {self.channel}")
        _name, handler = await self._handler(name)
        try:
            result = await handler.execute(
                parent.channel_id,
                parent.txid,
                chaincode_input,
                parent.simulator,
                signed_proposal=parent.signed_proposal,
                creator=parent.creator,
                namespace=name,
                collections=self.collections,
            )
        except ChaincodeFailed as exc:
            return Message(type=Message.ERROR, payload=str(exc).encode(), txid=parent.txid)
        return Message(
            type=Message.COMPLETED,
            payload=result.response.SerializeToString(),
            txid=parent.txid,
            channel_id=parent.channel_id,
            chaincode_event=result.event,
        )

    # --- identities and state ------------------------------------------------------------

    def identity(self, mspid: str = "Org1MSP", name: str = "user1", **options: Any) -> Identity:
        return self.identities(mspid, name, **options)

    def _commit_writes(self, rwset: TxRWSet, tx_id: str, timestamp: float | None = None) -> Version:
        position = Version(self._height, 0)
        self.state.commit(position, tx_id, time.time() if timestamp is None else timestamp, rwset)
        self._height += 1
        return position

    def seed(self, key: str, value: Any, chaincode: str | None = None) -> Version:
        """Write ``value`` (bytes, str, or JSON-able) as if a transaction had committed it."""
        rwset = TxRWSet()
        rwset.namespace(chaincode or self.default_chaincode).writes[key] = _arg(value)
        return self._commit_writes(rwset, f"seed-{self._height}")

    def seed_private(
        self, collection: str, key: str, value: Any, chaincode: str | None = None
    ) -> Version:
        rwset = TxRWSet()
        ns = rwset.namespace(chaincode or self.default_chaincode)
        ns.collection(collection).writes[key] = _arg(value)
        return self._commit_writes(rwset, f"seed-{self._height}")

    def get(self, key: str, chaincode: str | None = None) -> bytes | None:
        current = self.state.get(chaincode or self.default_chaincode, key)
        return current.value if current else None

    def get_json(self, key: str, chaincode: str | None = None) -> Any:
        value = self.get(key, chaincode)
        return None if value is None else json.loads(value)

    def get_private(self, collection: str, key: str, chaincode: str | None = None) -> bytes | None:
        current = self.state.get_private(chaincode or self.default_chaincode, collection, key)
        return current.value if current else None

    def history(self, key: str, chaincode: str | None = None) -> list[KeyModification]:
        return list(self.state.history(chaincode or self.default_chaincode, key))

    # --- transactions ----------------------------------------------------------------

    async def simulate(
        self,
        function: str,
        *args: Any,
        chaincode: str | None = None,
        identity: Identity | None = None,
        transient: dict[str, Any] | None = None,
        init: bool = False,
        timeout: float | None = None,
    ) -> TxResult:
        """Endorse: run the function and record its read/write set; commit nothing. With
        a policy, once per organization it names; differing results are refused."""
        name, _ = await self._handler(chaincode)
        signer = identity or self.identity()
        call_args = [_arg(function), *(_arg(a) for a in args)]
        transient_bytes = {k: _arg(v) for k, v in (transient or {}).items()}
        now = time.time()
        proposed = propose(signer, self.channel, name, call_args, transient_bytes, now=now)
        endorse = (proposed, signer, call_args, init, timeout, now)
        orgs = self._policies.get(name) or ("",)
        results = [await self._endorse(name, function, *endorse) for _ in orgs]
        first = results[0]
        for org, other in zip(orgs[1:], results[1:], strict=True):
            difference = differing(first, other)
            if difference and first.error is None:
                first.error = (
                    "ProposalResponsePayloads do not match: the endorsements of "
                    f"{orgs[0]} and {org} differ in {difference} (a contract must compute "
                    "the same result on every peer: no random values, clocks or local state)"
                )
        return first

    async def _endorse(
        self,
        name: str,
        function: str,
        proposed: Any,
        signer: Identity,
        call_args: list[bytes],
        init: bool,
        timeout: float | None,
        now: float,
    ) -> TxResult:
        """One peer's endorsement: execute against the committed state, record the rwset."""
        _, handler = await self._handler(name)
        tx_id = proposed.tx_id
        simulator = TxSimulator(self.state, tx_id)
        result = TxResult(tx_id=tx_id, function=function, chaincode=name, timestamp=now)
        try:
            executed = await handler.execute(
                self.channel,
                tx_id,
                chaincode_pb2.ChaincodeInput(args=call_args, is_init=init),
                simulator,
                signed_proposal=proposed.signed,
                creator=signer.creator,
                is_init=init,
                namespace=name,
                collections=self.collections,
                timeout=timeout,
            )
        except ChaincodeError as exc:
            result.error = str(exc)
            result.rwset = simulator.rwset
            return result
        response = executed.response
        result.status, result.payload, result.message = (
            response.status,
            response.payload,
            response.message,
        )
        if executed.event is not None:
            result.event = Event(executed.event.event_name, executed.event.payload)
        result.rwset = simulator.rwset
        return result

    def commit(self, result: TxResult) -> str:
        """Validate (MVCC, phantoms) and, if valid, commit as the next block."""
        if result.error is not None or not 200 <= result.status < 400:
            raise ChaincodeError(f"transaction {result.tx_id}: failed endorsement, not committed")
        result.validation = mvcc.validate(result.rwset, self.state)
        if result.validation == mvcc.VALID:
            self._commit_writes(result.rwset, result.tx_id, result.timestamp)
        return result.validation

    async def invoke(self, function: str, *args: Any, **options: Any) -> TxResult:
        """Submit: simulate, then validate and commit if the endorsement succeeded."""
        result = await self.simulate(function, *args, **options)
        if result.error is None and 200 <= result.status < 400:
            self.commit(result)
        return result

    async def query(self, function: str, *args: Any, **options: Any) -> TxResult:
        """Evaluate: simulate only."""
        return await self.simulate(function, *args, **options)


_PRINCIPAL = re.compile(r"'([^'.]+)\.(?:peer|member|admin|client|orderer)'")


def endorsing_orgs(policy: str) -> tuple[str, ...]:
    """The organizations a signature policy names, in order, once each ("" = none)."""
    if not policy.strip():
        return ()
    orgs = tuple(dict.fromkeys(_PRINCIPAL.findall(policy)))
    if not orgs:
        raise ChaincodeError(
            f"policy {policy!r}: names no organization; write e.g. "
            "AND('Org1MSP.peer', 'Org2MSP.peer')"
        )
    return orgs


def differing(first: TxResult, other: TxResult) -> str:
    """What two endorsements of one proposal disagree on, named (a key first), or ""."""
    for name in sorted({*first.rwset.namespaces, *other.rwset.namespaces}):
        mine, theirs = first.writes(name), other.writes(name)
        for key in sorted({*mine, *theirs}):
            if mine.get(key, b"") != theirs.get(key, b""):
                return f"the value written to key {key!r} (chaincode {name})"
        for key in sorted({*first.reads(name), *other.reads(name)}):
            if first.reads(name).get(key) != other.reads(name).get(key):
                return f"the keys read: {key!r} (chaincode {name})"
    if first.rwset.to_proto() != other.rwset.to_proto():
        return "the read/write set (ranges or private data hashes)"
    if (first.status, first.message) != (other.status, other.message):
        return "the response status"
    if first.payload != other.payload:
        return "the response payload"
    if first.event != other.event:
        return "the chaincode event"
    return ""
