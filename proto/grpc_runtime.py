"""How gRPC's core runs in consortium's node processes.

grpcio 1.85 moves bytes through its EventEngine by default. Its older iomgr transport —
the same HTTP/2, the same TLS, the same bytes on the wire — costs less CPU per operation
on this project's load: 8–15 % less per unary call and per stream round trip
(``tests/bench/bench_grpc_ops.py``), and a transaction is a fixed number of such
operations (docs/benchmarks.md, issue 19). gRPC chooses when it is imported, from the
``GRPC_EXPERIMENTS`` environment variable, so the supervisor hands the choice to every
node it starts; a value already in the environment (a user's own) wins.
"""

from __future__ import annotations

from collections.abc import Mapping

NODE_GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener"
"""Turn off the EventEngine client and listener: gRPC then uses iomgr's TCP endpoints."""


def node_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` for a node process: gRPC's transport choice unless it names one."""
    return {"GRPC_EXPERIMENTS": NODE_GRPC_EXPERIMENTS, **environment}
