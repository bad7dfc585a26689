"""Ordering across three hosts: what cutting off the cutting orderer's host costs.

The network of ``tests/support/multihost.py`` (three network namespaces of this
machine, each with a NATS server, an orderer and a peer; needs root), started by
`consortium up`, under continuous load from both members through their gateways. Each
round cuts off the host whose orderer holds the cutting lease, waits until the rest of
the network commits again, heals the link, and waits until the cut host's orderer and
peer hold every block again; each round on a fresh network (`up`, one cut, `down`), so
no round inherits a NATS replica left behind by the last. Prints, per cut: the longest
time without a VALID commit around the cut; after the heal, the time until both members
commit again and until every node has caught up; over all rounds, p50 and max, and the
number of failed client submissions (those that tried the cut host's peer count too).

    PYTHONPATH=. python tests/bench/bench_partition.py [--cuts 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.invariants import read_ledger
from tests.support.multihost import CHANNEL, NAME, Load, cutter_host, nodes, write_spec
from tests.support.netns import Hosts, why_not_available
from tests.support.processes import consortium

WAIT = 120.0  # every wait is bounded; a round that exceeds it ends the bench run


def _until(condition, what: str) -> float | None:
    """Seconds until ``condition()`` holds, or None after ``WAIT`` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > WAIT:
            print(f"  gave up waiting {WAIT:g}s for {what}")
            return None
        time.sleep(0.05)
    return time.monotonic() - start


def _longest_gap(times: list[float], since: float) -> float:
    """The longest stretch without a commit from the last commit before ``since`` to
    the fifth one after it."""
    before = [t for t in times if t < since][-1:]
    after = [t for t in times if t >= since][:5]
    window = before + after
    return max(b - a for a, b in itertools.pairwise(window))


def _caught_up(home: Path, load: Load) -> bool:
    needed = max(block for _, block in list(load.valid)) + 1
    return all(read_ledger(home, node, CHANNEL).height >= needed for node in nodes())


def _cut(cwd: Path, home: Path, hosts: Hosts, load: Load) -> tuple[float | None, ...]:
    """One cut of the cutter's host and its heal: (gap, both members again, caught up)."""
    victim = cutter_host(cwd)
    cut_at = time.monotonic()
    hosts.cut(victim)
    seen = len(load.times)
    if _until(lambda: len(load.times) >= seen + 5, "commits with a host cut off") is None:
        hosts.heal(victim)
        return None, None, None
    gap = _longest_gap(list(load.times), cut_at)
    time.sleep(3)
    hosts.heal(victim)
    counts = dict(load.by_member)
    both = _until(
        lambda: all(load.by_member[m] > counts[m] for m in counts), "both members after heal"
    )
    caught = _until(lambda: _caught_up(home, load), "every node caught up")
    return gap, both, caught


def _round(hosts: Hosts, failures: list[str]) -> tuple[float | None, ...]:
    """A fresh network (new NATS stores: no stale replica left from an earlier cut), one
    cut under load, then down."""
    with tempfile.TemporaryDirectory(prefix="orderha-bench-") as folder:
        cwd = Path(folder)
        home = cwd / ".consortium" / NAME
        load = Load(home)
        try:
            started = time.monotonic()
            consortium(cwd, "up", str(write_spec(cwd, hosts)), "--no-reconcile", "-o", "json")
            print(f"  up on three hosts: {time.monotonic() - started:.1f} s")
            load.start()
            load.wait_progress(5, WAIT)
            return _cut(cwd, home, hosts, load)
        finally:
            load.stop()
            failures.extend(load.failures)
            consortium(cwd, "down", "--purge", check=False)


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _figures(name: str, values: list[float | None]) -> str:
    done = [v for v in values if v is not None]
    missed = len(values) - len(done)
    summary = f"p50 {statistics.median(done):.2f} s, max {max(done):.2f} s" if done else "none"
    return f"{name}: {summary}" + (
        f" ({missed} of {len(values)} not within {WAIT:g}s)" if missed else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=5)
    args = parser.parse_args()
    reason = why_not_available()
    if reason is not None:  # `make bench` runs every bench: say why, do not fail
        print(f"skipped: no network namespaces here: {reason}")
        return
    hosts = Hosts()
    rounds, failures = [], []
    try:
        hosts.create()
        for number in range(args.cuts):
            print(f"cut {number + 1}:")
            gap, both, caught = _round(hosts, failures)
            rounds.append((gap, both, caught))
            print(f"  longest gap without a commit {_s(gap)}; after the heal both members "
                  f"commit in {_s(both)}, every node caught up in {_s(caught)}")  # fmt: skip
    finally:
        hosts.destroy()
    for index, name in enumerate(("gap", "both members again", "caught up")):
        print(_figures(name, [r[index] for r in rounds]))
    print(f"failed client submissions (all rounds): {len(failures)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
