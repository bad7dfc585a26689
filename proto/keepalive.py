"""gRPC keepalive between our nodes and clients: how a silent peer is noticed.

A process that dies closes its sockets and its clients learn at once; a host cut off
the network (a link down, a partition) closes nothing, and a stream to it — a peer's
Deliver from an orderer, the gateway's Broadcast — would wait for ever, with the node
behind it never failing over. So clients ping every ``KEEPALIVE_SECONDS`` on an open
call and give up on a connection whose ping is not answered within
``KEEPALIVE_TIMEOUT_SECONDS``, and servers accept pings that often (gRPC's default
server answers a client pinging faster than every five minutes with GOAWAY). Fabric's
own defaults (a minute, twenty seconds) suit a WAN; ours make failover a matter of
seconds, for a handful of pings per second in a whole network.
"""

from __future__ import annotations

KEEPALIVE_SECONDS = 2.0
KEEPALIVE_TIMEOUT_SECONDS = 2.0

CLIENT_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", int(KEEPALIVE_SECONDS * 1000)),
    ("grpc.keepalive_timeout_ms", int(KEEPALIVE_TIMEOUT_SECONDS * 1000)),
    ("grpc.http2.max_pings_without_data", 0),  # an idle Deliver stream sends no data
]

SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", int(KEEPALIVE_SECONDS * 500)),
    ("grpc.http2.max_ping_strikes", 0),  # never GOAWAY a client for pinging
]
