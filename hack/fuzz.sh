#!/usr/bin/env bash
# Runs every Go fuzz target in the given packages (default: the whole module) for FUZZTIME
# (default 10s) each, and decides deterministically what each run means:
#
#   ok       the engine ran for FUZZTIME and found nothing;
#   timeout  the engine stopped itself with a bare "context deadline exceeded" and wrote no
#            failing input. This is Go's fuzz coordinator racing its own -fuzztime deadline
#            (golang/go#75804: the deadline's Done channel is seen before the workers' child
#            context is cancelled, so the deadline is reported as the error). Nothing crashed;
#            it is reported and does not fail the stage;
#   FAIL     anything else that exits non-zero: a crash (a failing input written to
#            testdata/fuzz/), a failing seed corpus entry, a build error. Fails the stage.
#
# Usage: hack/fuzz.sh [package pattern…]     FUZZTIME=30s hack/fuzz.sh ./controller/...
set -uo pipefail
fuzztime=${FUZZTIME:-10s}
go=${GO:-go}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

log=$(mktemp -t corral-fuzz.XXXXXX)
trap 'rm -f "$log"' EXIT

# crashers DIR TARGET lists the failing inputs the engine has written for TARGET.
crashers() { ls -1 "$1/testdata/fuzz/$2" 2>/dev/null | sort; }

# engine_timeout LOG: the only failure in LOG is the engine's own deadline, nothing crashed.
engine_timeout() {
	grep -q 'Failing input written to' "$1" && return 1
	grep -qE '^(panic:|fatal error:)|seed corpus|\[build failed\]|\[setup failed\]' "$1" && return 1
	[ "$(grep -c -- '--- FAIL:' "$1")" = 1 ] || return 1
	grep -A1 -- '--- FAIL:' "$1" | tail -n1 | grep -qxE '[[:space:]]*context deadline exceeded'
}

list=$("$go" list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}") || { echo "fuzz: go list failed" >&2; exit 1; }
total=0 timeouts=() failures=()
start=$SECONDS
while read -r pkg dir; do
	targets=$(cd "$dir" && "$go" test -list '^Fuzz' . 2>&1) || { failures+=("$pkg (listing: $targets)"); continue; }
	for target in $(grep '^Fuzz' <<<"$targets"); do
		total=$((total + 1))
		before=$(crashers "$dir" "$target")
		t0=$SECONDS
		(cd "$dir" && "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" .) >"$log" 2>&1
		rc=$?
		after=$(crashers "$dir" "$target")
		took=$((SECONDS - t0))
		if [ $rc = 0 ] && [ "$before" = "$after" ]; then
			echo "fuzz: ok       $pkg $target (${took}s)"
		elif [ $rc != 0 ] && [ "$before" = "$after" ] && engine_timeout "$log"; then
			echo "fuzz: timeout  $pkg $target (${took}s): the engine hit its own -fuzztime deadline (golang/go#75804); no failing input, not a crash"
			timeouts+=("$pkg $target")
		else
			echo "fuzz: FAIL     $pkg $target (${took}s, exit $rc)"
			sed 's/^/    /' "$log"
			new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
			[ -z "$new" ] || echo "    new failing input(s) in $dir/testdata/fuzz/$target: $new — re-run with: go test -run '$target/<file>' $pkg"
			failures+=("$pkg $target")
		fi
	done
done <<<"$list"

echo "fuzz: $total targets in $((SECONDS - start))s at $fuzztime each: $((total - ${#timeouts[@]} - ${#failures[@]})) ok, ${#timeouts[@]} engine time-outs, ${#failures[@]} failed"
if [ ${#failures[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failures[@]}" >&2
	exit 1
fi
