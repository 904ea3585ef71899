# personal-cloud — see README.md
CONFIG ?= examples/cluster.yaml
OUT ?= out

.PHONY: iso deps test-deps test test-unit test-long bench bench-agent bench-ha bench-corosync bench-replace bench-storage bench-backup e2e e2e-encrypted e2e-installer clean

## Build installer images for $(CONFIG) into $(OUT)/ (installs the build tools it needs).
iso: node_modules/.installed deps
	node bin/personal-cloud.js build --config $(CONFIG) --out $(OUT)

deps:
	bash scripts/deps.sh build

test-deps:
	bash scripts/deps.sh test

node_modules/.installed: package.json package-lock.json
	npm ci
	touch $@

## The default test suite (what CI runs).
test: node_modules/.installed test-deps
	npm test

## Benchmarks: image build vs bare xorriso, agent formation time.
bench: node_modules/.installed test-deps
	node scripts/run-ts.mjs scripts/bench-iso.ts

bench-agent: node_modules/.installed test-deps
	node scripts/run-ts.mjs scripts/bench-agent.ts

bench-replace: node_modules/.installed test-deps
	node scripts/run-ts.mjs scripts/bench-replace.ts

## Storage: fio on gv0 (ours) vs one brick's filesystem (floor) vs the how-to's volume; ARGS e.g. "--nodes 6".
bench-storage: node_modules/.installed test-deps
	node scripts/run-ts.mjs scripts/bench-storage.ts $(ARGS)

bench-backup: node_modules/.installed
	bash scripts/deps.sh long
	node scripts/run-ts.mjs scripts/bench-backup.ts $(ARGS)

bench-ha: node_modules/.installed
	bash scripts/deps.sh long
	node scripts/run-ts.mjs scripts/bench-ha.ts

## How fast corosync notices a lost member, 3 to 9 nodes, with the agent's totem settings; ARGS e.g. "--runs 3 9".
bench-corosync: node_modules/.installed
	bash scripts/deps.sh long
	node scripts/run-ts.mjs scripts/bench-corosync.ts $(ARGS)

## End to end: disk images for 3 nodes booted in QEMU until the cluster is healthy (~30-60 min).
e2e: node_modules/.installed
	bash scripts/deps.sh long
	node scripts/run-ts.mjs scripts/e2e.ts

## Encrypted bricks end to end: 3 nodes on LUKS2 bricks bound to each other's tang, in QEMU (~40-60 min).
e2e-encrypted: node_modules/.installed
	bash scripts/deps.sh long
	node scripts/run-ts.mjs scripts/e2e-encrypted.ts $(ARGS)

## The installer path: ISOs installed in QEMU from MIRROR (needs a mirror that serves .udeb files).
MIRROR ?=
e2e-installer: node_modules/.installed
	bash scripts/deps.sh long
	node scripts/run-ts.mjs scripts/e2e-installer.ts $(if $(MIRROR),--mirror $(MIRROR))

clean:
	rm -rf $(OUT) dist

## The fast tier: tests that need no root, network, namespaces or QEMU (well under a minute).
test-unit: node_modules/.installed
	npm run test:unit

## Long scenarios (agent crash/scale-out, HA failover): many minutes each, not in CI's default run.
test-long: node_modules/.installed
	bash scripts/deps.sh long
	npm run test:long
