# restreg — make run serves the API on embedded defaults, make test runs every test.
GO            ?= go
GOLANGCI_LINT_VERSION := v2.15.0
TOOLS_BIN     := $(CURDIR)/bin/tools
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
REDOCLY       := npx --yes @redocly/cli@2.77.0
PKGS          := ./...
TEST_FLAGS    ?= -race -count=1 -timeout 20m
E2E_FLAGS     ?=

.PHONY: run build test test-short lint tidy-check fmt vet openapi e2e bench clean

run: ## serve on SQLite + file mail + in-process events, data in ./data
	$(GO) run ./app/cmd/restreg serve --dev

build: ## build bin/restreg and the load tool bin/restreg-load
	$(GO) build -trimpath -o bin/restreg ./app/cmd/restreg
	$(GO) build -trimpath -o bin/restreg-load ./app/cmd/restreg-load

test: ## unit, contract, integration and HTTP-level tests, with the race detector
	$(GO) test $(TEST_FLAGS) $(PKGS)

test-short: ## the tests that need no external service (no Redis, RabbitMQ, NATS, PostgreSQL, Chromium, no binary built), without -race
	$(GO) test -short -count=1 $(PKGS)

e2e: ## end-to-end suites: build bin/restreg, run it as a process, drive it over HTTP, mail and NATS (JUnit in e2e/report/junit.xml)
	$(GO) run github.com/onsi/ginkgo/v2/ginkgo -r --timeout=15m --junit-report=junit.xml --output-dir=e2e/report $(E2E_FLAGS) ./e2e

bench: ## benchmarks of the signer, the password policy, the use cases (on every store) and the stores
	$(GO) test -run '^$$' -bench . -benchmem ./core/... ./adapters/sqlitestore/ ./adapters/passhash/
	$(GO) test -run '^$$' -bench UseCasesByStore -benchtime 300x ./app/restreg/

$(GOLANGCI_LINT):
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS_BIN)/golangci-lint $(GOLANGCI_LINT)

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

tidy-check: ## fail when go.mod or go.sum differ from what go mod tidy writes
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy and commit the result"; exit 1; }

lint: tidy-check $(GOLANGCI_LINT) ## go.mod tidiness, gofmt, go vet, golangci-lint and the OpenAPI linter's recommended rules
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run $(PKGS)
	$(REDOCLY) lint --config openapi/redocly.yaml openapi/openapi.yaml openapi/openapi-3.0.yaml

openapi: ## regenerate the committed OpenAPI documents
	$(GO) run ./app/cmd/restreg openapi --format yaml > openapi/openapi.yaml
	$(GO) run ./app/cmd/restreg openapi --format json > openapi/openapi.json
	$(GO) run ./app/cmd/restreg openapi --format yaml --openapi 3.0 > openapi/openapi-3.0.yaml
	$(GO) run ./app/cmd/restreg openapi --format json --openapi 3.0 > openapi/openapi-3.0.json
	$(GO) generate ./openapi/client/

clean:
	rm -rf bin
