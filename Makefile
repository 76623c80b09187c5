# icsrange — run `make help` for the targets.
GO        ?= go
BIN       := bin/icsrange
SCENARIOS := $(wildcard scenarios/*.yaml)
# Tools CI installs; pinned so a lint result means the same thing everywhere.
STATICCHECK_VERSION := v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run test bench lint fuzz schema golden clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build a static binary into bin/ (runs in a FROM scratch image)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/icsrange

run: build ## run the water-treatment exercise for 2 teams in real time (scoreboard on http://127.0.0.1:8080)
	$(BIN) run scenarios/water-treatment.yaml --teams 2 --start now

test: build ## vet, race-enabled tests, and validate + test every shipped scenario
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(BIN) validate $(SCENARIOS)
	$(BIN) test $(SCENARIOS)

bench: ## benchmarks: Modbus throughput vs libmodbus, scan cost, engine scoring and provisioning
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 20m ./...

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fuzz: ## run each fuzz target for 20 s
	$(GO) test ./plant-sim/modbus -run '^$$' -fuzz FuzzReadFrame -fuzztime 20s
	$(GO) test ./plant-sim/modbus -run '^$$' -fuzz FuzzParseRequest -fuzztime 20s
	$(GO) test ./engine/scenario -run '^$$' -fuzz FuzzLoad -fuzztime 20s
	$(GO) test ./engine/scenario -run '^$$' -fuzz '^FuzzPrescan$$' -fuzztime 20s
	$(GO) test ./plant-sim/router -run '^$$' -fuzz '^FuzzConduitFlag$$' -fuzztime 20s
	$(GO) test ./plant-sim/router -run '^$$' -fuzz '^FuzzConduitsAPI$$' -fuzztime 20s
	$(GO) test ./plant-sim/hostagent -run '^$$' -fuzz FuzzAttackRequest -fuzztime 20s
	$(GO) test ./engine/pcap -run '^$$' -fuzz FuzzFillTCPChecksum -fuzztime 20s

schema: ## regenerate scenarios/schema.json from the Go types
	$(GO) test ./engine/scenario -run TestSchemaCurrent -update-schema

golden: ## rewrite golden files after an intended change
	$(GO) test ./engine/scenario -run TestLoadGolden -update

clean: ## remove build output
	rm -rf bin
