"""Block hashing as QLDB does it, the record bytes, and tamper detection on blocks."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerdb.block import (
    Block,
    BlockAddress,
    ChainHead,
    EntryKind,
    Payload,
    Revision,
    decode,
    derived_id,
    encode,
    encoded_size,
    entry_hash,
    ion_timestamp,
    make_entry,
    new_id,
    prepare,
    seal,
)
from ledgerdb.errors import InvalidInput, VerificationError
from ledgerdb.hashing import dot, merkle_root
from ledgerdb.ionhash import ion_hash
from ledgerdb.verify import verify_block, verify_follows, verify_link

STRAND = "A" * 22
META = {"id": "doc1", "version": 0, "txId": "T" * 22}


def build(entries, info=None, number=0, previous=b"", micros=1_700_000_000_123_456) -> Block:
    return seal(prepare(entries, info, "tx-1"), BlockAddress(STRAND, number), micros, previous)


def test_payload_entry_is_sha256_of_its_bytes() -> None:
    entry = make_entry(Payload(b"fabric block"))
    assert entry.kind is EntryKind.PAYLOAD
    assert entry.hash == hashlib.sha256(b"fabric block").digest()


def test_revision_hash_is_dot_of_metadata_and_data_ion_hashes() -> None:
    data = {"VIN": "1N4AL11D75C109151", "Owners": ["Alice"]}
    entry = make_entry(Revision(META, data))
    assert entry.hash == dot(ion_hash(META), ion_hash(data))
    assert entry.revision().data == data
    deleted = make_entry(Revision(META))
    assert deleted.hash == ion_hash(META)
    assert deleted.revision().data is None


def test_block_hash_follows_the_published_rules() -> None:
    info = {"channel": "mychannel", "number": 7}
    entries = [Payload(b"one"), Revision(META, {"a": 1}), Payload(b"three")]
    previous = hashlib.sha256(b"previous block").digest()
    block = build(entries, info, number=5, previous=previous)
    entry_hashes = [make_entry(item).hash for item in entries]
    strand, tx = STRAND.encode(), b"tx-1"
    header = hashlib.sha256(
        struct.pack(">H", len(strand))
        + strand
        + struct.pack(">Q", 5)
        + struct.pack(">H", len(tx))
        + tx
        + struct.pack(">q", 1_700_000_000_123_456)
    ).digest()
    hash_list = [ion_hash(info), merkle_root(entry_hashes), header]
    assert list(block.entries_hash_list) == hash_list
    assert block.entries_hash == dot(dot(hash_list[0], hash_list[1]), hash_list[2])
    assert block.block_hash == dot(block.entries_hash, previous)
    verify_block(block)


def test_genesis_block_hash_is_its_entries_hash() -> None:
    block = build([Payload(b"genesis")])
    assert block.block_hash == block.entries_hash
    verify_link(None, block)


def test_chain_links_are_checked() -> None:
    first = build([Payload(b"a")])
    second = build([Payload(b"b")], number=1, previous=first.block_hash)
    verify_link(first, second)
    stray = build([Payload(b"b")], number=1, previous=hashlib.sha256(b"x").digest())
    with pytest.raises(VerificationError, match="block 1: previousBlockHash"):
        verify_link(first, stray)
    with pytest.raises(VerificationError, match="sequence gap"):
        verify_link(first, build([Payload(b"c")], number=2, previous=first.block_hash))


def test_a_chain_head_seals_what_seal_would_and_never_goes_back_in_time() -> None:
    head = ChainHead(STRAND, 0, b"")
    first = head.seal(prepare([Payload(b"a")], None, "tx-1"), 1_700_000_000_123_456)
    assert first == build([Payload(b"a")])
    second = head.seal(prepare([Payload(b"b")], None, "tx-2"), 5)  # the clock went back
    assert second.timestamp_micros == first.timestamp_micros
    assert (head.sequence_no, head.previous_hash) == (2, second.block_hash)
    verify_link(first, second)


def test_a_block_sent_by_another_writer_must_follow_the_head() -> None:
    first = build([Payload(b"a")])
    second = build([Payload(b"b")], number=1, previous=first.block_hash)
    verify_follows(first, STRAND, 0, b"")
    verify_follows(second, STRAND, 1, first.block_hash)
    with pytest.raises(VerificationError, match="block 1 arrived where block 0 belongs"):
        verify_follows(second, STRAND, 0, b"")
    with pytest.raises(VerificationError, match=f"block 1 is on strand {STRAND}, not B"):
        verify_follows(second, "B" * 22, 1, first.block_hash)
    with pytest.raises(VerificationError, match="block 1: previousBlockHash is not the hash"):
        verify_follows(second, STRAND, 1, hashlib.sha256(b"x").digest())
    with pytest.raises(VerificationError, match="block 0 names a previous block"):
        verify_follows(first, STRAND, 0, b"x")


ion_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=20),
    st.binary(max_size=20),
)
ion_values = st.recursive(
    ion_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
entries_strategy = st.lists(
    st.one_of(
        st.binary(min_size=0, max_size=64).map(Payload),
        st.dictionaries(st.text(max_size=8), ion_values, max_size=4).map(
            lambda data: Revision(META, data)
        ),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(entries_strategy, st.dictionaries(st.text(max_size=8), ion_values, max_size=3))
def test_blocks_survive_their_record_bytes(entries, info) -> None:
    block = build(entries, info, number=3, previous=hashlib.sha256(b"p").digest())
    assert decode(encode(block)) == block
    verify_block(decode(encode(block)))


@settings(max_examples=80, deadline=None)
@given(entries_strategy, st.data())
def test_any_flipped_bit_in_a_block_fails_verification(entries, data) -> None:
    block = build(entries, {"k": "v"}, number=2, previous=hashlib.sha256(b"p").digest())
    field = data.draw(
        st.sampled_from(
            [
                "block_hash",
                "entries_hash",
                "previous_block_hash",
                "entries_hash_list",
                "transaction_info",
                "entry_body",
                "entry_hash",
                "transaction_id",
                "timestamp_micros",
            ]
        )
    )
    bit = data.draw(st.integers(0, 255))
    index = data.draw(st.integers(0, len(block.entries) - 1))

    def flip(value: bytes) -> bytes:
        raw = bytearray(value)
        raw[bit // 8 % len(raw)] ^= 1 << (bit % 8)
        return bytes(raw)

    if field == "entries_hash_list":
        changed = dataclasses.replace(
            block,
            entries_hash_list=(flip(block.entries_hash_list[0]), *block.entries_hash_list[1:]),
        )
    elif field in ("entry_body", "entry_hash"):
        entry = block.entries[index]
        if field == "entry_body" and not entry.body:
            entry = dataclasses.replace(entry, body=b"\x00")
        else:
            name = "body" if field == "entry_body" else "hash"
            entry = dataclasses.replace(entry, **{name: flip(getattr(entry, name))})
        entries_changed = (*block.entries[:index], entry, *block.entries[index + 1 :])
        changed = dataclasses.replace(block, entries=entries_changed)
    elif field == "transaction_id":
        changed = dataclasses.replace(block, transaction_id="tx-2")
    elif field == "timestamp_micros":
        changed = dataclasses.replace(
            block, timestamp_micros=block.timestamp_micros ^ (1 << (bit % 60))
        )
    else:
        changed = dataclasses.replace(block, **{field: flip(getattr(block, field))})
    with pytest.raises(VerificationError):
        verify_block(changed)


@pytest.mark.parametrize(
    ("entries", "info", "message"),
    [
        ([], None, "non-empty list"),
        (Payload(b"x"), None, "non-empty list"),
        (["text"], None, "Payload or Revision"),
        ([Payload("text")], None, "payload data must be bytes"),
        ([Revision(["not", "a", "struct"])], None, "metadata must be an Ion struct"),
        ([Payload(b"x")], ["not", "a", "struct"], "transaction_info must be an Ion struct"),
        ([Payload(b"x")], {"bad": object()}, "transaction_info is not an Ion value"),
    ],
)
def test_bad_block_input_names_the_field(entries, info, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        prepare(entries, info)


def test_ids_look_like_qldb_ids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(value) == 22 and value.isalnum() for value in ids)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.text(max_size=30)),
        max_size=6,
    )
)
def test_flat_info_hashes_as_its_stored_bytes(info) -> None:
    """The append path hashes flat transactionInfo structs without the Ion round trip;
    verification hashes the stored bytes: both must agree for every such struct."""
    block = build([Payload(b"x")], info)
    assert block.entries_hash_list[0] == ion_hash(simpleion.loads(block.transaction_info))
    verify_block(block)


_SYSTEM_NAMES = st.sampled_from(["$ion", "name", "version", "symbols", "max_id", "imports"])
_FLAT_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**130), max_value=2**130),
    st.integers(min_value=-300, max_value=2000),
    st.booleans(),
    st.none(),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.one_of(st.text(max_size=20), _SYSTEM_NAMES), _FLAT_VALUES, max_size=20))
def test_flat_transaction_info_is_stored_as_simpleion_writes_it(info: dict) -> None:
    """The fast writer for flat structs must store exactly simpleion's bytes."""
    from ledgerdb.block import ion_bytes

    assert ion_bytes(info, "transaction_info") == simpleion.dumps(info, binary=True)


_UTC_DATETIMES = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)
_PLAIN = st.recursive(
    st.one_of(
        _FLAT_VALUES,
        st.binary(max_size=40),
        _UTC_DATETIMES,
        _UTC_DATETIMES.map(lambda moment: ion_timestamp(moment, 3)),
        _UTC_DATETIMES.map(lambda moment: ion_timestamp(moment, 6)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _PLAIN, max_size=5), _PLAIN)
def test_values_hashed_without_the_round_trip_hash_as_their_stored_bytes(info, data) -> None:
    """A commit hashes plain revisions and transactionInfo (nested dicts and lists of
    scalars, blobs, UTC datetimes, ``txTime``s) from the values, not from their stored
    bytes read back; verification hashes the stored bytes: both must agree."""
    meta = {**META, "txTime": ion_timestamp(datetime(2026, 12, 6, 23, 30, tzinfo=UTC), 3)}
    block = build([Revision(meta, data)], info)
    (entry,) = block.entries
    assert entry.hash == entry_hash(EntryKind.REVISION, entry.body)
    assert block.entries_hash_list[0] == ion_hash(simpleion.loads(block.transaction_info))
    verify_block(block)


def test_other_values_take_the_round_trip() -> None:
    from ledgerdb.ionhash import plain_ion_hash

    naive = datetime(2026, 12, 6)
    coarse = ion_timestamp(datetime(2026, 12, 6, tzinfo=UTC), 3).replace(microsecond=123456)
    for value in (0.5, {"a": [naive]}, {1: "x"}, coarse, simpleion.loads("a::1")):
        assert plain_ion_hash(value) is None


def test_transaction_info_outside_the_flat_shape_still_goes_through_simpleion() -> None:
    from ledgerdb.block import ion_bytes

    nested = {"documents": {"d1": {"tableName": "t"}}, "ratio": 0.5, "when": b"x"}
    assert ion_bytes(nested, "transaction_info") == simpleion.dumps(nested, binary=True)
    with pytest.raises(InvalidInput, match="transaction_info is not an Ion value"):
        ion_bytes({"bad": "\ud800"}, "transaction_info")


def test_the_size_of_a_block_is_known_before_it_is_sealed() -> None:
    head = ChainHead(STRAND, 0, b"")
    for entries in ([Payload(b"a")], [Payload(b"x" * 1000), Revision(META, {"k": "v"})]):
        transaction = prepare(entries, {"info": "yes"})
        number = head.sequence_no
        assert encoded_size(transaction, STRAND, number) == len(encode(head.seal(transaction, 1)))


def test_a_derived_id_has_the_shape_of_a_random_one_and_is_the_same_for_everyone() -> None:
    assert derived_id(b"orderers-mychannel") == derived_id(b"orderers-mychannel")
    assert derived_id(b"orderers-mychannel") != derived_id(b"orderers-other")
    assert len(derived_id(b"x")) == len(new_id()) == 22 and derived_id(b"x").isalnum()


_PLAIN_NAMED = st.recursive(
    st.one_of(
        _FLAT_VALUES,
        st.text(min_size=100, max_size=300),
        st.binary(max_size=200),
        _UTC_DATETIMES,
        _UTC_DATETIMES.map(lambda moment: ion_timestamp(moment, 3)),
        _UTC_DATETIMES.map(lambda moment: ion_timestamp(moment, 6)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(st.text(max_size=8), _SYSTEM_NAMES), inner, max_size=6),
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_PLAIN_NAMED)
def test_plain_values_are_stored_as_simpleion_writes_them(value) -> None:
    """The direct writer (``plain_ion``) must store exactly simpleion's bytes, nested
    values, blobs, timestamps and system-symbol field names included."""
    from ledgerdb.block import ion_bytes

    assert ion_bytes(value, "value") == simpleion.dumps(value, binary=True)


def test_values_the_direct_writer_leaves_to_simpleion() -> None:
    from ledgerdb.plain_ion import plain_bytes

    naive = datetime(2026, 12, 6)
    for value in (0.5, {"a": [naive]}, {1: "x"}, simpleion.loads("a::1")):
        assert plain_bytes(value) is None


@pytest.mark.parametrize(
    "value",
    [
        {"s": "\ud800"},
        {"\ud800": 1},
        {"a": {"b\udfff": [1]}},
        {"ratio": 0.5, "b\udfff": 1},  # not plain: simpleion's path
        {"x": [simpleion.loads("a::{}"), {"\ud800": Decimal(1)}]},
    ],
)
def test_text_that_is_not_unicode_is_refused_not_handed_to_simpleion(value) -> None:
    """simpleion (amazon.ion 0.15) hangs writing a field name with a lone surrogate."""
    from ledgerdb.block import ion_bytes

    with pytest.raises(InvalidInput, match="revision is not an Ion value"):
        ion_bytes(value, "revision")
