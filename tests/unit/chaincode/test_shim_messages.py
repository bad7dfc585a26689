"""Shim messages the Python shim never sends, as a Go or Node contract would send them."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest
from cc_probe import Message, ScriptedChaincode, T, completed
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.errors import ShimError
from chaincode.memory import MemoryState
from chaincode.samples.asset_transfer import AssetTransfer
from chaincode.testing import Collection, ContractHarness

COLLECTIONS = [Collection("secrets", members=("Org1MSP",))]


async def run_script(identities, script, *, seed=(), collections=COLLECTIONS, **options):
    async with ContractHarness(identities=identities, timeout=2.0) as harness:
        await harness.deploy_service(ScriptedChaincode(script), "scripted", collections=collections)
        for key, value in seed:
            harness.seed(key, value)
        result = await harness.invoke("run", **options)
        return harness, result


async def test_get_state_multiple_and_state_metadata(identities):
    seen = {}

    async def script(ask, request):
        reply = await ask(T.GET_STATE_MULTIPLE, shim.GetStateMultiple(keys=["a", "zz", "b"]))
        seen["values"] = list(shim.GetStateMultipleResult.FromString(reply.payload).values)
        meta = shim.StateMetadata(metakey="VALIDATION_PARAMETER", value=b"policy")
        reply = await ask(T.PUT_STATE_METADATA, shim.PutStateMetadata(key="a", metadata=meta))
        assert reply.type == T.RESPONSE
        reply = await ask(T.GET_STATE_METADATA, shim.GetStateMetadata(key="a"))
        seen["metadata"] = list(shim.StateMetadataResult.FromString(reply.payload).entries)
        return completed(request)

    _harness, result = await run_script(identities, script, seed=[("a", "1"), ("b", "2")])
    assert result.ok, result.failure()
    assert seen["values"] == [b"1", b"", b"2"]
    assert seen["metadata"] == []  # reads see committed state only
    assert result.rwset.namespace("scripted").metadata_writes == {
        "a": {"VALIDATION_PARAMETER": b"policy"}
    }


async def test_private_data_put_get_hash_and_purge(identities):
    seen = {}

    async def script(ask, request):
        reply = await ask(
            T.PUT_STATE, shim.PutState(key="p", value=b"hidden", collection="secrets")
        )
        assert reply.type == T.RESPONSE, reply.payload
        reply = await ask(T.GET_STATE, shim.GetState(key="old", collection="secrets"))
        seen["old"] = reply.payload
        reply = await ask(T.GET_PRIVATE_DATA_HASH, shim.GetState(key="old", collection="secrets"))
        seen["hash"] = reply.payload
        reply = await ask(
            T.PURGE_PRIVATE_DATA, shim.PurgePrivateState(key="old", collection="secrets")
        )
        assert reply.type == T.RESPONSE
        return completed(request)

    async with ContractHarness(identities=identities) as harness:
        await harness.deploy_service(ScriptedChaincode(script), "scripted", collections=COLLECTIONS)
        harness.seed_private("secrets", "old", b"before")
        result = await harness.invoke("run")
        assert result.ok, result.failure()
        assert seen["old"] == b"before"
        assert seen["hash"] == hashlib.sha256(b"before").digest()
        assert harness.get_private("secrets", "p") == b"hidden"
        assert harness.get_private("secrets", "old") is None
        collection = result.rwset.namespace("scripted").collections["secrets"]
        assert collection.purges == {"old"}
        public = result.rwset.to_proto()
        assert b"hidden" not in public.SerializeToString()
        assert b"hidden" in result.rwset.to_private_proto().SerializeToString()


async def test_private_data_of_a_non_member_is_refused(identities):
    replies = []

    async def script(ask, request):
        reply = await ask(T.GET_STATE, shim.GetState(key="p", collection="secrets"))
        replies.append(reply)
        return completed(request)

    outsider = identities("Org2MSP", "mallory")
    _harness, _result = await run_script(identities, script, identity=outsider)
    assert replies[0].type == T.ERROR
    assert b"does not have read access" in replies[0].payload


async def test_write_batch_applies_every_record(identities):
    kinds = shim.WriteRecord.Type
    batch = shim.WriteBatchState(
        rec=[
            shim.WriteRecord(key="x", value=b"1", type=kinds.PUT_STATE),
            shim.WriteRecord(key="y", type=kinds.DEL_STATE),
            shim.WriteRecord(key="s", value=b"v", collection="secrets", type=kinds.PUT_STATE),
        ]
    )

    async def script(ask, request):
        assert (await ask(T.WRITE_BATCH_STATE, batch)).type == T.RESPONSE
        return completed(request)

    _harness, result = await run_script(identities, script, seed=[("y", "old")])
    assert result.writes() == {"x": b"1", "y": None}


async def test_paginated_range_returns_bookmark_and_forbids_writes(identities):
    pages = []

    async def script(ask, request):
        bookmark = ""
        while True:
            meta = shim.QueryMetadata(pageSize=3, bookmark=bookmark).SerializeToString()
            reply = await ask(
                T.GET_STATE_BY_RANGE,
                shim.GetStateByRange(startKey="k0", endKey="k9", metadata=meta),
            )
            response = shim.QueryResponse.FromString(reply.payload)
            keys = [kv_query_result_pb2.KV.FromString(r.resultBytes).key for r in response.results]
            info = shim.QueryResponseMetadata.FromString(response.metadata)
            pages.append((keys, info.fetched_records_count, info.bookmark))
            bookmark = info.bookmark
            if not bookmark:
                break
        denied = await ask(T.PUT_STATE, shim.PutState(key="w", value=b"1"))
        pages.append(denied)
        return completed(request)

    seed = [(f"k{i}", str(i)) for i in range(7)]
    _harness, _result = await run_script(identities, script, seed=seed)
    assert pages[:3] == [
        (["k0", "k1", "k2"], 3, "k3"),
        (["k3", "k4", "k5"], 3, "k6"),
        (["k6"], 1, ""),
    ]
    assert pages[3].type == T.ERROR and b"paginated query" in pages[3].payload


async def test_paginated_rich_query_pages_with_bookmarks(identities):
    pages = []
    query = json.dumps({"selector": {"n": {"$gte": 2}}, "sort": [{"n": "asc"}]})

    async def script(ask, request):
        bookmark = ""
        for _ in range(3):
            meta = shim.QueryMetadata(pageSize=2, bookmark=bookmark).SerializeToString()
            reply = await ask(T.GET_QUERY_RESULT, shim.GetQueryResult(query=query, metadata=meta))
            response = shim.QueryResponse.FromString(reply.payload)
            keys = [kv_query_result_pb2.KV.FromString(r.resultBytes).key for r in response.results]
            bookmark = shim.QueryResponseMetadata.FromString(response.metadata).bookmark
            pages.append(keys)
        return completed(request)

    seed = [(f"d{i}", {"n": 6 - i}) for i in range(7)]
    await run_script(identities, script, seed=seed)
    assert pages == [["d4", "d3"], ["d2", "d1"], ["d0"]]


async def test_malformed_mango_query_error_names_the_operator(identities):
    replies = []

    async def script(ask, request):
        bad = json.dumps({"selector": {"a": {"$near": 1}}})
        replies.append(await ask(T.GET_QUERY_RESULT, shim.GetQueryResult(query=bad)))
        return completed(request)

    await run_script(identities, script)
    assert replies[0].type == T.ERROR and b"$near" in replies[0].payload


async def test_unknown_query_id_and_peer_only_message_types_get_error(identities):
    replies = []

    async def script(ask, request):
        replies.append(await ask(T.QUERY_STATE_NEXT, shim.QueryStateNext(id="nope")))
        replies.append(await ask(T.RESPONSE, b""))
        return completed(request)

    _harness, result = await run_script(identities, script)
    assert result.ok
    assert replies[0].type == T.ERROR and b"not found" in replies[0].payload
    assert replies[1].type == T.ERROR and b"RESPONSE" in replies[1].payload


async def test_invoke_chaincode_runs_the_callee_in_the_same_transaction(identities):
    seen = {}

    async def script(ask, request):
        spec = chaincode_pb2.ChaincodeSpec(
            chaincode_id=chaincode_pb2.ChaincodeID(name="basic"),
            input=chaincode_pb2.ChaincodeInput(
                args=[b"CreateAsset", b"c1", b"red", b"1", b"Al", b"9"]
            ),
        )
        reply = await ask(T.INVOKE_CHAINCODE, spec)
        seen["callee"] = Message.FromString(reply.payload)
        return completed(request)

    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(AssetTransfer(), name="basic")
        await harness.deploy_service(ScriptedChaincode(script), "scripted")
        result = await harness.invoke("run", chaincode="scripted")
        assert result.ok, result.failure()
        assert seen["callee"].type == T.COMPLETED
        assert result.writes("basic")["c1"] is not None
        assert harness.get("c1", chaincode="basic") is not None


async def test_completed_for_another_txid_is_ignored_and_the_call_times_out(identities):
    async def script(ask, request):
        return Message(type=T.COMPLETED, txid="someone-else", channel_id=request.channel_id)

    async with ContractHarness(identities=identities, timeout=0.3) as harness:
        await harness.deploy_service(ScriptedChaincode(script), "scripted")
        result = await harness.invoke("run")
        assert "timeout expired" in (result.error or "")


async def test_chaincode_error_message_fails_the_transaction(identities):
    async def script(ask, request):
        return Message(
            type=T.ERROR, payload=b"boom", txid=request.txid, channel_id=request.channel_id
        )

    _harness, result = await run_script(identities, script)
    assert result.error == "transaction returned with failure: boom"


async def test_chaincode_that_dies_mid_transaction_fails_it_cleanly(identities):
    async def script(ask, request):
        return None  # ends the stream without answering

    _harness, result = await run_script(identities, script)
    assert result.error is not None and "stream ended" in result.error


# --- raw bytes over a real gRPC server --------------------------------------------------


def raw_server(frames: list[bytes]) -> grpc.aio.Server:
    async def connect(request_iterator, context):
        for frame in frames:
            yield frame
        async for _request in request_iterator:
            pass

    handler = grpc.method_handlers_generic_handler(
        "protos.Chaincode",
        {"Connect": grpc.stream_stream_rpc_method_handler(connect)},
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler])
    return server


async def _connect_raw(identities, frames):
    server = raw_server(frames)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with ContractHarness(identities=identities, timeout=1.0) as harness:
            await harness.connect(f"127.0.0.1:{port}", "raw")
            return await harness.invoke("run")
    finally:
        await server.stop(None)


async def test_register_with_non_utf8_name_is_refused(identities):
    bad_id = b"\x12\x02\xff\xfe"  # ChaincodeID.name = invalid UTF-8
    frame = Message(type=T.REGISTER, payload=bad_id).SerializeToString()
    with pytest.raises(ShimError, match="REGISTER payload is not a ChaincodeID"):
        await _connect_raw(identities, [frame])


async def test_malformed_message_fails_the_call_with_a_clear_error(identities):
    register = Message(
        type=T.REGISTER, payload=chaincode_pb2.ChaincodeID(name="raw").SerializeToString()
    ).SerializeToString()
    garbage = b"\x22\x02\xff\xfe"  # ChaincodeMessage.txid = invalid UTF-8

    result = await _connect_raw(identities, [register, garbage])
    assert result.error is not None
    assert "malformed ChaincodeMessage" in result.error or "stream" in result.error


async def test_private_data_is_refused_in_init(identities):
    replies = []

    async def script(ask, request):
        assert request.type == T.INIT
        replies.append(await ask(T.GET_STATE, shim.GetState(key="p", collection="secrets")))
        return completed(request)

    _harness, result = await run_script(identities, script, init=True)
    assert result.ok
    assert replies[0].type == T.ERROR and b"not allowed in chaincode Init()" in replies[0].payload


class FaultyState(MemoryState):
    """A state backend that fails on one key, as a disk error would."""

    def get(self, namespace, key):
        if key == "boom":
            raise OSError("disk on fire")
        return super().get(namespace, key)


async def test_state_backend_fault_is_an_error_reply_and_the_stream_survives(identities):
    replies = []

    async def script(ask, request):
        replies.append(await ask(T.GET_STATE, shim.GetState(key="boom")))
        replies.append(await ask(T.GET_STATE, shim.GetState(key="fine")))
        return completed(request)

    async with ContractHarness(identities=identities, state=FaultyState()) as harness:
        await harness.deploy_service(ScriptedChaincode(script), "scripted")
        harness.seed("fine", "ok")
        result = await harness.invoke("run")
    assert result.ok
    assert replies[0].type == T.ERROR and b"internal error (OSError)" in replies[0].payload
    assert (replies[1].type, replies[1].payload) == (T.RESPONSE, b"ok")


async def test_bookmark_without_page_size_resumes_and_returns_the_rest(identities):
    pages = []

    async def script(ask, request):
        meta = shim.QueryMetadata(pageSize=0, bookmark="k4").SerializeToString()
        reply = await ask(
            T.GET_STATE_BY_RANGE, shim.GetStateByRange(startKey="k0", endKey="", metadata=meta)
        )
        response = shim.QueryResponse.FromString(reply.payload)
        pages.append(
            [kv_query_result_pb2.KV.FromString(r.resultBytes).key for r in response.results]
        )
        return completed(request)

    await run_script(identities, script, seed=[(f"k{i}", str(i)) for i in range(7)])
    assert pages == [["k4", "k5", "k6"]]


async def test_private_hash_is_open_to_non_members_but_needs_a_defined_collection(identities):
    replies = []

    async def script(ask, request):
        replies.append(
            await ask(T.GET_PRIVATE_DATA_HASH, shim.GetState(key="p", collection="secrets"))
        )
        replies.append(
            await ask(T.GET_PRIVATE_DATA_HASH, shim.GetState(key="p", collection="nope"))
        )
        return completed(request)

    outsider = identities("Org2MSP", "mallory")
    await run_script(identities, script, identity=outsider)
    assert (replies[0].type, replies[0].payload) == (T.RESPONSE, b"")
    assert replies[1].type == T.ERROR and b"not defined" in replies[1].payload
