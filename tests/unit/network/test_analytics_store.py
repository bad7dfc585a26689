"""The analytics database written from committed blocks: documents, deletes, invalid
transactions, the checkpoint, and a block that does not chain (issue 22)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from chaincode.rwset import TxRWSet
from network.analytics.errors import BrokenChain
from network.analytics.rows import block_rows, collection_table, table_name
from network.analytics.store import ChannelDatabase
from network.analytics.verify import fabric_steps, latest_revision, ledger_steps, orderer_step
from peers.committer import commit_block
from peers.ledger import Ledger
from proto.blocksign import sign_block
from tests.support.channel import ChannelFixture, define


def _rwset(namespace: str, **writes: bytes | None) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace(namespace).writes.update(writes)
    return rwset


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[tuple[ChannelFixture, Ledger]]:
    channel = ChannelFixture(tmp_path / "channel")
    ledger = Ledger(tmp_path / "peer")
    genesis = commit_block(ledger, channel.genesis).block
    define(ledger.state)
    yield channel, ledger, genesis
    ledger.close()


@pytest.fixture
def database(tmp_path: Path, committed) -> Iterator[ChannelDatabase]:
    """The database with the genesis block (a config block: a transaction, no keys)."""
    database = ChannelDatabase(tmp_path / "analytics" / "mychannel")
    _write(database, committed[2])
    yield database
    database.close()


def _write(database: ChannelDatabase, block: common_pb2.Block) -> None:
    database.write(block_rows(block), list(block.data.data))


def _query(database: ChannelDatabase, statement: str, *params: object) -> list:
    return database.db.execute(statement, *params).values


def test_a_block_becomes_documents_transactions_and_a_checkpoint(committed, database) -> None:
    channel, ledger, _ = committed
    blocks = [
        commit_block(
            ledger,
            channel.block(
                [
                    channel.transaction(
                        _rwset("basic", a1=b'{"color": "blue", "size": 5}', raw=b"\x00\xff")
                    ),
                    channel.transaction(
                        _rwset("basic", a2=b'{"color": "red"}'), endorsers=("Org1MSP",)
                    ),
                ]
            ),
        ).block,
        commit_block(
            ledger,
            channel.block(
                [channel.transaction(_rwset("basic", a1=b'{"color": "green"}', raw=None))]
            ),
        ).block,
    ]
    for block in blocks:
        _write(database, block)
    (a1,) = _query(database, "SELECT * FROM basic WHERE fabric.key = 'a1'")
    assert a1["color"] == "green" and "size" not in a1
    assert a1["fabric"]["block"] == blocks[1].header.number
    assert _query(database, "SELECT * FROM basic WHERE fabric.key = 'raw'") == []  # deleted
    assert _query(database, "SELECT * FROM basic WHERE fabric.key = 'a2'") == []  # invalid tx
    history = _query(
        database,
        "SELECT h.data.color, h.data.length FROM history(basic) AS h "
        "WHERE h.data.fabric.key = 'a1' OR h.data.fabric.key = 'raw'",
    )
    assert sorted(str(row.get("color", row.get("length"))) for row in history) == [
        "2",
        "blue",
        "green",
    ]
    codes = _query(
        database,
        "SELECT VALUE t.validation_code FROM transactions AS t WHERE t.block = ?",
        blocks[0].header.number,
    )
    assert sorted(codes) == ["ENDORSEMENT_POLICY_FAILURE", "VALID"]
    checkpoint = database.checkpoint()
    assert checkpoint is not None and checkpoint.block == blocks[1].header.number


def test_a_value_that_is_not_json_is_a_blob_with_length_and_sha256(committed, database) -> None:
    channel, ledger, _ = committed
    value = b"\x00not json\xff"
    block = commit_block(
        ledger, channel.block([channel.transaction(_rwset("basic", blob=value))])
    ).block
    _write(database, block)
    (doc,) = _query(database, "SELECT * FROM basic")
    assert doc["length"] == len(value)
    assert doc["sha256"] == hashlib.sha256(value).hexdigest()
    assert bytes(doc["blob"]) == value


def test_a_block_written_again_is_skipped(committed, database) -> None:
    channel, ledger, _ = committed
    block = commit_block(
        ledger, channel.block([channel.transaction(_rwset("basic", k=b"1"))])
    ).block
    _write(database, block)
    _write(database, block)
    assert len(_query(database, "SELECT * FROM transactions")) == 2  # genesis and this
    assert len(_query(database, "SELECT * FROM history(basic)")) == 1


def test_a_block_that_does_not_chain_is_refused_and_writes_nothing(committed, database) -> None:
    channel, ledger, _ = committed
    first = commit_block(ledger, channel.block([channel.transaction(_rwset("basic", k=b"1"))]))
    second = commit_block(ledger, channel.block([channel.transaction(_rwset("basic", k=b"2"))]))
    _write(database, first.block)
    forged = common_pb2.Block()
    forged.CopyFrom(second.block)
    forged.header.previous_hash = b"\x01" * 32
    with pytest.raises(BrokenChain, match=f"block {forged.header.number}: previous_hash"):
        _write(database, forged)
    assert database.checkpoint().block == first.block.header.number
    assert len(_query(database, "SELECT * FROM transactions")) == 2


def test_a_keyword_chaincode_and_a_key_partiql_must_quote_are_queryable(
    committed, database
) -> None:
    channel, ledger, _ = committed
    define(ledger.state, "select")
    key = 'it\'s a "key"\n-- not a comment'
    envelopes = [
        channel.transaction(_rwset("select", **{key: b'{"n": 1}'}), chaincode="select"),
    ]
    block = commit_block(ledger, channel.block(envelopes)).block
    _write(database, block)
    (doc,) = _query(database, 'SELECT * FROM "select" AS s WHERE s.fabric.key = ?', key)
    assert doc["n"] == 1
    block = commit_block(
        ledger,
        channel.block(
            [channel.transaction(_rwset("select", **{key: b'{"m": 2}'}), chaincode="select")]
        ),
    ).block
    _write(database, block)
    (doc,) = _query(database, 'SELECT * FROM "select"')
    assert doc["m"] == 2 and "n" not in doc  # replaced: the field it lost is gone


def test_a_chaincode_named_like_an_analytics_table_gets_its_own_name() -> None:
    assert table_name("blocks") == "blocks_chaincode"
    assert table_name("transactions") == "transactions_chaincode"
    assert table_name("basic") == "basic"


def test_verify_names_the_step_that_does_not_match(committed, database) -> None:
    channel, ledger, genesis = committed
    blocks = [
        commit_block(ledger, channel.block([channel.transaction(_rwset("basic", k=v))])).block
        for v in (b'{"n": 1}', b'{"n": 2}')
    ]
    for block in blocks:
        _write(database, block)
    revision = latest_revision(database.db, "basic", "k")
    assert revision is not None and revision.block == blocks[1].header.number
    assert [s.ok for s in ledger_steps(database.db, revision)] == [True]
    good = fabric_steps(database.db, revision, "basic", "k", blocks[1:], genesis)
    assert all(step.ok for step in good), good
    assert [s.name for s in good][2] == "orderer signature"
    forged = common_pb2.Block()
    forged.CopyFrom(blocks[1])
    forged.header.data_hash = b"\x02" * 32
    bad = {s.name: s for s in fabric_steps(database.db, revision, "basic", "k", [forged], genesis)}
    assert not bad["block header hash"].ok and not bad["block data hash"].ok
    assert f"block {forged.header.number}" in bad["block header hash"].detail
    assert bad["transaction"].ok


def test_private_collections_clear_where_served_and_hashes_elsewhere(
    committed, tmp_path: Path
) -> None:
    channel, _, _ = committed
    rwset = TxRWSet()
    rwset.namespace("basic").collection("mine").writes["k"] = b'{"secret": 1}'
    rwset.namespace("basic").collection("theirs").writes["h"] = b"hidden"
    block = channel.block([channel.transaction(rwset)])
    while len(block.metadata.metadata) <= common_pb2.TRANSACTIONS_FILTER:
        block.metadata.metadata.append(b"")
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes([0])  # VALID
    served = rwset.to_private_proto()
    del served.ns_pvt_rwset[0].collection_pvt_rwset[1]  # the member is not in "theirs"
    rows = block_rows(block, {0: served})
    writes = {w.table: w for w in rows.writes}
    assert writes["basic__mine"].document["secret"] == 1
    hidden = writes["basic__theirs"].document
    assert hidden["key_hash"] == hashlib.sha256(b"h").hexdigest()
    assert hidden["value_hash"] == hashlib.sha256(b"hidden").hexdigest()
    assert "hidden" not in str(hidden)
    database = ChannelDatabase(tmp_path / "private")  # and the tables can be written
    try:
        _write(database, committed[2])
        database.write(rows, list(block.data.data))
        (mine,) = _query(database, "SELECT * FROM basic__mine")
        assert mine["secret"] == 1
        (theirs,) = _query(database, "SELECT * FROM basic__theirs")
        assert theirs["key_hash"] == hashlib.sha256(b"h").hexdigest()
    finally:
        database.close()


def test_chaincode_and_collection_names_become_table_names() -> None:
    """Fabric allows ``-`` and a leading digit; ledgerdb's table names do not."""
    assert table_name("asset-transfer") == "asset_transfer"
    assert table_name("1cc") == "_1cc"
    assert collection_table("my-cc", "org-1") == "my_cc__org_1"


@pytest.fixture
def home(tmp_path: Path, committed) -> Path:
    """A network folder with an analytics database (node stopped) and the node's config."""
    channel, ledger, genesis = committed
    folder = tmp_path / ".consortium" / "net"
    (folder / "analytics").mkdir(parents=True)
    (folder / "state.json").write_text("{}")
    (folder / "analytics" / "analytics.yaml").write_text(
        "network: net\nchannels: [mychannel]\ndeliver: {connection: org1.json}\n"
        "databases: .\nlisten: 127.0.0.1:7400\n"
    )
    database = ChannelDatabase(folder / "analytics" / "mychannel")
    _write(database, genesis)
    rwset = _rwset("basic", a1=b'{"Color": "blue"}', a2=b'{"Color": "red"}')
    _write(database, commit_block(ledger, channel.block([channel.transaction(rwset)])).block)
    database.close()
    return tmp_path / ".consortium"


def _cli(home: Path, *args: str):
    from click.testing import CliRunner

    from network.cli import cli

    return CliRunner().invoke(cli, ["analytics", *args, "--home", str(home)])


def test_analytics_query_reads_the_database_and_writes_nothing(home: Path) -> None:
    query = "SELECT fabric.key AS k FROM basic WHERE Color = 'blue'"
    answer = _cli(home, "query", "--channel", "mychannel", query, "-o", "json")
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output) == [{"k": "a1"}]
    table = _cli(home, "query", "--channel", "mychannel", "SELECT * FROM basic")
    assert "blue" in table.output and "red" in table.output
    wrote = _cli(home, "query", "--channel", "mychannel", "DELETE FROM basic")
    assert wrote.exit_code == 0  # it ran, in a transaction that was aborted
    assert (
        len(
            json.loads(
                _cli(
                    home, "query", "--channel", "mychannel", "SELECT * FROM basic", "-o", "json"
                ).output
            )
        )
        == 2
    )


def test_analytics_query_names_a_partiql_error_s_line_and_column(home: Path) -> None:
    answer = _cli(home, "query", "--channel", "mychannel", "SELECT *\nFROM")
    assert answer.exit_code == 2
    assert "line 2, column" in answer.output
    unknown = _cli(home, "query", "--channel", "other", "SELECT 1")
    assert unknown.exit_code == 2 and "not channel 'other'" in unknown.output


def test_a_key_s_history_is_the_peer_s_get_history_for_key(committed, database) -> None:
    """Create, update, delete and create again: the same values, txids and deletes, in
    order, as the peer's history index (what GetHistoryForKey answers)."""
    channel, ledger, _ = committed
    for value in (b'{"v": 1}', b'{"v": 2}', None, b'{"v": 3}'):
        rwset = _rwset("basic", k=value)
        _write(database, commit_block(ledger, channel.block([channel.transaction(rwset)])).block)
    peer = [
        (m.tx_id, None if m.is_delete else json.loads(m.value))
        for m in reversed(list(ledger.state.history("basic", "k")))  # oldest first
    ]
    ids = _query(
        database,
        "SELECT DISTINCT VALUE h.metadata.id FROM history(basic) AS h WHERE h.data.fabric.key = ?",
        "k",
    )
    revisions = _query(
        database,
        "SELECT h.data, h.blockAddress.sequenceNo AS seq, h.metadata.id AS id "
        "FROM history(basic) AS h WHERE h.metadata.id IN ? ORDER BY seq",
        list(ids),
    )
    mine = []
    for revision in revisions:
        data = revision.get("data")
        if data is None:  # a deletion: its Fabric block is the one in the same ledgerdb block
            (txid,) = _valid_txids_of(database, revision["seq"])
            mine.append((txid, None))
            continue
        mine.append((data["fabric"]["txid"], {"v": data["v"]}))
    assert mine == peer
    assert [value for _, value in mine] == [{"v": 1}, {"v": 2}, None, {"v": 3}]


def _valid_txids_of(database: ChannelDatabase, sequence_no: int) -> list[str]:
    """The VALID Fabric transactions of the block written in ledgerdb block ``sequence_no``
    (the checkpoint's revision written with it names the block)."""
    (number,) = _query(
        database,
        'SELECT VALUE c.data.block FROM history("_checkpoint") AS c '
        "WHERE c.blockAddress.sequenceNo = ?",
        sequence_no,
    )
    return _query(
        database,
        "SELECT VALUE t.txid FROM transactions AS t "
        "WHERE t.block = ? AND t.validation_code = 'VALID'",
        number,
    )


def _history_of(database: ChannelDatabase, key: str) -> list[tuple[str, object]]:
    """(txid, value) of each revision of ``basic``'s ``key``, oldest first; a deletion's
    txid is the VALID transaction of its Fabric block, found through the checkpoint
    revision written in the same ledgerdb block."""
    ids = _query(
        database,
        "SELECT DISTINCT VALUE h.metadata.id FROM history(basic) AS h WHERE h.data.fabric.key = ?",
        key,
    )
    revisions = _query(
        database,
        "SELECT h.data, h.blockAddress.sequenceNo AS seq FROM history(basic) AS h "
        "WHERE h.metadata.id IN ? ORDER BY seq",
        list(ids),
    )
    mine: list[tuple[str, object]] = []
    for revision in revisions:
        data = revision.get("data")
        if data is None:
            (txid,) = _valid_txids_of(database, revision["seq"])
            mine.append((txid, None))
        else:
            value = {k: v for k, v in data.items() if k != "fabric"}
            mine.append((data["fabric"]["txid"], value))
    return mine


def test_two_writes_of_one_key_in_one_block_are_two_revisions(committed, database) -> None:
    """Blind writes by two transactions of one block (both VALID in Fabric): the peer's
    GetHistoryForKey has both, so history() has both, each with its own coordinates."""
    channel, ledger, _ = committed
    block = commit_block(
        ledger,
        channel.block(
            [
                channel.transaction(_rwset("basic", k=b'{"v": 1}', other=b'{"o": 1}')),
                channel.transaction(_rwset("basic", k=b'{"v": 2}')),
                channel.transaction(_rwset("basic", other=b'{"o": 2}')),
                channel.transaction(_rwset("basic", k=b'{"v": 3}')),
            ]
        ),
    ).block
    _write(database, block)
    for key in ("k", "other"):
        peer = [
            (m.tx_id, json.loads(m.value))
            for m in reversed(list(ledger.state.history("basic", key)))
        ]
        assert _history_of(database, key) == peer
    positions = _query(
        database,
        "SELECT VALUE h.data.fabric.position FROM history(basic) AS h "
        "WHERE h.data.fabric.key = 'k'",
    )
    assert sorted(positions) == [0, 1, 3]
    (row,) = _query(database, "SELECT * FROM blocks WHERE number = ?", block.header.number)
    assert row["transaction_count"] == 4  # the block's rows are written once
    checkpoint = database.checkpoint()
    assert checkpoint is not None and checkpoint.block == block.header.number
    assert checkpoint.written_through is None  # the block is whole


def test_a_block_written_in_parts_resumes_at_the_next_part(
    committed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop between two parts of a block (the second part's transaction never commits):
    reopened, the node writes the rest of that block, not the block after it, and nothing
    is written twice."""
    import network.analytics.store as store

    channel, ledger, genesis = committed
    block = commit_block(
        ledger,
        channel.block(
            [channel.transaction(_rwset("basic", k=v)) for v in (b'{"v": 1}', b'{"v": 2}')]
        ),
    ).block
    folder = tmp_path / "parts" / "mychannel"
    database = ChannelDatabase(folder)
    _write(database, genesis)
    real, calls = store._write, []

    def stop_after_one_part(txn, **part):
        calls.append(part)
        if len(calls) > 1:
            raise KeyboardInterrupt  # the node killed before part two commits
        real(txn, **part)

    monkeypatch.setattr(store, "_write", stop_after_one_part)
    with pytest.raises(KeyboardInterrupt):
        _write(database, block)
    monkeypatch.setattr(store, "_write", real)
    database.close()
    database = ChannelDatabase(folder)
    try:
        partly = database.checkpoint()
        assert partly is not None and partly.written_through == 0
        assert partly.next_block == block.header.number
        _write(database, block)
        peer = [
            (m.tx_id, json.loads(m.value))
            for m in reversed(list(ledger.state.history("basic", "k")))
        ]
        assert _history_of(database, "k") == peer
        txids = _query(
            database,
            "SELECT VALUE t.txid FROM transactions AS t WHERE t.block = ?",
            block.header.number,
        )
        assert len(txids) == 2
        done = database.checkpoint()
        assert done is not None and (done.block, done.written_through) == (
            block.header.number,
            None,
        )
    finally:
        database.close()


def test_a_json_value_over_the_document_limit_is_kept_as_length_and_sha256(
    committed, database
) -> None:
    """ledgerdb refuses documents over 128 KB: such a value is stored as its length and
    SHA-256 with a note, the block is written and the node goes on to the next one."""
    channel, ledger, _ = committed
    big = json.dumps({"items": ["x" * 100] * 1500}).encode()  # ~155 KB of JSON
    assert len(big) > 128 * 1024
    blocks = [
        commit_block(ledger, channel.block([channel.transaction(_rwset("basic", **w))])).block
        for w in ({"big": big, "small": b'{"n": 1}'}, {"after": b'{"n": 2}'})
    ]
    for block in blocks:
        _write(database, block)
    (doc,) = _query(database, "SELECT * FROM basic WHERE fabric.key = 'big'")
    assert (doc["length"], doc["sha256"]) == (len(big), hashlib.sha256(big).hexdigest())
    assert "document limit" in doc["note"] and "items" not in doc
    assert len(_query(database, "SELECT * FROM basic")) == 3
    assert database.checkpoint().block == blocks[1].header.number


def test_verify_checks_the_orderer_s_signature_and_names_what_fails(committed, database) -> None:
    """The block's signature must come from an orderer organization of the channel
    config the block names, verify, and satisfy /Channel/Orderer/BlockValidation."""
    channel, ledger, genesis = committed

    def signed_by(signer) -> common_pb2.Block:
        block = commit_block(
            ledger, channel.block([channel.transaction(_rwset("basic", k=b'{"n": 1}'))])
        ).block
        sign_block(block, signer, last_config_index=0)  # as another orderer would have
        return block

    block = signed_by(channel.orderer)
    _write(database, block)
    assert orderer_step(database.db, block, genesis).ok
    peer_signed = common_pb2.Block()
    peer_signed.CopyFrom(block)
    sign_block(peer_signed, channel.peers["Org1MSP"], last_config_index=0)
    step = orderer_step(database.db, peer_signed, genesis)
    assert not step.ok and "Org1MSP, not an orderer organization" in step.detail
    tampered = common_pb2.Block()
    tampered.CopyFrom(block)
    metadata = common_pb2.Metadata.FromString(tampered.metadata.metadata[common_pb2.SIGNATURES])
    metadata.signatures[0].signature = metadata.signatures[0].signature[:-2] + b"\x00\x01"
    tampered.metadata.metadata[common_pb2.SIGNATURES] = metadata.SerializeToString()
    step = orderer_step(database.db, tampered, genesis)
    assert not step.ok and "OrdererMSP's signature" in step.detail, step.detail
    unsigned = common_pb2.Block()
    unsigned.CopyFrom(block)
    unsigned.metadata.metadata[common_pb2.SIGNATURES] = common_pb2.Metadata(
        value=common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES]).value
    ).SerializeToString()
    step = orderer_step(database.db, unsigned, genesis)
    assert not step.ok and "carries no orderer signature" in step.detail
    stranger = ChannelFixture(database.db.directory.parent / "other")  # same names, other CAs
    step = orderer_step(database.db, signed_by(stranger.orderer), genesis)
    assert not step.ok and "OrdererMSP's certificate" in step.detail, step.detail
    step = orderer_step(database.db, block, None)
    assert not step.ok and "did not serve config block 0" in step.detail


def test_the_qldb_view_reads_and_refuses_every_write(database) -> None:
    """What QLDB's session API gets: queries run; INSERT, DELETE, CREATE, EXEC are
    refused before they run, naming the statement; a commit writes no journal block."""
    from ledgerdb.qldb_session import BadRequestException
    from network.analytics.readonly import ReadOnlyDatabase

    view = ReadOnlyDatabase(database.db, "mychannel")
    before = database.db.digest().tip.sequence_no
    transaction = view.start_transaction()
    assert transaction.execute("SELECT VALUE b.number FROM blocks AS b").values == [0]
    for statement, kind in (
        ("INSERT INTO blocks {'number': 99}", "Insert"),
        ("DELETE FROM transactions", "Delete"),
        ("CREATE TABLE mine", "CreateTable"),
    ):
        with pytest.raises(BadRequestException, match=f"{kind} refused.*read-only"):
            transaction.execute(statement)
    transaction.commit()
    assert database.db.digest().tip.sequence_no == before
    assert _query(database, "SELECT VALUE b.number FROM blocks AS b") == [0]


def test_the_config_s_qldb_endpoint_is_channel_n_on_port_plus_n(tmp_path: Path) -> None:
    from network.analytics.config import load_config
    from network.analytics.errors import AnalyticsConfigError

    base = (
        "network: net\nchannels: [one, two]\ndeliver: {connection: org1.json}\n"
        "databases: .\nlisten: 127.0.0.1:7400\n"
    )
    (tmp_path / "a.yaml").write_text(base + "qldb: 127.0.0.1:7410\n")
    config = load_config(tmp_path / "a.yaml")
    assert (config.qldb_listen("one"), config.qldb_listen("two")) == (
        "127.0.0.1:7410",
        "127.0.0.1:7411",
    )
    (tmp_path / "b.yaml").write_text(base)
    assert load_config(tmp_path / "b.yaml").qldb_listen("one") == ""  # none asked for
    (tmp_path / "c.yaml").write_text(base + "qldb: 10.0.0.9:7410\n")
    with pytest.raises(AnalyticsConfigError, match=r"qldb.*listen host"):
        load_config(tmp_path / "c.yaml")
