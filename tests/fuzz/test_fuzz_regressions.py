"""What the fuzzers found, kept as plain examples against the running network so each
fix stays fixed whatever inputs a later run happens to draw."""

from __future__ import annotations

import grpc
import pytest
from fabric_protos.gateway import gateway_pb2

from tests.support.fabric_network import FabricNetwork


@pytest.mark.parametrize(
    ("method", "answer_type", "what", "inner"),
    [
        ("CommitStatus", gateway_pb2.CommitStatusResponse, "status request", "CommitStatusRequest"),
        ("ChaincodeEvents", None, "chaincode events request", "ChaincodeEventsRequest"),
    ],
)
def test_a_signed_request_whose_inner_request_does_not_decode(
    fabric: FabricNetwork, method: str, answer_type: object, what: str, inner: str
) -> None:
    """Was UNKNOWN "Unexpected <class 'DecodeError'>"; now Fabric's gateway answer."""
    peer = fabric.peers["Org1MSP"]
    with grpc.secure_channel(peer.address, fabric.credentials("Org1MSP")) as channel:
        kind = channel.unary_unary if answer_type else channel.unary_stream
        call = kind(f"/gateway.Gateway/{method}", request_serializer=None)
        signed = b"\n\x01\x00"  # request = b"\x00": field number 0 never decodes
        with pytest.raises(grpc.RpcError) as refused:
            list(call(signed, timeout=5)) if not answer_type else call(signed, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (
        f"invalid {what}: the request field does not decode as a gateway.{inner}"
    )
