"""Ordering across three hosts: what cutting off the cutting orderer's host costs.

The network of ``tests/support/multihost.py`` (three network namespaces of this
machine, each with a NATS server, an orderer and a peer; needs root), started by
`consortium up`, under continuous load from both members through their gateways. Each
round cuts off the host whose orderer holds the cutting lease, waits until the rest of
the network commits again, heals the link, and waits until the cut host's orderer and
peer hold every block again. Prints, per cut: the longest time without a VALID commit
around the cut; after the heal, the time until both members commit again and until
every node has caught up; and, over all rounds, p50 and max and the number of failed
client submissions (those that tried the cut host's peer count too).

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


def _until(condition, what: str) -> float:
    """Seconds until ``condition()`` holds (at most ``WAIT``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > WAIT:
            raise SystemExit(f"gave up waiting {WAIT:g}s for {what}")
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


def _round(cwd: Path, home: Path, hosts: Hosts, load: Load) -> tuple[float, float, float]:
    victim = cutter_host(cwd)
    cut_at = time.monotonic()
    hosts.cut(victim)
    seen = len(load.times)
    _until(lambda: len(load.times) >= seen + 5, "commits with a host cut off")
    gap = _longest_gap(list(load.times), cut_at)
    time.sleep(3)
    hosts.heal(victim)
    counts = dict(load.by_member)
    both = _until(
        lambda: all(load.by_member[m] > counts[m] for m in counts), "both members after heal"
    )
    caught = _until(lambda: _caught_up(home, load), "every node caught up")
    time.sleep(3)
    return gap, both, caught


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=5)
    args = parser.parse_args()
    reason = why_not_available()
    if reason is not None:  # `make bench` runs every bench: say why, do not fail
        print(f"skipped: no network namespaces here: {reason}")
        return
    hosts = Hosts()
    with tempfile.TemporaryDirectory(prefix="orderha-bench-") as folder:
        cwd = Path(folder)
        home = cwd / ".consortium" / NAME
        load = Load(home)
        try:
            hosts.create()
            spec = write_spec(cwd, hosts)
            started = time.monotonic()
            consortium(cwd, "up", str(spec), "--no-reconcile", "-o", "json")
            print(f"up on three hosts: {time.monotonic() - started:.1f} s")
            load.start()
            load.wait_progress(5, WAIT)
            rounds = []
            for number in range(args.cuts):
                gap, both, caught = _round(cwd, home, hosts, load)
                rounds.append((gap, both, caught))
                print(f"cut {number + 1}: longest gap without a commit {gap:.2f} s; after the "
                      f"heal both members commit in {both:.2f} s, all nodes caught up in "
                      f"{caught:.2f} s")  # fmt: skip
            load.stop()
        finally:
            load.stop()
            consortium(cwd, "down", check=False)
            hosts.destroy()
    for index, name in enumerate(("gap", "both members again", "caught up")):
        values = [r[index] for r in rounds]
        print(f"{name}: p50 {statistics.median(values):.2f} s, max {max(values):.2f} s")
    print(f"VALID commits {len(load.valid)}, failed submissions {len(load.failures)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
