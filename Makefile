# Corral — every target CI uses is here; `make ci` is exactly what CI runs
# after `make setup` (see .ci/run).
SHELL := /bin/bash
# hack/setup.sh installs Go into /usr/local/go; find it there without a login shell's PATH.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= $(shell PATH=/usr/local/go/bin:$$PATH command -v go || echo go)
GOBIN := $(shell $(GO) env GOPATH)/bin
FUZZTIME ?= 10s

.PHONY: all build setup test test-unit lint fuzz ci demo lab e2e bench-dhcp bench-inventory bench-registry bench-kube kube-binaries testimage image clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/corral and bin/corral-agent
	$(GO) build -o bin/corral ./cmd/corral
	$(GO) build -o bin/corral-agent ./cmd/corral-agent

setup: ## install Debian packages and Go tools the tests need (root)
	bash hack/setup.sh

testimage: ## build the QEMU test kernel + initramfs into .cache/testimage
	bash qemu-tests/testimage/build.sh

image: ## build the node image (kernel, initramfs, rootfs.squashfs, manifest) into .cache/image/<version> (root); IMAGE_VERSION=v, K3S_BINARY=path, K3S_AIRGAP_IMAGES=path, MIRROR=url
	CGO_ENABLED=1 $(GO) build -o bin/corral-agent ./cmd/corral-agent
	$(GO) build -o bin/corral ./cmd/corral
	v=$${IMAGE_VERSION:-$$(git describe --tags --always --dirty 2>/dev/null || echo dev)}; \
	kdir=$$(bash image/fetch-kernel.sh) && \
	time bin/corral image build --kernel-dir "$$kdir" --agent bin/corral-agent --out ".cache/image/$$v" --version "$$v" --rootfs --cache-dir .cache

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

test-unit: ## fast tests: no root, no QEMU
	$(GO) test -race -short ./...

test: build testimage kube-binaries ## every test, including namespaces, real clients and QEMU (root)
	$(MAKE) image IMAGE_VERSION=lab
	$(GO) test -race -count=1 -timeout 40m ./...

kube-binaries: ## build kube-apiserver (k8s.io/kubernetes, same minor as k3s) into .cache/kube for internal/kubetest; etcd comes from make setup
	bash hack/kube/build.sh

fuzz: ## run every fuzz target for FUZZTIME (default 10s)
	FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh

ci: ## what CI runs: lint, test, fuzz, with the time each stage took
	bash hack/ci.sh lint test fuzz

lab: build ## the virtual lab: a controller and three QEMU workers of different shapes booting the node image, with a live table; Ctrl-C removes everything (root)
	$(MAKE) image IMAGE_VERSION=lab
	$(GO) build -o bin/corral-lab ./cmd/corral-lab
	bin/corral-lab $(LAB_ARGS)

e2e: build ## the end-to-end QEMU test: a BIOS and a UEFI worker boot the node image and must be recorded exactly (root)
	$(MAKE) image IMAGE_VERSION=lab
	$(GO) test -count=1 -v -run 'TestE2E$$' -timeout 20m ./qemu-tests/

demo: build testimage ## the controller in a throwaway namespace: real DHCP/TFTP/HTTP clients, agents enrolling, a QEMU worker booting the node image
	$(MAKE) image IMAGE_VERSION=lab
	bash hack/demo.sh

bench-dhcp: build ## perfdhcp against Corral and Kea, side by side
	bash bench/dhcp/run.sh

bench-inventory: build ## corral-agent inventory against lshw -json: medians and ratio (root)
	bash agent/inventory/bench-lshw.sh bin/corral-agent

bench-registry: ## 1,000 agents over HTTPS against the controller API: latency per call, controller RSS and CPU
	set -o pipefail; $(GO) run ./bench/registry $(BENCH_ARGS) | tee bench/registry/results-latest.txt

bench-kube: kube-binaries ## reconcile latency of a profile change across 1,000 Nodes on a real kube-apiserver; approved → Node registered
	set -o pipefail; $(GO) run ./bench/kube $(BENCH_ARGS) | tee bench/kube/results-latest.txt

clean:
	rm -rf bin .cache
