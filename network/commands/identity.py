"""Who signs a command's transactions: ``--identity`` and the gateway client it opens.

Its own module because ``invoke``/``query``, ``tx`` and the lifecycle commands all
sign as a member's identity, and none of them should import another command."""

from __future__ import annotations

from pathlib import Path

import click

from network.locate import connection_file
from network.output import fail

IDENTITY_OPTION = click.option(
    "--identity",
    default="user1",
    show_default=True,
    help="Who signs: user1, orgadmin, or any identity enrolled with the member's CA "
    "(members/<member>/users/NAME/msp), attributes included.",
)


def gateway_client(home: Path, network: str | None, member: str, identity: str):
    """A gateway client of ``member`` acting as ``identity``: one of its connection file's
    (``user1``, ``orgadmin``), any identity enrolled into ``members/<member>/users/NAME/msp``
    (``consortium ca enroll --out`` there; attributes included), or an MSP folder path."""
    from ca.errors import CaError
    from ca.msp import load_signing_identity
    from network.gateway_client import GatewayClient, GatewayClientError, tls_identity_of
    from network.locate import network_folder

    connection = connection_file(home, network, member)
    users = network_folder(home, network) / "members" / member / "users"
    known = identity in connection["identities"] or (users / identity / "msp").is_dir()
    try:
        if not known and Path(identity).is_dir():  # an MSP folder, by its path
            signer = load_signing_identity(Path(identity), connection["mspId"])
            gateway = connection["gateway"]
            tls_root = Path(gateway["tlsRootCert"]).read_bytes()
            client = tls_identity_of(connection, "user1")  # the member's TLS certificate
            return GatewayClient(gateway["endpoint"], signer, tls_root, client=client)
        return GatewayClient.from_connection(connection, identity, users=users)
    except (GatewayClientError, CaError) as exc:
        fail(f"--identity {exc}")
