#!/usr/bin/env bash
# make differential: the fidelity scenarios against real Fabric 2.5.12 (the anchor in
# ../shared/anchors/fabric/, built once with its build.sh) and against
# `consortium up deploy/two-members.yaml`, side by side; prints every difference.
# Not part of `make test`: it needs the anchor's Go-built binaries.
# Env: ANCHOR (default ../shared/anchors/fabric), BUILD (default ~/.cache/fabric-anchor).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/anchors/fabric}
export BUILD=${BUILD:-$HOME/.cache/fabric-anchor}
export MAIN=$ROOT
PATH=$ROOT/.venv/bin:$PATH

if [[ ! -x "$BUILD/bin/peer" || ! -x "$BUILD/bin/orderer" ]]; then
  echo "differential: real Fabric is not built in $BUILD; build it once with" >&2
  echo "  FABRIC_GIT=<git dir of hyperledger/fabric> SAMPLES_GIT=<git dir of hyperledger/fabric-samples> $ANCHOR/build.sh" >&2
  exit 2
fi

stop() {
  (cd "$ROOT" && consortium down --purge >/dev/null 2>&1) || true
  bash "$ANCHOR/network.sh" down >/dev/null 2>&1 || true
}
trap stop EXIT

stop
bash "$ANCHOR/network.sh" up
(cd "$ROOT" && consortium up deploy/two-members.yaml --no-reconcile)
cd "$ROOT"
python -m tests.differential.compare --fabric "$BUILD/net" --consortium "$ROOT/.consortium/two-members"
