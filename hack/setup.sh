#!/usr/bin/env bash
# Installs everything Corral's build, tests and lab need on Debian 12, as root.
# Safe to run again: it only installs what is missing.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "setup: run as root (sudo make setup): it installs Debian packages" >&2
	exit 1
fi

# Real clients, firmware and peers the tests drive (see docs/testing.md):
packages=(
	build-essential git make ca-certificates curl
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

if ! command -v go >/dev/null; then
	if [[ -x /usr/local/go/bin/go ]]; then
		export PATH=$PATH:/usr/local/go/bin
	else
		echo "setup: Go is not installed: install Go 1.24 or newer (https://go.dev/doc/install) and run again" >&2
		exit 1
	fi
fi
echo "setup: $(go version)"
go mod download
GOBIN=$(go env GOPATH)/bin
if [[ ! -x $GOBIN/staticcheck ]]; then
	echo "setup: installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
echo "setup: done"
