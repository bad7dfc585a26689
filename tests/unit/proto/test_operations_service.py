"""The operations service: Prometheus text, Fabric's logging spec, /healthz and /logspec."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from proto import logspec
from proto.metrics import MetricsError, Rate, Registry, parse_samples
from proto.operations import OperationsServer, listen_setting


def test_counters_gauges_and_histograms_render_as_prometheus_text() -> None:
    registry = Registry()
    sent = registry.counter("broadcast_processed_count", "Processed.", ("channel", "status"))
    sent.add("mychannel", "SUCCESS")
    sent.add("mychannel", "SUCCESS", amount=2)
    sent.add('we"ird\n', "BAD_REQUEST")
    registry.gauge("ledger_blockchain_height", "Height.", ("channel",), lambda: {("c",): 7.0})
    duration = registry.histogram("d", "Duration.", ())
    duration.observe(0.02)
    duration.observe(3.0)
    text = registry.render()
    assert "# TYPE broadcast_processed_count counter" in text
    samples = parse_samples(text)
    assert samples['broadcast_processed_count{channel="mychannel",status="SUCCESS"}'] == 3
    assert samples['broadcast_processed_count{channel="we\\"ird\\n",status="BAD_REQUEST"}'] == 1
    assert samples['ledger_blockchain_height{channel="c"}'] == 7
    assert samples['d_bucket{le="0.025"}'] == 1
    assert samples['d_bucket{le="+Inf"}'] == 2
    assert samples["d_count"] == 2
    assert samples["d_sum"] == pytest.approx(3.02)


def test_a_metric_refuses_the_wrong_labels_and_a_conflicting_declaration() -> None:
    registry = Registry()
    counter = registry.counter("c", "C.", ("channel",))
    with pytest.raises(MetricsError, match="takes 1 label value"):
        counter.add()
    assert registry.counter("c", "C.", ("channel",)) is counter
    with pytest.raises(MetricsError, match="declared differently"):
        registry.gauge("c", "C.")


@pytest.mark.parametrize(
    ("text", "default", "loggers"),
    [
        ("info", logging.INFO, ()),
        ("DEBUG", logging.DEBUG, ()),
        ("peers.gateway=debug:warning", logging.WARNING, (("peers.gateway", logging.DEBUG),)),
        (
            "a,b=error:info:c=debug",
            logging.INFO,
            (("a", logging.ERROR), ("b", logging.ERROR), ("c", logging.DEBUG)),
        ),
        ("fatal", logging.CRITICAL, ()),
    ],
)
def test_fabric_logging_specs_parse(text: str, default: int, loggers: tuple) -> None:
    spec = logspec.parse(text)
    assert (spec.default, spec.loggers) == (default, loggers)


@pytest.mark.parametrize("text", ["", "loud", "a=", "=debug", "a b=info"])
def test_bad_logging_specs_are_refused(text: str) -> None:
    with pytest.raises(logspec.LogSpecError):
        logspec.parse(text)


def test_a_new_spec_replaces_the_last_one() -> None:
    before = logspec.parse(logspec.current())
    try:
        logspec.apply(logspec.parse("x.y=debug:warning"))
        assert logging.getLogger("x.y.z").getEffectiveLevel() == logging.DEBUG
        logspec.apply(logspec.parse("error"))
        assert logging.getLogger("x.y.z").getEffectiveLevel() == logging.ERROR
    finally:
        logspec.apply(before)


@pytest.mark.parametrize(
    "raw", [{"listen": "nowhere"}, {"listen": 9443}, {"port": 1}, "127.0.0.1:1", {}]
)
def test_an_operations_section_names_what_is_wrong(raw: object) -> None:
    with pytest.raises(ValueError, match=r"operations|HOST:PORT"):
        listen_setting(raw)


async def _client(server: OperationsServer) -> TestClient:
    client = TestClient(TestServer(server.app()))
    await client.start_server()
    return client


async def test_healthz_answers_ok_or_503_with_the_failed_checks() -> None:
    server = OperationsServer("test", Registry())
    failing: list[str] = []
    server.add_check("ledger", lambda: failing[0] if failing else None)

    async def broken() -> str | None:
        raise RuntimeError("disk gone")

    client = await _client(server)
    try:
        answer = await client.get("/healthz")
        assert answer.status == 200
        assert (await answer.json())["status"] == "OK"
        failing.append("journal unreadable")
        server.add_check("store", broken)
        answer = await client.get("/healthz")
        assert answer.status == 503
        assert (await answer.json())["failed_checks"] == [
            {"component": "ledger", "reason": "journal unreadable"},
            {"component": "store", "reason": "RuntimeError: disk gone"},
        ]
    finally:
        await client.close()


async def test_logspec_is_read_and_changed_live_and_bad_input_is_400() -> None:
    before = logspec.parse(logspec.current())
    client = await _client(OperationsServer("test", Registry()))
    try:
        answer = await client.put("/logspec", json={"spec": "proto.x=debug:warning"})
        assert answer.status == 204
        assert await (await client.get("/logspec")).json() == {"spec": "proto.x=debug:warning"}
        assert logging.getLogger("proto.x").getEffectiveLevel() == logging.DEBUG
        for body in (b"{", b'{"level": "info"}', b'{"spec": "loud"}'):
            answer = await client.put("/logspec", data=body)
            assert answer.status == 400
            assert "spec" in (await answer.json())["error"]
        assert await (await client.get("/logspec")).json() == {"spec": "proto.x=debug:warning"}
    finally:
        await client.close()
        logspec.apply(before)


async def test_metrics_are_served_with_the_process_figures() -> None:
    registry = Registry()
    registry.counter("endorser_proposals_received", "Received.").add()
    client = await _client(OperationsServer("test", registry))
    try:
        answer = await client.get("/metrics")
        assert answer.status == 200
        samples = parse_samples(await answer.text())
        assert samples["endorser_proposals_received"] == 1
        assert samples["process_cpu_seconds_total"] > 0
        assert any(name.startswith("fabric_version{") for name in samples)
    finally:
        await client.close()


def test_a_node_rotates_its_log_and_its_printed_lines_follow(tmp_path) -> None:
    """As the supervisor runs a node: stdout and stderr appended to the log file, whose
    path and size limit are in the environment."""
    import os
    import subprocess
    import sys

    log = tmp_path / "peer.log"
    script = (
        "import logging\nfrom proto import logspec\nlogspec.configure()\n"
        "for n in range(60):\n    logging.getLogger('peers.x').info('line %03d %s', n, 'x' * 60)\n"
        "print('printed after rotation', flush=True)\n"
    )
    environment = {
        **os.environ,
        "CONSORTIUM_LOG_FILE": str(log),
        "CONSORTIUM_LOG_MAX_BYTES": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    with open(log, "ab") as output:
        subprocess.run(
            [sys.executable, "-c", script], stdout=output, stderr=subprocess.STDOUT,
            env=environment, check=True, cwd=Path(__file__).resolve().parents[3],
        )  # fmt: skip
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["peer.log", "peer.log.1", "peer.log.2", "peer.log.3"]
    assert all(p.stat().st_size <= 1100 for p in tmp_path.iterdir())
    current = log.read_text()
    assert "line 059" in current and current.rstrip().endswith("printed after rotation")


def test_a_rate_is_the_mean_of_the_last_full_seconds() -> None:
    now = [100.0]
    rate = Rate(window=10, clock=lambda: now[0])
    for second in range(100, 110):
        now[0] = second + 0.5
        rate.add(amount=3)
    now[0] = 110.2
    rate.add(amount=50)  # the second still filling is not counted yet
    assert rate.per_second() == 3.0
    now[0] = 125.0  # a quiet quarter minute later
    assert rate.per_second() == 0.0
    assert len(rate._slots) <= 2 * rate.window


def test_a_rate_is_scraped_as_a_gauge() -> None:
    registry = Registry()
    rate = registry.rate("things_per_second", "Things per second (ours).")
    rate.add()
    samples = parse_samples(registry.render())
    assert "things_per_second" in samples
    assert "# TYPE things_per_second gauge" in registry.render()
