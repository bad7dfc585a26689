"""A small Fabric CA REST client: what nodes, the CLI and tests use to talk to a CA.

It speaks the same protocol as the Node ``fabric-ca-client`` (Basic auth for enroll,
the signed token for everything else), so it works against Fabric CA too.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca import certificates
from ca.errors import CaRequestError
from ca.msp import MspConfig, write_msp
from ca.signing import SoftwareSigner
from ca.token import make_token


@dataclass(frozen=True)
class Enrollment:
    signer: SoftwareSigner
    ca_chain_pem: bytes


class FabricCaClient:
    def __init__(self, url: str, mspid: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url.rstrip("/")
        self.mspid = mspid
        self._ssl = ssl_context

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        caller: SoftwareSigner | None = None,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        uri = f"/api/v1/{path}"
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if caller is not None:
            all_headers["Authorization"] = make_token(
                caller, caller.certificate_pem, method, uri, data
            )
        request = urllib.request.Request(
            self.url + uri,
            data=data if body is not None else None,
            method=method,
            headers=all_headers,
        )
        try:
            with urllib.request.urlopen(request, context=self._ssl, timeout=30) as response:
                envelope = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            envelope = json.loads(exc.read() or b"{}")
            errors = envelope.get("errors") or [{"code": 0, "message": exc.reason}]
            raise CaRequestError(exc.code, errors[0]["code"], errors[0]["message"]) from None
        return envelope["result"]

    def cainfo(self, caname: str | None = None) -> dict[str, Any]:
        return self._call("GET", "cainfo" + (f"?ca={caname}" if caname else ""))

    def enroll(
        self,
        enrollment_id: str,
        secret: str,
        *,
        profile: str | None = None,
        caname: str | None = None,
        hosts: list[str] | None = None,
        attr_reqs: list[dict[str, Any]] | None = None,
    ) -> Enrollment:
        key = ec.generate_private_key(ec.SECP256R1())
        body: dict[str, Any] = {"certificate_request": _csr(key, enrollment_id)}
        for name, value in (
            ("profile", profile),
            ("caname", caname),
            ("hosts", hosts),
            ("attr_reqs", attr_reqs),
        ):
            if value is not None:
                body[name] = value
        token = base64.b64encode(f"{enrollment_id}:{secret}".encode()).decode()
        result = self._call("POST", "enroll", body, {"Authorization": f"Basic {token}"})
        return self._enrollment(key, result)

    def _enrollment(self, key: ec.EllipticCurvePrivateKey, result: dict[str, Any]) -> Enrollment:
        cert = base64.b64decode(result["Cert"])
        chain = base64.b64decode(result["ServerInfo"]["CAChain"])
        return Enrollment(SoftwareSigner(self.mspid, cert, key), chain)

    def reenroll(
        self,
        caller: SoftwareSigner,
        *,
        profile: str | None = None,
        hosts: list[str] | None = None,
        attr_reqs: list[dict[str, Any]] | None = None,
    ) -> Enrollment:
        """A new certificate and key for ``caller``, authenticated by its current
        certificate (``certs rotate``; ``profile="tls"`` for its TLS certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = x509.load_pem_x509_certificate(caller.certificate_pem)
        name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        body: dict[str, Any] = {"certificate_request": _csr(key, str(name))}
        for field, value in (("profile", profile), ("hosts", hosts), ("attr_reqs", attr_reqs)):
            if value is not None:
                body[field] = value
        return self._enrollment(key, self._call("POST", "reenroll", body, caller=caller))

    def register(self, caller: SoftwareSigner, enrollment_id: str, **fields: Any) -> str:
        return self._call("POST", "register", {"id": enrollment_id, **fields}, caller=caller)[
            "secret"
        ]

    def revoke(self, caller: SoftwareSigner, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "revoke", fields, caller=caller)

    def gencrl(self, caller: SoftwareSigner, **fields: Any) -> bytes:
        return base64.b64decode(self._call("POST", "gencrl", fields, caller=caller)["CRL"])

    def identities(self, caller: SoftwareSigner, enrollment_id: str | None = None) -> Any:
        path = "identities" + (f"/{enrollment_id}" if enrollment_id else "")
        return self._call("GET", path, caller=caller)


def _csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def split_chain(chain_pem: bytes) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """A CA chain as (roots, intermediates): self-issued certificates are roots."""
    roots, intermediates = [], []
    for cert in certificates.load_certificates(chain_pem, "CA chain"):
        (roots if cert.issuer == cert.subject else intermediates).append(certificates.to_pem(cert))
    return tuple(roots), tuple(intermediates)


def save_enrollment(
    enrollment: Enrollment, out: str | os.PathLike[str], tls: bool, tls_name: str = "server"
) -> Path:
    """Write an enrollment the way nodes read it.

    An enrollment certificate becomes a local MSP folder (cacerts, intermediatecerts,
    signcerts, keystore, config.yaml with NodeOUs); a TLS certificate becomes
    ``ca.crt``, ``server.crt`` and ``server.key`` (0600), the layout Fabric nodes use
    (``tls_name="client"``: ``client.crt``/``client.key``, Fabric's layout for users).
    """
    roots, intermediates = split_chain(enrollment.ca_chain_pem)
    target = Path(out)
    if not tls:
        config = MspConfig(
            mspid=enrollment.signer.mspid, root_certs=roots, intermediate_certs=intermediates
        )
        return write_msp(target, config, signer=enrollment.signer)
    target.mkdir(parents=True, exist_ok=True)
    (target / "ca.crt").write_bytes(b"".join(roots + intermediates))
    (target / f"{tls_name}.crt").write_bytes(enrollment.signer.certificate_pem)
    key_pem = enrollment.signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = target / f"{tls_name}.key"
    temp = key_file.with_name(f".{tls_name}.key.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    os.replace(temp, key_file)
    return target


def parse_attributes(text: str) -> list[dict[str, Any]]:
    """fabric-ca-client's ``--id.attrs`` syntax: ``name=value[:ecert],...``."""
    attrs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"attribute {item!r} is not name=value[:ecert]")
        ecert = value.endswith(":ecert")
        attrs.append({"name": name, "value": value.removesuffix(":ecert"), "ecert": ecert})
    return attrs


def parse_attribute_requests(text: str) -> list[dict[str, Any]]:
    """fabric-ca-client's ``--enrollment.attrs`` syntax: ``name[:opt],...``."""
    requests = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name = item.removesuffix(":opt")
        if not name:
            raise ValueError(f"attribute request {item!r} has no name")
        requests.append({"name": name, "optional": item.endswith(":opt")})
    return requests
