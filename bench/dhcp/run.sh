#!/usr/bin/env bash
# bench/dhcp/run.sh — DHCPv4 load benchmark (make bench-dhcp): Corral's DHCP
# server against ISC Kea (kea-dhcp4, memfile lease database with persist), both
# driven by ISC perfdhcp in the same setup, one after the other.
#
# Setup: two throwaway network namespaces (server, client) joined by one veth,
# addresses on 10.64.0.0/12 inside them only; nothing leaves the namespaces.
# perfdhcp acts as a relay (giaddr = its own address, port 67) and simulates up
# to $CLIENTS different MAC addresses (one new client per exchange).
#
# For each server and each run it measures
#   1. the highest offered rate (DORA exchanges/s) completed with 0 lost
#      exchanges (perfdhcp's drop time: 1 s): doubling from $START_RATE, then
#      bisecting, $STEP_SECS per step, within $SEARCH_BUDGET seconds. The
#      servers' searches take turns step by step, so that load from other work
#      on the machine hits both alike;
#   2. the share of exchanges lost at the fixed offered rate $FIXED_RATE
#      during $FIXED_SECS, and the server's CPU time per completed exchange
#      (less sensitive to a busy machine than the rates).
# Every perfdhcp step starts a fresh server with an empty lease database, so
# steps are independent and the pool (about 1 M addresses) never runs out.
# Each step line also says where exchanges were lost: "rcvbuf-drops" are
# requests the server's kernel dropped (its socket buffer was full), "replies
# dropped by perfdhcp's full receive buffer" are answers that reached the
# client namespace but overflowed perfdhcp's socket (bursts of replies), and
# "orphan replies" came after perfdhcp had given up (later than 1 s).
#
# Run as root from anywhere: bench/dhcp/run.sh. Prints a table and writes it,
# with every step, to bench/dhcp/results-latest.txt.
#
# Environment (defaults in brackets):
#   QUICK [0]              1: a ~1 minute run (make bench-dhcp QUICK=1) that still prints the
#                          side-by-side ratios: RUNS=1, STEP_SECS=2, START_RATE=4000,
#                          SEARCH_BUDGET=20, PRECISION=10, RETRY=0, FIXED_SECS=5 (each
#                          still overridable), written to bench/dhcp/results-quick.txt;
#                          coarser and noisier than the full run
#   SERVERS [kea corral]   which servers to measure (the order alternates between runs)
#   RUNS [2]               measure everything this many times (noise!)
#   FIXED_RATE [5000]      offered rate of the fixed-rate measurement, /s
#   FIXED_SECS [10]        its duration
#   STEP_SECS [4]          duration of one rate-search step
#   START_RATE [1000]      first rate tried by the search
#   MAX_RATE [200000]      the search stops doubling here
#   SEARCH_BUDGET [150]    seconds of searching per server and run
#   PRECISION [5]          stop bisecting when the bracket is within this % of the rate
#   RETRY [1]              re-try a failed step this many times before calling
#                          it failed (a shared machine has hiccups)
#   CLIENTS [1000000]      perfdhcp -R: number of simulated clients (MACs)
#   CORRAL_BIN [bin/corral]
#   CORRAL_REV             the commit CORRAL_BIN was built from, for the report, when
#                          the binary has no VCS stamp (go build -buildvcs=false)
#   PROFILE [0]            1: record `perf` call graphs of each server during
#                          its first fixed-rate run into bench/dhcp/results-profile-<server>.txt
#   OUT [bench/dhcp/results-latest.txt]
#   KEEP_WORK [0]          1: keep the temporary directory (server logs, perfdhcp outputs, perf.data)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

SERVERS=${SERVERS:-"kea corral"}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	: "${RUNS:=1}" "${STEP_SECS:=2}" "${START_RATE:=4000}" "${SEARCH_BUDGET:=20}" "${PRECISION:=10}" "${RETRY:=0}" "${FIXED_SECS:=5}" "${OUT:=$ROOT/bench/dhcp/results-quick.txt}"
fi
RUNS=${RUNS:-2}
FIXED_RATE=${FIXED_RATE:-5000}
FIXED_SECS=${FIXED_SECS:-10}
STEP_SECS=${STEP_SECS:-4}
START_RATE=${START_RATE:-1000}
MAX_RATE=${MAX_RATE:-200000}
SEARCH_BUDGET=${SEARCH_BUDGET:-150}
PRECISION=${PRECISION:-5}
RETRY=${RETRY:-1}
CLIENTS=${CLIENTS:-1000000}
CORRAL_BIN=${CORRAL_BIN:-$ROOT/bin/corral}
PROFILE=${PROFILE:-0}
OUT=${OUT:-$ROOT/bench/dhcp/results-latest.txt}
KEEP_WORK=${KEEP_WORK:-0}

# The private network inside the namespaces.
SRV_IP=10.64.0.1
CLI_IP=10.64.0.2
PREFIX_LEN=12
SUBNET=10.64.0.0/$PREFIX_LEN
POOL_START=10.64.1.0
POOL_END=10.79.255.254
HTTP_PORT=18080
LEASE_SECS=3600

say() { printf '%s\n' "$*" | tee -a "$LOG"; }
die() { printf 'bench-dhcp: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- preflight
export PATH=$PATH:/usr/sbin:/sbin
[[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces): sudo $0"
for c in ip ss awk; do
	command -v "$c" >/dev/null || die "$c is missing: apt-get install iproute2 gawk"
done
missing=()
command -v perfdhcp >/dev/null || missing+=(kea-admin)
command -v kea-dhcp4 >/dev/null || missing+=(kea-dhcp4-server)
if ((${#missing[@]})); then
	die "missing ${missing[*]} (perfdhcp is in kea-admin, kea-dhcp4 in kea-dhcp4-server): apt-get install kea-admin kea-dhcp4-server"
fi
for s in $SERVERS; do
	case $s in
	kea) ;;
	corral)
		[[ -x $CORRAL_BIN ]] || die "$CORRAL_BIN is not built: run \`make build\` (or \`go build -o bin/corral ./cmd/corral\`) first, or SERVERS=kea $0 to measure Kea alone"
		;;
	*) die "SERVERS: unknown server '$s' (kea, corral)" ;;
	esac
done
if [[ $PROFILE == 1 ]] && ! command -v perf >/dev/null; then
	die "PROFILE=1 needs perf: apt-get install linux-perf"
fi

# ---------------------------------------------------------------- setup and cleanup
WORK=$(mktemp -d /tmp/corral-bench-dhcp.XXXXXX)
LOG=$WORK/transcript.txt
: >"$LOG"
ID=$(printf '%04x' $((RANDOM % 65536)))
NS_S=crl-bench-srv-$ID
NS_C=crl-bench-cli-$ID
VETH_TMP=crb$ID
SERVER_PID=
PERF_PID=

stop_server() {
	local pid=$SERVER_PID
	SERVER_PID=
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	[[ -n $PERF_PID ]] && kill -TERM "$PERF_PID" 2>/dev/null
	stop_server
	for ns in "$NS_S" "$NS_C"; do
		ip netns list 2>/dev/null | grep -qw "$ns" || continue
		for _ in 1 2 3 4 5; do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[[ -z $pids ]] && break
			kill -KILL $pids 2>/dev/null
			sleep 0.1
		done
		ip netns del "$ns"
	done
	ip link del "$VETH_TMP" 2>/dev/null
	if ((rc != 0)) && [[ -s $LOG ]]; then
		mkdir -p "$(dirname "$OUT")"
		{ echo "INCOMPLETE: the benchmark stopped early (exit $rc)"; cat "$LOG"; } >"$OUT"
		echo "bench-dhcp: stopped early (exit $rc); partial transcript in $OUT" >&2
	fi
	if [[ $KEEP_WORK == 1 ]]; then
		echo "bench-dhcp: kept the work directory (configs, server logs, perfdhcp outputs, perf data): $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$VETH_TMP" type veth peer name "${VETH_TMP}p"
ip link set "$VETH_TMP" netns "$NS_S" name srv0
ip link set "${VETH_TMP}p" netns "$NS_C" name cli0
ip -n "$NS_S" addr add "$SRV_IP/$PREFIX_LEN" dev srv0
ip -n "$NS_C" addr add "$CLI_IP/$PREFIX_LEN" dev cli0
for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
ip -n "$NS_S" link set srv0 up
ip -n "$NS_C" link set cli0 up

# ---------------------------------------------------------------- servers
# start_<server> DIR: start a fresh server with its state in DIR, set SERVER_PID.
start_kea() {
	local d=$1
	cat >"$d/kea-dhcp4.json" <<EOF
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": "$d/kea-leases4.csv", "lfc-interval": 3600},
  "valid-lifetime": $LEASE_SECS,
  "subnet4": [{"id": 1, "subnet": "$SUBNET",
    "pools": [{"pool": "$POOL_START - $POOL_END"}],
    "option-data": [{"name": "routers", "data": "$SRV_IP"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "WARN"}]
}}
EOF
	KEA_PIDFILE_DIR=$d KEA_LOCKFILE_DIR=$d \
		ip netns exec "$NS_S" kea-dhcp4 -c "$d/kea-dhcp4.json" >"$d/server.log" 2>&1 &
	SERVER_PID=$!
}

start_corral() {
	local d=$1
	mkdir -p "$d/state"
	cat >"$d/controller.yaml" <<EOF
apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: $d/state
interface: srv0
advertiseAddress: $SRV_IP
log:
  level: warn
  format: text
dhcp:
  mode: authoritative
  subnet: $SUBNET
  rangeStart: $POOL_START
  rangeEnd: $POOL_END
  router: $SRV_IP
  leaseTime: ${LEASE_SECS}s
tftp:
  enabled: false
http:
  listen: "$SRV_IP:$HTTP_PORT"
boot: # not used by the benchmark; set so the controller does not warn
  kernel: /images/bench/vmlinuz
  initrd: /images/bench/initrd.img
EOF
	ip netns exec "$NS_S" "$CORRAL_BIN" controller --config "$d/controller.yaml" >"$d/server.log" 2>&1 &
	SERVER_PID=$!
}

# wait_ready: until the server has a UDP socket on port 67 (10 s at most).
wait_ready() {
	for _ in $(seq 200); do
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		if ip netns exec "$NS_S" ss -Hauln 'sport = :67' | grep -q .; then
			sleep 0.2 # let it finish starting (e.g. a second socket)
			return 0
		fi
		sleep 0.05
	done
	return 1
}

udp_rcvbuf_errors() { # datagrams the kernel dropped in NS because a socket's receive buffer was full
	ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 } else print $col["RcvbufErrors"] }' /proc/net/snmp
}

cpu_ticks() { # utime+stime of a process, in clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- one perfdhcp step
# step SERVER RATE SECS: fresh server, perfdhcp at RATE for SECS. Sets
# R_PASS (1: every exchange completed, no bad reply), R_LOST (exchanges
# lost), R_SENT, R_ACKED, R_RATE (completed exchanges per second), R_CPU_US (server
# CPU µs per completed exchange), R_KDROP (datagrams the server's kernel dropped:
# socket receive buffer full), R_DELAY_DO/RA (perfdhcp's average DISCOVER-OFFER
# and REQUEST-ACK delays, ms), R_NOTE (what went wrong), R_OUT (perfdhcp output file).
STEP_N=0
step() {
	local server=$1 rate=$2 secs=$3 profile=${4:-0}
	STEP_N=$((STEP_N + 1))
	local d=$WORK/step-$STEP_N-$server
	mkdir -p "$d"
	R_PASS=0 R_LOST=0 R_SENT=0 R_ACKED=0 R_RATE=0 R_CPU_US=- R_NOTE= R_OUT=$d/perfdhcp.txt R_DIR=$d
	R_KDROP=0 R_DELAY_DO=- R_DELAY_RA=- R_BAD=0
	"start_$server" "$d"
	if ! wait_ready; then
		R_NOTE="server did not start (no socket on UDP port 67 within 10 s)" R_BAD=1
		: >"$R_OUT"
		stop_server
		return 0
	fi
	local pid=$SERVER_PID t0 t1 rc=0
	if [[ $profile == 1 ]]; then
		perf record -F 999 -g -p "$pid" -o "$d/perf.data" -- sleep "$((secs + 1))" >"$d/perf.log" 2>&1 &
		PERF_PID=$!
		sleep 0.3
	fi
	local k0 k1
	local c0 c1
	k0=$(udp_rcvbuf_errors "$NS_S")
	c0=$(udp_rcvbuf_errors "$NS_C")
	t0=$(cpu_ticks "$pid")
	ip netns exec "$NS_C" perfdhcp -4 -u -r "$rate" -p "$secs" -W 1000000 -R "$CLIENTS" \
		-b mac=02:cb:00:00:00:00 "$SRV_IP" >"$R_OUT" 2>&1 || rc=$?
	t1=$(cpu_ticks "$pid")
	k1=$(udp_rcvbuf_errors "$NS_S")
	c1=$(udp_rcvbuf_errors "$NS_C")
	R_KDROP=$((k1 - k0))
	if [[ -n $PERF_PID ]]; then
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=
	fi
	local alive=1
	kill -0 "$pid" 2>/dev/null || alive=0
	stop_server

	# perfdhcp's report: "Rate: N 4-way exchanges/second", then one block per
	# stage (DISCOVER-OFFER, REQUEST-ACK) with sent/received/drops/orphans/
	# rejected leases/non unique addresses.
	local parsed
	parsed=$(awk '
		/^Rate:/ { rate = $2 }
		/^Malformed packets:/ { malformed = $3 }
		/Statistics for: DISCOVER-OFFER/ { st = "do" }
		/Statistics for: REQUEST-ACK/ { st = "ra" }
		/^sent packets:/ { sent[st] = $3 }
		/^received packets:/ { recv[st] = $3 }
		/^orphans:/ { orphans += $2 }
		/^avg delay:/ { delay[st] = $3 }
		/^rejected leases:/ { rejected += $3 }
		/^non unique addresses:/ { nonuniq += $4 }
		END { printf "%s %d %d %d %d %d %d %s %s\n", (rate == "" ? "0" : rate), sent["do"], recv["ra"], orphans, rejected, nonuniq, malformed,
			(delay["do"] ~ /^[0-9.]+$/ ? delay["do"] : "-"), (delay["ra"] ~ /^[0-9.]+$/ ? delay["ra"] : "-") }
	' "$R_OUT")
	local orphans rejected nonuniq malformed
	read -r R_RATE R_SENT R_ACKED orphans rejected nonuniq malformed R_DELAY_DO R_DELAY_RA <<<"$parsed"
	R_LOST=$((R_SENT - R_ACKED))
	# perfdhcp's own "Rate" divides by the run time including the -W wait: use acked/secs.
	R_RATE=$(awk -v a="$R_ACKED" -v s="$secs" 'BEGIN { printf "%.0f", a / s }')
	if ((t1 > t0 && R_ACKED > 0)); then
		R_CPU_US=$(((t1 - t0) * 1000000 / CLK_TCK / R_ACKED))
	fi
	local notes=()
	((alive)) || notes+=("server DIED during the step (see its log below)")
	((rc == 0 || rc == 3)) || notes+=("perfdhcp exit $rc")
	((R_SENT > 0)) || notes+=("perfdhcp sent nothing")
	((R_SENT == 0 || R_ACKED > 0)) || notes+=("no DHCPACK at all")
	((rejected == 0)) || notes+=("$rejected rejected leases")
	((nonuniq == 0)) || notes+=("$nonuniq addresses given twice")
	((malformed == 0)) || notes+=("$malformed malformed replies")
	((orphans == 0)) || notes+=("$orphans orphan replies")
	((c1 - c0 == 0)) || notes+=("$((c1 - c0)) replies dropped by perfdhcp's full receive buffer")
	local warns
	warns=$(grep -iE 'level=(WARN|ERROR)|^[0-9-]+ [0-9:.]+ +(WARN|ERROR)' "$d/server.log" | grep -vc DHCP4_MULTI_THREADING_INFO || true)
	if ((warns > 0)); then
		notes+=("server logged $warns warnings/errors, first: $(grep -iE 'level=(WARN|ERROR)|^[0-9-]+ [0-9:.]+ +(WARN|ERROR)' "$d/server.log" | grep -v DHCP4_MULTI_THREADING_INFO | head -1 | cut -c1-200)")
	fi
	R_NOTE=$(IFS=';'; echo "${notes[*]-}")
	R_BAD=0
	if ((!alive || R_SENT == 0 || R_ACKED == 0 || rejected || nonuniq || malformed)) || [[ $rc != 0 && $rc != 3 ]]; then R_BAD=1; fi
	if ((alive && R_SENT > 0 && R_LOST == 0 && rejected == 0 && nonuniq == 0 && malformed == 0)) && [[ $rc == 0 || $rc == 3 ]]; then
		R_PASS=1
	fi
	return 0
}

pct() { awk -v l="$1" -v s="$2" 'BEGIN { if (s == 0) print "-"; else printf "%.3f %%", 100 * l / s }'; }

step_line() { # label rate
	local verdict=ok
	((R_PASS)) || verdict=LOST
	say "$(printf '  %-7s %-6s offered %6d/s  acked/s %6s  sent %6d  lost %6d (%9s)  rcvbuf-drops %6d  delay DO/RA %s/%s ms  cpu %4s us/exch  %s%s' \
		"$1" "$2" "$3" "$R_RATE" "$R_SENT" "$R_LOST" "$(pct "$R_LOST" "$R_SENT")" "$R_KDROP" "$R_DELAY_DO" "$R_DELAY_RA" "$R_CPU_US" "$verdict" \
		"${R_NOTE:+  [$R_NOTE]}")"
}

# failure_detail: the evidence when a server misbehaved (not merely lost packets under load).
failure_detail() {
	say "    --- perfdhcp output ---"
	sed 's/^/    | /' "$R_OUT" | tee -a "$LOG"
	say "    --- server log (last 40 lines) ---"
	tail -n 40 "$R_DIR/server.log" | sed 's/^/    | /' | tee -a "$LOG"
}

# try SERVER LABEL RATE SECS: a step, re-tried up to RETRY times if it lost
# exchanges (while the server's search budget lasts).
try() {
	local server=$1 label=$2 rate=$3 secs=$4 attempt=0
	while :; do
		step "$server" "$rate" "$secs"
		step_line "$server" "$label" "$rate"
		if ((R_BAD)); then failure_detail; fi
		((R_PASS)) && return 0
		attempt=$((attempt + 1))
		((attempt <= RETRY && SPENT[$server] + SECONDS - T_STEP < SEARCH_BUDGET)) || return 1
	done
}

# The rate searches of all servers run interleaved, one step each in turn, so
# that the load others put on the machine hits them alike. Per server:
# PHASE up (doubling) | down (halving: the start rate failed) | bisect | done,
# LO highest rate passed, HI lowest rate failed, RATE next rate to try.
declare -A PHASE LO LOACH HI RATE SPENT
search_init() { PHASE[$1]=up LO[$1]=0 LOACH[$1]=0 HI[$1]=0 RATE[$1]=$START_RATE SPENT[$1]=0; }

search_step() { # SERVER: one step of its search and the next rate
	local s=$1 r=${RATE[$1]} pass=0
	T_STEP=$SECONDS
	if try "$s" "${PHASE[$s]}" "$r" "$STEP_SECS"; then pass=1; fi
	SPENT[$s]=$((SPENT[$s] + SECONDS - T_STEP))
	if ((pass)); then LO[$s]=$r LOACH[$s]=$R_RATE; else HI[$s]=$r; fi
	case ${PHASE[$s]} in
	up)
		if ((pass)); then
			if ((r >= MAX_RATE)); then PHASE[$s]=done; else RATE[$s]=$((2 * r > MAX_RATE ? MAX_RATE : 2 * r)); fi
		elif ((LO[$s] == 0)); then
			PHASE[$s]=down
		else
			PHASE[$s]=bisect
		fi
		;;
	down)
		if ((pass)); then PHASE[$s]=bisect; fi
		;;
	esac
	case ${PHASE[$s]} in
	down)
		RATE[$s]=$((HI[$s] / 2))
		if ((RATE[$s] < 50)); then PHASE[$s]=done; fi
		;;
	bisect)
		RATE[$s]=$(((LO[$s] + HI[$s]) / 2 / 50 * 50))
		if (((HI[$s] - LO[$s]) * 100 <= LO[$s] * PRECISION || RATE[$s] <= LO[$s] || RATE[$s] >= HI[$s])); then PHASE[$s]=done; fi
		;;
	esac
	if ((SPENT[$s] >= SEARCH_BUDGET)); then PHASE[$s]=done; fi
}

search_result() { # SERVER: prints the max-rate cell: N, ">=N" (never failed), "<N" (never passed)
	local s=$1
	if ((LO[$s] == 0)); then
		echo "<${HI[$s]}"
	elif ((HI[$s] == 0)); then
		echo ">=${LO[$s]}"
	else
		echo "${LO[$s]}"
	fi
}

write_profile() { # SERVER: the perf report of the last step
	local server=$1 pf
	pf=$(dirname "$OUT")/results-profile-$server.txt
	if [[ -s $R_DIR/perf.data ]]; then
		{
			echo "# perf profile of $server at ${FIXED_RATE}/s offered, ${FIXED_SECS}s ($(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg))"
			echo "# self time by symbol:"
			perf report -i "$R_DIR/perf.data" --stdio --no-children --percent-limit 0.5 --sort dso,symbol -g none 2>/dev/null |
				grep -v '^#' | grep -v '^$' | cut -c1-150 | head -n 60
			echo "# inclusive (children) time by symbol:"
			perf report -i "$R_DIR/perf.data" --stdio --children --percent-limit 2 --sort symbol -g none 2>/dev/null |
				grep -v '^#' | grep -v '^$' | cut -c1-150 | head -n 80
		} >"$pf" || true
		say "  profile of $server at ${FIXED_RATE}/s written to ${pf#"$ROOT"/}"
	else
		say "  no profile of $server: $(tail -n 3 "$R_DIR/perf.log" | tr '\n' ' ')"
	fi
}

# ---------------------------------------------------------------- machine and versions
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -1) ]]; then GIT_REV+="+dirty"; fi
CORRAL_VER=-
if [[ " $SERVERS " == *" corral "* ]]; then
	CORRAL_VER="$CORRAL_BIN, built $(date -u -r "$CORRAL_BIN" '+%Y-%m-%d %H:%M UTC')"
	if command -v go >/dev/null; then
		rev=$(go version -m "$CORRAL_BIN" 2>/dev/null | awk '$2 == "vcs.revision" { print substr($3, 1, 7) } $2 == "vcs.modified" && $3 == "true" { print "+dirty" }' | tr -d '\n' || true)
		if [[ -n $rev ]]; then CORRAL_VER+=", from $rev"; fi
	fi
	if [[ -n ${CORRAL_REV-} ]]; then CORRAL_VER+=", from $CORRAL_REV"; fi
fi
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
say "Corral DHCP benchmark$( ((QUICK == 1)) && echo ' (QUICK=1: one coarse run)') — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $(nproc) CPUs, $CPU_MODEL, kernel $(uname -r)"
say "load:     $(uptime)"
say "versions: kea-dhcp4 $(kea-dhcp4 -V 2>/dev/null | head -1), perfdhcp $(perfdhcp -v 2>&1 | head -1), tree git $GIT_REV, corral $CORRAL_VER"
say "setup:    veth between netns $NS_C ($CLI_IP, perfdhcp as relay) and $NS_S ($SRV_IP), subnet $SUBNET, pool $POOL_START-$POOL_END,"
say "          $CLIENTS simulated clients, lease ${LEASE_SECS}s; each step a fresh server with an empty lease database"
say "          Kea: memfile, persist true (its default single-threaded mode; it write()s each lease to its CSV before the ACK, no fsync);"
say "          Corral: authoritative, log warn, tftp off (bbolt lease database, fsynced before the ACK); state on $(df --output=fstype "$WORK" | tail -1 | tr -d ' ')"
say "method:   max rate = highest offered rate with every DORA completed within perfdhcp's 1 s drop time (doubling from $START_RATE/s,"
say "          then bisecting to $PRECISION %, ${STEP_SECS}s steps, $RETRY retry per failed step, ${SEARCH_BUDGET}s per server and run; the servers"
say "          take turns step by step); fixed = ${FIXED_RATE}/s for ${FIXED_SECS}s; runs: $RUNS (server order alternates)"
say ""

# ---------------------------------------------------------------- measure
declare -A MAXR ACH FIXL FIXCPU FIXDELAY FAILED
for run in $(seq "$RUNS"); do
	# Alternate which server goes first from one run to the next.
	order=$SERVERS
	if ((run % 2 == 0)); then order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
	active=()
	say "== run $run: sanity check (a few exchanges at 20/s) — load $(cut -d' ' -f1-3 /proc/loadavg)"
	for server in $order; do
		step "$server" 20 1
		step_line "$server" sanity 20
		if ((R_BAD)); then
			failure_detail
			if ((R_ACKED == 0)); then
				FAILED[$server.$run]="no lease given (${R_NOTE:-no reply})"
				say "  $server does not hand out leases: skipping its measurements in this run"
				continue
			fi
		fi
		active+=("$server")
		search_init "$server"
	done
	((${#active[@]})) || continue
	say "== run $run: rate search, servers in turn (${STEP_SECS}s steps) — load $(cut -d' ' -f1-3 /proc/loadavg)"
	while :; do
		busy=0
		for server in "${active[@]}"; do
			[[ ${PHASE[$server]} == done ]] && continue
			busy=1
			search_step "$server"
		done
		((busy)) || break
	done
	say "== run $run: fixed rate ${FIXED_RATE}/s for ${FIXED_SECS}s — load $(cut -d' ' -f1-3 /proc/loadavg)"
	for server in "${active[@]}"; do
		key=$server.$run
		MAXR[$key]=$(search_result "$server")
		ACH[$key]=${LOACH[$server]}
		prof=0
		if [[ $PROFILE == 1 && $run == 1 ]]; then prof=1; fi
		step "$server" "$FIXED_RATE" "$FIXED_SECS" "$prof"
		step_line "$server" fixed "$FIXED_RATE"
		if ((R_BAD)); then failure_detail; fi
		FIXL[$key]=$(pct "$R_LOST" "$R_SENT")
		FIXCPU[$key]=$R_CPU_US
		if ((prof)); then write_profile "$server"; fi
	done
	for server in "${active[@]}"; do
		key=$server.$run
		say "  -> $server run $run: max ${MAXR[$key]}/s with 0 lost (search took ${SPENT[$server]}s); at ${FIXED_RATE}/s lost ${FIXL[$key]}, ${FIXCPU[$key]} us CPU/exchange"
	done
	say "   load after run $run: $(cut -d' ' -f1-3 /proc/loadavg)"
done

# ---------------------------------------------------------------- table
num() { # a max-rate cell as a number; "<N" (nothing passed) counts as 0
	case $1 in "<"*) echo 0 ;; *) echo "${1#>=}" ;; esac
}
best() { # server: highest max rate over the runs
	local b=0 r v
	for r in $(seq "$RUNS"); do
		v=${MAXR[$1.$r]-}
		[[ -n $v ]] || continue
		v=$(num "$v")
		if ((v > b)); then b=$v; fi
	done
	echo "$b"
}
mean() {
	local s=0 n=0 r v
	for r in $(seq "$RUNS"); do
		v=${MAXR[$1.$r]-}
		[[ -n $v ]] || continue
		s=$((s + $(num "$v"))) n=$((n + 1))
	done
	((n)) && echo $((s / n)) || echo 0
}
say ""
say "Results ($(date -u '+%H:%M UTC'), load now $(cut -d' ' -f1-3 /proc/loadavg)):"
W=13
hdr=$(printf '%-10s' server)
for r in $(seq "$RUNS"); do hdr+=$(printf " | %-${W}s" "max/s r$r"); done
hdr+=$(printf " | %-${W}s" "max/s best")
for r in $(seq "$RUNS"); do hdr+=$(printf " | %-${W}s" "lost@$FIXED_RATE r$r"); done
for r in $(seq "$RUNS"); do hdr+=$(printf " | %-${W}s" "cpu/exch r$r"); done
say "$hdr"
say "$(echo "$hdr" | tr -c '|\n' '-')"
for server in $SERVERS; do
	line=$(printf '%-10s' "$server")
	for r in $(seq "$RUNS"); do line+=$(printf " | %-${W}s" "${MAXR[$server.$r]-FAILED}"); done
	line+=$(printf " | %-${W}s" "$(best "$server")")
	for r in $(seq "$RUNS"); do line+=$(printf " | %-${W}s" "${FIXL[$server.$r]-FAILED}"); done
	for r in $(seq "$RUNS"); do line+=$(printf " | %-${W}s" "${FIXCPU[$server.$r]--} us"); done
	say "$line"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f x", a / b }'; }
if [[ " $SERVERS " == *" kea "* && " $SERVERS " == *" corral "* ]]; then
	line=$(printf '%-10s' "Corral/Kea")
	for r in $(seq "$RUNS"); do line+=$(printf " | %-${W}s" "$(ratio "$(num "${MAXR[corral.$r]-}")" "$(num "${MAXR[kea.$r]-}")")"); done
	line+=$(printf " | %-${W}s" "$(ratio "$(best corral)" "$(best kea)")")
	for r in $(seq "$RUNS"); do line+=$(printf " | %-${W}s" ""); done
	for r in $(seq "$RUNS"); do line+=$(printf " | %-${W}s" "$(ratio "${FIXCPU[corral.$r]-}" "${FIXCPU[kea.$r]-}")"); done
	say "$line"
fi
if [[ " $SERVERS " == *" kea "* && " $SERVERS " == *" corral "* ]]; then
	say "Corral/Kea, max rate at 0 lost: $(ratio "$(best corral)" "$(best kea)") (best of runs), $(ratio "$(mean corral)" "$(mean kea)") (mean of runs). Target (issue 2): >= 1.0 x, no lost exchanges below that rate."
fi
for k in "${!FAILED[@]}"; do say "FAILED ${k/./ run }: ${FAILED[$k]}"; done
say "columns: max/s rN = highest offered DORA exchanges/s with 0 lost in run N ('>=': the search stopped at MAX_RATE or its time budget);"
say "         lost@R rN = share of exchanges not completed at offered rate R; cpu/exch rN = server CPU time per completed exchange at R (lower is better)."

mkdir -p "$(dirname "$OUT")"
cp "$LOG" "$OUT"
echo "written to ${OUT#"$ROOT"/}"
