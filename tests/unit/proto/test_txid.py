from proto.signer import serialize_identity
from proto.txid import NONCE_SIZE, compute_txid, new_nonce

# SerializedIdentity{mspid="Org1MSP", id_bytes="cert"} encoded by hand:
# field 1 (0x0a) length 7, field 2 (0x12) length 4.
CREATOR = b"\x0a\x07Org1MSP\x12\x04cert"


def test_serialized_identity_bytes_are_fabric_protobuf() -> None:
    assert serialize_identity("Org1MSP", b"cert") == CREATOR


def test_txid_is_hex_sha256_of_nonce_then_creator() -> None:
    # Computed once by hand: sha256(b"\x01" * 24 + CREATOR).
    expected = "49d8f35259edde3eaf93bc2604c9e144a017856d3fc6dc49c7615eb3111d2d41"
    assert compute_txid(b"\x01" * 24, CREATOR) == expected


def test_txid_changes_with_creator() -> None:
    nonce = b"\x01" * 24
    assert compute_txid(nonce, CREATOR) != compute_txid(nonce, CREATOR + b"x")


def test_nonces_are_fresh_and_sized_like_fabric_sdks() -> None:
    first, second = new_nonce(), new_nonce()
    assert len(first) == NONCE_SIZE == 24
    assert first != second
