import pytest
from cryptography import x509
from fabric_protos.common import common_pb2

from ca.errors import SignatureError
from ca.signing import SoftwareSigner, verify
from proto.blocksign import block_signatures, last_config_index, sign_block
from proto.messages import build_block


def _verify_all(block: common_pb2.Block, signer: SoftwareSigner) -> None:
    public_key = x509.load_pem_x509_certificate(signer.certificate_pem).public_key()
    signed = block_signatures(block)
    assert len(signed) == 1
    for item in signed:
        assert item.identity == signer.creator
        verify(public_key, item.data, item.signature)


def test_signed_block_verifies_after_the_wire(signer: SoftwareSigner) -> None:
    block = build_block(7, b"\x01" * 32, [b"env-a", b"env-b"])
    sign_block(block, signer, last_config_index=3)
    wire = common_pb2.Block.FromString(block.SerializeToString())

    _verify_all(wire, signer)
    assert last_config_index(wire) == 3
    unsigned_last = common_pb2.Metadata.FromString(wire.metadata.metadata[common_pb2.LAST_CONFIG])
    assert common_pb2.LastConfig.FromString(unsigned_last.value).index == 3


def test_changing_the_header_breaks_the_signature(signer: SoftwareSigner) -> None:
    block = build_block(1, b"", [b"env"])
    sign_block(block, signer, last_config_index=0)
    block.header.data_hash = b"\x00" * 32
    with pytest.raises(SignatureError):
        _verify_all(block, signer)


def test_unsigned_block_has_no_signatures() -> None:
    assert block_signatures(common_pb2.Block()) == []
