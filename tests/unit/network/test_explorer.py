"""The explorer's parts without a network: blocks decoded as the pages show them, the
ledger's index and subscribers, a flow drawn from trace records, the config, the spec's
``explorer`` key, and the web app's answers (404 pages, server-sent events)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fabric_protos.common import common_pb2

from chaincode.rwset import TxRWSet
from chaincode.state import Version
from network.explorer.blocks import block_view
from network.explorer.config import ExplorerConfigError, LiveConfig, load_config
from network.explorer.flow import Flow, build_flow, conflict_lines
from network.explorer.ledger import Ledger, Place
from network.explorer.sequence import sequence_svg
from network.explorer.server import app
from network.spec import SpecError, load_spec
from proto.tracing import Step, trace_record
from tests.support.channel import ChannelFixture

ROOT = Path(__file__).resolve().parents[3]
CHANNEL = "mychannel"


@pytest.fixture
def channel(tmp_path_factory: pytest.TempPathFactory) -> ChannelFixture:
    """A channel whose next block is 1 (its genesis block is 0)."""
    return ChannelFixture(tmp_path_factory.mktemp("explorer"))


def _write(key: str, read: Version | None = None, value: bytes = b"v") -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").reads[key] = read
    rwset.namespace("basic").writes[key] = value
    return rwset


def _with_codes(block: common_pb2.Block, *codes: int) -> common_pb2.Block:
    while len(block.metadata.metadata) <= common_pb2.TRANSACTIONS_FILTER:
        block.metadata.metadata.append(b"")
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(codes)
    return block


def _config(tmp_path: Path, **changes) -> Path:
    raw = {
        "network": "net",
        "listen": "127.0.0.1:0",
        "control_plane": {"url": "http://127.0.0.1:9", "network_id": "n-X", "account": "1" * 12},
        "members": {"org1": {"mspid": "Org1MSP", "connection": str(tmp_path / "org1.json")}},
        "channels": {CHANNEL: ["org1"]},
        "nodes": [
            {"name": "peer-org1-peer0", "kind": "peer", "member": "org1", "address": "1.1.1.1:1"},
            {"name": "peer-org2-peer0", "kind": "peer", "member": "org2", "address": "2.2.2.2:2"},
            {"name": "orderer-orderer0", "kind": "orderer", "member": "", "address": "3.3.3.3:3"},
        ],
        **changes,
    }
    path = tmp_path / "explorer.json"
    path.write_text(json.dumps(raw))
    return path


# -- blocks ----------------------------------------------------------------------------


def test_a_block_shows_its_hashes_signer_and_each_transaction(channel: ChannelFixture) -> None:
    first = _with_codes(channel.block([channel.transaction(_write("a1"))]), 0)
    second = _with_codes(
        channel.block(
            [channel.transaction(_write("a1", Version(1, 0))), channel.transaction(_write("a1"))]
        ),
        0,
        11,
    )
    one, two = block_view(CHANNEL, first), block_view(CHANNEL, second)
    assert two.previous_hash == one.header_hash  # the chain, as the page shows it
    assert one.data_hash_matches and one.signer is not None
    assert one.signer.mspid == "OrdererMSP" and one.signature
    assert [tx.code for tx in two.txs] == ["VALID", "MVCC_READ_CONFLICT"]
    tx = two.txs[0]
    assert tx.kind == "ENDORSER_TRANSACTION" and tx.chaincode == "basic"
    assert tx.function == "invoke" and tx.creator is not None and tx.creator.mspid == "Org1MSP"
    assert [e.mspid for e in tx.endorsers] == ["Org1MSP", "Org2MSP"]
    assert tx.reads == {"basic/a1": (1, 0)} and tx.writes == {"basic/a1": "v"}


def test_the_ledger_indexes_txids_finds_the_last_writer_and_tells_subscribers(
    channel: ChannelFixture, tmp_path: Path
) -> None:
    ledger = Ledger(load_config(_config(tmp_path)))
    blocks = [
        channel.genesis,
        _with_codes(channel.block([channel.transaction(_write("k"))]), 0),
        _with_codes(channel.block([channel.transaction(_write("k", Version(1, 0)))]), 0),
    ]
    with ledger.subscription() as queue:
        for block in blocks:
            ledger.add(CHANNEL, block)
        ledger.add(CHANNEL, blocks[1])  # delivered again after a reconnect: kept once
        assert [queue.get_nowait()[1]["number"] for _ in range(3)] == [0, 1, 2]
        assert queue.empty()
    assert ledger.height(CHANNEL) == 3
    view, tx = ledger.find(ledger.block(CHANNEL, 2).txs[0].txid)
    assert (view.number, tx.index) == (2, 0)
    writer = ledger.last_writer(CHANNEL, "basic/k", Place(CHANNEL, 2, 0))
    assert writer is not None and writer[0] == 1
    assert ledger.find("unknown") is None and ledger.block(CHANNEL, 3) is None


# -- the flow --------------------------------------------------------------------------


def _records() -> list:
    gateway, other = "Org1MSP@1.1.1.1:1", "Org2MSP@2.2.2.2:2"
    endorse = {
        "chaincode": "basic",
        "function": "Transfer",
        "endorsed": True,
        "status": 200,
        "reads": {"basic/a1": [3, 0]},
        "writes": {"basic/a1": 10},
    }
    return [
        trace_record(Step.COMMIT, "t", CHANNEL, other, applied=False, block=5, height=6),
        trace_record(Step.PROPOSE, "t", CHANNEL, gateway),
        trace_record(Step.ENDORSE, "t", CHANNEL, gateway, **endorse),
        trace_record(Step.PLAN, "t", CHANNEL, gateway, organizations=["Org1MSP", "Org2MSP"]),
        trace_record(Step.ENDORSE, "t", CHANNEL, other, **endorse),
        trace_record(Step.ENDORSE, "t", CHANNEL, gateway, endorsers=["Org1MSP"]),
        trace_record(Step.SUBMIT, "t", CHANNEL, gateway, orderer="3.3.3.3:3", status="SUCCESS"),
        trace_record(Step.ORDER, "t", CHANNEL, other, block=5, index=0),
        trace_record(
            Step.VALIDATE,
            "t",
            CHANNEL,
            other,
            block=5,
            code="ENDORSEMENT_POLICY_FAILURE",
            reason="needs Org2MSP",
        ),
    ]


def test_a_flow_runs_client_gateway_endorsers_orderer_committers(tmp_path: Path) -> None:
    names = {n.address: n.name for n in load_config(_config(tmp_path)).nodes}
    policy = "AND('Org1MSP.peer', 'Org2MSP.peer')"
    flow = build_flow(_records(), names, None, None, policy)
    assert flow.participants == ["client", "peer-org1-peer0", "peer-org2-peer0", "orderer-orderer0"]
    steps = [(m.step, m.source, m.target) for m in flow.messages]
    assert steps[:4] == [
        ("PROPOSE", "client", "peer-org1-peer0"),
        ("PLAN", "peer-org1-peer0", "peer-org1-peer0"),
        ("ENDORSE", "peer-org1-peer0", "peer-org1-peer0"),  # the gateway endorses itself
        ("ENDORSE", "peer-org1-peer0", "peer-org2-peer0"),  # a request …
    ]
    assert steps[4] == ("ENDORSE", "peer-org2-peer0", "peer-org1-peer0")  # … and its answer
    assert "read basic/a1 at version (3, 0)" in flow.messages[4].details
    summary = flow.messages[5]
    assert "signed by Org1MSP; no endorsement from Org2MSP" in summary.details
    assert [m.step for m in flow.messages[6:]] == ["SUBMIT", "ORDER", "VALIDATE", "COMMIT"]
    assert flow.messages[8].failed and "policy" in flow.messages[8].details[0]

    svg = sequence_svg(flow, "The flow of t")
    assert svg.count('<g class="message') == len(flow.messages)
    assert '<title id="seq-title">The flow of t</title>' in svg and "failed at" in svg


def test_the_policy_verdict_follows_the_validation_code(tmp_path: Path) -> None:
    """OutOf(2, …) signed by two of three is satisfied (the third was not needed); a
    policy failure names the signatures that were missing."""
    from network.explorer.blocks import Identity, TxView

    names = {n.address: n.name for n in load_config(_config(tmp_path)).nodes}
    two_of_three = "OutOf(2, 'Org1MSP.peer', 'Org2MSP.peer', 'Org3MSP.peer')"
    endorsers = [Identity("Org1MSP", "peer0"), Identity("Org2MSP", "peer0")]

    def verdict(code: str, policy: str) -> str:
        tx = TxView(0, "t", "ENDORSER_TRANSACTION", code, endorsers=endorsers)
        summary = next(m for m in build_flow(_records(), names, tx, None, policy).messages
                       if m.label == "endorsements collected")  # fmt: skip
        return summary.details[-1]

    assert verdict("VALID", two_of_three) == (
        "signatures from Org1MSP, Org2MSP satisfy it (Org3MSP: not needed)"
    )
    assert verdict("ENDORSEMENT_POLICY_FAILURE", "AND('Org1MSP.peer', 'Org3MSP.peer')") == (
        "not satisfied: signatures from Org1MSP; missing: Org3MSP"
    )


def test_sequence_text_is_escaped() -> None:
    flow = Flow()
    from network.explorer.flow import Message

    flow.add(Message("PROPOSE", "client", "<peer>", "propose <script>"))
    svg = sequence_svg(flow, "t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_conflict_lines_name_the_transaction_that_wrote_the_key(channel: ChannelFixture) -> None:
    view = block_view(CHANNEL, _with_codes(channel.block([channel.transaction(_write("z"))]), 0))
    lines = conflict_lines({"basic/z": (1, 0)}, {"basic/z": (view.number, view.txs[0])})
    assert view.txs[0].txid in lines[0] and "(1, 0)" in lines[0]


# -- config and spec -------------------------------------------------------------------


def test_config_errors_name_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(ExplorerConfigError, match=r"explorer\.json: listen is required"):
        path = _config(tmp_path)
        raw = json.loads(path.read_text())
        del raw["listen"]
        path.write_text(json.dumps(raw))
        load_config(path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ExplorerConfigError, match="not JSON"):
        load_config(tmp_path / "bad.json")
    with pytest.raises(ExplorerConfigError, match=r"missing\.json"):
        load_config(tmp_path / "missing.json")


def test_live_config_follows_the_file_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = _config(tmp_path)
    live = LiveConfig(load_config(path))
    _config(tmp_path, network="renamed")
    assert live.current().network == "renamed"
    path.write_text("{half")
    assert live.current().network == "renamed"


def _spec(tmp_path: Path, explorer: str) -> Path:
    text = (ROOT / "deploy" / "two-members.yaml").read_text()
    text = text.split("\nexplorer:")[0] + explorer
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


def test_the_spec_turns_the_explorer_off_or_fixes_its_port(tmp_path: Path) -> None:
    assert load_spec(_spec(tmp_path, "\nexplorer: off\n")).explorer.enabled is False
    spec = load_spec(_spec(tmp_path, "\nexplorer: {port: 7081}\n"))
    assert spec.explorer.port == 7081 and ("explorer", "127.0.0.1", 7081) in [
        p[:3] for p in spec.ports()
    ]
    assert load_spec(_spec(tmp_path, "")).explorer.enabled  # on by default
    with pytest.raises(SpecError, match=r"explorer\.colour: unknown key"):
        load_spec(_spec(tmp_path, "\nexplorer: {colour: red}\n"))
    with pytest.raises(SpecError, match="also used by"):
        load_spec(_spec(tmp_path, "\nexplorer: {port: 7051}\n"))


# -- the web app -----------------------------------------------------------------------


async def test_unknown_things_are_404_pages_naming_them_and_events_stream_blocks(
    channel: ChannelFixture, tmp_path: Path
) -> None:
    config = load_config(_config(tmp_path))
    ledger = Ledger(config)
    async with TestClient(TestServer(app(ledger))) as client:
        for path, named in (
            ("/tx/<b>nope</b>", "&lt;b&gt;nope&lt;/b&gt;"),
            ("/channels/mychannel/blocks/7", "no block 7 on channel mychannel"),
            ("/channels/other/blocks", "no channel &#x27;other&#x27;"),
            ("/channels/mychannel/blocks/x/proof", "no block x"),
            ("/somewhere", "no page at /somewhere"),
        ):
            answer = await client.get(path)
            assert answer.status == 404, path
            assert named in await answer.text(), path
        events = await client.get("/events")
        await asyncio.sleep(0.05)  # subscribed
        ledger.add(CHANNEL, channel.genesis)
        line = b""
        while not line.startswith(b"data:"):
            line = await asyncio.wait_for(events.content.readline(), 5)
        assert json.loads(line[5:])["channel"] == CHANNEL
        events.close()
        assert (await client.get("/channels/mychannel/blocks")).status == 200


# -- the same story in the terminal, nothing cut -----------------------------------------


def test_tx_explain_tells_the_pages_story_one_fact_a_line(capsys) -> None:
    from network.commands.tx import show_story

    show_story("t", _records(), {"1.1.1.1:1": "peer-org1-peer0", "3.3.3.3:3": "orderer-orderer0"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "transaction t"
    assert lines[1].strip().startswith("1. PROPOSE  client → peer-org1-peer0")
    assert any("read basic/a1 at version (3, 0)" in line for line in lines)
    assert any("validate: ENDORSEMENT_POLICY_FAILURE  ✗" in line for line in lines)
    assert not any("{" in line for line in lines)  # no raw JSON


def test_a_long_identifier_stands_whole_on_its_own_line(monkeypatch, capsys) -> None:
    from network import output

    package = "basic_1.0:" + "f3e7b64c" * 8
    monkeypatch.setattr(output, "_terminal_columns", lambda: 80)
    output.emit_record({"package_id": package, "file": "basic_1.0.tar.gz"}, "table")
    printed = capsys.readouterr().out
    assert package in printed.splitlines() and "…" not in printed


def test_up_plans_an_explorer_turned_off_or_moved(tmp_path: Path) -> None:
    from network.supervisor.plan import plan_changes

    on = load_spec(_spec(tmp_path, "\nexplorer: {port: 7081}\n"))
    off = load_spec(_spec(tmp_path, "\nexplorer: off\n"))
    moved = load_spec(_spec(tmp_path, "\nexplorer: {port: 7082}\n"))
    assert plan_changes(on, off).changes == ["explorer stops (explorer: off)"]
    assert plan_changes(on, moved).changes == ["explorer moves to 127.0.0.1:7082"]
    assert plan_changes(on, on).changes == [] and not plan_changes(on, moved).refusals
