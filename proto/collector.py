"""The cyclic garbage collector's settings for a long-running node (peer, orderer, contract).

Why: CPython runs a young collection every 700 net container allocations, and a full one
every hundred of those. A node allocates thousands of short-lived tuples, frames, futures
and protobuf wrappers per transaction, so young collections run several times per
transaction, and every full collection walks every live object: mostly modules, protobuf
descriptors, certificates and gRPC machinery loaded at start that never die. py-spy and
perf put the collector at 3–6 % of a peer's CPU under load (issue 19).

``settle_after_start`` is called once a node is serving: it collects what start-up left,
then ``gc.freeze()`` moves every surviving object into the permanent generation (full
collections no longer walk them), and a higher young threshold lets most short-lived
objects die by reference counting before any collection looks at them. Reference counting
still frees acyclic garbage at once; only reference cycles wait a little longer, bounded
by the threshold (tens of thousands of objects, a few megabytes at most).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net container allocations between young collections (CPython's default: 700)."""


def settle_after_start() -> None:
    """Freeze what start-up created and make young collections rarer (see module doc)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
