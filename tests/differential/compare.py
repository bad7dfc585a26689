"""Run the fidelity scenarios (``tests/conformance/fidelity_flow.js``, the unmodified Node
fabric-gateway client) against real Fabric 2.5.12 — the anchor network in
``../shared/anchors/fabric/`` — and against ``consortium up deploy/two-members.yaml``, and
print every place their answers differ. Exit status 1 when any does.

Usage: python -m tests.differential.compare --fabric NET_DIR --consortium HOME
(``make differential`` starts both networks and calls this.)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fabric_protos.common import common_pb2

from tests.support.fabric_network import write_identity_files
from tests.support.pki import make_org

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "tests" / "conformance" / "fidelity_flow.js"
MASKS = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "<txid>"),
    (re.compile(r"\b[0-9a-f]{100,}\b"), "<hex>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b|\blocalhost:\d+\b"), "<address>"),
]


def _first_file(directory: Path) -> str:
    return str(next(p for p in sorted(directory.iterdir()) if p.is_file()))


def fabric_config(net: Path, identities: dict) -> dict:
    """The anchor's org1 and org2 peers and users (``network.sh``'s layout)."""
    peers, users = {}, {}
    for n, port in ((1, 17051), (2, 18051)):
        org = net / "organizations" / "peerOrganizations" / f"org{n}.example.com"
        host = f"peer0.org{n}.example.com"
        peers[f"Org{n}MSP"] = {
            "address": f"127.0.0.1:{port}",
            "tlsRootCert": str(org / "peers" / host / "tls" / "ca.crt"),
            "hostnameOverride": host,
        }
        msp = org / "users" / f"User1@org{n}.example.com" / "msp"
        users[f"user{n}"] = {
            "mspId": f"Org{n}MSP",
            "cert": _first_file(msp / "signcerts"),
            "key": _first_file(msp / "keystore"),
        }
    return {"peers": peers, "identities": {**users, **identities}}


def consortium_config(home: Path, identities: dict) -> dict:
    """org1's and org2's gateways and users from their connection files."""
    peers, users = {}, {}
    for n in (1, 2):
        connection = json.loads((home / "connection" / f"org{n}.json").read_text())
        gateway = connection["gateway"]
        peers[connection["mspId"]] = {
            "address": gateway["endpoint"],
            "tlsRootCert": gateway["tlsRootCert"],
            "hostnameOverride": gateway["hostnameOverride"],
        }
        if "clientTls" in connection:  # up's mutual TLS: present the member's certificate
            tls = connection["clientTls"]
            peers[connection["mspId"]] |= {"tlsClientCert": tls["cert"], "tlsClientKey": tls["key"]}
        users[f"user{n}"] = {"mspId": connection["mspId"], **connection["identities"]["user1"]}
    return {"peers": peers, "identities": {**users, **identities}}


def run_flow(config: dict, directory: Path) -> dict:
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        ["node", str(FLOW), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=FLOW.parent,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the scenarios failed against {directory.name}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _masked(value: Any, suffix: str) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, suffix) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, suffix) for v in value]
    if isinstance(value, str):
        value = value.replace(suffix, "")
        for pattern, mask in MASKS:
            value = pattern.sub(mask, value)
    return value


def _metadata_summary(metadata: dict) -> dict:
    org1, org2 = metadata["Org1MSP"], metadata["Org2MSP"]
    hashes = [
        common_pb2.Metadata.FromString(bytes.fromhex(block[common_pb2.COMMIT_HASH])).value
        if len(block) > common_pb2.COMMIT_HASH
        else b""
        for block in org1[1:]
    ]
    return {
        "genesis slot 0 (SIGNATURES)": org1[0][common_pb2.SIGNATURES],
        "genesis has a commit hash": len(org1[0]) > common_pb2.COMMIT_HASH
        and bool(org1[0][common_pb2.COMMIT_HASH]),
        "every later block has a 32-byte commit hash": all(len(h) == 32 for h in hashes),
        "both peers' commit hashes agree": [b[4:5] for b in org1] == [b[4:5] for b in org2],
    }


def normalized(report: dict, suffix: str) -> dict:
    """What must agree: codes, messages and details with ids, addresses and heights
    masked; for events and metadata, the relations Fabric guarantees."""
    now = report.pop("now")
    summary = {
        "block events from now see the next block": now["blockEvent"] == now["block"],
        "filtered block events from now see it": now["filteredEvent"] == now["block"],
        "block events from the height see it": now["atHeightEvent"] == now["block"],
        "CreateAsset returned": now["created"],
    }
    metadata = _metadata_summary(report.pop("metadata"))
    return _masked({"now": summary, "metadata": metadata, **report}, suffix)


def differences(left: Any, right: Any, path: str = "") -> Iterator[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            yield from differences(left.get(key), right.get(key), f"{path}.{key}")
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
    elif left != right:
        yield f"{path.lstrip('.')}:\n    fabric:     {left!r}\n    consortium: {right!r}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", type=Path, required=True, help="the anchor's NET folder")
    parser.add_argument("--consortium", type=Path, required=True, help="the network's home")
    parser.add_argument("--work", type=Path, default=ROOT / ".differential")
    args = parser.parse_args()
    suffix = f"-d{int(time.time())}"
    reports = {}
    for name, build in (("fabric", fabric_config), ("consortium", consortium_config)):
        directory = args.work / name
        directory.mkdir(parents=True, exist_ok=True)
        stranger = make_org("Org9MSP").identity("mallory", "client")
        identities = {"stranger": write_identity_files(stranger, directory / "stranger")}
        source = args.fabric if name == "fabric" else args.consortium
        config = {"channel": "mychannel", "chaincode": "basic", "suffix": suffix}
        config["chaincodeEvents"] = False  # the anchor's sample chaincode emits none
        config.update(build(source, identities))
        reports[name] = normalized(run_flow(config, directory), suffix)
        (directory / "report.json").write_text(json.dumps(reports[name], indent=1))
    found = list(differences(reports["fabric"], reports["consortium"]))
    for difference in found:
        print(difference)
    print(f"{len(found)} difference(s) between Fabric 2.5.12 and consortium")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
