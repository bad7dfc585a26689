import hashlib

from fabric_protos.common import common_pb2
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.der import encoder
from pyasn1.type import namedtype, univ

from proto.blockhash import block_data_hash, block_header_bytes, block_header_hash

EMPTY_SHA256 = hashlib.sha256(b"").digest()


class _Asn1Header(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("number", univ.Integer()),
        namedtype.NamedType("previous_hash", univ.OctetString()),
        namedtype.NamedType("data_hash", univ.OctetString()),
    )


def _pyasn1_header(number: int, previous: bytes, data: bytes) -> bytes:
    header = _Asn1Header()
    header["number"] = number
    header["previous_hash"] = previous
    header["data_hash"] = data
    return encoder.encode(header)


def test_genesis_header_bytes_by_hand() -> None:
    # SEQUENCE(0x30, length 3 + 2 + 34 = 39) { INTEGER 0, OCTET STRING "", OCTET STRING <32 bytes> }
    expected = bytes.fromhex("302702010004000420") + EMPTY_SHA256
    assert block_header_bytes(0, b"", EMPTY_SHA256) == expected


def test_genesis_header_hash_by_hand() -> None:
    header = common_pb2.BlockHeader(number=0, previous_hash=b"", data_hash=EMPTY_SHA256)
    expected = "9cae6f5c10756febc407bba95fc23853774c1f65f10354895bfdab6443d66ed3"
    assert block_header_hash(header).hex() == expected


def test_integer_sign_bit_gets_a_leading_zero() -> None:
    assert block_header_bytes(127, b"", b"")[2:5] == bytes.fromhex("02017f")
    assert block_header_bytes(128, b"", b"")[2:6] == bytes.fromhex("02020080")
    assert block_header_bytes(2**64 - 1, b"", b"")[2:13] == bytes.fromhex("020900" + "ff" * 8)


@given(
    number=st.integers(min_value=0, max_value=2**64 - 1),
    previous=st.binary(max_size=200),
    data=st.binary(max_size=200),
)
def test_header_bytes_match_an_independent_der_encoder(
    number: int, previous: bytes, data: bytes
) -> None:
    assert block_header_bytes(number, previous, data) == _pyasn1_header(number, previous, data)


def test_data_hash_is_sha256_of_concatenated_envelopes() -> None:
    expected = "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
    assert block_data_hash([b"abc", b"def"]).hex() == expected
    assert block_data_hash([]) == EMPTY_SHA256
