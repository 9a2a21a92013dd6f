# ccontainer: the front door. `make` builds, `make run` starts a shell in a
# container on the default busybox rootfs, `make test` sets up and runs every test.
GO      ?= go
BUILD   := build
ROOTFS  ?= rootfs
GOFLAGS := -trimpath -ldflags='-s -w -buildid='
SRC     := $(shell find cmd initproc seccomp supervisor -name '*.go') go.mod go.sum
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build rootfs run test test-unit bench-startup bench-scale clean sizes
all: build

build: $(BUILD)/ccsuper $(BUILD)/ccinit

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
	$(SUDO) env "PATH=$$PATH" $(GO) test -count=1 ./...

test-unit:
	$(GO) test -count=1 -short ./...

# Benchmarks run in a throwaway network namespace standing in for the host.
bench-startup: build rootfs
	$(GO) build -o $(BUILD)/bench-startup ./bench/startup
	@echo "== each container alone: the bridge is made and removed in every ccsuper run"
	$(SUDO) scripts/throwaway-host.sh $(BUILD)/bench-startup -rootfs $(ROOTFS) -ccsuper $(BUILD)/ccsuper
	@echo "== with another container running, so the bridge stays up (as docker0 does)"
	$(SUDO) scripts/throwaway-host.sh $(BUILD)/bench-startup -rootfs $(ROOTFS) -ccsuper $(BUILD)/ccsuper -hold-bridge

bench-scale: build rootfs
	$(GO) build -o $(BUILD)/bench-scale ./bench/scale
	$(SUDO) scripts/throwaway-host.sh $(BUILD)/bench-scale -rootfs $(ROOTFS) -ccsuper $(BUILD)/ccsuper -n 50

sizes: build
	@scripts/sizes.sh $(BUILD)/ccinit

clean:
	rm -rf $(BUILD)
