#!/bin/sh
# build.sh builds the test boot image for the QEMU chain tests: Debian's
# current amd64 kernel and a tiny initramfs whose /init (busybox) prints a
# marker line and the kernel command line on the console, then powers off.
#
#   qemu-tests/testimage/build.sh [CACHE_DIR]     (default: <repo>/.cache/testimage)
#
# Output, in CACHE_DIR:
#   vmlinuz      the kernel from linux-image-<abi>-amd64 (resolved from the
#                linux-image-amd64 metapackage)
#   initrd.img   gzip'ed newc cpio: /bin/busybox (from busybox-static) + /init
#   STAMP        what they were built from; the build is skipped when the
#                package versions, /init and this script are unchanged
#   debs/        the downloaded .deb files (kept, so a rebuild is offline)
#
# Needs: apt-get with package lists (run `apt-get update` once), dpkg-deb,
# cpio, gzip. Nothing is installed: the two packages are only downloaded and
# unpacked into the cache, so busybox-static does not replace the system's
# busybox.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-$repo/.cache/testimage}

say() { printf 'testimage: %s\n' "$*" >&2; }
die() { printf 'testimage: error: %s\n' "$*" >&2; exit 1; }

for c in apt-get apt-cache dpkg-deb cpio gzip sha256sum; do
	command -v "$c" >/dev/null 2>&1 || die "$c is not installed (apt-get install cpio gzip dpkg apt)"
done

# candidate PKG prints the version apt would install, or nothing.
candidate() {
	apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a versioned kernel package: run 'apt-get update' (as root) and try again"
kver=$(candidate "$kpkg")
[ -n "$kver" ] || die "$kpkg has no installable version: run 'apt-get update' (as root) and try again"
bver=$(candidate busybox-static)
[ -n "$bver" ] || die "busybox-static has no installable version: run 'apt-get update' (as root) and try again"

# The stamp names everything the output depends on, this script included.
stamp="kernel=$kpkg $kver
busybox=busybox-static $bver
init=$(sha256sum "$here/init" | cut -d' ' -f1)
build=$(sha256sum "$here/build.sh" | cut -d' ' -f1)"

if [ -f "$cache/STAMP" ] && [ -f "$cache/vmlinuz" ] && [ -f "$cache/initrd.img" ] &&
	[ "$(cat "$cache/STAMP")" = "$stamp" ]; then
	say "up to date in $cache ($kpkg $kver, busybox-static $bver)"
	exit 0
fi

mkdir -p "$cache/debs"

# fetch PKG VERSION prints the path of the package's .deb, downloading it
# into the cache unless it is there already.
fetch() {
	pkg=$1 ver=$2
	# apt-get download names files PKG_VERSION_ARCH.deb with ':' as %3a.
	file="$cache/debs/${pkg}_$(printf '%s' "$ver" | sed 's/:/%3a/g')_amd64.deb"
	if [ ! -s "$file" ]; then
		say "downloading $pkg $ver"
		# As root, apt would warn that its sandbox user cannot write here.
		sandbox=
		[ "$(id -u)" -ne 0 ] || sandbox="-o APT::Sandbox::User=root"
		# shellcheck disable=SC2086 # $sandbox is empty or two words
		(cd "$cache/debs" && apt-get download -q $sandbox "$pkg=$ver" >&2) ||
			die "apt-get download $pkg=$ver failed: check the apt sources and run 'apt-get update'"
	else
		say "using cached $(basename "$file")"
	fi
	[ -s "$file" ] || die "apt-get download did not produce $file"
	printf '%s\n' "$file"
}

kdeb=$(fetch "$kpkg" "$kver")
bdeb=$(fetch busybox-static "$bver")

work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "unpacking the kernel"
mkdir -p "$work/kernel"
# Only /boot: the modules are not needed and are most of the package.
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work/kernel" --wildcards './boot/vmlinuz-*' ||
	die "cannot unpack /boot/vmlinuz-* from $kdeb"
set -- "$work"/kernel/boot/vmlinuz-*
[ -f "$1" ] || die "$kdeb has no /boot/vmlinuz-*"
cp "$1" "$work/vmlinuz"

say "assembling the initramfs"
dpkg-deb -x "$bdeb" "$work/busybox"
[ -x "$work/busybox/bin/busybox" ] || die "$bdeb has no /bin/busybox"
root="$work/root"
mkdir -p "$root/bin" "$root/sbin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 0755 "$root/init" "$root/bin/busybox"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n >"$work/initrd.img"

# Replace the outputs only once everything is built, then write the stamp last.
mv "$work/vmlinuz" "$cache/vmlinuz"
mv "$work/initrd.img" "$cache/initrd.img"
printf '%s\n' "$stamp" >"$cache/STAMP"
say "built $cache/vmlinuz ($kpkg $kver) and $cache/initrd.img ($(wc -c <"$cache/initrd.img") bytes)"
