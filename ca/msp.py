"""Fabric MSP semantics: who belongs to a member, in which role, and whether they signed.

An MSP is a member's trust anchor (root and intermediate CA certificates, CRLs, admin
certificates, NodeOU rules). Ordering and peers hold one ``Msp`` per member in an
``MspManager`` and ask it two things: is this ``SerializedIdentity`` valid (chain, expiry,
revocation, exactly one NodeOU role), and did it sign these bytes. Policies build on
``Msp.satisfies_principal``.

The folder layout and ``config.yaml`` are Fabric's, so folders written here work with
Fabric tools and folders from ``cryptogen``/Fabric CA load here.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.msp import identities_pb2, msp_config_pb2, msp_principal_pb2
from google.protobuf.message import DecodeError

from ca import certificates
from ca.errors import CertificateError, IdentityError, MspConfigError
from ca.signing import SoftwareSigner, key_id, verify
from proto.signer import serialize_identity

_MAX_CHAIN_DEPTH = 8
_VALIDATION_CACHE_SIZE = 4096


class Role(enum.IntEnum):
    """Fabric's ``MSPRole.MSPRoleType`` values, so principals convert without a table."""

    MEMBER = msp_principal_pb2.MSPRole.MEMBER
    ADMIN = msp_principal_pb2.MSPRole.ADMIN
    CLIENT = msp_principal_pb2.MSPRole.CLIENT
    PEER = msp_principal_pb2.MSPRole.PEER
    ORDERER = msp_principal_pb2.MSPRole.ORDERER


NODE_ROLES = (Role.CLIENT, Role.PEER, Role.ADMIN, Role.ORDERER)
_CONFIG_KEYS = {
    Role.CLIENT: "ClientOUIdentifier",
    Role.PEER: "PeerOUIdentifier",
    Role.ADMIN: "AdminOUIdentifier",
    Role.ORDERER: "OrdererOUIdentifier",
}


@dataclass(frozen=True)
class NodeOUs:
    """Which subject OU marks each node role (Fabric's defaults are the role names)."""

    enabled: bool = True
    client: str = "client"
    peer: str = "peer"
    admin: str = "admin"
    orderer: str = "orderer"
    # Fabric's OUIdentifier.Certificate: a role counts only for identities issued directly
    # by this CA certificate (PEM). Roles not listed are not restricted.
    certificates: tuple[tuple[Role, bytes], ...] = ()

    def ou_for(self, role: Role) -> str:
        return {
            Role.CLIENT: self.client,
            Role.PEER: self.peer,
            Role.ADMIN: self.admin,
            Role.ORDERER: self.orderer,
        }[role]

    def certificate_for(self, role: Role) -> bytes | None:
        return next((pem for r, pem in self.certificates if r == role), None)


@dataclass(frozen=True)
class MspConfig:
    """Everything an MSP trusts, as PEM bytes (the shape of a Fabric MSP folder)."""

    mspid: str
    root_certs: tuple[bytes, ...]
    intermediate_certs: tuple[bytes, ...] = ()
    tls_root_certs: tuple[bytes, ...] = ()
    tls_intermediate_certs: tuple[bytes, ...] = ()
    admins: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    node_ous: NodeOUs | None = field(default_factory=NodeOUs)


@dataclass(frozen=True)
class _Verdict:
    chain: tuple[x509.Certificate, ...]
    valid_from: datetime.datetime
    valid_until: datetime.datetime
    roles: frozenset[Role]


@dataclass(frozen=True)
class Identity:
    """A deserialized ``SerializedIdentity``; not yet known to be valid."""

    mspid: str
    certificate_pem: bytes
    certificate: x509.Certificate

    @functools.cached_property
    def id(self) -> str:
        """Fabric's identity identifier: SHA-256 of the certificate's DER."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def serialized(self) -> bytes:
        return serialize_identity(self.mspid, self.certificate_pem)

    @functools.cached_property
    def public_key(self) -> tuple[ec.EllipticCurvePublicKey | None, bytes]:
        """The certificate's EC key (``None`` if it holds another kind) and its
        ``ca.signing.key_id``, extracted once per parsed identity; a key that does not
        parse (``certificates.public_key_of``) is an ``IdentityError``."""
        try:
            public_key = certificates.public_key_of(self.certificate)
        except CertificateError as exc:
            raise IdentityError(f"identity {exc}") from None
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            return None, b""
        return public_key, key_id(public_key)

    @property
    def attributes(self) -> dict[str, str]:
        return certificates.certificate_attributes(self.certificate)

    @property
    def enrollment_id(self) -> str:
        return certificates.common_name(self.certificate)


def parse_serialized_identity(identity_bytes: bytes) -> Identity:
    """Decode Fabric creator bytes into an ``Identity`` (no trust decisions yet)."""
    try:
        sid = identities_pb2.SerializedIdentity.FromString(identity_bytes)
    except DecodeError as exc:
        raise IdentityError(f"identity bytes are not a SerializedIdentity: {exc}") from None
    if not sid.mspid:
        raise IdentityError("SerializedIdentity.mspid is empty")
    try:
        cert = certificates.load_certificate(sid.id_bytes, "SerializedIdentity.id_bytes")
    except CertificateError as exc:
        raise IdentityError(str(exc)) from None
    return Identity(mspid=sid.mspid, certificate_pem=bytes(sid.id_bytes), certificate=cert)


class Msp:
    """One member's MSP: validates its identities and classifies their roles."""

    def __init__(self, config: MspConfig) -> None:
        if not config.mspid:
            raise MspConfigError("mspid is empty")
        if not config.root_certs:
            raise MspConfigError(f"MSP {config.mspid} has no root CA certificate (cacerts)")
        self.config = config
        self.mspid = config.mspid
        self._roots = [certificates.load_certificate(p, "root CA") for p in config.root_certs]
        self._intermediates = [
            certificates.load_certificate(p, "intermediate CA") for p in config.intermediate_certs
        ]
        self._admins = {
            certificates.load_certificate(p, "admin certificate").public_bytes(
                serialization.Encoding.DER
            )
            for p in config.admins
        }
        self._revoked = self._index_crls(config.crls)
        self._role_issuers = self._index_role_restrictions(config.node_ous)
        self._verdicts: dict[bytes, _Verdict] = {}

    # -- configuration -------------------------------------------------------------

    def _index_crls(self, crls: Iterable[bytes]) -> dict[bytes, set[int]]:
        """Revoked serials by the SKI of the CA that signed the CRL (checked here, once)."""
        revoked: dict[bytes, set[int]] = {}
        for n, data in enumerate(crls):
            crl = certificates.load_crl(data, f"CRL #{n} of MSP {self.mspid}")
            issuer = next(
                (ca for ca in self._roots + self._intermediates if _crl_signed_by(crl, ca)), None
            )
            if issuer is None:
                raise MspConfigError(
                    f"CRL #{n} of MSP {self.mspid} is not signed by any of its CAs"
                )
            serials = revoked.setdefault(certificates.subject_key_id(issuer), set())
            serials.update(entry.serial_number for entry in crl)
        return revoked

    def _index_role_restrictions(
        self, node_ous: NodeOUs | None
    ) -> dict[Role, tuple[x509.Certificate, ...]]:
        """Each restricted role's CA chain (the CA itself up to its root)."""
        if node_ous is None:
            return {}
        chains = {}
        for role, pem in node_ous.certificates:
            ca = certificates.load_certificate(pem, f"NodeOUs certificate for {role.name}")
            chains[role] = self._ca_chain(ca, role)
        return chains

    def _ca_chain(self, ca: x509.Certificate, role: Role) -> tuple[x509.Certificate, ...]:
        chain = [ca]
        while not (
            chain[-1].issuer == chain[-1].subject and certificates.issued_by(chain[-1], chain[-1])
        ):
            parent = next(
                (
                    c
                    for c in self._roots + self._intermediates
                    if c not in chain and certificates.issued_by(chain[-1], c)
                ),
                None,
            )
            if parent is None or len(chain) > _MAX_CHAIN_DEPTH:
                raise MspConfigError(
                    f"NodeOUs certificate for {role.name.lower()} of MSP {self.mspid} is not one "
                    "of its CAs"
                )
            chain.append(parent)
        if chain[-1] not in self._roots:
            raise MspConfigError(
                f"NodeOUs certificate for {role.name.lower()} of MSP {self.mspid} does not chain "
                "to its root CAs"
            )
        return tuple(chain)

    def with_crl(self, crl: bytes) -> Msp:
        """A copy of this MSP that also honours ``crl`` (revocation reaching validation)."""
        return Msp(dataclasses.replace(self.config, crls=(*self.config.crls, crl)))

    # -- identities -----------------------------------------------------------------

    def deserialize(self, identity_bytes: bytes) -> Identity:
        identity = parse_serialized_identity(identity_bytes)
        if identity.mspid != self.mspid:
            raise IdentityError(f"identity belongs to MSP {identity.mspid!r}, not {self.mspid!r}")
        return identity

    def validate(self, identity: Identity) -> None:
        """Raise ``IdentityError`` unless the identity is currently valid in this MSP."""
        verdict = self._verdict(identity)
        moment = certificates.now()
        if not verdict.valid_from <= moment <= verdict.valid_until:
            self._raise_expired(verdict.chain, moment)

    def _verdict(self, identity: Identity) -> _Verdict:
        """The time-independent checks (chain, CRL, NodeOU), cached: an ``Msp`` is immutable."""
        if identity.mspid != self.mspid:
            raise IdentityError(f"identity belongs to MSP {identity.mspid!r}, not {self.mspid!r}")
        cert = identity.certificate
        cached = self._verdicts.get(cert.signature)
        # Identities are parsed once per creator bytes, so the cached verdict usually holds
        # this very object: `is` first (comparing two certificates re-encodes both, ~5 µs).
        if cached is not None and (cached.chain[0] is cert or cached.chain[0] == cert):
            return cached
        chain = self._chain(cert)
        for child, parent in itertools.pairwise(chain):
            serials = self._revoked.get(certificates.subject_key_id(parent), ())
            if child.serial_number in serials:
                raise IdentityError(
                    f"certificate {certificates.common_name(child)!r} (serial "
                    f"{certificates.hex_id(child.serial_number)}) has been revoked by MSP "
                    f"{self.mspid}"
                )
        roles = self._node_roles(cert, chain)
        if self.config.node_ous and self.config.node_ous.enabled and len(roles) != 1:
            found = ", ".join(sorted(r.name.lower() for r in roles)) or "none"
            raise IdentityError(
                f"identity {identity.enrollment_id!r} of MSP {self.mspid} must carry exactly one "
                f"NodeOU role (client, peer, admin or orderer); found: {found}"
            )
        admin = cert.public_bytes(serialization.Encoding.DER) in self._admins or Role.ADMIN in roles
        verdict = _Verdict(
            chain=tuple(chain),
            valid_from=max(c.not_valid_before_utc for c in chain),
            valid_until=min(c.not_valid_after_utc for c in chain),
            roles=frozenset({Role.MEMBER, *roles, *((Role.ADMIN,) if admin else ())}),
        )
        if len(self._verdicts) >= _VALIDATION_CACHE_SIZE:
            self._verdicts.clear()
        self._verdicts[cert.signature] = verdict
        return verdict

    def _raise_expired(self, chain: tuple[x509.Certificate, ...], moment) -> None:
        for cert in chain:
            if certificates.is_expired(cert, moment):
                what = "identity certificate" if cert is chain[0] else "CA certificate"
                raise IdentityError(
                    f"{what} {certificates.common_name(cert)!r} of MSP {self.mspid} is expired "
                    f"or not yet valid (valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                    f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
                )

    def _chain(self, leaf: x509.Certificate) -> list[x509.Certificate]:
        """Leaf → … → root, built from this MSP's CAs."""
        if _is_ca(leaf):
            raise IdentityError("a CA certificate cannot be used as an identity")
        chain = [leaf]
        current = leaf
        for _ in range(_MAX_CHAIN_DEPTH):
            root = next((r for r in self._roots if certificates.issued_by(current, r)), None)
            if root is not None:
                chain.append(root)
                return chain
            parent = next(
                (
                    i
                    for i in self._intermediates
                    if i not in chain and certificates.issued_by(current, i)
                ),
                None,
            )
            if parent is None:
                break
            chain.append(parent)
            current = parent
        raise IdentityError(
            f"certificate {certificates.common_name(leaf)!r} was not issued by a CA of MSP "
            f"{self.mspid}"
        )

    def _node_roles(self, cert: x509.Certificate, chain: list[x509.Certificate]) -> set[Role]:
        node_ous = self.config.node_ous
        if not node_ous or not node_ous.enabled:
            return set()
        ous = set(certificates.organizational_units(cert))
        return {
            role
            for role in NODE_ROLES
            if node_ous.ou_for(role) in ous
            and (role not in self._role_issuers or tuple(chain[1:]) == self._role_issuers[role])
        }

    def node_roles(self, identity: Identity) -> set[Role]:
        return self._node_roles(identity.certificate, self._chain(identity.certificate))

    def is_admin(self, identity: Identity) -> bool:
        return Role.ADMIN in self.roles(identity)

    def roles(self, identity: Identity) -> set[Role]:
        """Every role the (valid) identity holds: MEMBER plus admin and NodeOU roles."""
        self.validate(identity)
        return set(self._verdict(identity).roles)

    def certifiers_identifier(self, identity: Identity) -> bytes:
        """Fabric's chain identifier: SHA-256 over the DER of the identity's CA chain."""
        chain = self._verdict(identity).chain
        return hashlib.sha256(
            b"".join(c.public_bytes(serialization.Encoding.DER) for c in chain[1:])
        ).digest()

    def satisfies_principal(
        self, identity: Identity, principal: msp_principal_pb2.MSPPrincipal
    ) -> bool:
        """Fabric's SatisfiesPrincipal for ROLE, IDENTITY and ORGANIZATION_UNIT principals."""
        kind = principal.principal_classification
        try:
            if kind == msp_principal_pb2.MSPPrincipal.ROLE:
                role = msp_principal_pb2.MSPRole.FromString(principal.principal)
                if role.msp_identifier != self.mspid:
                    return False
                return Role(role.role) in self.roles(identity)
            if kind == msp_principal_pb2.MSPPrincipal.IDENTITY:
                other = parse_serialized_identity(principal.principal)
                if other.mspid != self.mspid or other.certificate != identity.certificate:
                    return False
                self.validate(identity)
                return True
            if kind == msp_principal_pb2.MSPPrincipal.ORGANIZATION_UNIT:
                unit = msp_principal_pb2.OrganizationUnit.FromString(principal.principal)
                if unit.msp_identifier != self.mspid:
                    return False
                self.validate(identity)
                certifiers = unit.certifiers_identifier
                if certifiers and certifiers != self.certifiers_identifier(identity):
                    return False
                ous = certificates.organizational_units(identity.certificate)
                return unit.organizational_unit_identifier in ous
        except (IdentityError, DecodeError, ValueError):
            return False
        return False

    def verify(self, identity: Identity, message: bytes, signature: bytes) -> None:
        """Raise ``SignatureError`` unless ``signature`` is the identity's low-S signature."""
        public_key, public_key_id = identity.public_key
        if public_key is None:
            raise IdentityError(f"identity {identity.enrollment_id!r} does not hold an EC key")
        verify(public_key, message, signature, public_key_id)

    def to_channel_value(self) -> bytes:
        """The serialized ``msp.MSPConfig`` a channel config stores under "MSP"."""
        return msp_config_pb2.MSPConfig(
            type=0, config=self.to_proto().SerializeToString()
        ).SerializeToString()

    def to_proto(self) -> msp_config_pb2.FabricMSPConfig:
        """The ``FabricMSPConfig`` that goes into a channel configuration."""
        config = self.config
        proto = msp_config_pb2.FabricMSPConfig(
            name=config.mspid,
            root_certs=list(config.root_certs),
            intermediate_certs=list(config.intermediate_certs),
            admins=list(config.admins),
            revocation_list=list(config.crls),
            tls_root_certs=list(config.tls_root_certs),
            tls_intermediate_certs=list(config.tls_intermediate_certs),
            crypto_config=msp_config_pb2.FabricCryptoConfig(
                signature_hash_family="SHA2", identity_identifier_hash_function="SHA256"
            ),
        )
        if config.node_ous:
            node = proto.fabric_node_ous
            node.enable = config.node_ous.enabled
            node.client_ou_identifier.organizational_unit_identifier = config.node_ous.client
            node.peer_ou_identifier.organizational_unit_identifier = config.node_ous.peer
            node.admin_ou_identifier.organizational_unit_identifier = config.node_ous.admin
            node.orderer_ou_identifier.organizational_unit_identifier = config.node_ous.orderer
            for role, pem in config.node_ous.certificates:
                _ou_identifier(node, role).certificate = pem
        return proto


def _ou_identifier(
    node: msp_config_pb2.FabricNodeOUs, role: Role
) -> msp_config_pb2.FabricOUIdentifier:
    return {
        Role.CLIENT: node.client_ou_identifier,
        Role.PEER: node.peer_ou_identifier,
        Role.ADMIN: node.admin_ou_identifier,
        Role.ORDERER: node.orderer_ou_identifier,
    }[role]


def msp_config_from_proto(proto: msp_config_pb2.FabricMSPConfig) -> MspConfig:
    """The inverse of ``Msp.to_proto``: an MSP from a channel configuration's MSP value.

    A ``FabricNodeOUs`` with an empty OU name for a role keeps Fabric's default name.
    """
    node_ous = None
    if proto.HasField("fabric_node_ous"):
        node = proto.fabric_node_ous
        defaults = NodeOUs()
        node_ous = NodeOUs(
            enabled=node.enable,
            client=node.client_ou_identifier.organizational_unit_identifier or defaults.client,
            peer=node.peer_ou_identifier.organizational_unit_identifier or defaults.peer,
            admin=node.admin_ou_identifier.organizational_unit_identifier or defaults.admin,
            orderer=node.orderer_ou_identifier.organizational_unit_identifier or defaults.orderer,
            certificates=tuple(
                (role, bytes(_ou_identifier(node, role).certificate))
                for role in NODE_ROLES
                if _ou_identifier(node, role).certificate
            ),
        )
    return MspConfig(
        mspid=proto.name,
        root_certs=tuple(proto.root_certs),
        intermediate_certs=tuple(proto.intermediate_certs),
        tls_root_certs=tuple(proto.tls_root_certs),
        tls_intermediate_certs=tuple(proto.tls_intermediate_certs),
        admins=tuple(proto.admins),
        crls=tuple(proto.revocation_list),
        node_ous=node_ous,
    )


def msp_from_channel_value(value: bytes) -> Msp:
    """An ``Msp`` from the serialized ``msp.MSPConfig`` stored under a channel's "MSP" key."""
    try:
        wrapper = msp_config_pb2.MSPConfig.FromString(value)
        if wrapper.type != 0:
            raise MspConfigError(f"MSPConfig.type {wrapper.type} is not FABRIC (0)")
        proto = msp_config_pb2.FabricMSPConfig.FromString(wrapper.config)
    except DecodeError as exc:
        raise MspConfigError(f"MSP config value does not decode: {exc}") from None
    return Msp(msp_config_from_proto(proto))


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _crl_signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())
    except (TypeError, ValueError):
        return False


class MspManager:
    """All MSPs a node trusts (one per member of a channel), looked up by MSP ID."""

    def __init__(self, msps: Iterable[Msp] = ()) -> None:
        self._msps: dict[str, Msp] = {}
        self._parsed: dict[bytes, Identity] = {}
        for msp in msps:
            self.add(msp)

    def add(self, msp: Msp) -> None:
        self._msps[msp.mspid] = msp

    def get(self, mspid: str) -> Msp:
        try:
            return self._msps[mspid]
        except KeyError:
            raise IdentityError(f"MSP {mspid!r} is not known to this node") from None

    def __contains__(self, mspid: object) -> bool:
        return mspid in self._msps

    @property
    def mspids(self) -> list[str]:
        return sorted(self._msps)

    def deserialize(self, identity_bytes: bytes) -> tuple[Msp, Identity]:
        """Creator bytes → (its MSP, identity); parsed identities are cached by their bytes."""
        identity = self._parsed.get(identity_bytes)
        if identity is None:
            identity = parse_serialized_identity(identity_bytes)
            if len(self._parsed) >= _VALIDATION_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[identity_bytes] = identity
        return self.get(identity.mspid), identity

    def validate(self, identity_bytes: bytes) -> Identity:
        """Deserialize and validate creator bytes; raises ``IdentityError`` naming why not."""
        msp, identity = self.deserialize(identity_bytes)
        msp.validate(identity)
        return identity

    def check_signature(self, identity_bytes: bytes, message: bytes, signature: bytes) -> Identity:
        """What an endorser/orderer does with a creator: validate it, then its signature."""
        msp, identity = self.deserialize(identity_bytes)
        msp.validate(identity)
        msp.verify(identity, message, signature)
        return identity


# -- MSP folders -----------------------------------------------------------------------

_FOLDERS = {
    "root_certs": "cacerts",
    "intermediate_certs": "intermediatecerts",
    "tls_root_certs": "tlscacerts",
    "tls_intermediate_certs": "tlsintermediatecerts",
    "admins": "admincerts",
    "crls": "crls",
}


def _read_folder(path: Path) -> tuple[bytes, ...]:
    if not path.is_dir():
        return ()
    return tuple(p.read_bytes() for p in sorted(path.iterdir()) if p.is_file())


def _split_pems(blobs: Iterable[bytes], what: str) -> tuple[bytes, ...]:
    """A file may hold several certificates; the MSP wants one PEM per certificate."""
    out: list[bytes] = []
    for blob in blobs:
        out.extend(certificates.to_pem(c) for c in certificates.load_certificates(blob, what))
    return tuple(out)


def load_msp_config(path: str | os.PathLike[str], mspid: str) -> MspConfig:
    """Read a Fabric MSP folder: cacerts, intermediatecerts, crls, config.yaml and the rest."""
    root = Path(path)
    if not root.is_dir():
        raise MspConfigError(f"MSP folder {root} does not exist")
    parts: dict[str, tuple[bytes, ...]] = {}
    for attr, folder in _FOLDERS.items():
        blobs = _read_folder(root / folder)
        parts[attr] = blobs if attr == "crls" else _split_pems(blobs, f"{root / folder}")
    if not parts["root_certs"]:
        raise MspConfigError(f"MSP folder {root} has no certificate in cacerts/")
    return MspConfig(mspid=mspid, node_ous=_read_node_ous(root), **parts)


def _read_node_ous(root: Path) -> NodeOUs | None:
    path = root / "config.yaml"
    if not path.is_file():
        return None
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise MspConfigError(f"{path} is not YAML: {exc}") from None
    section = document.get("NodeOUs") if isinstance(document, dict) else None
    if not section:
        return None
    names = {}
    restrictions = []
    for role, key in _CONFIG_KEYS.items():
        entry = section.get(key) or {}
        ou = entry.get("OrganizationalUnitIdentifier")
        if ou is not None and not isinstance(ou, str):
            raise MspConfigError(f"{path}: NodeOUs.{key}.OrganizationalUnitIdentifier is not text")
        names[role.name.lower()] = ou or role.name.lower()
        certificate = entry.get("Certificate")
        if certificate:
            try:
                restrictions.append((role, (root / str(certificate)).read_bytes()))
            except OSError:
                raise MspConfigError(
                    f"{path}: NodeOUs.{key}.Certificate {certificate} cannot be read"
                ) from None
    return NodeOUs(
        enabled=bool(section.get("Enable", False)), certificates=tuple(restrictions), **names
    )


def load_msp(path: str | os.PathLike[str], mspid: str) -> Msp:
    return Msp(load_msp_config(path, mspid))


def write_msp(
    path: str | os.PathLike[str],
    config: MspConfig,
    signer: SoftwareSigner | None = None,
) -> Path:
    """Write ``config`` as a Fabric MSP folder; with ``signer`` a local (signing) MSP.

    Files are written to a sibling temp folder and renamed into place, so a crash never
    leaves half an MSP behind.
    """
    target = Path(path)
    config_yaml = _node_ous_yaml(config) if config.node_ous is not None else None
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    if staging.exists():
        _remove_tree(staging)
    staging.mkdir(parents=True)
    for attr, folder in _FOLDERS.items():
        blobs = getattr(config, attr)
        if blobs:
            (staging / folder).mkdir()
            suffix = "crl.pem" if attr == "crls" else "cert.pem"
            for n, blob in enumerate(blobs):
                (staging / folder / f"{n}-{suffix}").write_bytes(blob)
    if config_yaml is not None:
        (staging / "config.yaml").write_text(config_yaml)
    if signer is not None:
        (staging / "signcerts").mkdir()
        (staging / "signcerts" / "cert.pem").write_bytes(signer.certificate_pem)
        (staging / "keystore").mkdir(mode=0o700)
        key_file = staging / "keystore" / "priv_sk"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                signer.private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    if target.exists():
        _remove_tree(target)
    staging.rename(target)
    return target


def _node_ous_yaml(config: MspConfig) -> str:
    node_ous = config.node_ous
    assert node_ous is not None
    section: dict[str, object] = {"Enable": node_ous.enabled}
    for role, key in _CONFIG_KEYS.items():
        entry: dict[str, str] = {"OrganizationalUnitIdentifier": node_ous.ou_for(role)}
        restriction = node_ous.certificate_for(role)
        if restriction is not None:
            entry = {"Certificate": _folder_path_of(config, restriction), **entry}
        section[key] = entry
    return yaml.safe_dump({"NodeOUs": section}, sort_keys=False)


def _folder_path_of(config: MspConfig, pem: bytes) -> str:
    """Where ``write_msp`` puts a CA certificate, for ``config.yaml`` to point at."""
    for attr in ("root_certs", "intermediate_certs"):
        for n, blob in enumerate(getattr(config, attr)):
            if blob == pem:
                return f"{_FOLDERS[attr]}/{n}-cert.pem"
    raise MspConfigError("a NodeOUs certificate must be one of the MSP's CA certificates")


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    path.rmdir()


def load_signing_identity(path: str | os.PathLike[str], mspid: str) -> SoftwareSigner:
    """The node's own identity from ``signcerts/`` and ``keystore/`` of a local MSP."""
    root = Path(path)
    certs = _read_folder(root / "signcerts")
    keys = _read_folder(root / "keystore")
    if not certs:
        raise MspConfigError(f"MSP folder {root} has no certificate in signcerts/")
    if not keys:
        raise MspConfigError(f"MSP folder {root} has no key in keystore/")
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
    except (ValueError, TypeError) as exc:
        raise MspConfigError(f"{root / 'keystore'} holds no usable PEM key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise MspConfigError(f"{root / 'keystore'} key is not an EC key")
    return SoftwareSigner(mspid=mspid, certificate_pem=certs[0], private_key=key)


class ReloadingSigner:
    """A node's own identity, replaced in place by ``reload`` after ``consortium certs
    rotate`` re-enrolled it: every part of the node (endorser, gateway, deliver client,
    private data) holds this one object, so all of them sign with the new certificate
    from the next message on, without a restart."""

    def __init__(self, path: str | os.PathLike[str], mspid: str) -> None:
        self.path, self.mspid = Path(path), mspid
        self.current = load_signing_identity(self.path, mspid)

    @property
    def certificate_pem(self) -> bytes:
        return self.current.certificate_pem

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return self.current.private_key

    @property
    def creator(self) -> bytes:
        return self.current.creator

    def sign(self, message: bytes) -> bytes:
        return self.current.sign(message)

    def reload(self) -> bool:
        """Read the MSP folder again; False when it holds the same certificate. An
        unreadable folder raises ``MspConfigError`` and the current identity stays."""
        fresh = load_signing_identity(self.path, self.mspid)
        if fresh.certificate_pem == self.current.certificate_pem:
            return False
        self.current = fresh
        return True

    def reload_on_sighup(self, also: Callable[[], object] | None = None) -> None:
        """SIGHUP, as ``certs rotate`` sends it, reloads the identity (after ``also``,
        the node's own reloads: its TLS client certificate); the log line names the new
        certificate's serial number, which the rotation waits for."""
        import asyncio
        import logging
        import signal

        log = logging.getLogger("ca.msp")

        def reload() -> None:
            if also is not None:
                also()
            try:
                changed = self.reload()
            except MspConfigError as exc:
                log.warning("identity not reloaded, keeping the current one: %s", exc)
                return
            serial = certificates.load_certificate(self.certificate_pem).serial_number
            log.info("identity %s (serial %x)", "reloaded" if changed else "unchanged", serial)

        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
