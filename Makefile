# ccontainer: the front door. `make` builds, `make run` starts a shell in a
# container on the default busybox rootfs, `make test` sets up and runs every test.
GO      ?= go
BUILD   := build
ROOTFS  ?= rootfs
GOFLAGS := -trimpath -ldflags='-s -w -buildid='
SRC     := $(shell find cmd initproc seccomp supervisor -name '*.go' -o -name '*.s') go.mod go.sum
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build rootfs rootfs-debian run test test-oci test-unit test-vm bench bench-quick bench-startup bench-scale bench-tools bench-trace bench-harden clean sizes
all: build

build: $(BUILD)/ccsuper $(BUILD)/ccinit

# ccinit's entry point runs before the Go runtime, to join a mount namespace
# (cmd/ccinit/entry_linux_amd64.s); written for amd64.
ifeq ($(shell $(GO) env GOARCH),amd64)
$(BUILD)/ccinit: GOFLAGS := -trimpath -ldflags='-s -w -buildid= -E main.entry'
endif

$(BUILD)/%: $(SRC)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -o $@ ./cmd/$*
	@# A static binary has no program interpreter and no dynamic section.
	@if readelf -lW $@ | grep -q 'program interpreter' || readelf -d $@ | grep -q NEEDED; then \
		echo "$@ is not static" >&2; rm -f $@; exit 1; fi

rootfs: $(BUILD)/ccinit
	$(SUDO) scripts/mkrootfs-busybox.sh $(ROOTFS) $(BUILD)/ccinit

run: build rootfs
	$(SUDO) $(BUILD)/ccsuper --rootfs $(ROOTFS)

# Every test: unit tests unprivileged, root tests and end-to-end tests of the
# built binaries as root (they skip, saying why, when not root).
test: build
	$(SUDO) scripts/test-deps.sh
	$(SUDO) scripts/engine-deps.sh
	@# The validation programs of e2e's TestOCIValidationSubset, built once
	@# (its network namespace cannot reach the module proxy; it skips then).
	$(SUDO) env "PATH=$$PATH" OCI_BUILD_ONLY=1 scripts/oci-validate.sh $(OCI_OUT) || \
		echo "make test: the OCI validation programs did not build; TestOCIValidationSubset will say why"
	@# ccinit and ccsuper also build for arm64 (ccinit's entry point and the
	@# seccomp tables are x86_64's; the rest must not drift).
	GOARCH=arm64 $(GO) build ./...
	$(SUDO) env "PATH=$$PATH" $(GO) test -count=1 ./...

# The OCI runtime-tools validation suite against ccsuper, runc and crun in
# one run: build/oci-validation/table.md (docs/oci.md explains the results).
OCI_OUT ?= $(BUILD)/oci-validation
test-oci: build
	rm -rf $(OCI_OUT)/rt $(OCI_OUT)/ccsuper $(OCI_OUT)/runc $(OCI_OUT)/crun
	mkdir -p $(OCI_OUT)/rt && cp $(BUILD)/ccsuper $(BUILD)/ccinit $(OCI_OUT)/rt/
	$(SUDO) scripts/oci-validate.sh $(OCI_OUT) $(abspath $(OCI_OUT))/rt/ccsuper runc crun

# The e2e checks this machine cannot run, in a qemu guest booted with
# Debian's kernel and pure cgroup v2 (vm/ says what and why). `make test`
# runs it too whenever qemu is installed.
test-vm:
	$(SUDO) scripts/test-deps.sh
	$(GO) test -count=1 -v ./vm/

test-unit:
	GOARCH=arm64 $(GO) build ./...
	$(GO) test -count=1 -short ./...

# Benchmarks (BENCHMARKS.md says what each measures). The suite runs in a
# throwaway network and mount namespace standing in for the host, and writes
# bench/results/DATE/results.json; the report turns it into BENCHMARKS.md and
# PNG charts there. A full run also refreshes the committed BENCHMARKS.md and
# bench/charts/. BENCH_ONLY=startup,pid1,sysbench,network,memory,scale picks
# sections (then nothing committed is touched).
DEBIAN_ROOTFS ?= rootfs-debian
BENCH_STAMP   := $(shell date -u +%Y-%m-%dT%H%M%SZ)
BENCH_OUT     ?= bench/results/$(BENCH_STAMP)
BENCH_ONLY    ?=
BENCH_FLAGS   ?=

rootfs-debian: $(BUILD)/ccinit
	$(SUDO) scripts/mkrootfs-debian.sh $(DEBIAN_ROOTFS) $(BUILD)/ccinit

bench-tools:
	$(GO) build -o $(BUILD)/bench-suite ./bench/suite
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -o $(BUILD)/gofloor ./bench/gofloor
	$(GO) build -o $(BUILD)/bench-report ./bench/report

bench: build rootfs-debian bench-tools
	$(SUDO) bench/peers.sh
	$(SUDO) scripts/throwaway-host.sh $(BUILD)/bench-suite -rootfs $(DEBIAN_ROOTFS) -ccsuper $(BUILD)/ccsuper \
		-out $(BENCH_OUT) $(if $(BENCH_ONLY),-only $(BENCH_ONLY)) $(BENCH_FLAGS)
	$(BUILD)/bench-report -in $(BENCH_OUT)/results.json -md $(BENCH_OUT)/BENCHMARKS.md -charts $(BENCH_OUT)/charts
	@if [ -z "$(BENCH_ONLY)$(BENCH_FLAGS)" ]; then \
		$(BUILD)/bench-report -in $(BENCH_OUT)/results.json -md BENCHMARKS.md -charts bench/charts $(if $(wildcard bench/findings.md),-findings bench/findings.md) && \
		echo "bench: wrote BENCHMARKS.md and bench/charts/ (commit them)"; fi
	@echo "bench: $(BENCH_OUT)/BENCHMARKS.md"

# The few-minute subset: every section, fewer rounds, shorter runs.
bench-quick:
	$(MAKE) bench BENCH_FLAGS=-quick

bench-startup:
	$(MAKE) bench BENCH_ONLY=startup,pid1

bench-scale:
	$(MAKE) bench BENCH_ONLY=scale

# Per-step medians of `ccsuper --trace` over many runs (the start-up study).
bench-trace: build rootfs
	$(GO) build -o $(BUILD)/tracestat ./bench/tracestat
	$(SUDO) scripts/throwaway-host.sh $(BUILD)/tracestat -ccsuper $(BUILD)/ccsuper -rootfs $(ROOTFS) -n 200 -- --net none
	$(SUDO) scripts/throwaway-host.sh $(BUILD)/tracestat -ccsuper $(BUILD)/ccsuper -rootfs $(ROOTFS) -n 200

# What each hardening layer adds to a start, against --privileged.
bench-harden: build rootfs
	$(SUDO) scripts/bench-harden.sh $(BUILD)/ccsuper $(ROOTFS) 300

.PHONY: test-engines bench-engines

# The real engines (podman, containerd, Docker) running their containers with
# each OCI runtime: all of e2e/engines_*_test.go, with Docker and the CRI path,
# which `make test` leaves out (docs/kubernetes.md). CCONTAINER_E2E_OCI_CCSUPER
# names another ccsuper binary to try as the runtime.
test-engines: build
	$(SUDO) scripts/test-deps.sh
	$(SUDO) scripts/engine-deps.sh all
	$(SUDO) env "PATH=$$PATH" CCONTAINER_E2E_ALL_ENGINES=1 $(if $(CCONTAINER_E2E_OCI_CCSUPER),CCONTAINER_E2E_OCI_CCSUPER=$(CCONTAINER_E2E_OCI_CCSUPER)) $(GO) test -count=1 -v -run 'TestEngine' ./e2e/

# The OCI runtimes under each real engine (podman, containerd, Docker):
# start-to-exit of /bin/true and exec latency, crun the baseline.
bench-engines:
	$(SUDO) scripts/engine-deps.sh all
	$(MAKE) bench BENCH_ONLY=engines

sizes: build
	@scripts/sizes.sh $(BUILD)/ccinit

clean:
	rm -rf $(BUILD)
