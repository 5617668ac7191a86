#!/bin/sh
# capture.sh OUTDIR — dump the files agent/inventory reads from this machine
# into OUTDIR/{sys,proc,dev,run,etc}, so that PrefixRoot(OUTDIR) reads the
# same facts in a test. Run it as root (DMI serials and the SMBIOS table are
# root-only). It reads nothing it should not and writes only under OUTDIR.
#
# Symlinks matter in sysfs (/sys/block/sda -> ../devices/...): every symlink
# on the way to a captured file is recreated in OUTDIR at its real location,
# and file contents are stored at their real (resolved) path, so relative
# links resolve in the dump as they do on the machine.
#
# Review a dump before committing it: it holds serial numbers and MACs.
set -eu
out=${1:?usage: capture.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# link_chain PATH: recreate every symlink along PATH under $out.
link_chain() {
	p=""
	rest=${1#/}
	while [ -n "$rest" ]; do
		comp=${rest%%/*}
		case $rest in */*) rest=${rest#*/} ;; *) rest="" ;; esac
		parent=$(readlink -f "${p:-/}")
		p="$p/$comp"
		if [ -L "$p" ]; then
			mkdir -p "$out$parent"
			[ -L "$out$parent/$comp" ] || cp -P "$p" "$out$parent/$comp"
		fi
	done
}

# grab PATH...: copy files (contents at their resolved path) and symlinks.
grab() {
	for f in "$@"; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		link_chain "$f"
		real=$(readlink -f "$f")
		if [ -d "$real" ]; then
			mkdir -p "$out$real"
		elif [ -r "$real" ]; then
			mkdir -p "$out$(dirname "$real")"
			# sysfs reports every file as 4096 bytes: copy by reading.
			cat "$real" >"$out$real" 2>/dev/null || rm -f "$out$real"
		fi
	done
}

grab /proc/cpuinfo /proc/meminfo /proc/cmdline /proc/sys/kernel/osrelease /etc/os-release
# mountinfo of the capturing shell, stored where the agent reads it.
mkdir -p "$out/proc/self"
cat /proc/self/mountinfo >"$out/proc/self/mountinfo"

grab /sys/class/dmi/id/* /sys/firmware/dmi/tables/DMI /sys/firmware/dmi/tables/smbios_entry_point
[ -d /sys/firmware/efi ] && mkdir -p "$out/sys/firmware/efi"
grab /sys/hypervisor/type /sys/devices/system/clocksource/clocksource0/available_clocksource

for c in /sys/devices/system/cpu/cpu[0-9]*; do
	grab "$c/topology/physical_package_id" "$c/topology/core_id" \
		"$c/cpufreq/cpuinfo_min_freq" "$c/cpufreq/cpuinfo_max_freq"
done
for n in /sys/devices/system/node/node[0-9]*; do
	grab "$n/cpulist" "$n/meminfo" "$n/distance"
done

for d in /sys/bus/pci/devices/*; do
	grab "$d/class" "$d/vendor" "$d/device" "$d/numa_node" "$d/driver" \
		"$d/sriov_totalvfs" "$d/sriov_numvfs"
done

for b in /sys/block/*; do
	case ${b##*/} in loop* | ram* | zram*) continue ;; esac # never reported
	grab "$b/size" "$b/removable" "$b/ro" "$b/dev" "$b/wwid" "$b/serial" \
		"$b/queue/logical_block_size" "$b/queue/physical_block_size" "$b/queue/rotational" \
		"$b/device/model" "$b/device/serial" "$b/device/wwid"
	for p in "$b"/*/partition; do
		[ -e "$p" ] || continue
		pd=$(dirname "$p")
		grab "$p" "$pd/start" "$pd/size" "$pd/dev"
	done
	dev=$(cat "$b/dev")
	grab "/run/udev/data/b$dev"
done
if [ -d /dev/disk/by-id ]; then
	mkdir -p "$out/dev/disk/by-id"
	cp -P /dev/disk/by-id/* "$out/dev/disk/by-id/" 2>/dev/null || true
fi

for n in /sys/class/net/*; do
	grab "$n/address" "$n/addr_assign_type" "$n/mtu" "$n/speed" "$n/operstate" \
		"$n/carrier" "$n/device" "$n/device/driver"
done
echo "captured into $out"
