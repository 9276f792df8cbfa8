# citygrid — the two commands a newcomer needs: `make demo` and `make test`.
.PHONY: deps web build demo test lint unit clean-test-db fuzz load cluster cluster-down

CARGO ?= cargo

deps:
	@scripts/install-deps.sh

# The web pages (web/src → web/dist, served by the binary): MapLibre GL JS and the
# test driver come from npm exactly as pinned in web/package-lock.json.
web: deps web/node_modules/.package-lock.json
	cd web && node build.mjs

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

build: deps web
	$(CARGO) build --release --bin citygrid

# Starts the local PostGIS, migrates, imports the sample city once, seeds demo
# accounts (printed) and serves http://127.0.0.1:8080
demo: build
	./target/release/citygrid demo

lint: deps
	python3 scripts/check_layout.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every test: formatting, lints, unit and doc tests, and the end-to-end tests
# against a real PostGIS (started by the harness under target/test-pg) and the
# real citygrid binary on 127.0.0.1.
# One build from scratch, so no incremental state (it doubled the target directory).
test: lint web
	CARGO_INCREMENTAL=0 $(CARGO) test --workspace --all-targets --no-fail-fast
	CARGO_INCREMENTAL=0 $(CARGO) test --workspace --doc --no-fail-fast

# Stops the test cluster and removes it.
clean-test-db:
	-CITYGRID_HOME=target/test-pg ./target/debug/citygrid db stop
	rm -rf target/test-pg target/test-tmp

# Fuzzes the parsers and the MVT encoder with cargo-fuzz, each for a bounded time
# (FUZZ_SECONDS per target, default 60); crashes are kept under fuzz/artifacts. Then
# fuzzes the HTTP API from its OpenAPI document with Schemathesis against a real
# server for FUZZ_SECONDS (API_FUZZ_SECONDS; scripts/api_fuzz.sh).
fuzz: deps web
	scripts/fuzz.sh
	scripts/api_fuzz.sh

# The 60 s load test (tiles, queries, case intake at 200 connections on loopback);
# prints throughput, p50/p99 and errors per kind.
load: deps web
	bash benches/load.sh

# A primary and a synchronous standby (Patroni, etcd), HAProxy and two citygrid
# servers on loopback, the sample city loaded (README: "Several servers, standbys and
# failover"); `make cluster-down` removes it.
cluster: deps web
	$(CARGO) build --release --bin citygrid
	scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down
