"""Certificates and CRLs the way Fabric CA shapes them, signed through a ``CaKey``.

Enrollment certificates carry the identity type and affiliation as subject OUs (which
the MSP's NodeOU rules classify), the enrollment ID as CN, and requested attributes in
extension 1.2.3.4.5.6.7.8.1. TLS certificates add server/client auth and host names.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca import certificates
from ca.keystore import CaKey

_BACKDATE = datetime.timedelta(minutes=5)
_REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}


def ca_name(common_name: str, organization: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def self_signed_ca(
    key: CaKey, subject: x509.Name, days: int, now: datetime.datetime | None = None
) -> x509.Certificate:
    """A root CA certificate for a member's signing CA or TLS CA."""
    moment = now or certificates.now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - _BACKDATE)
        .not_valid_after(moment + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    return key.sign_certificate(builder)


@dataclass(frozen=True)
class Issuer:
    """A CA certificate and the key that signs for it."""

    certificate: x509.Certificate
    key: CaKey

    def _base(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        not_before: datetime.datetime,
        not_after: datetime.datetime,
    ) -> x509.CertificateBuilder:
        issuer_ski = certificates.subject_key_id(self.certificate)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(min(not_after, self.certificate.not_valid_after_utc))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(x509.AuthorityKeyIdentifier(issuer_ski, None, None), critical=False)
        )

    def issue_intermediate(self, key: CaKey, subject: x509.Name, days: int) -> x509.Certificate:
        moment = certificates.now()
        builder = self._base(
            subject, key.public_key(), moment - _BACKDATE, moment + datetime.timedelta(days=days)
        ).add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        return self.key.sign_certificate(builder)

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        enrollment_id: str,
        *,
        ous: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
        hosts: Sequence[str] = (),
        tls: bool = False,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        days: int = 365,
    ) -> x509.Certificate:
        """An end-entity certificate (enrollment or TLS) for ``enrollment_id``."""
        moment = certificates.now()
        start = not_before or moment - _BACKDATE
        end = not_after or moment + datetime.timedelta(days=days)
        subject = _subject(enrollment_id, ous)
        builder = self._base(subject, public_key, start, end).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        builder = builder.add_extension(_key_usage(tls), critical=True)
        if tls:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
            )
        if attributes:
            value = json.dumps({"attrs": dict(attributes)}, separators=(",", ":")).encode()
            builder = builder.add_extension(
                x509.UnrecognizedExtension(certificates.ATTRIBUTES_OID, value), critical=False
            )
        return self.key.sign_certificate(builder)

    def crl(
        self,
        revoked: Sequence[tuple[int, datetime.datetime, int]],
        next_update_hours: int = 24,
    ) -> x509.CertificateRevocationList:
        """A CRL listing (serial, revocation time, RFC 5280 reason code), signed by this CA."""
        moment = certificates.now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(moment - _BACKDATE)
            .next_update(moment + datetime.timedelta(hours=next_update_hours))
            .add_extension(
                x509.AuthorityKeyIdentifier(
                    certificates.subject_key_id(self.certificate), None, None
                ),
                critical=False,
            )
        )
        for serial, when, reason in revoked:
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            if reason in _REASONS:  # RFC 5280: leave "unspecified" (0) out
                entry = entry.add_extension(x509.CRLReason(_REASONS[reason]), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return self.key.sign_crl(builder)


def _subject(enrollment_id: str, ous: Sequence[str]) -> x509.Name:
    """Fabric CA's subject: all OUs in one multi-valued RDN, then the CN
    (``CN=user1,OU=client+OU=org1+OU=department1``), which chaincode sees in client IDs."""
    cn = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, enrollment_id)])
    if not ous:
        return x509.Name([cn])
    units = x509.RelativeDistinguishedName(
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in dict.fromkeys(ous)]
    )
    return x509.Name([units, cn])


def _key_usage(tls: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=tls,
        data_encipherment=False,
        key_agreement=tls,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
