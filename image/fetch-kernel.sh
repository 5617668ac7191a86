#!/bin/sh
# fetch-kernel.sh downloads Debian's current amd64 kernel package (resolved
# from the linux-image-amd64 metapackage) and unpacks it with dpkg -x, without
# installing it. It prints the directory to give `corral image build
# --kernel-dir` on stdout; progress goes to stderr.
#
#   image/fetch-kernel.sh [CACHE_DIR]        (default: <repo>/.cache/kernel)
#
# Output, in CACHE_DIR:
#   debs/<pkg>_<ver>_amd64.deb   the downloaded package (kept: a re-run is offline)
#   <pkg>_<ver>/                 the unpacked package (boot/vmlinuz-<kver>,
#                                lib/modules/<kver>/... with modules.dep) plus
#   <pkg>_<ver>/corral-kernel-package   "Package: ..." and "Version: ..." of the
#                                .deb, which corral image build records
#
# Needs apt-get with package lists (run `apt-get update` once), dpkg-deb and
# depmod (kmod): the .deb has no modules.dep, its postinst makes one.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${1:-$repo/.cache/kernel}

say() { printf 'fetch-kernel: %s\n' "$*" >&2; }
die() { printf 'fetch-kernel: error: %s\n' "$*" >&2; exit 1; }

for c in apt-get apt-cache dpkg-deb depmod; do
	command -v "$c" >/dev/null 2>&1 || die "$c is not installed (apt-get install apt dpkg kmod)"
done

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a versioned kernel package: run 'apt-get update' (as root) and try again"
kver=$(apt-cache policy "$kpkg" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }')
[ -n "$kver" ] || die "$kpkg has no installable version: run 'apt-get update' (as root) and try again"

dir="$cache/${kpkg}_$kver"
if [ -f "$dir/corral-kernel-package" ]; then
	say "up to date: $kpkg $kver in $dir"
	echo "$dir"
	exit 0
fi

mkdir -p "$cache/debs"
deb=$(ls "$cache/debs/${kpkg}_"*"_amd64.deb" 2>/dev/null | grep -F "_$(echo "$kver" | sed 's/:/%3a/')_" || true)
if [ -z "$deb" ]; then
	say "downloading $kpkg $kver (about 70 MB)"
	(cd "$cache/debs" && apt-get download -q "$kpkg=$kver" >&2) ||
		die "apt-get download $kpkg=$kver failed: check the network and apt sources, then run 'apt-get update'"
	deb=$(ls "$cache/debs/${kpkg}_"*"_amd64.deb" | head -n 1)
fi

say "unpacking $(basename "$deb")"
tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
dpkg -x "$deb" "$tmp"
# The .deb ships no modules.dep: its postinst runs depmod. Run it here, on the
# unpacked tree, without touching the host's /lib/modules.
abi=$(ls "$tmp/boot" | sed -n 's/^vmlinuz-//p' | head -n 1)
[ -n "$abi" ] || die "$(basename "$deb") has no boot/vmlinuz-*"
depmod -b "$tmp" "$abi" || die "depmod -b $tmp $abi failed (apt-get install kmod)"
dpkg-deb -f "$deb" Package Version >"$tmp/corral-kernel-package"
rm -rf "$dir"
mv "$tmp" "$dir"
say "kernel $(ls "$dir/boot" | sed -n 's/^vmlinuz-//p') from $kpkg $kver in $dir"
echo "$dir"
