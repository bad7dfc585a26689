"""``consortium ledger`` as a user runs it: real processes, real files, real exit codes."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import struct
import subprocess
from pathlib import Path

import pytest
from amazon.ion import simpleion

from ledgerdb.ionhash import ion_hash
from tests.support.processes import consortium

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    return consortium(ROOT, "ledger", *args, check=check, stdin=stdin)


def run_json(*args: str, stdin: str = "") -> object:
    return json.loads(run(*args, "--output", "json", stdin=stdin).stdout)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ledger"
    values = "\n".join(json.dumps({"car": f"VIN-{n}", "owner": f"owner {n}"}) for n in range(6))
    appended = run_json("append", "--ledger", str(path), stdin=values)
    assert [row["blockAddress"]["sequenceNo"] for row in appended] == list(range(6))
    more = run_json("append", "--ledger", str(path), stdin="{a: 1} (sexp 2) 2026-01-01T00:00Z")
    assert [row["blockAddress"]["sequenceNo"] for row in more] == [6, 7, 8]
    return path


def test_digest_block_and_consistency(ledger: Path) -> None:
    digest = run_json("digest", "--ledger", str(ledger))
    assert digest["digestTipAddress"]["sequenceNo"] == 8
    old = run_json("digest", "--ledger", str(ledger), "--tip", "3")
    block = run_json("block", "--ledger", str(ledger), "--seq", "2", "--digest-tip", "3")
    assert block["verified"] is True and block["digest"] == old["digest"]
    assert block["block"]["revisions"][0]["data"] == {"car": "VIN-2", "owner": "owner 2"}
    proof = run_json("consistency", "--ledger", str(ledger), "--from", "3", "--to", "8")
    assert proof["from"]["digest"] == old["digest"] and proof["to"]["digest"] == digest["digest"]
    assert proof["verified"] is True
    table = run("block", "--ledger", str(ledger), "--seq", "0").stdout
    assert "verified" in table and "blockHash" in table


def test_verify_passes_on_an_honest_journal(ledger: Path) -> None:
    report = run_json("verify", "--ledger", str(ledger))
    assert report["valid"] is True and report["blocks"] == 9


def _dot(left: bytes, right: bytes) -> bytes:
    """QLDB's dot, written again from docs/ledgerdb-format.md (not imported from ledgerdb)."""
    if not left or not right:
        return left or right

    def key(value: bytes) -> list[int]:
        return [byte - 256 if byte > 127 else byte for byte in reversed(value)]

    first, second = (left, right) if key(left) < key(right) else (right, left)
    return hashlib.sha256(first + second).digest()


def _root(hashes: list[bytes]) -> bytes:
    level = list(hashes)
    while len(level) > 1:
        level = [
            _dot(*level[i : i + 2]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0] if level else b""


def test_an_outside_verifier_recomputes_everything_from_the_export(ledger: Path) -> None:
    """Ion export + the format page's rules alone reproduce every block hash and the digest."""
    text = run("export", "--ledger", str(ledger)).stdout
    blocks = simpleion.loads(text, single_value=False)
    previous = b""
    block_hashes = []
    for block in blocks:
        entry_hashes = []
        for revision in block["revisions"]:
            if "payload" in revision:
                entry_hashes.append(hashlib.sha256(revision["payload"]).digest())
            else:
                data = ion_hash(revision["data"]) if "data" in revision else b""
                entry_hashes.append(_dot(ion_hash(revision["metadata"]), data))
            assert entry_hashes[-1] == revision["hash"]
        address = block["blockAddress"]
        stamp = block["blockTimestamp"]
        micros = int(stamp.timestamp()) * 1_000_000 + stamp.microsecond
        strand, txid = address["strandId"].encode(), block["transactionId"].encode()
        header = hashlib.sha256(
            struct.pack(">H", len(strand))
            + strand
            + struct.pack(">Q", address["sequenceNo"])
            + struct.pack(">H", len(txid))
            + txid
            + struct.pack(">q", micros)
        ).digest()
        hash_list = [ion_hash(block["transactionInfo"]), _root(entry_hashes), header]
        assert hash_list == list(block["entriesHashList"])
        assert block["previousBlockHash"] == previous
        block_hash = _dot(_root(hash_list), previous)
        assert block_hash == block["blockHash"]
        block_hashes.append(block_hash)
        previous = block_hash
    digest = run_json("digest", "--ledger", str(ledger))
    assert _root(block_hashes) == base64.b64decode(digest["digest"])
    lines = run("export", "--ledger", str(ledger), "--output", "json").stdout.splitlines()
    assert [json.loads(line)["blockHash"] for line in lines] == [
        base64.b64encode(value).decode() for value in block_hashes
    ]


@pytest.mark.parametrize("form", ["ION_TEXT", "ION_BINARY"])
def test_a_qldb_layout_export_chains_block_by_block(
    ledger: Path, tmp_path: Path, form: str
) -> None:
    folder = tmp_path / "export"
    run("export", "--ledger", str(ledger), "--qldb-layout", str(folder), "--qldb-format", form)
    [completed] = folder.glob("*.completed.manifest")
    assert (folder / completed.name.replace("completed", "started")).is_file()
    keys = list(simpleion.loads(completed.read_bytes())["keys"])
    blocks = [
        block
        for key in keys
        for block in simpleion.loads((folder / key).read_bytes(), single_value=False)
    ]
    assert [block["blockAddress"]["sequenceNo"] for block in blocks] == list(range(9))
    for previous, block in itertools.pairwise(blocks):
        assert bytes(block["previousBlockHash"]) == bytes(previous["blockHash"])
        rehashed = _dot(bytes(block["entriesHash"]), bytes(previous["blockHash"]))
        assert rehashed == bytes(block["blockHash"])


def test_a_flipped_byte_makes_verify_name_the_block(ledger: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(ledger, copy)
    segment = sorted((copy / "segments").glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    offsets = []
    offset = 0
    while offset < len(data):
        offsets.append(offset)
        offset += 12 + int.from_bytes(data[offset : offset + 4], "little")
    data[offsets[4] + 60] ^= 0x20
    segment.write_bytes(bytes(data))
    result = run("verify", "--ledger", str(copy), check=False)
    assert result.returncode == 1
    assert "block 4" in result.stderr and str(segment) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    opened = run("digest", "--ledger", str(copy), check=False)
    assert opened.returncode == 2 and f"offset {offsets[4]}" in opened.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["block", "--seq", "99"], "sequence number 99 does not exist: the tip is 8"),
        (["block", "--seq", "5", "--digest-tip", "3"], "block 5 is beyond the digest tip 3"),
        (["digest", "--tip", "12"], "digest tip 12 does not exist"),
        (
            ["consistency", "--from", "5", "--to", "40"],
            "digest tip 40 does not exist: the tip is 8",
        ),
        (["consistency", "--from", "6", "--to", "2"], "first tip 6 is after second tip 2"),
    ],
)
def test_bad_requests_fail_with_one_line(ledger: Path, args: list[str], message: str) -> None:
    result = run(args[0], "--ledger", str(ledger), *args[1:], check=False)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreadable_ledgers_fail_with_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a ledger")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "journal.meta").write_text("{not json")
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(afile): "not a directory",
        str(empty): "holds no ledger journal",
        str(broken): "is not a journal meta file",
    }
    for (path, message), command in zip(
        cases.items(), ["digest", "verify", "export", "block"], strict=True
    ):
        extra = ["--seq", "0"] if command == "block" else []
        for command_line in ([command, *extra], ["verify"]):
            result = run(*command_line, "--ledger", path, check=False)
            assert result.returncode == 2, (command_line, path, result.stderr)
            assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_stdin_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    result = run("append", "--ledger", str(path), stdin="{unclosed: ", check=False)
    assert result.returncode == 2 and "stdin is not JSON or Ion" in result.stderr
    result = run("append", "--ledger", str(path), stdin="   ", check=False)
    assert result.returncode == 2 and "no JSON or Ion values" in result.stderr
    assert not (path / "segments").exists() or not any((path / "segments").glob("*.seg"))
