# icsrange — run `make help` for the targets.
GO        ?= go
BIN       := bin/icsrange
SCENARIOS := $(wildcard scenarios/*.yaml)
# Tools CI installs; pinned so a lint result means the same thing everywhere.
STATICCHECK_VERSION := v0.8.2

# make run's scoreboard address and team count: make run LISTEN=0.0.0.0:9000 TEAMS=4
LISTEN ?= 127.0.0.1:8080
TEAMS  ?= 2

# A release is named and stamped from git: the version is
# `git describe --tags --always --dirty`, the date the commit's (in UTC),
# never the clock's, so two builds of one commit are byte-identical.
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT   := $(shell git rev-parse HEAD 2>/dev/null)
DATE     := $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null)
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
BUILDINFO := github.com/icsrange/icsrange/internal/buildinfo
LDFLAGS   := -s -w -buildid= -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)
# Static, no local paths, no build id, no VCS stamp beyond what LDFLAGS sets.
GOBUILD   := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'

.DEFAULT_GOAL := help
.PHONY: help build run test killtest bench lint fuzz schema golden licenses release cross clean
# Rounds of make killtest (make test plays 3).
ROUNDS    ?= 10

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build a static binary into bin/ (runs in a FROM scratch image)
	$(GOBUILD) -o $(BIN) ./cmd/icsrange

run: ## run the water-treatment exercise in real time (LISTEN=127.0.0.1:8080 TEAMS=2); after the end it serves the final board until Ctrl-C
	@echo "make run: building $(BIN); a first build compiles about 220 packages (a few minutes), each named as it starts"
	$(GOBUILD) -v -o $(BIN) ./cmd/icsrange
	@echo "make run: built $$($(BIN) --version)"
	@echo "make run: starting the water-treatment exercise for $(TEAMS) teams; scoreboard on http://$(LISTEN) (Ctrl-C stops it)"
	$(BIN) run scenarios/water-treatment.yaml --teams $(TEAMS) --listen $(LISTEN) --start now

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
	$(GO) test ./engine/scenario -run '^$$' -fuzz '^FuzzPrescan$$' -fuzztime 20s
	$(GO) test ./plant-sim/router -run '^$$' -fuzz '^FuzzConduitFlag$$' -fuzztime 20s
	$(GO) test ./plant-sim/router -run '^$$' -fuzz '^FuzzConduitsAPI$$' -fuzztime 20s
	$(GO) test ./plant-sim/hostagent -run '^$$' -fuzz FuzzAttackRequest -fuzztime 20s
	$(GO) test ./engine/pcap -run '^$$' -fuzz FuzzFillTCPChecksum -fuzztime 20s
	$(GO) test ./plant-sim -run '^$$' -fuzz '^FuzzProcessArgs$$' -fuzztime 20s

schema: ## regenerate scenarios/schema.json from the Go types
	$(GO) test ./engine/scenario -run TestSchemaCurrent -update-schema

golden: ## rewrite golden files after an intended change
	$(GO) test ./engine/scenario -run TestLoadGolden -update
	$(GO) test ./engine/backend/docker -run TestSpecsGolden -update

licenses: ## list every linked module's licence; fails on one that may not ship
	$(GO) test -count=1 -run TestLinkedModules -v ./internal/licenses

release: ## static binaries for every platform into dist/, with SHA256SUMS and third-party notices
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=""; [ "$$os" = windows ] && ext=.exe; \
		out=dist/icsrange-$(VERSION)-$$os-$$arch$$ext; \
		echo "release: $$out"; \
		GOOS=$$os GOARCH=$$arch $(GOBUILD) -o $$out ./cmd/icsrange; \
	done
	$(GO) run ./internal/licenses/notices -o dist/THIRD_PARTY_NOTICES.txt ./cmd/icsrange
	cp LICENSE dist/LICENSE
	cd dist && sha256sum icsrange-* LICENSE THIRD_PARTY_NOTICES.txt > SHA256SUMS
	@cat dist/SHA256SUMS

cross: ## vet and compile the tests of what trainees run (tui, forward) for windows and darwin
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; for os in windows darwin; do \
		echo "cross: go vet and go test -c for $$os"; \
		GOOS=$$os $(GO) vet ./tui/... ./cmd/icsrange/...; \
		GOOS=$$os $(GO) test -c -o "$$tmp/" ./tui ./tui/components ./cmd/icsrange; \
	done

clean: ## remove build output
	rm -rf bin dist
