"""Admission: what the orderer checks before it accepts an envelope (step 5, Order).

Like Fabric's ``orderer/common/msgprocessor``, every check answers with the
``common.Status`` a Fabric client expects and one sentence naming what is wrong; an
envelope that fails any check is never written anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fabric_protos.common import common_pb2, configtx_pb2
from google.protobuf.message import DecodeError

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from ordering.configupdate import apply_update
from ordering.errors import ConfigError, OrderingError
from proto.messages import header_type_name
from proto.signer import SignedData

log = logging.getLogger(__name__)

NORMAL_TYPES = {common_pb2.ENDORSER_TRANSACTION, common_pb2.MESSAGE}


class Rejected(OrderingError):
    """An envelope the orderer refuses, with the Fabric status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Admitted:
    channel_id: str
    envelope: bytes
    is_config_update: bool


def _parse(envelope_bytes: bytes) -> tuple[common_pb2.Envelope, common_pb2.Payload, int, str]:
    try:
        envelope = common_pb2.Envelope.FromString(envelope_bytes)
        payload = common_pb2.Payload.FromString(envelope.payload)
    except DecodeError:
        raise Rejected(common_pb2.BAD_REQUEST, "envelope does not decode") from None
    if not payload.header.channel_header:
        raise Rejected(common_pb2.BAD_REQUEST, "envelope payload has no channel header")
    try:
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    except DecodeError:
        raise Rejected(common_pb2.BAD_REQUEST, "channel header does not decode") from None
    return envelope, payload, header.type, header.channel_id


def creator_of(payload: common_pb2.Payload) -> bytes:
    try:
        creator = common_pb2.SignatureHeader.FromString(payload.header.signature_header).creator
    except DecodeError:
        raise Rejected(common_pb2.BAD_REQUEST, "signature header does not decode") from None
    if not creator:
        raise Rejected(common_pb2.BAD_REQUEST, "envelope has no creator in its signature header")
    return creator


# Per channel config: (policy, creator bytes) pairs that satisfied the policy with a valid
# signature. Within one config an identity's MSP, roles and OUs cannot change (a new
# config is a new object), so a known pair needs only what can change per envelope or
# over time: its signature and the identity's validity now (``check_signature``).
_SATISFIED: dict[int, tuple[ChannelConfig, set[tuple[str, bytes]]]] = {}
_MAX_CONFIGS = 16
_MAX_PAIRS = 4096


def _satisfied_pairs(config: ChannelConfig, policy: str) -> set[tuple[str, bytes]] | None:
    """The config's known pairs; None when the policy holds even without a signer (then
    a valid signature is not what satisfies it, and nothing may be cached)."""
    entry = _SATISFIED.get(id(config))
    if entry is None or entry[0] is not config:
        if len(_SATISFIED) >= _MAX_CONFIGS:
            _SATISFIED.clear()
        entry = _SATISFIED[id(config)] = (config, set())
    pairs = entry[1]
    if (policy, b"") not in pairs:
        if config.evaluate(policy, []):
            return None
        pairs.add((policy, b""))  # marks "checked: the policy needs a signer"
    return pairs


def check_signed_by_policy(
    config: ChannelConfig, policy: str, signed: SignedData, action: str
) -> None:
    """The creator must be a valid identity whose signature verifies, and ``policy``
    must be satisfied. The rejection says only which policy was not satisfied, as
    Fabric's does; which check failed, and why, goes to this node's log.

    A creator that satisfied the policy before under this config needs only its
    signature and validity checked (the policy tree walk costs ~35 µs per envelope).
    Otherwise the policy is evaluated (it verifies the signature once); only a refusal
    pays for the second check that explains it.
    """
    pairs = _satisfied_pairs(config, policy)
    if pairs is not None and (policy, signed.identity) in pairs:
        try:
            config.msps.check_signature(signed.identity, signed.data, signed.signature)
        except CaError as exc:
            raise _refused(config, policy, signed, f"{action}: {exc}") from None
        return
    if config.evaluate(policy, [signed]):
        if pairs is not None and signed.identity:
            if len(pairs) >= _MAX_PAIRS:
                pairs.clear()
            pairs.add((policy, signed.identity))
        return
    try:
        config.msps.check_signature(signed.identity, signed.data, signed.signature)
    except CaError as exc:
        raise _refused(config, policy, signed, f"{action}: {exc}") from None
    raise _refused(config, policy, signed, f"{action}: the creator does not satisfy {policy}")


def _refused(config: ChannelConfig, policy: str, signed: SignedData, reason: str) -> Rejected:
    log.warning("refused: %s", reason)
    return Rejected(common_pb2.FORBIDDEN, f"{config.refusal(policy, [signed])}: permission denied")


def admit(envelope_bytes: bytes, channel: Callable[[str], ChannelConfig | None]) -> Admitted:
    """Check one Broadcast envelope; return what to order or raise ``Rejected``."""
    envelope, payload, header_type, channel_id = _parse(envelope_bytes)
    config = channel(channel_id)
    if config is None:
        raise Rejected(common_pb2.NOT_FOUND, f"channel {channel_id!r} does not exist")
    limit = config.batch_size.absolute_max_bytes
    if len(envelope_bytes) > limit:
        raise Rejected(
            common_pb2.REQUEST_ENTITY_TOO_LARGE,
            f"envelope is {len(envelope_bytes)} bytes, over the channel's AbsoluteMaxBytes "
            f"of {limit}",
        )
    if header_type not in NORMAL_TYPES | {common_pb2.CONFIG_UPDATE}:
        raise Rejected(
            common_pb2.BAD_REQUEST,
            f"header type {header_type_name(header_type)} cannot be broadcast; submit a "
            "CONFIG_UPDATE to change config",
        )
    signed = SignedData(envelope.payload, creator_of(payload), envelope.signature)
    check_signed_by_policy(config, "/Channel/Writers", signed, "broadcast")
    if header_type == common_pb2.CONFIG_UPDATE:
        try:
            update = configtx_pb2.ConfigUpdateEnvelope.FromString(payload.data)
            apply_update(config, update)
        except DecodeError:
            raise Rejected(
                common_pb2.BAD_REQUEST, "CONFIG_UPDATE data is not a ConfigUpdateEnvelope"
            ) from None
        except ConfigError as exc:
            raise Rejected(common_pb2.BAD_REQUEST, f"config update refused: {exc}") from None
    return Admitted(channel_id, envelope_bytes, header_type == common_pb2.CONFIG_UPDATE)
