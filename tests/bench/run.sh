#!/usr/bin/env bash
# Runs every benchmark in this folder; each prints its own figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
shopt -s nullglob
for bench in tests/bench/bench_*.py; do
  echo "== $bench"
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python "$bench"
done
