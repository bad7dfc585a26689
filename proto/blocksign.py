"""The orderer's block signature, as Fabric 2.x writes and checks it.

The SIGNATURES metadata slot holds ``Metadata {value = OrdererBlockMetadata{last_config,
consenter_metadata}, signatures = [MetadataSignature{signature_header, signature}]}``;
each signature covers ``value ‖ signature_header ‖ DER(block header)``. Signing the
header (not the data) is enough because the header carries the data hash. The
LAST_CONFIG slot repeats the last config block number unsigned, for older readers.
"""

from __future__ import annotations

from fabric_protos.common import common_pb2

from proto.blockhash import block_header_bytes
from proto.signer import SignedData, Signer
from proto.txid import new_nonce


def _header_bytes(block: common_pb2.Block) -> bytes:
    header = block.header
    return block_header_bytes(header.number, header.previous_hash, header.data_hash)


def sign_block(
    block: common_pb2.Block,
    signer: Signer,
    last_config_index: int,
    consenter_metadata: bytes = b"",
) -> None:
    """Fill the SIGNATURES and LAST_CONFIG slots of ``block`` in place."""
    value = common_pb2.OrdererBlockMetadata(
        last_config=common_pb2.LastConfig(index=last_config_index),
        consenter_metadata=consenter_metadata,
    ).SerializeToString()
    signature_header = common_pb2.SignatureHeader(
        creator=signer.creator, nonce=new_nonce()
    ).SerializeToString()
    signature = signer.sign(value + signature_header + _header_bytes(block))
    metadata = block.metadata.metadata
    while len(metadata) < len(common_pb2.BlockMetadataIndex.items()):
        metadata.append(b"")
    metadata[common_pb2.SIGNATURES] = common_pb2.Metadata(
        value=value,
        signatures=[
            common_pb2.MetadataSignature(signature_header=signature_header, signature=signature)
        ],
    ).SerializeToString()
    metadata[common_pb2.LAST_CONFIG] = common_pb2.Metadata(
        value=common_pb2.LastConfig(index=last_config_index).SerializeToString()
    ).SerializeToString()


def block_signatures(block: common_pb2.Block) -> list[SignedData]:
    """The signed data of a block's SIGNATURES slot, for the BlockValidation policy."""
    if len(block.metadata.metadata) <= common_pb2.SIGNATURES:
        return []
    metadata = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
    header_bytes = _header_bytes(block)
    signed = []
    for entry in metadata.signatures:
        creator = common_pb2.SignatureHeader.FromString(entry.signature_header).creator
        signed.append(
            SignedData(
                data=metadata.value + entry.signature_header + header_bytes,
                identity=creator,
                signature=entry.signature,
            )
        )
    return signed


def last_config_index(block: common_pb2.Block) -> int:
    """The last config block number a block points to (from its signed metadata)."""
    metadata = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
    return common_pb2.OrdererBlockMetadata.FromString(metadata.value).last_config.index
