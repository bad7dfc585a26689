"""A tiny member PKI for tests: root CA, intermediate CA, identities in any role."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ca import certificates
from ca.issuing import Issuer, ca_name, self_signed_ca
from ca.keystore import SoftwareCaKey
from ca.msp import Msp, MspConfig, NodeOUs
from ca.signing import SoftwareSigner


@dataclass
class Org:
    mspid: str
    root: Issuer
    intermediate: Issuer
    crls: list[bytes] = field(default_factory=list)

    def identity(
        self,
        name: str = "user1",
        role: str | None = "client",
        *,
        issuer: Issuer | None = None,
        attributes: dict[str, str] | None = None,
        not_after: datetime.datetime | None = None,
        extra_ous: tuple[str, ...] = (),
    ) -> SoftwareSigner:
        key = ec.generate_private_key(ec.SECP256R1())
        ous = ((role,) if role else ()) + extra_ous
        cert = (issuer or self.intermediate).issue(
            key.public_key(),
            name,
            ous=ous,
            attributes=attributes,
            not_after=not_after,
            not_before=certificates.now() - datetime.timedelta(days=2) if not_after else None,
        )
        return SoftwareSigner(self.mspid, certificates.to_pem(cert), key)

    def revoke(self, signer: SoftwareSigner, issuer: Issuer | None = None) -> None:
        serial = certificates.load_certificate(signer.certificate_pem).serial_number
        crl = (issuer or self.intermediate).crl([(serial, certificates.now(), 1)])
        self.crls.append(crl.public_bytes(Encoding.PEM))

    def config(self, node_ous: NodeOUs | None = None, **extra) -> MspConfig:
        return MspConfig(
            mspid=self.mspid,
            root_certs=(certificates.to_pem(self.root.certificate),),
            intermediate_certs=(certificates.to_pem(self.intermediate.certificate),),
            crls=tuple(self.crls),
            node_ous=node_ous if node_ous is not None else NodeOUs(),
            **extra,
        )

    def msp(self, **kwargs) -> Msp:
        return Msp(self.config(**kwargs))


def make_org(mspid: str = "Org1MSP") -> Org:
    root_key = SoftwareCaKey(ec.generate_private_key(ec.SECP256R1()))
    root_cert = self_signed_ca(root_key, ca_name(f"ca.{mspid}", mspid), days=3650)
    root = Issuer(root_cert, root_key)
    inter_key = SoftwareCaKey(ec.generate_private_key(ec.SECP256R1()))
    inter_cert = root.issue_intermediate(inter_key, ca_name(f"ica.{mspid}", mspid), days=3650)
    return Org(mspid, root, Issuer(inter_cert, inter_key))
