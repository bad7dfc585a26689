"""connection.json read as Fabric 2.5's peer reads it (``ChaincodeServerInfo``)."""

from __future__ import annotations

import json

import pytest

from chaincode.errors import PackagingError
from chaincode.packaging import Connection
from chaincode.server_info import DEFAULT_DIAL_TIMEOUT, go_duration, server_info


def _info(**fields: object):
    return server_info(json.dumps({"address": "cc:9999", **fields}).encode())


def test_plaintext_ignores_certificate_fields_and_defaults_the_timeout():
    info = _info(client_auth_required=True, root_cert="")
    assert (info.address, info.dial_timeout, info.tls) == ("cc:9999", DEFAULT_DIAL_TIMEOUT, None)


def test_mutual_tls_presents_the_client_pair_and_honours_domain():
    info = _info(
        tls_required=True,
        client_auth_required=True,
        client_key="KEY",
        client_cert="CERT",
        root_cert="ROOT",
        domain="cc.example.com",
        dial_timeout="1m30s",
    )
    assert info.dial_timeout == 90.0
    assert info.tls is not None
    assert (info.tls.root_certificates, info.tls.private_key, info.tls.certificate_chain) == (
        b"ROOT",
        b"KEY",
        b"CERT",
    )
    assert info.tls.server_name == "cc.example.com"


def test_server_only_tls_sends_no_client_pair_and_ignores_domain_as_fabric_does():
    info = _info(tls_required=True, root_cert="ROOT", client_key="K", domain="d")
    assert info.tls is not None
    assert (info.tls.private_key, info.tls.certificate_chain, info.tls.server_name) == (
        None,
        None,
        None,
    )


def test_what_our_packager_writes_reads_back():
    connection = Connection(
        "h:1", tls_required=True, client_auth_required=True, root_cert="R", client_key="K",
        client_cert="C",
    )  # fmt: skip
    info = server_info(connection.to_json())
    assert info.dial_timeout == 10.0 and info.tls is not None and info.tls.private_key == b"K"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"address": ""}, "chaincode address not provided"),
        ({"tls_required": True}, "root_cert"),
        ({"tls_required": True, "client_auth_required": True, "root_cert": "R"}, "client_key"),
        (
            {"tls_required": True, "client_auth_required": True, "root_cert": "R",
             "client_key": "K"},
            "client_cert",
        ),
        ({"tls_required": "true"}, "tls_required must be a JSON bool"),
        ({"dial_timeout": "ten seconds"}, "dial_timeout"),
        ({"dial_timeout": True}, "dial_timeout"),
    ],
)  # fmt: skip
def test_what_fabric_refuses_is_refused_naming_the_field(fields, named):
    with pytest.raises(PackagingError, match=named):
        _info(**fields)


@pytest.mark.parametrize("raw", [b"{", b"[]", b"\xff"])
def test_malformed_files_are_refused(raw):
    with pytest.raises(PackagingError, match="malformed chaincode info"):
        server_info(raw)


def test_go_durations():
    assert go_duration("500ms") == 0.5
    assert go_duration("1.5h") == 5400.0
    assert go_duration("0") == 0.0
    assert _info(dial_timeout=2_000_000_000).dial_timeout == 2.0  # nanoseconds, as Go
    assert _info(dial_timeout="0s").dial_timeout == DEFAULT_DIAL_TIMEOUT
