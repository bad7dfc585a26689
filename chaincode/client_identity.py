"""Who called the contract: MSP id, Fabric identity id, certificate attributes and roles.

The official Python shim has no counterpart of Go's ``cid`` package or Node's
``ClientIdentity``. This module is that helper, and it is deliberately one file that
imports only the standard library: contracts may depend on nothing but the contract API,
so a contract *vendors* this file (copies it into its own package, or links it, as the
``supply_chain`` sample does) and it runs unchanged on consortium and on real Fabric.

It reads the X.509 certificate with a small DER walker and follows Fabric's rules:
``get_id`` is base64 of ``x509::<subject>::<issuer>`` with names rendered as Go's
``pkix.Name.String()`` does; attributes come from the Fabric CA extension
``1.2.3.4.5.6.7.8.1`` holding ``{"attrs": {...}}``; roles are the subject's OU values.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

ATTRIBUTE_OID = "1.2.3.4.5.6.7.8.1"

_NAMES = {
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.9": "STREET",
    "2.5.4.17": "POSTALCODE",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "2.5.4.5": "SERIALNUMBER",
}
# The order Go's pkix.Name.ToRDNSequence emits, before String() reverses it.
_GO_ORDER = ["C", "ST", "L", "STREET", "POSTALCODE", "O", "OU", "CN", "SERIALNUMBER"]


class ClientIdentityError(ValueError):
    """The creator bytes or certificate could not be read."""


# --- minimal DER and protobuf readers ------------------------------------------------------


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ClientIdentityError("certificate: truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ClientIdentityError("certificate: truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        tag, s, e = _tlv(data, start)
        items.append((tag, s, e))
        start = e
    return items


def _oid(raw: bytes) -> str:
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _protobuf_fields(data: bytes) -> dict[int, bytes]:
    """Length-delimited fields of a protobuf message (enough for SerializedIdentity)."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, pos = _varint(data, pos)
            fields[number] = data[pos : pos + length]
            pos += length
        elif wire == 0:
            _, pos = _varint(data, pos)
        else:
            raise ClientIdentityError(f"creator: unexpected protobuf wire type {wire}")
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ClientIdentityError("creator: truncated protobuf")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


# --- certificate ------------------------------------------------------------------------


def _pem_to_der(pem: bytes) -> bytes:
    match = re.search(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    if match is None:
        raise ClientIdentityError("certificate: no PEM CERTIFICATE block in the identity")
    return base64.b64decode(b"".join(match.group(1).split()))


def _name(data: bytes, start: int, end: int) -> list[tuple[str, str]]:
    attributes = []
    for _set_tag, s, e in _children(data, start, end):
        for _seq_tag, s2, e2 in _children(data, s, e):
            (_t1, os_, oe), (_t2, vs, ve) = _children(data, s2, e2)[:2]
            oid = _oid(data[os_:oe])
            attributes.append((_NAMES.get(oid, oid), data[vs:ve].decode("utf-8", "replace")))
    return attributes


def _escape(value: str) -> str:
    escaped = re.sub(r'([,+"\\<>;])', r"\\\1", value)
    if escaped.startswith(("#", " ")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def go_dn(attributes: list[tuple[str, str]]) -> str:
    """A distinguished name as Go's ``pkix.Name.String()`` renders it."""
    rdns = []
    for short in _GO_ORDER:
        values = [v for k, v in attributes if k == short]
        if values:
            rdns.append("+".join(f"{short}={_escape(v)}" for v in values))
    return ",".join(reversed(rdns))


class Certificate:
    """The parts of an X.509 certificate a contract decides access on."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        der = _pem_to_der(pem)
        _tag, s, e = _tlv(der, 0)
        _tag, ts, te = _children(der, s, e)[0]
        fields = _children(der, ts, te)
        if fields and fields[0][0] == 0xA0:  # explicit version
            fields = fields[1:]
        self.issuer = _name(der, fields[2][1], fields[2][2])
        self.subject = _name(der, fields[4][1], fields[4][2])
        self.extensions: dict[str, bytes] = {}
        for tag, xs, _xe in fields[6:]:
            if tag != 0xA3:
                continue
            _seq, ls, le = _tlv(der, xs)
            for _t, es, ee in _children(der, ls, le):
                parts = _children(der, es, ee)
                oid = _oid(der[parts[0][1] : parts[0][2]])
                self.extensions[oid] = der[parts[-1][1] : parts[-1][2]]

    def subject_values(self, short_name: str) -> list[str]:
        return [v for k, v in self.subject if k == short_name]


class ClientIdentity:
    """The transaction creator, parsed from ``SerializedIdentity`` bytes."""

    def __init__(self, mspid: str, certificate_pem: bytes) -> None:
        self.mspid = mspid
        self.certificate = Certificate(certificate_pem)
        self.attributes = self._attributes()

    @classmethod
    def from_creator(cls, creator: bytes) -> ClientIdentity:
        """From the proposal's creator bytes (``msp.SerializedIdentity``)."""
        fields = _protobuf_fields(creator)
        if 1 not in fields or 2 not in fields:
            raise ClientIdentityError("creator: SerializedIdentity needs mspid and id_bytes")
        return cls(fields[1].decode("utf-8"), fields[2])

    @classmethod
    def from_stub(cls, stub: Any) -> ClientIdentity:
        """From the Python shim's stub (``get_creator()`` gives ``{mspid, idBytes}``)."""
        creator = stub.get_creator()
        if not creator or not creator.get("idBytes"):
            raise ClientIdentityError("creator: the transaction carries no signed proposal")
        return cls(creator["mspid"], bytes(creator["idBytes"]))

    def _attributes(self) -> dict[str, str]:
        raw = self.certificate.extensions.get(ATTRIBUTE_OID)
        if raw is None:
            return {}
        try:
            attrs = json.loads(raw).get("attrs", {})
        except (ValueError, AttributeError):
            raise ClientIdentityError("certificate: attribute extension is not JSON") from None
        return {str(k): str(v) for k, v in attrs.items()}

    def get_mspid(self) -> str:
        return self.mspid

    def get_id(self) -> str:
        subject = go_dn(self.certificate.subject)
        issuer = go_dn(self.certificate.issuer)
        return base64.b64encode(f"x509::{subject}::{issuer}".encode()).decode()

    def get_attribute_value(self, name: str) -> str | None:
        return self.attributes.get(name)

    def assert_attribute_value(self, name: str, value: str) -> bool:
        return self.attributes.get(name) == value

    def get_roles(self) -> list[str]:
        """The subject's OU values; Fabric NodeOUs put the role (client, admin, peer) here."""
        return self.certificate.subject_values("OU")

    def has_role(self, role: str) -> bool:
        return role in self.get_roles()
