# topo: build, test, benchmark, demo. Tests and the demo need root.
# sudo's PATH often lacks Go's folder: fall back to where Go installs itself.
GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN     := bin/topo
PKGS    := ./...

.PHONY: build test unit bench demo deps fmt vet clean rootfs

build:
	$(GO) build -o $(BIN) ./cmd/topo

# The whole suite: installs what it needs (Debian packages), checks format
# and vet, then runs every test, the privileged ones included when root.
# Fuzz passes come first (about 30 s of the DOT parser, 10 s each of the
# checks parser and the capture text decoder here), the whole suite last.
# Their budgets are counts of executions, not durations: with a duration,
# Go 1.26's fuzzing coordinator can fail a target with "context deadline
# exceeded" when the time is up (golang/go#75804, fixed in Go 1.27).
test: deps build/rootfs fmt vet
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 600000x ./topo
	$(GO) test -run '^$$' -fuzz FuzzChecks -fuzztime 200000x ./topo
	$(GO) test -run '^$$' -fuzz FuzzText -fuzztime 250000x ./capture
	$(GO) test -count=1 -timeout 20m $(PKGS)

# Only the tests that need no root.
unit:
	$(GO) test -count=1 -short $(PKGS)

deps:
	./scripts/deps.sh

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Go benchmarks, then lab sizes side by side with ip -batch and Mininet
# (installed by deps when missing). Figures are ratios measured in one run.
bench: build
	TOPO_DEPS_BENCH=1 ./scripts/deps.sh
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)
	$(GO) run ./bench/scale -topo $(BIN) -sizes $(SIZES)

SIZES ?= 10,100,500,1000

# Brings up the quickstart lab, shows it working, and takes it down.
demo: deps build
	./$(BIN) up examples/quickstart.dot
	./$(BIN) exec h1 -- ping -c 3 h2
	./$(BIN) status
	./$(BIN) down quickstart

# A BusyBox root filesystem for image nodes (examples/image.dot).
rootfs:
	./scripts/rootfs.sh build/rootfs

build/rootfs:
	./scripts/rootfs.sh build/rootfs

clean:
	rm -rf bin build
