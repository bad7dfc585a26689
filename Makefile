# The two commands a new user runs: `make test` and `make demo`. Both install
# everything the project needs first (Python packages into .venv, Debian and npm
# packages through deploy/install-deps.sh) and generate the protobuf code.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard proto/*.proto)
GENERATED := $(PROTOS:.proto=_pb2.py) $(PROTOS:.proto=_pb2_grpc.py)

.PHONY: install test demo proto lint format bench bench-caliper browser differential chaos fuzz revocation hardening snapshots clean

install: $(STAMP) proto

$(STAMP): pyproject.toml deploy/install-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	bash deploy/install-deps.sh
	touch $@

# Our own services' protobufs (Fabric's come from the hyperledger-fabric-protos package).
proto: $(STAMP) $(GENERATED)

proto/%_pb2.py proto/%_pb2_grpc.py: proto/%.proto $(STAMP)
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. $<

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(VENV)/bin/pytest --durations=30

# The fuzz tests (tests/fuzz) with 40 times the inputs `make test` gives them (~90 s there).
FUZZ_SCALE ?= 40
fuzz: install
	FUZZ_SCALE=$(FUZZ_SCALE) $(VENV)/bin/pytest -q tests/fuzz

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash deploy/demo.sh

bench: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash tests/bench/run.sh

# Hyperledger Caliper's asset-transfer benchmark against a network `up` starts (free
# ports, a temporary folder); Caliper's report in tests/bench/caliper/report.html.
bench-caliper: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONPATH=. $(PY) tests/bench/bench_caliper.py

# The explorer in Debian's Chromium: the browser test with a screenshot of each page
# (docs/explorer/), then the explorer's figures (tests/bench/bench_explorer.py).
browser: install
	CONSORTIUM_SCREENSHOTS=docs/explorer CONSORTIUM_BROWSER_LONG=1 $(VENV)/bin/pytest -q tests/integration/test_explorer_browser.py
	PYTHONPATH=$(CURDIR) $(PY) tests/bench/bench_explorer.py

# The fidelity scenarios against real Fabric 2.5.12 (../shared/anchors/fabric, built once
# with its build.sh) and consortium side by side; prints each difference. Not in `test`.
differential: install
	bash tests/differential/run.sh

# The long version of tests/integration/test_multihost.py: the network on three hosts
# (network namespaces of this machine; needs root), CHAOS_ROUNDS faults under load (the
# cutter's host cut off, then another host cut off: two partitions in a row; the cutter
# paused past its lease, killed, a host throttled until packets drop), every promise
# checked after each; then the ordering cluster's fall-back faults that take longer (a
# behind cutter, a lease bucket that fell back) and the ledgerdb kill -9 loop at 20 rounds.
# `make test` runs none of these long versions (test_up_cluster, the stream-mending and
# lost-envelope tests are their short ones).
CHAOS_ROUNDS ?= 5
chaos: install
	ORDERHA_CHAOS_ROUNDS=$(CHAOS_ROUNDS) LEDGER_CRASH_ROUNDS=20 $(VENV)/bin/pytest -x -q -p no:cacheprovider \
		tests/integration/test_multihost.py tests/integration/test_ordering_cluster.py \
		tests/integration/test_ledger_crash.py

# Revocation end to end on a whole `up` network (about 50 s, so not in `test`, which runs
# the validator's half in tests/unit/peers/test_revoked_creator.py): `consortium ca
# revoke --member`, the CRL in the channel by config update, every peer refusing.
revocation: install
	CONSORTIUM_REVOCATION_E2E=1 $(VENV)/bin/pytest -x -q -p no:cacheprovider \
		tests/integration/test_revocation.py

# Issue 21's checks that start whole networks (too long for `test`): resource limits on
# real peers, besides the orderer-side ones `test` runs, and a peer whose disk fills
# (root, for the tmpfs; `test` runs its in-process half, tests/unit/peers/test_commit_halts.py).
hardening: install
	CONSORTIUM_HARDENING=1 $(VENV)/bin/pytest -q -s tests/integration/test_peer_resource_limits.py \
		tests/integration/test_resource_limits.py tests/integration/test_disk_full.py \
		tests/integration/test_peer_disk_full.py

# The long snapshot tests (~4.5 min): a three-orderer network on NATS snapshotted under
# load, restored (JetStream re-seeded by `up`), continuing, reset; a peer added to a
# running network from a peer snapshot, and Fabric's own `peer channel joinbysnapshot`.
# `make test` runs their short versions: test_snapshot_streams.py (real NATS servers)
# and tests/unit/peers/test_snapshot_join.py.
snapshots: install
	SNAPSHOTS_LONG=1 $(VENV)/bin/pytest -x -q -p no:cacheprovider \
		tests/integration/test_snapshot_cluster.py tests/integration/test_peer_join_snapshot.py

clean:
	rm -rf $(VENV) $(GENERATED) proto/*_pb2.pyi
