#!/usr/bin/env bash
# Installs everything Corral's build, tests and lab need on Debian 12, as root.
# Safe to run again: it only installs what is missing.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "setup: run as root (su -, or sudo bash hack/setup.sh): it installs Debian packages" >&2
	exit 1
fi

# Real clients, firmware and peers the tests drive (see docs/testing.md):
packages=(
	build-essential git make ca-certificates curl unzip
	iproute2 kmod                          # network namespaces, veth, bridges, taps
	isc-dhcp-client busybox                # dhclient, udhcpc
	tftp-hpa atftp                         # TFTP clients
	ndisc6                                 # rdisc6: IPv6 router discovery client (router advertisements)
	qemu-system-x86 qemu-utils ipxe ipxe-qemu ovmf seabios  # PXE firmware, iPXE programs
	kea-admin kea-dhcp4-server             # perfdhcp and the Kea peer for make bench-dhcp
	cpio e2fsprogs xfsprogs gdisk dosfstools util-linux pciutils  # test images, loop-device fixtures
	lshw                                   # the peer for make bench-inventory
	debootstrap squashfs-tools             # the node image's root filesystem (make image)
	etcd-server                            # etcd for the Kubernetes API server harness (internal/kubetest)
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup: Debian packages present"
fi

# Go: the version go.mod names, from the Go module proxy (the same place `go` fetches toolchains
# from), checked against the digest pinned here; installed to /usr/local/go when no Go of that
# version is on the machine. Debian 12's golang-go (1.19) is too old to build Corral.
go_version=1.26.8
go_zip_sha256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
goroot=${CORRAL_GOROOT:-/usr/local/go}
export PATH=$goroot/bin:$PATH
have=$(go env GOVERSION 2>/dev/null || true); have=${have#go}
if [[ -z $have || $(printf '%s\n' "$go_version" "$have" | sort -V | head -n1) != "$go_version" ]]; then
	[[ $(uname -m) == x86_64 ]] || { echo "setup: install Go $go_version for $(uname -m) from https://go.dev/dl and run again" >&2; exit 1; }
	mod=golang.org/toolchain@v0.0.1-go$go_version.linux-amd64
	proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%,*}
	tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
	echo "setup: installing Go $go_version (70 MB) from $proxy into $goroot${have:+ (found go$have, too old)}"
	curl -fL --progress-bar -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$go_version.linux-amd64.zip"
	echo "$go_zip_sha256  $tmp/go.zip" | sha256sum -c --quiet - || { echo "setup: the Go download does not match its pinned sha256" >&2; exit 1; }
	unzip -q "$tmp/go.zip" -d "$tmp/x"
	rm -rf "$goroot.new" && mv "$tmp/x/$mod" "$goroot.new"
	chmod +x "$goroot.new"/bin/* "$goroot.new"/pkg/tool/*/*
	rm -rf "$goroot" && mv "$goroot.new" "$goroot"
	hash -r
fi
echo "setup: $(go version)"
go mod download
GOBIN=$(go env GOPATH)/bin
if [[ ! -x $GOBIN/staticcheck ]]; then
	echo "setup: installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
echo "setup: done"
