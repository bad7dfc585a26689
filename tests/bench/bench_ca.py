"""Member CA and MSP throughput, each next to the raw ``cryptography`` bound.

- CSR signing: parse + check a CSR and issue a Fabric-shaped enrollment certificate
  (``Issuer.issue``), against raw ECDSA P-256 signing (the one private-key operation).
- Enrollments over REST: a real ``consortium ca serve`` process, one and four Python
  clients; includes scrypt on the secret, the registry transaction and HTTP.
- MSP verifications: ``MspManager.check_signature`` (deserialize the creator, validate
  chain/expiry/CRL/NodeOU, verify a low-S signature) against raw ``public_key.verify``.
- Policy: ``AND('Org1.member', 'Org2.member')`` over two signed data.

Run: ``python tests/bench/bench_ca.py``. Prints figures; asserts nothing about timing.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca.client import FabricCaClient
from ca.msp import MspManager
from ca.policy import SignedData, evaluate, from_string
from tests.conformance.ca_process import start_ca, stop
from tests.support.ca_pki import make_org

SECONDS = 1.0
ROUNDS = 3


def _once(work: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        count += 1
    return count / elapsed


def rates(works: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Calls/s of each work, best of ``ROUNDS`` interleaved rounds: the machine is shared,
    so interleaving keeps a figure and its raw bound measured under the same load."""
    best = dict.fromkeys(works, 0.0)
    for work in works.values():
        work()
    for _ in range(ROUNDS):
        for name, work in works.items():
            best[name] = max(best[name], _once(work, SECONDS))
    return best


def _csr(key: ec.EllipticCurvePrivateKey, name: str) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def bench_signing() -> dict[str, float]:
    org = make_org("Org1MSP")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    digest_input = b"x" * 300
    csr_pem = _csr(ec.generate_private_key(ec.SECP256R1()), "user1")

    def issue() -> None:
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        org.intermediate.issue(
            csr.public_key(),
            "user1",
            ous=("client", "org1", "department1"),
            attributes={"hf.EnrollmentID": "user1", "hf.Type": "client"},
        )

    return rates(
        {
            "raw ECDSA P-256 sign/s (cryptography)": lambda: ca_key.sign(
                digest_input, ec.ECDSA(hashes.SHA256())
            ),
            "CSR check + certificate issue/s (ca.issuing)": issue,
        }
    )


def bench_rest_enrollments(count: int = 40) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        process, url = start_ca(Path(home) / "ca")
        try:
            client = FabricCaClient(url, "Org1MSP")
            admin = client.enroll("admin", "adminpw").signer
            secret = client.register(admin, "bench", max_enrollments=-1)
            client.enroll("bench", secret)
            start = time.perf_counter()
            for _ in range(count):
                client.enroll("bench", secret)
            sequential = count / (time.perf_counter() - start)
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda _: client.enroll("bench", secret), range(count)))
            concurrent = count / (time.perf_counter() - start)
        finally:
            stop(process)
    return {
        "REST enrollments/s (consortium ca serve, 1 client)": sequential,
        "REST enrollments/s (consortium ca serve, 4 clients)": concurrent,
    }


def bench_msp() -> dict[str, float]:
    org1, org2 = make_org("Org1"), make_org("Org2")
    manager = MspManager([org1.msp(), org2.msp()])
    signer1, signer2 = org1.identity("c1", "client"), org2.identity("p2", "peer")
    message = os.urandom(512)
    sig1, sig2 = signer1.sign(message), signer2.sign(message)
    public_key = x509.load_pem_x509_certificate(signer1.certificate_pem).public_key()
    policy = from_string("AND('Org1.member', 'Org2.member')")
    signed = [
        SignedData(message, signer1.creator, sig1),
        SignedData(message, signer2.creator, sig2),
    ]
    assert evaluate(policy, signed, manager)
    cold = MspManager([org1.msp(), org2.msp()])
    fresh = [org1.identity(f"u{i}", "client") for i in range(300)]
    fresh_signed = [(s.creator, s.sign(message)) for s in fresh]
    position = iter(range(10**9))

    def first_sight() -> None:
        creator, signature = fresh_signed[next(position) % len(fresh_signed)]
        cold._parsed.clear()
        for msp in (cold.get("Org1"),):
            msp._verdicts.clear()
        cold.check_signature(creator, message, signature)

    return rates(
        {
            "raw ECDSA P-256 verify/s (cryptography)": lambda: public_key.verify(
                sig1, message, ec.ECDSA(hashes.SHA256())
            ),
            "MSP check_signature/s, known identity (cached chain)": lambda: manager.check_signature(
                signer1.creator, message, sig1
            ),
            "MSP check_signature/s, first sight (parse + chain + verify)": first_sight,
            "policy AND(2 orgs) evaluations/s (2 signatures)": lambda: evaluate(
                policy, signed, manager
            ),
        }
    )


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    figures: dict[str, float] = {}
    figures |= bench_signing()
    figures |= bench_msp()
    figures |= bench_rest_enrollments()
    width = max(len(k) for k in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:>10,.0f}")


if __name__ == "__main__":
    main()
