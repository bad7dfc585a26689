"""The secured broker learning a vote: what one reload costs, and what it does to the
clients already signed in.

A real Mosquitto with ``up``'s secured config (TLS, one login per member, the ACL of
``network.mqtt.access``), ``--members`` members signed in and held open, and a steady
flow of QoS 1 messages from the bridge's user to one member. Each round writes the
files for one member more (a vote in) or one fewer (a vote out), sends SIGHUP as the
supervisor does, and measures:

- **reload → login**: from SIGHUP until the new member's first login is accepted
  (login attempts every 20 ms, each a TLS handshake);
- **reload → drop**: from SIGHUP until the voted-out member's open session ends;
- **broker CPU** per round: Mosquitto's utime + stime (from /proc, 10 ms ticks, so
  over all rounds together) above its rate with the same flow and no reload, divided
  by the rounds — the reload, the new member's handshakes and the ACL check of each
  held client;
- **the flow**: the longest gap between messages arriving at the watching member during
  the rounds, against before them; and every other client's disconnects (must be 0).

PYTHONPATH=. python tests/bench/bench_broker_reload.py [--members 50] [--rounds 10]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

from network.mqtt import topics
from network.mqtt.access import BRIDGE_USER, BrokerFiles, Login, acl, password_line
from tests.support.mosquitto import HOST, LiveLogin, LoginRefused, Mosquitto
from tests.support.pki import make_org, write_tls

NETWORK = "bench"
CHANNEL = "mychannel"
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _write(files: BrokerFiles, passwords: dict[str, str]) -> None:
    files.passwords.write_text("".join(password_line(u, p) for u, p in passwords.items()))
    members = {u: [CHANNEL] for u in passwords if u != BRIDGE_USER}
    files.acl.write_text(acl(NETWORK, members, ingress_member=None))


def _first_login(port: int, login: Login, timeout: float = 30.0) -> LiveLogin:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return LiveLogin(HOST, port, login)
        except LoginRefused:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _flow(port: int, login: Login, stop: threading.Event) -> None:
    """The bridge publishing a block message every 10 ms (QoS 1, PUBACK awaited)."""
    with LiveLogin(HOST, port, login) as bridge:
        while not stop.is_set():
            bridge.publish(topics.blocks(NETWORK, CHANNEL), b"{}")
            time.sleep(0.01)


def _max_gap(times: list[float], start: float, end: float) -> float:
    inside = [t for t in times if start <= t <= end]
    return max((b - a for a, b in itertools.pairwise(inside)), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tls = write_tls(make_org("OrdererMSP"), root / "tls", "mqtt", (HOST,))
        files = BrokerFiles(tls["cert"], tls["key"], tls["ca"], root / "passwd", root / "acl")
        passwords = {BRIDGE_USER: "bridge-pass"} | {
            f"org{n}": f"pass-{n}" for n in range(args.members)
        }
        _write(files, passwords)
        broker = Mosquitto(root / "broker", secured=files).start()
        assert broker.process is not None
        pid = broker.process.pid

        def login(user: str) -> Login:
            return Login(user, passwords[user], str(tls["ca"]))

        held = {u: LiveLogin(HOST, broker.port, login(u)) for u in passwords if u != BRIDGE_USER}
        watcher = held["org0"]
        watcher.subscribe(topics.blocks(NETWORK, CHANNEL))
        stop = threading.Event()
        flow = threading.Thread(target=_flow, args=(broker.port, login(BRIDGE_USER), stop))
        flow.start()
        time.sleep(2.0)
        quiet_start = time.monotonic()
        cpu = _cpu_seconds(pid)
        time.sleep(5.0)
        quiet = (_cpu_seconds(pid) - cpu) / (time.monotonic() - quiet_start)
        quiet_end = time.monotonic()
        to_login, to_drop = [], []
        rounds_start, rounds_cpu = time.monotonic(), _cpu_seconds(pid)
        for n in range(args.rounds):
            if n % 2 == 0:  # a member voted in
                user = f"new{n}"
                passwords[user] = f"pass-new-{n}"
                _write(files, passwords)
                started = time.monotonic()
                broker.reload()
                held[user] = _first_login(broker.port, login(user))
                to_login.append(time.monotonic() - started)
            else:  # the one just voted in is voted out again
                user = f"new{n - 1}"
                del passwords[user]
                _write(files, passwords)
                started = time.monotonic()
                broker.reload()
                held[user].wait_until(lambda c: bool(c.disconnects), 30)
                to_drop.append(time.monotonic() - started)
                held.pop(user).close()
            time.sleep(0.5)
        rounds_end = time.monotonic()
        spent = _cpu_seconds(pid) - rounds_cpu - quiet * (rounds_end - rounds_start)
        stop.set()
        flow.join()
        dropped = {u: c.disconnects for u, c in held.items() if c.disconnects}
        gap_quiet = _max_gap(watcher.arrived, quiet_start, quiet_end)
        gap_rounds = _max_gap(watcher.arrived, rounds_start, rounds_end)
        for client in held.values():
            client.close()
        broker.stop()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, load {os.getloadavg()}")
    print(f"{args.members} members signed in and held, {args.rounds} reloads")
    print(
        f"reload -> new login accepted: p50 {statistics.median(to_login) * 1000:.0f} ms, "
        f"max {max(to_login) * 1000:.0f} ms"
    )
    print(
        f"reload -> voted-out session ended: p50 {statistics.median(to_drop) * 1000:.0f} ms, "
        f"max {max(to_drop) * 1000:.0f} ms"
    )
    print(
        f"broker CPU per round above its quiet rate ({quiet * 1000:.1f} ms/s with the flow): "
        f"{spent / args.rounds * 1000:.1f} ms"
    )
    print(
        f"longest gap in the flow: {gap_quiet * 1000:.0f} ms before, "
        f"{gap_rounds * 1000:.0f} ms during the reloads"
    )
    print(f"clients dropped that should not have been: {dropped or 'none'}")


if __name__ == "__main__":
    main()
