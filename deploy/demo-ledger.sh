#!/usr/bin/env bash
# The ledgerdb journal in one short story, with real `consortium ledger` commands only:
# append documents, take a digest, fetch a block with its proof, prove the journal only
# grew, verify it all, then tamper with one byte on disk and watch verify name the block.
# Then ledgerdb as a database: QLDB's tables, PartiQL with an index, history and a proof.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

LEDGER="$(mktemp -d)/ledger"
trap 'rm -rf "$(dirname "$LEDGER")"' EXIT

step "append three JSON documents: each becomes one block, durable before the command returns"
printf '%s\n' \
  '{"VIN": "1N4AL11D75C109151", "owner": "Alice", "colour": "red"}' \
  '{"VIN": "KM8SRDHF6EU074761", "owner": "Bob", "colour": "blue"}' \
  '{"VIN": "3HGGK5H8XLM725021", "owner": "Carol", "colour": "white"}' |
  consortium ledger append --ledger "$LEDGER"

step "the digest: one hash over every block so far (save it; it proves the past later)"
consortium ledger digest --ledger "$LEDGER"

step "two more blocks arrive"
printf '%s\n' '{"VIN": "1N4AL11D75C109151", "owner": "Dave"}' '{"note": "hello"}' |
  consortium ledger append --ledger "$LEDGER"

step "block 1 with its inclusion proof against the OLD digest at tip 2 (verified locally)"
consortium ledger block --ledger "$LEDGER" --seq 1 --digest-tip 2

step "consistency proof: the journal at tip 4 is the journal at tip 2 plus new blocks"
consortium ledger consistency --ledger "$LEDGER" --from 2 --to 4

step "verify the whole journal: every checksum, block hash, chain link and the digest"
consortium ledger verify --ledger "$LEDGER"

step "export block 0 as Ion, with every hash an outside verifier needs"
consortium ledger export --ledger "$LEDGER" --from 0 --to 0

step "tamper: flip one byte inside block 3's record in the segment file"
SEGMENT="$(ls "$LEDGER"/segments/*.seg | head -n 1)"
python3 - "$SEGMENT" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
offset = 0
for _ in range(3):  # skip blocks 0..2: each record is a 12-byte header and its payload
    offset += 12 + int.from_bytes(data[offset:offset + 4], "little")
data[offset + 40] ^= 0x01
open(path, "wb").write(bytes(data))
print(f"flipped one bit at byte {offset + 40} of {path}")
PY

step "verify now names the damaged block and exits non-zero"
if consortium ledger verify --ledger "$LEDGER"; then
  echo "verify accepted a tampered journal" >&2
  exit 1
else
  echo "(verify exited with status $?, as it should)"
fi

DB="$(dirname "$LEDGER")/vehicles"
step "ledgerdb as a database (QLDB's model): a table, an index, documents with parameters"
consortium ledger query --ledger "$DB" "CREATE TABLE Vehicle"
consortium ledger query --ledger "$DB" "CREATE INDEX ON Vehicle (VIN)"
consortium ledger query --ledger "$DB" "INSERT INTO Vehicle ?" \
  --param '{VIN: "1N4AL11D75C109151", Owner: "Alice", Year: 2019}'

step "a point query uses the index (--plan says so); an update makes a new revision"
consortium ledger query --ledger "$DB" --plan \
  "SELECT v.Owner FROM Vehicle AS v WHERE v.VIN = '1N4AL11D75C109151'"
consortium ledger query --ledger "$DB" \
  "UPDATE Vehicle AS v SET v.Owner = 'Bob' WHERE v.VIN = '1N4AL11D75C109151'"

step "history(): every revision of the document, with its metadata"
consortium ledger query --ledger "$DB" \
  "SELECT h.data.Owner, h.metadata.version, h.metadata.id FROM history(Vehicle) AS h"

step "the latest revision with its proof, verified revision hash → block → digest"
DOC=$(consortium ledger query --ledger "$DB" -o json \
  "SELECT VALUE h.metadata.id FROM history(Vehicle) AS h" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["values"][0])')
SEQ=$(consortium ledger query --ledger "$DB" -o json \
  "SELECT VALUE r.blockAddress.sequenceNo FROM _ql_committed_Vehicle AS r" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["values"][0])')
consortium ledger revision --ledger "$DB" --document-id "$DOC" --seq "$SEQ"
