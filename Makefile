# icsrange — run `make help` for the targets.
GO        ?= go
BIN       := bin/icsrange
SCENARIOS := $(wildcard scenarios/*.yaml)
# Tools CI installs; pinned so a lint result means the same thing everywhere.
STATICCHECK_VERSION := v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run test killtest bench lint fuzz schema golden clean
# Rounds of make killtest (make test plays 3).
ROUNDS    ?= 10

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build a static binary into bin/ (runs in a FROM scratch image)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/icsrange

run: build ## run the water-treatment exercise for 2 teams in real time (scoreboard on http://127.0.0.1:8080; after the end it serves the final board until Ctrl-C)
	$(BIN) run scenarios/water-treatment.yaml --teams 2 --start now

test: build ## vet, race-enabled tests, and validate + test every shipped scenario
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(BIN) validate $(SCENARIOS)
	$(BIN) test $(SCENARIOS)

killtest: ## kill -9 the engine mid-run and resume it, ROUNDS times (default 10): every round must score as a run without a crash
	ICSRANGE_KILL_ROUNDS=$(ROUNDS) $(GO) test -race -count=1 -v -run '^TestKillAndResume$$' ./cmd/icsrange

bench: ## benchmarks: Modbus throughput vs libmodbus, IEC 104 and OPC UA reads vs Modbus, scan cost, engine scoring and provisioning
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 20m ./...

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fuzz: ## run each fuzz target for 20 s
	$(GO) test ./plant-sim/modbus -run '^$$' -fuzz FuzzReadFrame -fuzztime 20s
	$(GO) test ./plant-sim/modbus -run '^$$' -fuzz FuzzParseRequest -fuzztime 20s
	$(GO) test ./plant-sim/iec104 -run '^$$' -fuzz FuzzReadAPDU -fuzztime 20s
	$(GO) test ./plant-sim/iec104 -run '^$$' -fuzz FuzzParseASDU -fuzztime 20s
	$(GO) test ./plant-sim/opcua -run '^$$' -fuzz FuzzHello -fuzztime 20s
	$(GO) test ./plant-sim/opcua -run '^$$' -fuzz FuzzCheck -fuzztime 20s
	$(GO) test ./plant-sim/opcua -run '^$$' -fuzz FuzzChannel -fuzztime 20s
	$(GO) test ./engine/scenario -run '^$$' -fuzz FuzzLoad -fuzztime 20s
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
