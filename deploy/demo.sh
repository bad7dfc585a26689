#!/usr/bin/env bash
# `make demo`: consortium's story with real commands only — a two-member network from
# one spec, transactions from both members, a conflict explained, a contract of one's own
# deployed and upgraded, a third member invited
# by proposal and vote who then transacts, the governance record with proofs, the
# orderer's journal verified, then the ledgerdb journal on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
SPEC=deploy/two-members.yaml
HOME_DIR="$(mktemp -d)"
EVENTS="$HOME_DIR/events.txt"
TAIL_PID=""
trap '[ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null; consortium down "$SPEC" --home "$HOME_DIR" --purge >/dev/null 2>&1 || true; rm -rf "$HOME_DIR"' EXIT

step "consortium up $SPEC: control plane, two members voted in (AMB style), their CAs, an orderer, two peers, a chaincode through the lifecycle"
consortium up "$SPEC" --home "$HOME_DIR"

step "a subscriber on the MQTT broker the spec asked for: consortium events tail (in the background, into a file)"
consortium events tail --home "$HOME_DIR" > "$EVENTS" 2>&1 &
TAIL_PID=$!
sleep 1
echo "(the bridge publishes blocks, transaction statuses, chaincode and governance events on consortium/two-members/…)"

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

step "a contract of your own, from its folder to the channel in one command; then an upgrade"
BOARD="$HOME_DIR/notice_board"
cp -rL tests/integration/contracts/notice_board "$BOARD"
consortium chaincode deploy "$BOARD" --name board --home "$HOME_DIR"
consortium invoke board Post n1 "hello from org2" --member org2 --home "$HOME_DIR"
sed -i 's/EDITION = "first"/EDITION = "second"/' "$BOARD/contract.py"
consortium chaincode deploy "$BOARD" --name board --home "$HOME_DIR" -o json
consortium query board Edition --member org1 --home "$HOME_DIR"

json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
NETWORK_ID=$(consortium status "$SPEC" --home "$HOME_DIR" -o json | json_field 'd["network_id"]')
export CONSORTIUM_ENDPOINT=http://127.0.0.1:7100
# the network up started, so governance commands sign with its accounts' secrets (strict SigV4)
export CONSORTIUM_HOME="$HOME_DIR"
as_account() { AWS_ACCESS_KEY_ID=$1 "${@:2}"; }
member_id() { as_account "$1" consortium member list --network "$NETWORK_ID" -o json |
  json_field "[m['Id'] for m in (d if isinstance(d, list) else d['Members']) if m['Name']=='$2'][0]"; }
ORG1=$(member_id 111111111111 org1)
ORG2=$(member_id 222222222222 org2)

step "org1 proposes inviting a third account (333333333333); org1 and org2 vote YES"
PROPOSAL=$(as_account 111111111111 consortium proposal create --network "$NETWORK_ID" \
  --member "$ORG1" --invite 333333333333 -o json | json_field 'd["ProposalId"]')
as_account 111111111111 consortium proposal vote "$PROPOSAL" --network "$NETWORK_ID" --member "$ORG1" --yes >/dev/null
as_account 222222222222 consortium proposal vote "$PROPOSAL" --network "$NETWORK_ID" --member "$ORG2" --yes

step "the invited account accepts by creating its member, org3"
INVITATION=$(as_account 333333333333 consortium invitation list -o json |
  json_field '(d if isinstance(d, list) else d["Invitations"])[0]["InvitationId"]')
as_account 333333333333 consortium member create --network "$NETWORK_ID" \
  --invitation "$INVITATION" --name org3 --admin-password "Aa1$(date +%s)x"

step "reconcile: org3's CA and peer start; joining the network opens no channel to it"
consortium reconcile "$SPEC" --home "$HOME_DIR"
consortium query basic ReadAsset asset1 --member org3 --channel mychannel --home "$HOME_DIR" ||
  echo "(refused, as it should be: org3 is in no channel yet)"

step "the channel's admins add org3: a config update signed by org1's and org2's admins adds Org3MSP to mychannel"
consortium channel add-member mychannel org3 --home "$HOME_DIR"

step "org3 transacts on the channel; org1 reads what org3 wrote"
consortium invoke basic CreateAsset asset9 green 3 Org3 900 --member org3 --home "$HOME_DIR"
consortium query basic ReadAsset asset9 --member org1 --home "$HOME_DIR"

step "the governance record of that vote, every entry verified against the ledger digest"
as_account 111111111111 consortium governance history "$PROPOSAL"

step "the story's events as they arrived over MQTT (first lines, then the governance ones)"
sleep 1
kill "$TAIL_PID" 2>/dev/null || true
TAIL_PID=""
head -n 8 "$EVENTS"
echo "…"
grep '^governance' "$EVENTS" | tail -n 6
echo "($(grep -vc '^subscribed at' "$EVENTS") events in all; docs/events.md describes every topic and its JSON)"

step "status: every node (org3's too), each channel's height on the orderer and every peer, members"
consortium status --home "$HOME_DIR"

step "down, then verify the orderer's ledgerdb journal: every block, every link, the digest"
consortium down "$SPEC" --home "$HOME_DIR"
consortium ledger verify --ledger "$HOME_DIR/two-members/ordering/orderer0/data/channels/mychannel/blocks"

bash deploy/demo-ledger.sh
