"""The one error root of ``network``: every failure names the node, file or field it is about.

The CLI catches each part's root in one place (``network.cli.EXIT_CODES``); the
control plane's errors are AMB's wire errors, whose class name is the
``x-amzn-ErrorType`` a client sees. Classes kept next to the code that raises them are
marked with their module::

    NetworkError
    ├── SupervisorError
    │   └── NatsClusterError                   nats_cluster
    ├── NetworkNotFound                        locate
    ├── MemberNotFound                         locate
    ├── NameNotFound                           localnet (a name of the local network)
    ├── SnapshotError
    ├── SpecError                              spec
    ├── ExplorerConfigError                    explorer.config
    ├── ProofUnavailable                       explorer.proofs
    ├── InvocationRefused                      explorer.invoke
    ├── StoreError                             explorer.store
    ├── GatewayClientError                     gateway_client
    │   └── CommitError                        gateway_client
    ├── EventsError                            mqtt.errors
    │   ├── BridgeConfigError
    │   ├── CheckpointError
    │   ├── IngressError
    │   └── DeliverRefused                     mqtt.deliver
    ├── AnalyticsError                         analytics.errors
    │   ├── AnalyticsConfigError
    │   └── BrokenChain
    ├── ControlPlaneError                      controlplane.errors (AMB's, with HTTP status)
    │   ├── InvalidRequestException
    │   ├── IllegalActionException
    │   ├── TooManyTagsException
    │   ├── AccessDeniedException
    │   ├── ResourceNotFoundException
    │   ├── ResourceAlreadyExistsException
    │   ├── ResourceNotReadyException
    │   ├── ResourceLimitExceededException
    │   ├── ThrottlingException
    │   ├── InternalServiceErrorException
    │   ├── ClientError                        controlplane.client
    │   └── HistoryNotVerified                 controlplane.client
    ├── StoreError                             controlplane.errors
    ├── ConfigError (also a ValueError)        controlplane.server
    └── _Done                                  commands.events (never leaves it)
"""


class NetworkError(Exception):
    """Base of every error raised by ``network``."""


class SupervisorError(NetworkError):
    """Bringing a network up or down failed; the message names the node and why."""


class SnapshotError(NetworkError):
    """A snapshot cannot be made, found or restored (or an ordering cluster's streams
    re-seeded from one); the message says why."""
