"""Certificate rotation: ``consortium certs rotate`` renews identities and node TLS
certificates before they expire, on a running network, failing no transaction.

Each peer re-enrolls with its member's CA (Fabric CA's ``reenroll``, authenticated by
the certificate it has, a new key each time), for its enrollment certificate and its
TLS certificate; each member's users re-enroll the same way (their TLS client
certificates too), keeping the attributes their certificates carry; each orderer gets
new certificates from the ordering organization's CA; each contract served with mutual
TLS gets a new server certificate from the member CA that issued its first (its runner
reads it at the next handshake). Node folders are replaced whole
(a new folder renamed into place), and the nodes are told one at a time: the TLS
certificate is read again at the next handshake (``proto.credentials``), the signing
identity on SIGHUP (``ReloadingSigner``). No node restarts, so no connection drops and
no transaction fails. The CAs' own certificates (ten years) are not rotated: a new root
would be a channel config update.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ca import certificates
from ca.client import Enrollment, save_enrollment
from ca.msp import load_signing_identity
from network.errors import SupervisorError
from network.spec import Member, Node
from network.supervisor.base import SupervisorBase

RELOAD_SECONDS = 15.0


@dataclass(frozen=True)
class Rotated:
    """One certificate renewed: whose, which, and until when the new one is valid."""

    owner: str
    kind: str  # "identity" or "tls"
    serial: str
    not_after: str


class CertificateRotation(SupervisorBase):
    """``certs rotate``: every member's (or one member's, or one node's) certificates."""

    def rotate_certificates(self, member: str | None = None, node: str | None = None) -> list:
        """Renew and reload; ``node`` is a node name as ``status`` shows it
        (``peer-org1-peer0``, ``orderer-orderer0``)."""
        self.state = self.home.load_state()
        self._start_existing()
        chosen = [self._known_member(member)] if member else list(self.members)
        rotated: list[Rotated] = []
        for each in chosen:
            peers = [p for p in each.peers if node in (None, f"peer-{each.name}-{p.name}")]
            if peers or node is None:
                rotated += self._rotate_member(each, peers, users=node is None)
        if member is None:
            orderers = [o for o in self.spec.orderers if node in (None, f"orderer-{o.name}")]
            rotated += [r for o in orderers for r in self._rotate_orderer(o)]
        rotated += self._rotate_contracts({m.name for m in chosen}, node)
        if node is not None and not rotated:
            raise SupervisorError(
                f"--node {node}: no peer, orderer or contract of this network by that name"
            )
        return rotated

    # -- members: peers and users re-enroll with the member's CA --------------------------

    def _rotate_member(self, member: Member, peers: list[Node], users: bool) -> list[Rotated]:
        client = self._ca_client(member)
        folder = self.home.member(member.name)
        rotated = []
        for peer in peers:
            home = folder / "peers" / peer.name
            current = load_signing_identity(home / "msp", member.mspid)
            identity = client.reenroll(current)
            tls = client.reenroll(current, profile="tls", hosts=[peer.host, "localhost"])
            _replace(home / "msp", functools.partial(save_enrollment, identity, tls=False))
            _replace(home / "tls", functools.partial(save_enrollment, tls, tls=True))
            name = f"peer-{member.name}-{peer.name}"
            self._reload(name, identity.signer.certificate_pem)
            rotated += [_rotated(name, "identity", identity), _rotated(name, "tls", tls)]
        for msp in sorted((folder / "users").glob("*/msp")) if users else []:
            current = load_signing_identity(msp, member.mspid)
            wanted = certificates.certificate_attributes(
                certificates.load_certificate(current.certificate_pem)
            )
            attr_reqs = [{"name": name, "optional": True} for name in wanted] or None
            identity = client.reenroll(current, attr_reqs=attr_reqs)
            _replace(msp, functools.partial(save_enrollment, identity, tls=False))
            owner = f"{member.name}/{msp.parent.name}"
            rotated.append(_rotated(owner, "identity", identity))
            if (msp.parent / "tls").is_dir():  # the user's TLS client certificate (mTLS)
                tls = client.reenroll(current, profile="tls")
                save = functools.partial(save_enrollment, tls, tls=True, tls_name="client")
                _replace(msp.parent / "tls", save)
                rotated.append(_rotated(owner, "tls", tls))
        return rotated

    # -- orderers: new certificates from the ordering organization's CA ---------------

    def _rotate_orderer(self, orderer: Node) -> list[Rotated]:
        issuer = self.ordering_issuer()
        if issuer is None:
            self.progress(
                f"  orderer-{orderer.name}: not rotated, this network's ordering CA key was "
                "not kept (a network made before consortium kept it)"
            )
            return []
        folder = self.home.root / "ordering" / orderer.name
        _replace(folder / "msp", lambda staging: self.write_orderer_msp(issuer, orderer, staging))
        _replace(folder / "tls", lambda staging: self.write_orderer_tls(issuer, orderer, staging))
        name = f"orderer-{orderer.name}"
        identity = load_signing_identity(folder / "msp", self.spec.ordering_mspid)
        self._reload(name, identity.certificate_pem)
        tls = (folder / "tls" / "server.crt").read_bytes()
        return [_from_pem(name, "identity", identity.certificate_pem), _from_pem(name, "tls", tls)]

    # -- contracts: a new server key pair from the member CA that issued theirs --------

    def _rotate_contracts(self, members: set[str], node: str | None) -> list[Rotated]:
        """Each mutual-TLS contract's server pair whose issuer is among ``members``; its
        runner serves the new one from the next handshake (``chaincode.runner``). The
        peers' client pair is inside the package: renewing it is an upgrade, left to
        ``chaincode deploy``."""
        rotated = []
        for name, record in self.chaincode_records.items():  # type: ignore[attr-defined]
            tls = self.contract_tls(name)  # type: ignore[attr-defined]
            owner = f"chaincode-{name}"
            if not record.get("tls") or not tls.ready or node not in (None, owner):
                continue
            if tls.issuer not in members:
                continue
            authority = self.tls_authority(tls.issuer)  # type: ignore[attr-defined]
            hosts = self.contract_hosts()  # type: ignore[attr-defined]
            _replace(tls.folder, functools.partial(tls.renew_server, authority, name, hosts))
            rotated.append(_from_pem(owner, "tls", (tls.folder / "server.crt").read_bytes()))
            self.progress(f"  {owner}: new TLS certificate, served from its next connection")
        return rotated

    # -- telling a node -----------------------------------------------------------------

    def _reload(self, name: str, certificate_pem: bytes) -> None:
        """SIGHUP the node and wait until its log says it signs with the new certificate;
        a node that is not running reads the new files when it starts."""
        process = self.processes.get(name) or self.home.process(name, [], "", 0)
        if process.pid is None:
            self.progress(f"  {name} is not running: it uses the new certificates when it starts")
            return
        serial = f"{certificates.load_certificate(certificate_pem).serial_number:x}"
        os.kill(process.pid, signal.SIGHUP)
        try:
            self._wait_logged(process, f"identity reloaded (serial {serial})", RELOAD_SECONDS)
        except SupervisorError:
            raise SupervisorError(
                f"{name} did not reload its identity within {RELOAD_SECONDS:g}s; its new "
                f"certificates are in place and are read when it restarts:\n{process.tail()}"
            ) from None
        self.progress(f"  {name}: new identity and TLS certificate in use")


def _replace(folder: Path, write: Callable[[Path], object]) -> None:
    """Write a new copy of ``folder`` beside it, then rename it into place: a node reading
    it meanwhile sees the old files or the new ones, never half of each."""
    staging = folder.with_name(f".{folder.name}.rotating")
    old = folder.with_name(f".{folder.name}.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    write(staging)
    folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _rotated(owner: str, kind: str, enrollment: Enrollment) -> Rotated:
    return _from_pem(owner, kind, enrollment.signer.certificate_pem)


def _from_pem(owner: str, kind: str, pem: bytes) -> Rotated:
    certificate = certificates.load_certificate(pem)
    return Rotated(
        owner,
        kind,
        f"{certificate.serial_number:x}",
        certificate.not_valid_after_utc.strftime("%Y-%m-%d"),
    )
