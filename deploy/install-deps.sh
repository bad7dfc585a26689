#!/usr/bin/env bash
# Installs the non-Python things the project needs. Idempotent: it installs only what
# is missing, so `make` can call it on every fresh machine.
#   Debian: mosquitto (MQTT broker for the events bridge), nats-server (replicated journal),
#           chromium and chromium-driver (the explorer's browser tests; no browser is ever
#           downloaded), fonts-dejavu-core (text in its screenshots).
#   npm:    the real Fabric clients (tests/conformance), the Node contract
#           (chaincode/conformance/node_contract), Hyperledger Caliper bound to
#           fabric-gateway (tests/bench/caliper) and playwright-core (tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(mosquitto nats-server chromium chromium-driver fonts-dejavu-core)
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

# nats-server: at least 2.10. Debian 12 ships 2.9.10, whose stream leader elected after
# a partition can lack messages it had acknowledged (docs/architecture.md, "nats-server
# 2.10"); Debian 13 ships 2.10.27. On Debian 12, that package is fetched from Debian 13's
# signed index (a private apt list folder: the machine's own sources stay as they are)
# and installed over the older one; it needs only libc6 >= 2.34 and adduser.
nats_minimum=2.10
nats_version=$(dpkg-query -W -f='${Version}' nats-server 2>/dev/null || true)
if ! dpkg --compare-versions "${nats_version:-0}" ge "$nats_minimum"; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: nats-server ${nats_version:-missing} is older than $nats_minimum: installing Debian 13's"
  apt_dir=$(mktemp -d)
  mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  cat > "$apt_dir/sources/trixie.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  apt_private=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt_dir/sources"
               -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
               -o APT::Sandbox::User=root)  # (the folder is mktemp's: private to root)
  $sudo apt-get "${apt_private[@]}" update -qq
  (cd "$apt_dir" && $sudo apt-get "${apt_private[@]}" download -qq nats-server)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "$apt_dir"/nats-server_*.deb >/dev/null
  $sudo rm -rf "$apt_dir"
fi

# npm projects: the real Fabric clients of the conformance tests, the Node contract
# (fabric-shim) the chaincode and conformance tests run as chaincode-as-a-service,
# Caliper (its package.json pins what `caliper bind --caliper-bind-sut fabric:fabric-gateway`
# would install, so no bind step runs), and playwright-core for the browser tests.
for project in tests/conformance chaincode/conformance/node_contract tests/bench/caliper tests/browser; do
  [ -f "$project/package.json" ] || continue
  if [ ! -d "$project/node_modules" ] || [ "$project/package.json" -nt "$project/node_modules" ]; then
    echo "install-deps: installing npm packages in $project"
    (cd "$project" && npm install --no-audit --no-fund --silent)
    touch "$project/node_modules"
  fi
done

# The QLDB Python driver's own environment (tests/conformance/test_pyqldb.py): pyqldb needs
# botocore's qldb-session model (dropped after botocore 1.40.60) and amazon.ion <= 0.9.3,
# neither of which the project venv can have. Rebuilt only when missing or when its
# requirements file is newer than it.
pyqldb_venv=.venv-pyqldb
pyqldb_requirements=tests/conformance/pyqldb-requirements.txt
if [ ! -x "$pyqldb_venv/bin/python" ] || [ "$pyqldb_requirements" -nt "$pyqldb_venv/.installed" ]; then
  echo "install-deps: creating $pyqldb_venv (pyqldb driver for the QLDB session conformance test)"
  python3 -m venv "$pyqldb_venv"
  "$pyqldb_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$pyqldb_requirements"
  touch "$pyqldb_venv/.installed"
fi
