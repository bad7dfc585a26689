#!/usr/bin/env bash
# `make demo`: the most complete story consortium can tell today, with real commands
# only. Each part that lands extends it (the whole-network story arrives with
# `consortium up`).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "consortium $(consortium --version | awk '{print $NF}'): the commands that exist so far"
consortium --help

bash deploy/demo-ledger.sh
