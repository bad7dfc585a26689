"""A member's certificate authority: register, enroll, reenroll, revoke, CRLs, TLS CA.

This is the transport-free core of ``consortium ca serve``: every method takes what the
REST request carried (authorization header, method, URI, raw body) and returns the
``result`` of Fabric CA's response envelope or raises ``CaRequestError`` with Fabric
CA's HTTP status and error code. Each request's writes happen in one registry
transaction after every check has passed, so a refused request writes nothing.

A home folder holds ``ca.yaml``, the encrypted keys (``keys/``), the two CA
certificates, and ``registry.db``. Two CAs live in one home: the signing CA (enrollment
certificates, the member's MSP) and the TLS CA (node TLS certificates), addressed by
``caname`` or the ``tls`` profile, sharing one identity registry.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
)

from ca import attributes, certificates, protocol, requests
from ca.errors import CaRequestError, RegistryError, SignatureError
from ca.issuing import Issuer, ca_name, self_signed_ca
from ca.keystore import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    EncryptedKeyStore,
    create_master_key_file,
    master_key_from_environment,
)
from ca.msp import MspConfig, NodeOUs
from ca.registry import (
    ACTIVE,
    REVOKED,
    CertificateRecord,
    IdentityRecord,
    Registry,
    Secret,
)
from ca.settings import CaSettings
from ca.token import verify_token

IDENTITY_TYPES = ("client", "peer", "admin", "orderer")


@dataclass(frozen=True)
class Caller:
    """An identity authenticated by token: its registry record and the certificate used."""

    record: IdentityRecord
    certificate: x509.Certificate

    def has_true(self, attribute: str) -> bool:
        return attributes.is_true(self.record, attribute)


@dataclass(frozen=True)
class _Ca:
    """One of the two CAs in a home: its caname and issuer."""

    name: str
    issuer: Issuer
    tls: bool

    @property
    def pem(self) -> bytes:
        return certificates.to_pem(self.issuer.certificate)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class CertificateAuthority:
    def __init__(
        self,
        home: Path,
        settings: CaSettings,
        signing: _Ca,
        tls: _Ca,
        registry: Registry,
        master_key: bytes,
    ):
        self.home = home
        self._master_key = master_key
        self.settings = settings
        self.signing = signing
        self.tls = tls
        self.registry = registry

    # -- home folder -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str],
        *,
        settings: CaSettings | None = None,
        boot: tuple[str, str] | None = None,
        master_key: bytes | None = None,
    ) -> CertificateAuthority:
        """Open a CA home, creating keys, certificates and the bootstrap identity if new."""
        root = Path(home)
        root.mkdir(parents=True, exist_ok=True)
        settings_path = root / "ca.yaml"
        if settings_path.exists():
            settings = CaSettings.load(settings_path)
        else:
            settings = settings or CaSettings()
            settings.save(settings_path)
        key = master_key or _master_key(root)
        store = EncryptedKeyStore(root / "keys", key)
        signing = _open_ca(root, store, settings.name, settings, tls=False)
        tls = _open_ca(root, store, settings.tls_name, settings, tls=True)
        registry = Registry(root / "registry.db")
        authority = cls(root, settings, signing, tls, registry, key)
        if not registry.affiliations():
            registry.add_affiliations(list(settings.affiliations))
        if boot is not None:
            authority.bootstrap(*boot)
        return authority

    def close(self) -> None:
        self.registry.close()

    def bootstrap(self, identity_id: str, secret: str) -> None:
        """Register the bootstrap admin once (``--boot admin:adminpw``), as Fabric CA does."""
        if not identity_id or not secret:
            raise RegistryError("bootstrap identity needs a name and a password (name:password)")
        if self.registry.get(identity_id) is not None:
            return
        record = IdentityRecord(
            id=identity_id,
            type="client",
            affiliation="",
            attrs=attributes.BOOTSTRAP_ATTRIBUTES
            + attributes.ca_attributes(identity_id, "client", ""),
            max_enrollments=-1,
        )
        prepared = Secret.of(secret)
        with self.registry.transaction() as db:
            self.registry.insert(db, record, prepared)

    # -- what others need --------------------------------------------------------------

    def msp_config(self) -> MspConfig:
        """The member's MSP as this CA defines it, with the current CRL."""
        crl = self._crl(self.signing, self.registry.revoked(self.signing.name))
        return MspConfig(
            mspid=self.settings.mspid,
            root_certs=(self.signing.pem,),
            tls_root_certs=(self.tls.pem,),
            crls=(crl,),
            node_ous=NodeOUs(),
        )

    def server_tls_files(self, hosts: list[str]) -> tuple[Path, Path, bytes]:
        """A fresh TLS certificate for this CA's own listener, issued by its TLS CA.

        Returns (certificate file, encrypted key file, key password). The key is written
        PKCS#8-encrypted under the master key, 0600, like the CA keys; clients trust
        ``tlsca-cert.pem``.
        """
        if not hosts:
            raise RegistryError("the CA's TLS certificate needs at least one host name")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.tls.issuer.issue(
            key.public_key(),
            f"{self.settings.name}-server",
            hosts=hosts,
            tls=True,
            days=self.settings.cert_expiry_days,
        )
        folder = self.home / "server-tls"
        folder.mkdir(mode=0o700, exist_ok=True)
        cert_file, key_file = folder / "server.crt", folder / "server.key"
        _write_atomically(cert_file, certificates.to_pem(cert), 0o644)
        _write_atomically(
            key_file,
            key.private_bytes(
                Encoding.PEM,
                PrivateFormat.PKCS8,
                BestAvailableEncryption(self._master_key),
            ),
            0o600,
        )
        return cert_file, key_file, self._master_key

    def _ca(self, caname: str | None, profile: str | None = None) -> _Ca:
        if caname in (None, "", self.signing.name):
            return self.tls if profile == "tls" else self.signing
        if caname == self.tls.name:
            return self.tls
        raise protocol.http_error(404, protocol.ERR_CA_NOT_FOUND, f"CA '{caname}' does not exist")

    def info(self, caname: str | None = None) -> dict[str, Any]:
        ca = self._ca(caname)
        return {
            "CAName": ca.name,
            "CAChain": _b64(ca.pem),
            "IssuerPublicKey": "",
            "IssuerRevocationPublicKey": "",
            "Version": protocol.FABRIC_CA_VERSION,
        }

    # -- authentication ----------------------------------------------------------------

    def _basic(self, authorization: str | None) -> IdentityRecord:
        if not authorization:
            raise protocol.http_error(401, protocol.ERR_NO_AUTH_HDR, "No authorization header")
        scheme, _, encoded = authorization.partition(" ")
        try:
            user, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if scheme.lower() != "basic" or not sep:
            raise protocol.authentication_error(
                protocol.ERR_NO_USER_PASS, "No user/pass in authorization header"
            )
        if self.settings.max_enrollments == 0:
            raise protocol.authentication_error(protocol.ERR_ENROLL_DISABLED, "Enroll is disabled")
        record = self.registry.get(user)
        if record is None:
            raise protocol.authentication_error(
                protocol.ERR_INVALID_USER, f"Failed to get user: {user} not found"
            )
        if not self.registry.check_secret(user, secret):
            raise protocol.authentication_error(
                protocol.ERR_INVALID_PASS, f"Login failure: incorrect password for '{user}'"
            )
        if record.state == REVOKED:
            raise protocol.authentication_error(
                protocol.ERR_INVALID_PASS, f"Login failure: identity '{user}' is revoked"
            )
        if 0 <= record.max_enrollments <= record.enrollments:
            raise protocol.authentication_error(
                protocol.ERR_INVALID_PASS,
                f"Login failure: the identity {user} has already enrolled {record.enrollments} "
                "times, it has reached its maximum enrollment allowance",
            )
        return record

    def authenticate(self, authorization: str | None, method: str, uri: str, body: bytes) -> Caller:
        """Fabric CA's token check: signature, issuer, expiry, revocation, registration."""
        if not authorization:
            raise protocol.http_error(401, protocol.ERR_NO_AUTH_HDR, "No authorization header")
        try:
            cert = verify_token(authorization, method, uri, body)
        except SignatureError as exc:
            raise protocol.authentication_error(
                protocol.ERR_INVALID_TOKEN, f"Invalid token in authorization header: {exc}"
            ) from None
        if not certificates.issued_by(cert, self.signing.issuer.certificate):
            raise protocol.authentication_error(
                protocol.ERR_UNTRUSTED_CERTIFICATE, "Untrusted certificate: not issued by this CA"
            )
        if certificates.is_expired(cert):
            raise protocol.authentication_error(
                protocol.ERR_CERT_EXPIRED, "The certificate in the authorization header is expired"
            )
        serial, aki = certificates.hex_id(cert.serial_number), self._aki(cert)
        stored = self.registry.certificate(serial, aki)
        if stored is None:
            raise protocol.authentication_error(
                protocol.ERR_CERT_NOT_FOUND,
                f"Certificate not found with AKI '{aki}' and serial '{serial}'",
            )
        if stored.status == "revoked":
            raise protocol.authentication_error(
                protocol.ERR_CERT_REVOKED,
                "The certificate in the authorization header is a revoked certificate",
            )
        record = self.registry.get(certificates.common_name(cert))
        if record is None or record.state == REVOKED:
            raise protocol.authentication_error(
                protocol.ERR_CERT_REVOKED, "The identity of the token is unknown or revoked"
            )
        return Caller(record, cert)

    @staticmethod
    def _aki(cert: x509.Certificate) -> str:
        return certificates.hex_id(certificates.authority_key_id(cert))

    # -- enroll ------------------------------------------------------------------------

    def enroll(self, authorization: str | None, body: bytes) -> dict[str, Any]:
        record = self._basic(authorization)
        request = requests.json_object(body)
        return self._issue(record, request, count=True)

    def reenroll(self, authorization: str | None, uri: str, body: bytes) -> dict[str, Any]:
        caller = self.authenticate(authorization, "POST", uri, body)
        return self._issue(caller.record, requests.json_object(body), count=False)

    def _issue(self, record: IdentityRecord, request: Mapping[str, Any], count: bool) -> dict:
        ca = self._ca(requests.opt_str(request, "caname"), requests.opt_str(request, "profile"))
        csr = requests.parse_csr(request.get("certificate_request"), record.id)
        hosts = list(requests.opt_list_of_str(request, "hosts")) or requests.csr_hosts(csr)
        embedded = (
            None if ca.tls else attributes.certificate_attributes(record, request.get("attr_reqs"))
        )
        public_key = csr.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        cert = ca.issuer.issue(
            public_key,
            record.id,
            ous=() if ca.tls else _subject_ous(record),
            attributes=embedded,
            hosts=hosts,
            tls=ca.tls,
            days=self.settings.cert_expiry_days,
        )
        pem = certificates.to_pem(cert)
        stored = CertificateRecord(
            serial=certificates.hex_id(cert.serial_number),
            aki=self._aki(cert),
            id=record.id,
            ca=ca.name,
            pem=pem.decode(),
            status="good",
            not_after=cert.not_valid_after_utc,
        )
        with self.registry.transaction() as db:
            if count and not self.registry.count_enrollment(db, record.id):
                # Another request took the last enrollment (or revoked the identity) while
                # this certificate was being made; nothing is written.
                raise protocol.authentication_error(
                    protocol.ERR_INVALID_PASS,
                    f"Login failure: '{record.id}' reached its maximum enrollments or is revoked",
                )
            self.registry.add_certificate(db, stored)
        return {"Cert": _b64(pem), "ServerInfo": self.info(ca.name)}

    # -- register ----------------------------------------------------------------------

    def register(self, authorization: str | None, uri: str, body: bytes) -> dict[str, Any]:
        request = requests.json_object(body)
        caller = self.authenticate(authorization, "POST", uri, body)
        self._ca(requests.opt_str(request, "caname"))
        identity_id = requests.required_str(request, "id")
        identity_type = requests.opt_str(request, "type") or caller.record.type
        if identity_type not in IDENTITY_TYPES:
            raise protocol.bad_request(
                f"Identity type '{identity_type}' is not one of {', '.join(IDENTITY_TYPES)}"
            )
        affiliation = requests.opt_str(request, "affiliation")
        affiliation = caller.record.affiliation if affiliation is None else affiliation
        affiliation = "" if affiliation == "." else affiliation
        self._require_registrar_for(caller, identity_type, affiliation)
        if affiliation and affiliation not in self.registry.affiliations():
            raise protocol.http_error(
                500,
                protocol.ERR_UNKNOWN,
                f"Registration of '{identity_id}' failed in affiliation validation: "
                f"Failed getting affiliation '{affiliation}'",
            )
        attrs = attributes.requested_attributes(request)
        attributes.check_can_register_attributes(caller.record, attrs)
        max_enrollments = self._max_enrollments(
            identity_id, requests.opt_int(request, "max_enrollments")
        )
        secret = requests.opt_str(request, "secret") or _random_secret()
        record = IdentityRecord(
            id=identity_id,
            type=identity_type,
            affiliation=affiliation,
            attrs=attrs + attributes.ca_attributes(identity_id, identity_type, affiliation),
            max_enrollments=max_enrollments,
        )
        prepared = Secret.of(secret)
        try:
            with self.registry.transaction() as db:
                self.registry.insert(db, record, prepared)
        except RegistryError as exc:
            raise protocol.http_error(
                500, protocol.ERR_UNKNOWN, f"Registration of '{identity_id}' failed: {exc}"
            ) from None
        return {"secret": secret}

    def _max_enrollments(self, identity_id: str, requested: int | None) -> int:
        """Fabric CA's rule combining the request's and the CA's max enrollments."""
        ca_max = self.settings.max_enrollments
        value = requested or 0
        if value < -1:
            raise protocol.bad_request(f"max_enrollments of '{identity_id}' must be -1 or more")
        if ca_max == -1:
            return -1 if value == 0 else value
        if value == 0:
            return ca_max
        if value == -1 or value > ca_max:
            raise protocol.http_error(
                500,
                protocol.ERR_UNKNOWN,
                f"Registration of '{identity_id}' failed: max_enrollments {value} exceeds the "
                f"CA's maximum of {ca_max}",
            )
        return value

    def _require_registrar_for(self, caller: Caller, identity_type: str, affiliation: str) -> None:
        roles = caller.record.attribute(attributes.REGISTRAR_ROLES) or ""
        if not roles:
            raise protocol.authorization_error(
                protocol.ERR_MISSING_REG_ATTR, f"'{caller.record.id}' is not a registrar"
            )
        allowed = {r.strip() for r in roles.split(",")}
        if "*" not in allowed and identity_type not in allowed:
            raise protocol.authorization_error(
                protocol.ERR_REGISTRAR_INVALID_TYPE,
                f"Registrar does not have authority to act on type '{identity_type}'",
            )
        self._require_affiliation(caller, affiliation)

    @staticmethod
    def _require_affiliation(caller: Caller, affiliation: str) -> None:
        own = caller.record.affiliation
        if own and affiliation != own and not affiliation.startswith(own + "."):
            raise protocol.authorization_error(
                protocol.ERR_CALLER_NOT_AFFILIATED,
                f"Caller does not have authority to act on affiliation '{affiliation}'",
            )

    def _require_can_manage(self, caller: Caller, target: IdentityRecord) -> None:
        self._require_affiliation(caller, target.affiliation)
        roles = {
            r.strip()
            for r in (caller.record.attribute(attributes.REGISTRAR_ROLES) or "").split(",")
        }
        if "*" not in roles and target.type not in roles and caller.record.id != target.id:
            raise protocol.authorization_error(
                protocol.ERR_REGISTRAR_INVALID_TYPE,
                f"Caller does not have authority to act on type '{target.type}'",
            )

    # -- revoke and CRLs ---------------------------------------------------------------

    def revoke(self, authorization: str | None, uri: str, body: bytes) -> dict[str, Any]:
        request = requests.json_object(body)
        caller = self.authenticate(authorization, "POST", uri, body)
        ca = self._ca(requests.opt_str(request, "caname"))
        if not caller.has_true(attributes.REVOKER):
            raise protocol.authorization_error(
                protocol.ERR_NOT_REVOKER,
                f"'{caller.record.id}' does not have the hf.Revoker attribute",
            )
        reason = requests.revocation_reason(request)
        identity_id = requests.opt_str(request, "id") or ""
        serial = requests.normalize_hex(requests.opt_str(request, "serial"))
        aki = requests.normalize_hex(requests.opt_str(request, "aki"))
        if serial and aki:
            targets, revoke_identity = [self._certificate_to_revoke(serial, aki, identity_id)], None
        elif identity_id:
            revoke_identity = self.registry.get(identity_id)
            if revoke_identity is None:
                raise protocol.http_error(
                    404, protocol.ERR_REVOKE_ID_NOT_FOUND, f"Identity '{identity_id}' not found"
                )
            targets = [c for c in self.registry.certificates_of(identity_id) if c.status == "good"]
        else:
            raise protocol.bad_request(
                "Either Name or Serial and AKI are required for a revocation request",
                protocol.ERR_MISSING_REVOKE_ARGS,
            )
        owners = {c.id for c in targets} | ({revoke_identity.id} if revoke_identity else set())
        for owner in owners:
            record = self.registry.get(owner)
            if record is not None:
                self._require_can_manage(caller, record)
        with self.registry.transaction() as db:
            for target in targets:
                self.registry.mark_revoked(db, target, reason)
            if revoke_identity is not None:
                self.registry.set_state(db, revoke_identity.id, REVOKED)
        result: dict[str, Any] = {
            "RevokedCerts": [{"Serial": c.serial, "AKI": c.aki} for c in targets],
            "CRL": "",
        }
        if request.get("gencrl") is True:
            result["CRL"] = _b64(self._crl(ca, self.registry.revoked(ca.name)))
        return result

    def _certificate_to_revoke(self, serial: str, aki: str, identity_id: str) -> CertificateRecord:
        record = self.registry.certificate(serial, aki)
        if record is None:
            raise protocol.http_error(
                404,
                protocol.ERR_REV_CERT_NOT_FOUND,
                f"Certificate with serial {serial} and AKI {aki} was not found",
            )
        if identity_id and record.id != identity_id:
            raise protocol.bad_request(
                f"Certificate with serial {serial} and AKI {aki} is not owned by '{identity_id}'",
                protocol.ERR_CERT_WRONG_OWNER,
            )
        if record.status == "revoked":
            raise protocol.http_error(
                404,
                protocol.ERR_CERT_ALREADY_REVOKED,
                f"Certificate with serial {serial} and AKI {aki} was already revoked",
            )
        return record

    def gencrl(self, authorization: str | None, uri: str, body: bytes) -> dict[str, Any]:
        request = requests.json_object(body)
        caller = self.authenticate(authorization, "POST", uri, body)
        ca = self._ca(requests.opt_str(request, "caname"))
        if not caller.has_true(attributes.GENCRL):
            raise protocol.authorization_error(
                protocol.ERR_NO_GENCRL_AUTH, f"'{caller.record.id}' does not have hf.GenCRL"
            )
        revoked_after = requests.opt_time(
            request, "revokedAfter", protocol.ERR_INVALID_REVOKED_AFTER
        )
        revoked_before = requests.opt_time(
            request, "revokedBefore", protocol.ERR_INVALID_REVOKED_AFTER
        )
        expire_after = requests.opt_time(request, "expireAfter", protocol.ERR_INVALID_EXPIRED_AFTER)
        expire_before = requests.opt_time(
            request, "expireBefore", protocol.ERR_INVALID_EXPIRED_AFTER
        )
        for low, high, code in (
            (revoked_after, revoked_before, protocol.ERR_INVALID_REVOKED_AFTER),
            (expire_after, expire_before, protocol.ERR_INVALID_EXPIRED_AFTER),
        ):
            if low and high and low > high:
                raise protocol.bad_request(f"{low.isoformat()} is after {high.isoformat()}", code)
        chosen = [
            c
            for c in self.registry.revoked(ca.name)
            if c.revoked_at is not None
            and requests.within(c.revoked_at, revoked_after, revoked_before)
            and requests.within(c.not_after, expire_after, expire_before)
        ]
        return {"CRL": _b64(self._crl(ca, chosen))}

    def _crl(self, ca: _Ca, revoked: list[CertificateRecord]) -> bytes:
        entries = [
            (int(c.serial, 16), c.revoked_at or certificates.now(), c.reason) for c in revoked
        ]
        crl = ca.issuer.crl(entries, next_update_hours=self.settings.crl_expiry_hours)
        return crl.public_bytes(Encoding.PEM)

    # -- identities --------------------------------------------------------------------

    def identities(
        self,
        authorization: str | None,
        uri: str,
        identity_id: str | None = None,
        caname: str | None = None,
    ) -> dict[str, Any]:
        caller = self.authenticate(authorization, "GET", uri, b"")
        self._ca(caname)
        if not caller.record.attribute(attributes.REGISTRAR_ROLES):
            raise protocol.authorization_error(
                protocol.ERR_MISSING_REG_ATTR, f"'{caller.record.id}' is not a registrar"
            )
        if identity_id is not None:
            record = self.registry.get(identity_id)
            if record is None:
                raise protocol.http_error(
                    404, protocol.ERR_GETTING_USER, f"Failed to get User: '{identity_id}'"
                )
            self._require_can_manage(caller, record)
            return {**record.to_json(), "caname": self.signing.name}
        visible = []
        for record in self.registry.all():
            try:
                self._require_can_manage(caller, record)
            except CaRequestError:
                continue
            visible.append(record.to_json())
        return {"identities": visible, "caname": self.signing.name}


# -- helpers: home ---------------------------------------------------------------------


def _master_key(root: Path) -> bytes:
    """Env or ``--master-key-file`` first; a new home without either gets its own file."""
    if os.environ.get(MASTER_KEY_ENV) or os.environ.get(MASTER_KEY_FILE_ENV):
        return master_key_from_environment()
    path = root / "master.key"
    if path.exists():
        return master_key_from_environment(path)
    return create_master_key_file(path)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)


def _open_ca(
    root: Path, store: EncryptedKeyStore, name: str, settings: CaSettings, tls: bool
) -> _Ca:
    cert_path = root / f"{name}-cert.pem"
    if store.exists(name) and cert_path.exists():
        key = store.load(name)
        cert = certificates.load_certificate(cert_path.read_bytes(), str(cert_path))
        return _Ca(name, Issuer(cert, key), tls)
    key = store.load_or_create(name)
    label = "tlsca" if tls else "ca"
    subject = ca_name(f"{label}.{settings.organization.lower()}", settings.organization)
    cert = self_signed_ca(key, subject, settings.ca_expiry_days)
    temp = cert_path.with_name(f".{cert_path.name}.tmp")
    temp.write_bytes(certificates.to_pem(cert))
    os.replace(temp, cert_path)
    return _Ca(name, Issuer(cert, key), tls)


def _subject_ous(record: IdentityRecord) -> tuple[str, ...]:
    """Fabric CA's subject OUs: the type (the NodeOU), then each affiliation level."""
    return (record.type, *[p for p in record.affiliation.split(".") if p])


def _random_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


__all__ = ["ACTIVE", "IDENTITY_TYPES", "Caller", "CertificateAuthority"]
