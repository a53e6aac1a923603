# DomainFlow — the commands a newcomer needs.
#   make run        serve on 127.0.0.1:8080 with the embedded SQLite default
#   make test       every test: Go on SQLite and PostgreSQL, the web unit tests, the browser test
#   make generate   regenerate gen/ (Go and TypeScript) from openapi/openapi.yaml
#   make web        rebuild the dashboard into web/dist (embedded in the binary)
#   make bench      benchmarks; writes docs/benchmarks.md
#   make lint       gofmt, go vet and staticcheck; the dashboard's tsc and ESLint; redocly lint of the spec

GO ?= go
NPM ?= npm
# PostgreSQL the tests create their own databases in.
DOMAINFLOW_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export DOMAINFLOW_TEST_POSTGRES_URL
# The project's Go packages: ./... without what npm installs under web/
# (some npm packages ship Go files of their own).
GO_PACKAGES = $(shell $(GO) list ./... | grep -v /web/node_modules/)

.PHONY: run test test-go test-web generate check-generated check-web web web-if-stale bench lint build

run: web-if-stale
	$(GO) run ./cmd/domainflow serve

build: web-if-stale
	$(GO) build -o bin/domainflow ./cmd/domainflow

# The Go tests and the dashboard's run side by side (their output kept apart).
test:
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-go test-web

test-go:
	$(GO) test -count=1 -p 4 -timeout 30m $(GO_PACKAGES)

test-web: web/node_modules/.package-lock.json
	$(NPM) --prefix web test

web/node_modules/.package-lock.json: web/package-lock.json
	$(NPM) --prefix web ci --no-audit --no-fund

# The dashboard is rebuilt only when its sources changed (by content).
web-if-stale:
	@web/build-if-stale.sh

web: web/node_modules/.package-lock.json
	web/build-if-stale.sh --force

generate: web/node_modules/.package-lock.json
	$(GO) generate ./openapi
	$(NPM) --prefix web run generate

# Fails when the committed gen/ is not what the spec generates (new files too).
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen openapi)" ]; then \
		echo "gen/ is stale: run make generate and commit the result" >&2; \
		git status --porcelain -- gen openapi >&2; exit 1; fi

# Fails when the committed web/dist is not what the sources build.
check-web: web
	@if [ -n "$$(git status --porcelain -- web/dist web/dist.sha256)" ]; then \
		echo "web/dist is stale: run make web and commit the result" >&2; \
		git status --porcelain -- web/dist web/dist.sha256 >&2; exit 1; fi

bench:
	$(GO) run ./bench -out docs/benchmarks.md

lint: web/node_modules/.package-lock.json
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
		if [ -n "$$out" ]; then echo "gofmt would change:" $$out >&2; exit 1; fi
	$(GO) vet $(GO_PACKAGES)
	$(GO) tool staticcheck $(GO_PACKAGES)
	$(NPM) --prefix web run typecheck
	$(NPM) --prefix web run lint
	$(NPM) --prefix web run lint:spec
