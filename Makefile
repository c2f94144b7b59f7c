# CITYARRAY build and test entry points. Run `make` or `make help` for the list.

GO       ?= go
GOFMT    ?= $(shell $(GO) env GOROOT)/bin/gofmt
FUZZTIME ?= 10s

CLI_PKG := github.com/cityarray/cityarray/cmd/cityarray/cli
# Recursive (=) so that git runs only for targets that link the binary.
VERSION  = $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   = $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS  = -X $(CLI_PKG).version=$(VERSION) -X $(CLI_PKG).commit=$(COMMIT)

# Go files we own: everything but vendor/, testdata/ and hidden directories.
GO_FILES = $(shell find . -type d \( -name vendor -o -name testdata -o -name '.?*' \) -prune -o -type f -name '*.go' -print)
# Generated files live under testdata/ (at any depth); check-generated watches them.
GENERATED := ':(glob)**/testdata/**'

.DEFAULT_GOAL := help
.PHONY: help build demo tour test fmt-check vet test-race test-integ lint fuzz cross generate check-generated bench clean

help: ## Show this help (variables: GO, FUZZTIME)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/cityarray for this machine, stamped with version and commit
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/cityarray ./cmd/cityarray

test: fmt-check vet ## Everything CI runs: fmt-check, vet, race tests, cross build, check-generated
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory cross
	@$(MAKE) --no-print-directory check-generated

fmt-check: ## Fail and list the Go files that gofmt would change
	@files="$$($(GOFMT) -l $(GO_FILES))"; \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

vet: ## Run go vet on every package
	$(GO) vet ./...

test-race: ## Run all tests with the race detector
	$(GO) test -race -count=1 ./...

test-integ: ## Run the opt-in integration tests too (tag integ, CITYARRAY_INTEG=1)
	CITYARRAY_INTEG=1 $(GO) test -race -count=1 -tags integ ./...

lint: fmt-check vet ## gofmt check and go vet

fuzz: ## Run every Fuzz target in the repo for FUZZTIME each (default 10s)
	@targets="$$(find . -type d \( -name vendor -o -name testdata -o -name '.?*' \) -prune -o \
		-type f -name '*_test.go' -print | sort | xargs -r grep -oH '^func Fuzz[A-Za-z0-9_]*(' | sed 's/:func /:/; s/($$//')"; \
	if [ -z "$$targets" ]; then echo "no fuzz targets"; exit 0; fi; \
	for t in $$targets; do \
		dir="$$(dirname "$${t%%:*}")"; name="$${t##*:}"; \
		echo "== $$dir $$name"; \
		(cd "$$dir" && $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) .) || exit 1; \
	done

cross: ## Build bin/cityarray-linux-arm64 (CGO_ENABLED=0), the release target
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -ldflags '$(LDFLAGS)' -o bin/cityarray-linux-arm64 ./cmd/cityarray

generate: ## Run go generate on every package
	$(GO) generate ./...

check-generated: generate ## Fail if go generate changed or added files under testdata/
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		echo "check-generated: not a git work tree; skipped" >&2; exit 0; fi; \
	stale=0; \
	git diff --exit-code --stat -- $(GENERATED) || stale=1; \
	untracked="$$(git ls-files --others --exclude-standard -- $(GENERATED))"; \
	if [ -n "$$untracked" ]; then echo "untracked:"; echo "$$untracked"; stale=1; fi; \
	if [ $$stale -ne 0 ]; then echo "generated files are stale: run make generate and commit" >&2; exit 1; fi

bench: ## Run the mesh benchmarks with allocation counts
	$(GO) test -run='^$$' -bench=. -benchmem ./mesh/...

clean: ## Remove build outputs
	rm -rf bin/

demo: build ## Run the whole demo city (cityarray up): server, gateways, 40 poles, a page showing them
	./bin/cityarray up

tour: build ## Run the keys and records tour (README) in a temporary directory
	@set -e; B="$(CURDIR)/bin/cityarray"; T="$$(mktemp -d)"; cd "$$T"; \
	step() { printf '\n\033[1m$$ %s\033[0m\n' "$$*"; "$$@"; }; \
	step "$$B" keys init --dir pki --city Springfield; \
	step "$$B" keys issue --dir pki --role server --id server-1; \
	step "$$B" keys issue --dir pki --role operator --id ada; \
	step "$$B" keys issue --dir pki --role device --id pole-1 --zone z1; \
	step "$$B" keys issue --dir pki --role device --id pole-2 || echo "(refused, as it should be)"; \
	step "$$B" record sign --kind alert --tier warning --scope zone:z1 \
		--text "en=Flood warning: move to higher ground" --text "es=Alerta de inundación: suba a terreno alto" \
		--key pki/server-1.key --cert pki/server-1.pem --expires 2h --out flood.cose; \
	step "$$B" record inspect flood.cose; \
	step "$$B" record verify --roots pki/root.pem flood.cose; \
	step "$$B" record sign --kind alert --tier emergency --scope city --text "en=Evacuate now" \
		--key pki/server-1.key --cert pki/server-1.pem --key pki/ada.key --cert pki/ada.pem --out evac.cose; \
	step "$$B" record verify --roots pki/root.pem evac.cose; \
	step "$$B" record sign --kind alert --tier warning --scope zone:z1 --text "en=Fake" \
		--key pki/pole-1.key --cert pki/pole-1.pem --out fake.cose; \
	step "$$B" record verify --roots pki/root.pem fake.cose || echo "(refused, as it should be)"; \
	serial="$$("$$B" keys show pki/pole-1.pem | awk '/serial:/ {print $$2; exit}')"; \
	step "$$B" keys revoke --dir pki --serial "$$serial" --out revoke.cose; \
	step "$$B" record sign --kind alert --tier informational --scope device:pole-1 --text "en=12:00" \
		--key pki/pole-1.key --cert pki/pole-1.pem --out clock.cose; \
	step "$$B" record verify --roots pki/root.pem --revocation revoke.cose clock.cose || echo "(refused, as it should be)"; \
	rm -rf "$$T"; printf '\ndemo done: the whole system (cityarray up) arrives with the gateway issue\n'
