"""The one error root of ``peers``: every failure names the input that caused it.

What a client sees of a failure (a gRPC status, a proposal response's status 500, a
validation code) is decided where the error is caught; classes kept next to the code
that raises them are marked with their module::

    PeerError
    ├── StorageError
    ├── BlockNotAvailable       ledger (before the snapshot a channel was joined from)
    ├── SnapshotJoinRefused     snapshot_join
    ├── BadRWSet                rwset
    ├── BlockRejected           committer
    ├── CollectionError         collections
    ├── DisseminationError      dissemination
    ├── GatewayError            gateway (gRPC status and ErrorDetails for the client)
    ├── LifecycleError          lifecycle_chaincode (``_lifecycle`` answers status 500)
    ├── NoEndorsementPlan       planning
    ├── PackageError            packages
    ├── PeerConfigError         node
    ├── SnapshotRefused         snapshots (Fabric's texts for a snapshot request)
    ├── ProposalRefused         endorser (status 500, Fabric's message)
    │   └── ProposalRejected    endorser (preProcess checks: a gRPC error, as Fabric's)
    └── Replayed                replay (a stale or repeated peer-to-peer request)
"""


class PeerError(Exception):
    """Base of every error raised by ``peers``."""


class StorageError(PeerError):
    """The world state or block store cannot be read or written."""


class BlockNotAvailable(PeerError):
    """A block before the snapshot this peer joined the channel from was asked for."""
