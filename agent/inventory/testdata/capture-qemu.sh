#!/bin/sh
# capture-qemu.sh OUTDIR — boot a QEMU q35 VM (TCG, SeaBIOS, 2 vCPUs, 1 GiB,
# a 2 GiB virtio disk with a GPT and ext4, a virtio NIC with QEMU's default
# MAC, BOOTIF on the command line, no -uuid), run capture.sh inside it, and
# unpack the dump into OUTDIR. This is how testdata/qemu-q35 was made.
#
# Needs qemu-system-x86_64, sgdisk (gdisk), mkfs.ext4 (e2fsprogs), cpio,
# gzip, base64, and the kernel and busybox the QEMU chain tests use:
# run qemu-tests/testimage/build.sh first (it fills .cache/testimage).
set -eu
out=${1:?usage: capture-qemu.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=$repo/.cache/testimage
[ -f "$cache/vmlinuz" ] || { echo "no $cache/vmlinuz: run qemu-tests/testimage/build.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/root/bin" "$work/root/mod" "$work/root/proc" "$work/root/sys" "$work/root/dev" "$work/root/etc" "$work/x"
dpkg-deb --fsys-tarfile "$cache"/debs/busybox-static_*.deb | tar -x -C "$work/x" ./bin/busybox
cp "$work/x/bin/busybox" "$work/root/bin/"
# Debian builds the virtio drivers as modules.
dpkg-deb --fsys-tarfile "$cache"/debs/linux-image-*.deb | tar -x -C "$work/x" --wildcards \
	'*/virtio.ko' '*/virtio_ring.ko' '*/virtio_pci*.ko' '*/virtio_blk.ko' '*/virtio_net.ko' '*/failover.ko' '*/net_failover.ko'
find "$work/x/lib" -name '*.ko' -exec cp {} "$work/root/mod/" \;
cp "$here/capture.sh" "$work/root/capture.sh"
cat >"$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# insmod does not resolve dependencies: load in passes until all are in.
for pass in 1 2 3 4; do
	for m in /mod/*.ko; do
		grep -q "^$(basename "$m" .ko | tr - _) " /proc/modules || insmod "$m" 2>/dev/null
	done
done
ip link set eth0 up
sleep 1
printf 'ID=corral-capture\nVERSION_ID="1"\n' >/etc/os-release
sh /capture.sh /out >/dev/null 2>&1 || echo "capture failed"
echo CAPTURE-BEGIN
tar -C /out -cz . | base64
echo CAPTURE-END
poweroff -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip >"$work/initrd.img")

truncate -s 2G "$work/vd.img"
mkfs.ext4 -q -F -L root -E offset=$((4096 * 512)) "$work/vd.img" 1000M
sgdisk -n 1:2048:+1M -t 1:ef02 -c 1:bios -n 2:4096:0 -t 2:8300 -c 2:root "$work/vd.img" >/dev/null

qemu-system-x86_64 -accel tcg -machine q35 -m 1024 -smp 2 \
	-kernel "$cache/vmlinuz" -initrd "$work/initrd.img" \
	-append "console=ttyS0 BOOTIF=01-52-54-00-12-34-56 quiet" \
	-display none -serial "file:$work/console.log" -no-reboot \
	-drive "file=$work/vd.img,if=virtio,format=raw" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56

mkdir -p "$out"
sed -n '/CAPTURE-BEGIN/,/CAPTURE-END/p' "$work/console.log" | sed '1d;$d' | tr -d '\r' | base64 -d | tar -xz -C "$out"
echo "captured the VM into $out"
