# DomainFlow — the commands a newcomer needs.
#   make run        serve on 127.0.0.1:8080 with the embedded SQLite default
#   make test       every test, on SQLite and on PostgreSQL
#   make generate   regenerate gen/ from openapi/openapi.yaml
#   make bench      benchmarks; writes docs/benchmarks.md
#   make lint       gofmt and go vet

GO ?= go
# PostgreSQL the tests create their own databases in.
DOMAINFLOW_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export DOMAINFLOW_TEST_POSTGRES_URL

.PHONY: run test generate check-generated bench lint build

run:
	$(GO) run ./cmd/domainflow serve

build:
	$(GO) build -o bin/domainflow ./cmd/domainflow

test:
	$(GO) test -count=1 -timeout 20m ./...

generate:
	$(GO) generate ./openapi

# Fails when the committed gen/ is not what the spec generates (new files too).
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen openapi)" ]; then \
		echo "gen/ is stale: run make generate and commit the result" >&2; \
		git status --porcelain -- gen openapi >&2; exit 1; fi

bench:
	$(GO) run ./bench -out docs/benchmarks.md

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
		if [ -n "$$out" ]; then echo "gofmt would change:" $$out >&2; exit 1; fi
	$(GO) vet ./...
