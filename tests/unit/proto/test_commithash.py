"""The commit hash's byte rules, checked against Fabric's ``txmgr.Updates`` message built
from its ``updates.proto`` field numbers with protobuf's own encoder."""

from __future__ import annotations

import hashlib

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from proto.commithash import KVWrite, commit_hash, order_preserving_uint64, updates_bytes


def _updates_class():
    file = descriptor_pb2.FileDescriptorProto(
        name="updates_test.proto", package="txmgr", syntax="proto3"
    )
    kv = file.message_type.add(name="KVWrite")
    fields = [
        ("namespace", 9),
        ("collection", 9),
        ("key", 12),
        ("isDelete", 8),
        ("value", 12),
        ("version_bytes", 12),
    ]
    for number, (name, kind) in enumerate(fields, start=1):
        kv.field.add(name=name, number=number, type=kind, label=1)
    updates = file.message_type.add(name="Updates")
    updates.field.add(name="kvwrites", number=1, type=11, label=3, type_name=".txmgr.KVWrite")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("txmgr.Updates"))


def test_order_preserving_uint64() -> None:
    assert order_preserving_uint64(0) == b"\x00"
    assert order_preserving_uint64(5) == b"\x01\x05"
    assert order_preserving_uint64(256) == b"\x02\x01\x00"


def test_updates_in_fabrics_order_naming_each_namespace_and_collection_once() -> None:
    writes = [
        KVWrite("ns2", "", b"a", b"1", 3, 0),
        KVWrite("ns1", "coll", b"\x02", b"h", 3, 1),
        KVWrite("ns1", "", b"b", None, 3, 2),
        KVWrite("ns1", "", b"a", b"2", 3, 1),
        KVWrite("", "", b"config", b"x", 3, 0),  # the channel config's namespace: left out
    ]
    expected = _updates_class()()
    v = order_preserving_uint64(3)
    expected.kvwrites.add(namespace="ns1", key=b"a", value=b"2", version_bytes=v + b"\x01\x01")
    expected.kvwrites.add(key=b"b", isDelete=True, version_bytes=v + b"\x01\x02")
    expected.kvwrites.add(collection="coll", key=b"\x02", value=b"h", version_bytes=v + b"\x01\x01")
    expected.kvwrites.add(namespace="ns2", key=b"a", value=b"1", version_bytes=v + b"\x00")
    assert updates_bytes(writes) == expected.SerializeToString(deterministic=True)


def test_the_hash_chains_filter_updates_and_the_previous_hash() -> None:
    assert commit_hash(b"\x00\x0b", b"U", b"P") == hashlib.sha256(b"\x02\x00\x0bUP").digest()
