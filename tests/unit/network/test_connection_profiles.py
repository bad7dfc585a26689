"""Common connection profiles and Caliper network configurations built from a member's
connection file (no network needed)."""

from __future__ import annotations

from pathlib import Path

from network.connection_profiles import caliper_network_config, common_connection_profile


def _connection(mspid: str, port: int, chaincodes: dict[str, str]) -> dict:
    gateway = {
        "endpoint": f"127.0.0.1:{port}",
        "tlsRootCert": f"/n/{mspid}/peer0/tls/ca.crt",
        "hostnameOverride": "localhost",
    }
    second = {**gateway, "endpoint": f"127.0.0.1:{port + 1}"}
    return {
        "network": "net",
        "channel": "ch",
        "channels": ["ch"],
        "chaincodes": chaincodes,
        "mspId": mspid,
        "gateway": gateway,
        "gateways": [gateway, second],
        "orderers": [{"endpoint": "127.0.0.1:7050", "tlsRootCert": "/n/o/ca.crt"}],
        "identities": {"user1": {"cert": f"/n/{mspid}/cert.pem", "key": f"/n/{mspid}/sk"}},
    }


def test_a_profile_lists_the_members_peers_in_order_with_tls_and_the_ca() -> None:
    ca = {"url": "https://127.0.0.1:7054", "tlsRootCert": "/n/ca/tls.pem"}
    profile = common_connection_profile("org1", _connection("Org1MSP", 7051, {}), ca)
    assert profile["client"]["organization"] == "org1"
    assert profile["organizations"]["org1"] == {
        "mspid": "Org1MSP",
        "peers": ["peer0.org1", "peer1.org1"],  # the gateway first: Caliper dials it
        "certificateAuthorities": ["ca.org1"],
    }
    assert profile["peers"]["peer1.org1"] == {
        "url": "grpcs://127.0.0.1:7052",
        "tlsCACerts": {"path": "/n/Org1MSP/peer0/tls/ca.crt"},
        "grpcOptions": {"ssl-target-name-override": "localhost", "hostnameOverride": "localhost"},
    }
    assert profile["orderers"]["orderer0"]["url"] == "grpcs://127.0.0.1:7050"
    assert profile["channels"] == {
        "ch": {"orderers": ["orderer0"], "peers": {"peer0.org1": {}, "peer1.org1": {}}}
    }
    assert profile["certificateAuthorities"]["ca.org1"]["url"] == "https://127.0.0.1:7054"


def test_without_a_ca_the_profile_names_none() -> None:
    profile = common_connection_profile("org1", _connection("Org1MSP", 7051, {}))
    assert "certificateAuthorities" not in profile
    assert "certificateAuthorities" not in profile["organizations"]["org1"]


def test_caliper_configuration_keeps_member_order_and_merges_chaincodes() -> None:
    members = [
        (_connection("Org2MSP", 8051, {"basic": "ch", "token": "ch"}), Path("/c/ccp/org2.json")),
        (_connection("Org1MSP", 7051, {"basic": "ch", "other": "ch2"}), Path("/c/ccp/org1.json")),
    ]
    config = caliper_network_config("net", members)
    assert config["version"] == "2.0.0"
    assert config["caliper"] == {"blockchain": "fabric"}
    assert config["channels"] == [
        {"channelName": "ch", "contracts": [{"id": "basic"}, {"id": "token"}]},
        {"channelName": "ch2", "contracts": [{"id": "other"}]},
    ]
    assert [o["mspid"] for o in config["organizations"]] == ["Org2MSP", "Org1MSP"]
    org2 = config["organizations"][0]
    assert org2["connectionProfile"] == {"path": "/c/ccp/org2.json", "discover": True}
    assert org2["identities"]["certificates"] == [
        {
            "name": "user1",
            "clientPrivateKey": {"path": "/n/Org2MSP/sk"},
            "clientSignedCert": {"path": "/n/Org2MSP/cert.pem"},
        }
    ]


def test_a_profile_carries_the_members_tls_client_key_pair_as_fabrics_ccp_does() -> None:
    connection = _connection("Org1MSP", 7051, {})
    assert "tlsCerts" not in common_connection_profile("org1", connection)["client"]
    connection["clientTls"] = {"cert": "/n/u/tls/client.crt", "key": "/n/u/tls/client.key"}
    profile = common_connection_profile("org1", connection)
    assert profile["client"]["tlsCerts"] == {
        "client": {"key": {"path": "/n/u/tls/client.key"}, "cert": {"path": "/n/u/tls/client.crt"}}
    }


def test_the_tls_identity_of_a_connection_file_is_the_users_else_the_members(
    tmp_path: Path,
) -> None:
    from network.gateway_client import tls_identity_of

    for name in ("own", "member"):
        (tmp_path / f"{name}.crt").write_text(f"{name} cert")
        (tmp_path / f"{name}.key").write_text(f"{name} key")
    users = tmp_path / "users"
    (users / "alice" / "tls").mkdir(parents=True)
    (users / "alice" / "tls" / "client.crt").write_text("alice cert")
    (users / "alice" / "tls" / "client.key").write_text("alice key")
    connection = _connection("Org1MSP", 7051, {})
    assert tls_identity_of(connection, "user1") is None  # a file from before mutual TLS
    connection["identities"]["user1"].update(
        tlsCert=str(tmp_path / "own.crt"), tlsKey=str(tmp_path / "own.key")
    )
    connection["clientTls"] = {
        "cert": str(tmp_path / "member.crt"),
        "key": str(tmp_path / "member.key"),
    }
    assert tls_identity_of(connection, "user1").cert == b"own cert"
    assert tls_identity_of(connection, "alice", users).cert == b"alice cert"
    assert tls_identity_of(connection, "bob", users).cert == b"member cert"
