# The MSC4244 homeserver. Everything here needs only Go (and make).
#
#   make run    generate (first time) and run a dev server on http://127.0.0.1:8008
#   make test   build the binary once, then run every test
#   make bench  run the Go benchmarks
#
# A second server that federates with the first:
#   make run DATA=data2 PORT=8018 HTTPS_PORT=8458

GO ?= go

# make run
DATA ?= data
PORT ?= 8008
HTTPS_PORT ?= 8448
SERVER_NAME ?= 127.0.0.1:$(HTTPS_PORT)
CA ?= devca
# A Postgres connection string, used when the configuration is first generated.
DATABASE ?=

# Extra flags for go test (CI passes -count=1).
TESTFLAGS ?=

# Where the MLS test vectors are looked for (see internal/mls/mlstest).
MLS_VECTORS := $(or $(MLS_TEST_VECTORS),$(abspath $(CURDIR)/../shared/mls-test-vectors))

# The ts-mls interop tests (test/interop) run when Node is installed; their
# npm packages come from test/interop/package-lock.json.
INTEROP := test/interop
NODE := $(shell command -v node 2>/dev/null)

.PHONY: build run test bench

build:
	$(GO) build -o bin/ ./cmd/dendrite ./cmd/devserver ./cmd/mlsclient

run: build
	bin/devserver -bin bin/dendrite -data '$(DATA)' -port $(PORT) -https-port $(HTTPS_PORT) \
		-server-name '$(SERVER_NAME)' -ca '$(CA)' -database '$(DATABASE)'

test: build $(if $(NODE),$(INTEROP)/node_modules/.package-lock.json)
	@if [ -n "$$POSTGRES_HOST" ]; then \
		echo "Postgres: $$POSTGRES_HOST (user $${POSTGRES_USER:-postgres}, database $${POSTGRES_DB:-postgres})"; \
	else \
		echo "Postgres: skipped (set POSTGRES_HOST=127.0.0.1 POSTGRES_USER=postgres POSTGRES_DB=postgres to run the Postgres tests)"; \
	fi
	@if [ ! -d '$(MLS_VECTORS)' ]; then \
		echo "MLS vectors: not found at $(MLS_VECTORS), vector tests skip (set MLS_TEST_VECTORS=<folder>)"; \
	fi
	@if [ -z '$(NODE)' ]; then \
		echo "Node: not found, the ts-mls interop tests (test/interop) skip (install Node 20 or later to run them)"; \
	fi
	DENDRITE_BIN='$(CURDIR)/bin/dendrite' $(GO) test ./... -timeout 60m $(TESTFLAGS)

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
