#!/usr/bin/env bash
# Runs the given make targets in order (what `make ci` is), stops at the first that fails, and
# prints how long each took, so the cost of every stage against CI's 90-minute budget is visible.
set -uo pipefail
cd "$(dirname "$0")/.."
times=() rc=0 start=$SECONDS
for stage in "$@"; do
	t0=$SECONDS
	echo "ci: === $stage ==="
	make --no-print-directory "$stage"; rc=$?
	times+=("$(printf '%-6s %5ds  %s' "$stage" $((SECONDS - t0)) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
	[ $rc = 0 ] || break
done
echo "ci: stage   time"
printf 'ci: %s\n' "${times[@]}"
echo "ci: total  $((SECONDS - start))s on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
