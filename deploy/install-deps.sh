#!/usr/bin/env bash
# Installs the non-Python things the project needs. Idempotent: it installs only what
# is missing, so `make` can call it on every fresh machine.
#   Debian: mosquitto (MQTT broker for the events bridge), nats-server (replicated journal).
#   npm:    the real Fabric clients used by tests/conformance (when package.json exists).
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(mosquitto nats-server)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ -f tests/conformance/package.json ]; then
  if [ ! -d tests/conformance/node_modules ] \
     || [ tests/conformance/package.json -nt tests/conformance/node_modules ]; then
    echo "install-deps: installing npm packages for the conformance tests"
    (cd tests/conformance && npm install --no-audit --no-fund --silent)
    touch tests/conformance/node_modules
  fi
fi
