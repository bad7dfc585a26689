#!/usr/bin/env bash
# `make demo`: consortium's story with real commands only — a two-member network from
# one spec, transactions from both members, a conflict explained, the governance record
# with proofs, the orderer's journal verified, then the ledgerdb journal on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
SPEC=deploy/two-members.yaml
HOME_DIR="$(mktemp -d)"
trap 'consortium down "$SPEC" --home "$HOME_DIR" --purge >/dev/null 2>&1 || true; rm -rf "$HOME_DIR"' EXIT

step "consortium up $SPEC: control plane, two members voted in (AMB style), their CAs, an orderer, two peers, a chaincode through the lifecycle"
consortium up "$SPEC" --home "$HOME_DIR"

step "org1 creates an asset (endorsed by both orgs' peers: AND('Org1MSP.peer','Org2MSP.peer'))"
consortium invoke basic CreateAsset asset1 blue 5 Tomoko 300 --member org1 --home "$HOME_DIR"

step "org2 reads it from its own peer"
consortium query basic ReadAsset asset1 --member org2 --home "$HOME_DIR"

step "two members transfer the same asset at the same moment: one wins, one fails MVCC"
set +e
consortium invoke basic TransferAsset asset1 Brad --member org1 --home "$HOME_DIR" -o json &
first=$!
consortium invoke basic TransferAsset asset1 Max --member org2 --home "$HOME_DIR" -o json &
second=$!
wait $first; a=$?
wait $second; b=$?
set -e
echo "(exit codes $a and $b: the loser read a version of asset1 that the winner changed;"
echo " its block records MVCC_READ_CONFLICT and its writes were not applied — see docs/validation-codes.md)"
consortium query basic ReadAsset asset1 --member org1 --home "$HOME_DIR"

step "the governance record: the network, its members and the vote that let org2 in"
NETWORK_ID=$(consortium status "$SPEC" --home "$HOME_DIR" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["network_id"])')
export AWS_ACCESS_KEY_ID=111111111111 CONSORTIUM_ENDPOINT=http://127.0.0.1:7100
consortium member list --network "$NETWORK_ID"
PROPOSAL=$(consortium proposal list --network "$NETWORK_ID" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print((d if isinstance(d, list) else d["Proposals"])[0]["ProposalId"])')
consortium governance history "$PROPOSAL"

step "down, then verify the orderer's ledgerdb journal: every block, every link, the digest"
consortium down "$SPEC" --home "$HOME_DIR"
consortium ledger verify --ledger "$HOME_DIR/two-members/ordering/orderer0/data/channels/mychannel/blocks"

bash deploy/demo-ledger.sh
