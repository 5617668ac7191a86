#!/usr/bin/env bash
# Builds kube-apiserver from the Go module k8s.io/kubernetes (same minor as the
# pinned k3s) into .cache/kube/<version>/ for internal/kubetest. etcd is not
# built: it comes from Debian's etcd-server package (hack/setup.sh).
#
# Skips the build when the binary is already there, so only the first run is
# slow (~5 min on 2 cores). Usage: hack/kube/build.sh [--print-dir]
set -euo pipefail

KUBE_VERSION=v1.31.6
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/.cache/kube/$KUBE_VERSION"

if [[ "${1:-}" == "--print-dir" ]]; then
	echo "$out"
	exit 0
fi

if ! command -v etcd >/dev/null; then
	echo "hack/kube/build.sh: etcd not found; install Debian's etcd-server (make setup)" >&2
	exit 1
fi

if [[ -x "$out/kube-apiserver" ]] && "$out/kube-apiserver" --version 2>/dev/null | grep -q "$KUBE_VERSION"; then
	echo "kube-apiserver $KUBE_VERSION already built: $out/kube-apiserver"
	exit 0
fi

mkdir -p "$out"
echo "building kube-apiserver $KUBE_VERSION into $out (first time takes minutes)" >&2
cd "$here"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=31"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
# -mod=readonly: this directory's go.mod/go.sum pin every module (they were
# written by a -mod=mod build; a missing sum fails here rather than
# silently fetching something else).
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" \
	-o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
"$out/kube-apiserver" --version
