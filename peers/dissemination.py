"""Private data between peers (``proto/privatedata.proto``), what Fabric's gossip
``privdata`` does, over the peers each peer's config lists.

- ``Disseminator.distribute`` (endorsing peer): keeps the clear write set in its own
  transient store (collections its org is a member of) and pushes each collection to at
  most ``maximum_peer_count`` known peers of the collection's member organizations; at
  least ``required_peer_count`` must acknowledge or the endorsement fails (Fabric's rule).
- ``PrivateDataService.Push``: a peer keeps pushed collections its org is a member of in
  its transient store; the pusher must be a peer of the channel and sign, and, for a
  collection only members may write, a peer of a member organization. Every request
  carries its time and a nonce in the signed payload and is accepted once, within a
  window (``peers.replay``).
- ``PrivateDataService.Pull``: clear data of one transaction's collection, from the
  transient store or the committed private data, only to a caller whose organization is
  a member of the collection (its signed identity is checked).
- ``Puller``: the committer's side of Pull, called from the commit worker thread, and
  the reconciler's (``peers.reconciler``), on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import grpc
from fabric_protos.ledger.rwset import rwset_pb2
from google.protobuf.message import DecodeError

from ca.errors import CaError, IdentityError
from ca.msp import Identity, Msp, Role
from chaincode.rwset import TxRWSet
from peers.collections import Collection, collections_of
from peers.errors import PeerError
from peers.ledger import Ledger
from peers.lifecycle import read_definition
from peers.privatedata import collection_rwset
from peers.replay import Replayed, ReplayGuard, stamp
from proto import privatedata_pb2, privatedata_pb2_grpc
from proto.signer import Signer

log = logging.getLogger(__name__)
PUSH_TIMEOUT = 10.0
PULL_TIMEOUT = 5.0


class DisseminationError(PeerError):
    """Too few member peers acknowledged a collection's private data."""


class PeerLink(Protocol):
    """A known peer of another organization (``peers.gateway.RemotePeer``)."""

    mspid: str
    address: str
    channel: grpc.aio.Channel


def sign_request(signer: Signer, payload: bytes) -> privatedata_pb2.SignedRequest:
    return privatedata_pb2.SignedRequest(
        payload=payload, creator=signer.creator, signature=signer.sign(payload)
    )


def _private_subset(
    private: rwset_pb2.TxPvtReadWriteSet, wanted: set[tuple[str, str]]
) -> rwset_pb2.TxPvtReadWriteSet:
    kept = rwset_pb2.TxPvtReadWriteSet(data_model=private.data_model)
    for ns in private.ns_pvt_rwset:
        collections = [
            c for c in ns.collection_pvt_rwset if (ns.namespace, c.collection_name) in wanted
        ]
        if collections:
            kept.ns_pvt_rwset.add(namespace=ns.namespace, collection_pvt_rwset=collections)
    return kept


class Disseminator:
    def __init__(self, mspid: str, signer: Signer, peers: Callable[[], Sequence[PeerLink]]) -> None:
        self.mspid = mspid
        self.signer = signer
        self._peers = peers

    async def distribute(
        self,
        ledger: Ledger,
        tx_id: str,
        rwset: TxRWSet,
        collections: dict[str, dict[str, Collection]],
    ) -> None:
        """Keep and push ``rwset``'s clear private writes; ``collections`` maps each written
        namespace to its collections. Raise ``DisseminationError`` on too few acks."""
        private = rwset.to_private_proto()
        if not private.ns_pvt_rwset:
            return
        assert ledger.config is not None
        channel_id = ledger.config.channel_id
        written = []
        for ns in private.ns_pvt_rwset:
            for c in ns.collection_pvt_rwset:
                coll = collections.get(ns.namespace, {}).get(c.collection_name)
                if coll is None:
                    raise DisseminationError(
                        f"collection {c.collection_name} could not be found for chaincode "
                        f"{ns.namespace}"
                    )
                written.append((ns.namespace, c.collection_name, coll))
        local = {(ns, name) for ns, name, coll in written if coll.is_member(self.mspid)}
        if local:
            ledger.transient.put(tx_id, ledger.height, _private_subset(private, local))
        targets: dict[str, tuple[PeerLink, set[tuple[str, str]]]] = {}
        for ns, name, coll in written:
            eligible = [p for p in self._peers() if coll.is_member(p.mspid)]
            if len(eligible) < coll.required_peer_count:
                raise DisseminationError(
                    f"collection {name}: required to disseminate to at least "
                    f"{coll.required_peer_count} peers, but know of only {len(eligible)} "
                    f"eligible peers"
                )
            for peer in eligible[: coll.maximum_peer_count]:
                targets.setdefault(peer.address, (peer, set()))[1].add((ns, name))
        answers = await asyncio.gather(
            *(
                self._push(peer, channel_id, tx_id, ledger.height, _private_subset(private, w))
                for peer, w in targets.values()
            )
        )
        for ns, name, coll in written:
            acks = sum(1 for accepted in answers if f"{ns}/{name}" in accepted)
            if acks < coll.required_peer_count:
                raise DisseminationError(
                    f"collection {name}: required to disseminate to at least "
                    f"{coll.required_peer_count} peers, but only {acks} acknowledged"
                )

    async def _push(
        self,
        peer: PeerLink,
        channel_id: str,
        tx_id: str,
        height: int,
        private: rwset_pb2.TxPvtReadWriteSet,
    ) -> list[str]:
        payload = privatedata_pb2.PushPayload(
            channel_id=channel_id,
            tx_id=tx_id,
            height=height,
            private_rwset=private.SerializeToString(deterministic=True),
            **stamp(),
        ).SerializeToString()
        stub = privatedata_pb2_grpc.PrivateDataStub(peer.channel)
        try:
            answer = await stub.Push(sign_request(self.signer, payload), timeout=PUSH_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            log.warning("push of %s to %s failed: %s", tx_id, peer.address, exc.details())
            return []
        return list(answer.accepted)


class Puller:
    """Pulls a collection's clear data from member peers for the committer thread."""

    def __init__(
        self,
        signer: Signer,
        peers: Callable[[], Sequence[PeerLink]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.signer = signer
        self._peers = peers
        self._loop = loop

    def pull(
        self, channel_id: str, tx_id: str, namespace: str, collection: Collection
    ) -> list[bytes]:
        future = asyncio.run_coroutine_threadsafe(
            self.fetch(channel_id, tx_id, namespace, collection), self._loop
        )
        try:
            return future.result(timeout=PULL_TIMEOUT * (len(self._peers()) + 1))
        except TimeoutError:
            future.cancel()
            return []

    async def fetch(
        self, channel_id: str, tx_id: str, namespace: str, collection: Collection
    ) -> list[bytes]:
        """Pull from every known peer of the collection's member organizations, on the
        event loop (the reconciler's way; the committer thread calls ``pull``)."""
        payload = privatedata_pb2.PullPayload(
            channel_id=channel_id,
            tx_id=tx_id,
            namespace=namespace,
            collection=collection.name,
            **stamp(),
        ).SerializeToString()
        request = sign_request(self.signer, payload)
        found = []
        for peer in self._peers():
            if not collection.is_member(peer.mspid):
                continue
            try:
                answer = await privatedata_pb2_grpc.PrivateDataStub(peer.channel).Pull(
                    request, timeout=PULL_TIMEOUT
                )
            except grpc.aio.AioRpcError as exc:
                log.info("pull of %s from %s: %s", tx_id, peer.address, exc.details())
                continue
            if answer.found:
                found.append(answer.rwset)
        return found


class PrivateDataService(privatedata_pb2_grpc.PrivateDataServicer):
    def __init__(
        self,
        mspid: str,
        ledgers: Callable[[str], Ledger | None],
        replays: ReplayGuard | None = None,
    ) -> None:
        self.mspid = mspid
        self._ledgers = ledgers
        self._replays = replays or ReplayGuard()

    async def _authenticate(
        self,
        request: privatedata_pb2.SignedRequest,
        message_type: type[privatedata_pb2.PushPayload] | type[privatedata_pb2.PullPayload],
        context: grpc.aio.ServicerContext,
    ):
        """The decoded payload, its channel's ledger and the caller's MSP ID."""
        try:
            payload = message_type.FromString(request.payload)
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "payload does not decode")
        ledger = self._ledgers(payload.channel_id)
        if ledger is None or ledger.config is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"channel {payload.channel_id!r} not found"
            )
        try:
            identity = ledger.config.msps.check_signature(
                request.creator, request.payload, request.signature
            )
        except CaError as exc:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"channel {payload.channel_id}: the caller's identity or signature: {exc}",
            )
        try:
            _check_peer(ledger.config.msps.get(identity.mspid), identity)
            self._replays.admit(payload.time_micros, payload.nonce)
        except (CaError, Replayed) as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return payload, ledger, identity.mspid

    async def Push(
        self, request: privatedata_pb2.SignedRequest, context: grpc.aio.ServicerContext
    ) -> privatedata_pb2.PushResponse:
        payload, ledger, pusher = await self._authenticate(
            request, privatedata_pb2.PushPayload, context
        )
        try:
            private = rwset_pb2.TxPvtReadWriteSet.FromString(payload.private_rwset)
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "private_rwset does not decode")
        wanted = set()
        for ns in private.ns_pvt_rwset:
            collections = collections_of(read_definition(ledger.state, ns.namespace))
            for c in ns.collection_pvt_rwset:
                coll = collections.get(c.collection_name)
                if coll is None or not coll.is_member(self.mspid):
                    continue
                if may_push(coll, pusher):
                    wanted.add((ns.namespace, c.collection_name))
                else:
                    log.warning(
                        "push of %s: %s is not a member of %s/%s, whose members only may "
                        "write; refused",
                        payload.tx_id,
                        pusher,
                        ns.namespace,
                        c.collection_name,
                    )
        kept = _private_subset(private, wanted)
        accepted = await asyncio.to_thread(
            ledger.transient.put, payload.tx_id, payload.height, kept
        )
        return privatedata_pb2.PushResponse(accepted=accepted)

    async def Pull(
        self, request: privatedata_pb2.SignedRequest, context: grpc.aio.ServicerContext
    ) -> privatedata_pb2.PullResponse:
        payload, ledger, mspid = await self._authenticate(
            request, privatedata_pb2.PullPayload, context
        )
        collection = collections_of(read_definition(ledger.state, payload.namespace)).get(
            payload.collection
        )
        if collection is None or not collection.is_member(mspid):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"org {mspid} is not a member of collection {payload.namespace}/"
                f"{payload.collection}",
            )
        clear = ledger.transient.get(payload.tx_id, payload.namespace, payload.collection)
        if clear is None:
            clear = committed_rwset(ledger, payload.tx_id, payload.namespace, payload.collection)
        return privatedata_pb2.PullResponse(found=clear is not None, rwset=clear or b"")


def may_push(collection: Collection, mspid: str) -> bool:
    """A peer of a member organization may push a collection's data; so may any peer of
    the channel when non-members may write it (``member_only_write`` false), as in Fabric,
    where a non-member endorser disseminates what it wrote to the members' peers."""
    return collection.is_member(mspid) or not collection.member_only_write


def _check_peer(msp: Msp, identity: Identity) -> None:
    """Only peers exchange private data: with NodeOUs (every network ``up`` makes) the
    caller must hold the peer role; without them an MSP knows no roles but member."""
    node_ous = msp.config.node_ous
    if node_ous and node_ous.enabled and Role.PEER not in msp.roles(identity):
        raise IdentityError(
            f"{identity.mspid} identity {identity.enrollment_id!r} is not a peer; "
            "only peers push and pull private data"
        )


def committed_rwset(ledger: Ledger, tx_id: str, namespace: str, collection: str) -> bytes | None:
    """A committed transaction's clear collection data, if this peer holds it."""
    found = ledger.state.transaction(tx_id)
    if found is None:
        return None
    raw = ledger.state.private_rwsets(found[0]).get(found[1])
    if raw is None:
        return None
    return collection_rwset(rwset_pb2.TxPvtReadWriteSet.FromString(raw), namespace, collection)
