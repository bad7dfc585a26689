#!/usr/bin/env bash
# `make demo`: the most complete story consortium can tell today. Each part that lands
# extends it; it runs real commands only.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "consortium is installed"
consortium --version
consortium --help
