#!/usr/bin/env bash
# bench-lshw.sh [AGENT] — time `corral-agent inventory -o json` against
# `lshw -json` (Debian lshw, what Operos used for its inventory) on this
# machine, interleaved so both see the same load, and print both medians and
# the ratio. Meant for `make bench-inventory`; run as root (both read
# root-only DMI and device files).
#
# Environment: RUNS [21] runs of each.
set -euo pipefail
agent=${1:-bin/corral-agent}
runs=${RUNS:-21}
[ -x "$agent" ] || { echo "bench-lshw: $agent not found: run make build" >&2; exit 1; }
command -v lshw >/dev/null || { echo "bench-lshw: lshw is not installed (apt-get install lshw)" >&2; exit 1; }

# time_us CMD...: wall-clock microseconds of one run, output discarded
# (bash's EPOCHREALTIME, so no extra process is timed).
time_us() {
	local t0 t1
	t0=${EPOCHREALTIME/[.,]/}
	"$@" >/dev/null 2>&1
	t1=${EPOCHREALTIME/[.,]/}
	echo $((t1 - t0))
}
median() { sort -n | awk '{a[NR] = $1} END {m = a[int((NR + 1) / 2)]; printf "%.1f", m / 1000}'; }

a=() l=()
for ((i = 0; i < runs; i++)); do
	a+=("$(time_us "$agent" inventory -o json)")
	l+=("$(time_us lshw -json)")
done
am=$(printf '%s\n' "${a[@]}" | median)
lm=$(printf '%s\n' "${l[@]}" | median)
echo "corral-agent inventory -o json  median ${am} ms  ($runs runs)"
echo "lshw -json                      median ${lm} ms  ($runs runs)"
awk -v a="$am" -v l="$lm" 'BEGIN { printf "ratio                           %.1f x\n", l / a }'

# What each found, for a quick check that nothing lshw sees is missing.
inv=$("$agent" inventory -o json)
hw=$(lshw -json 2>/dev/null)
count() { grep -c "$1" <<<"$2" || true; }
echo
echo "found            corral-agent  lshw"
printf 'disks            %-13s %s\n' "$(count '"path": "/dev/' "$inv")" "$(count '"class" : "disk"' "$hw")"
printf 'network devices  %-13s %s\n' "$(count '"operState"' "$inv")" "$(count '"class" : "network"' "$hw")"
printf 'display/GPU      %-13s %s\n' "$(count '"source": "nvml"\|"source": "pci"' "$inv")" "$(count '"class" : "display"' "$hw")"
