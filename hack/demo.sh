#!/usr/bin/env bash
# The main job until the virtual lab lands: start the controller on a
# throwaway network namespace with the example config and show it answering
# real clients — ISC dhclient, busybox udhcpc posing as BIOS and UEFI PXE
# firmware, tftp-hpa, an HTTP client for the iPXE script — and, when the test
# image is built (make testimage), a QEMU virtual machine (SeaBIOS + iPXE)
# booting from it. Everything it creates is removed on exit, even on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (sudo make demo): it creates network namespaces" >&2; exit 1; }
[[ -x bin/corral && -x bin/corral-agent ]] || { echo "demo: bin/corral or bin/corral-agent is missing: run make build" >&2; exit 1; }

id=$$
srv=corral-demo-srv-$id
cli=corral-demo-cli-$id
work=$(mktemp -d /tmp/corral-demo.XXXXXX)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
cleanup() {
	set +e
	for ns in "$srv" "$cli"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "network: namespace $srv (controller, bridge br0 10.10.0.1/24) <-veth-> $cli (a client)"
ip netns add "$srv"; ip netns add "$cli"
ip link add cdv$id type veth peer name cdp$id
ip link set cdv$id netns "$srv" name uplink0
ip link set cdp$id netns "$cli" name eth0
ip -n "$srv" link add br0 type bridge
ip -n "$srv" link set uplink0 master br0
ip -n "$srv" addr add 10.10.0.1/24 dev br0
for l in lo br0 uplink0; do ip -n "$srv" link set "$l" up; done
for l in lo eth0; do ip -n "$cli" link set "$l" up; done

# The node image (make image): Debian's kernel, an initramfs whose /init is
# corral-agent and the root filesystem. It is installed as an operator does:
# imported into the controller's image store and activated; the example
# config sets no boot.kernel/initrd, so nodes boot the active image.
# Without it, the test image's busybox init shows the chain: it is not a
# store image (no manifest), so a copy of the config names its files.
images=$work/state/images
config=examples/controller.yaml
image=.cache/image/lab
kind=node
bootable=
if [[ -f $image/manifest.json && -f $image/initrd.img ]]; then
	version=$(grep -m1 -o '"version": *"[^"]*"' "$image/manifest.json" | cut -d'"' -f4)
	step "image store: corral image import $image, then activate $version"
	echo "    \$ corral image import $image --images-dir $images"
	bin/corral image import "$image" --images-dir "$images" 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -n 3 | sed 's/^/    /'
	echo "    \$ corral image activate $version --images-dir $images"
	bin/corral image activate "$version" --images-dir "$images" 2>&1 | sed 's/^/    /'
	bootable=1
else
	image=.cache/testimage
	kind=test
	if [[ -f $image/vmlinuz && -f $image/initrd.img ]]; then
		mkdir -p "$images/test"
		cp "$image/vmlinuz" "$image/initrd.img" "$images/test/"
		sed -e 's#^  cmdline:#  kernel: /images/test/vmlinuz\n  initrd: /images/test/initrd.img\n  cmdline:#' examples/controller.yaml > "$work/controller.yaml"
		config=$work/controller.yaml
		bootable=1
	fi
fi

step "controller: corral controller --config $config --interface br0"
ip netns exec "$srv" bin/corral controller --config "$config" \
	--interface br0 --state-dir "$work/state" > "$work/controller.log" 2>&1 &
for _ in $(seq 50); do
	grep -q "controller running" "$work/controller.log" 2>/dev/null && break
	sleep 0.2
done
grep -q "controller running" "$work/controller.log" || { cat "$work/controller.log"; echo "demo: the controller did not start (log above)"; exit 1; }
sed 's/^/    /' "$work/controller.log"

step "ISC dhclient asks for a lease"
cat > "$work/hook.sh" <<'HOOK'
#!/bin/sh
[ "$reason" = BOUND ] && env | grep -E '^new_(ip_address|subnet_mask|routers|domain_name_servers|domain_name|ntp_servers|dhcp_lease_time)=' | sort | sed 's/^/    /'
exit 0
HOOK
chmod +x "$work/hook.sh"
ip netns exec "$cli" dhclient -1 -sf "$work/hook.sh" -lf "$work/dhclient.lease" -pf "$work/dhclient.pid" eth0
ip netns exec "$cli" dhclient -x -pf "$work/dhclient.pid" 2>/dev/null || true

cat > "$work/udhcpc.sh" <<'HOOK'
#!/bin/sh
[ "$1" = bound ] && echo "    got $ip, next-server $siaddr, boot file: $boot_file"
exit 0
HOOK
chmod +x "$work/udhcpc.sh"
for fw in "BIOS PXE firmware (arch 0):PXEClient:Arch:00000:UNDI:002001:0000" \
          "UEFI x64 PXE firmware (arch 7):PXEClient:Arch:00007:UNDI:003016:0007" \
          "UEFI HTTP boot (arch 16):HTTPClient:Arch:00016:UNDI:003001:0010"; do
	name=${fw%%:*}; rest=${fw#*:}; arch=${rest##*:}; vendor=${rest%:*}
	step "busybox udhcpc posing as $name"
	ip netns exec "$cli" busybox udhcpc -i eth0 -f -q -n -t 5 -T 1 -s "$work/udhcpc.sh" \
		-V "$vendor" -x "0x5d:$arch" -x 0x61:00$(printf '5a%.0s' $(seq 16)) 2>/dev/null
done

ip -n "$cli" addr add 10.10.0.250/24 dev eth0
step "tftp-hpa downloads undionly.kpxe (what BIOS firmware loads next)"
(cd "$work" && ip netns exec "$cli" tftp 10.10.0.1 -m binary -c get undionly.kpxe)
if cmp -s "$work/undionly.kpxe" /usr/lib/ipxe/undionly.kpxe; then
	echo "    $(stat -c %s "$work/undionly.kpxe") bytes, identical to Debian's /usr/lib/ipxe/undionly.kpxe"
else
	echo "    downloaded file differs from /usr/lib/ipxe/undionly.kpxe"; exit 1
fi

step "iPXE asks for its script: GET /boot.ipxe?mac=52:54:00:12:34:56"
ip netns exec "$cli" curl -fsS 'http://10.10.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56' > "$work/boot.ipxe"
sed 's/^/    /' "$work/boot.ipxe"

step "corral-agent run: this machine enrols over HTTPS, pinning the CA from the script's corral.ca="
api=$(grep -o 'corral.api=[^ ]*' "$work/boot.ipxe" | head -1 | cut -d= -f2)
ca=$(grep -o 'corral.ca=[^ ]*' "$work/boot.ipxe" | head -1 | cut -d= -f2)
# This namespace has no physical NIC and this VM no DMI serial, so the agent
# reads a recorded QEMU machine (agent/inventory/testdata) to have an identity.
ip netns exec "$cli" bin/corral-agent run --root agent/inventory/testdata/qemu-q35 --api "$api" --ca-fingerprint "$ca" --backoff-max 2s > "$work/agent.log" 2>&1 &
nodes() { ip netns exec "$cli" bin/corral nodes --client-config "$work/state/client.yaml" "$@"; }
for _ in $(seq 100); do grep -q "waiting for an operator" "$work/agent.log" && break; sleep 0.2; done
grep -m1 "waiting for an operator" "$work/agent.log" | sed 's/^/    agent: /' || { cat "$work/agent.log"; exit 1; }
echo "    \$ corral nodes list      (the policy is manual: the node waits)"
nodes list | sed 's/^/    /'
node=$(nodes list -o json | grep -o '"id": *"[^"]*"' | head -1 | cut -d'"' -f4)
echo "    \$ corral nodes approve $node --reason demo"
nodes approve "$node" --reason demo | sed 's/^/    /'
for _ in $(seq 100); do grep -q "heartbeating" "$work/agent.log" && break; sleep 0.2; done
grep -E "credential|configuration received|heartbeating" "$work/agent.log" | sed 's/^/    agent: /'
for _ in $(seq 50); do nodes list | grep -q ready && break; sleep 0.2; done
echo "    \$ corral nodes list"
nodes list | sed 's/^/    /'
echo "    \$ corral profiles explain $node"
ip netns exec "$cli" bin/corral profiles explain "$node" --client-config "$work/state/client.yaml" | sed 's/^/    /'
echo "    \$ corral nodes events $node"
nodes events "$node" | sed 's/^/    /'

if [[ -n $bootable ]] && command -v qemu-system-x86_64 >/dev/null; then
	step "QEMU worker (SeaBIOS + iPXE ROM, -accel tcg) boots the $kind image from the network; its serial console follows"
	ip -n "$srv" tuntap add dev tap0 mode tap
	ip -n "$srv" link set tap0 master br0
	ip -n "$srv" link set tap0 up
	: > "$work/console.log"
	vmmac=52:54:00:de:00:01
	ip netns exec "$srv" qemu-system-x86_64 -accel tcg -machine pc,graphics=off -m 512 \
		-nodefaults -nographic -no-reboot -serial "file:$work/console.log" \
		-device virtio-rng-pci \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
		-device virtio-net-pci,netdev=n0,mac=$vmmac,bootindex=1 \
		-boot n > "$work/qemu.log" 2>&1 &
	start=$(date +%s)
	tail -n +1 -f "$work/console.log" 2>/dev/null | grep --line-buffered -vE 'kernel module loaded|^\[ ' | sed -u 's/^/    | /' &
	tailpid=$!
	waitfor() { # waitfor PATTERN SECONDS
		while ! grep -q "$1" "$work/console.log"; do
			if (( $(date +%s) - start > $2 )); then return 1; fi
			sleep 1
		done
	}
	if [[ $kind == node ]]; then
		if waitfor "waiting for an operator" 240; then
			sleep 1
			echo "    registered $(( $(date +%s) - start )) s after power-on; the operator approves it:"
			echo "    \$ corral nodes approve $vmmac"
			nodes approve "$vmmac" --reason "demo worker" | sed 's/^/    /'
			waitfor "msg=heartbeating" 120 && sleep 1 && echo "    enrolled and heartbeating $(( $(date +%s) - start )) s after power-on"
		else
			echo "demo: the worker did not register in 240 s (console above)"
		fi
	else
		waitfor CORRAL-TEST-INIT-OK 240 && echo "    booted to the test init in $(( $(date +%s) - start )) s"
	fi
	kill $tailpid 2>/dev/null || true
	if [[ $kind == node ]]; then
		echo "    \$ corral nodes list"
		nodes list | sed 's/^/    /'
		echo "    \$ corral nodes show $vmmac"
		nodes show "$vmmac" | sed 's/^/    /'
	fi
else
	step "QEMU boot skipped: run 'make image' (and install qemu-system-x86) to see a worker boot"
fi

step "what the controller logged"
sed 's/^/    /' "$work/controller.log" | tail -n 25
step "metrics (GET /metrics, corral_*)"
ip netns exec "$cli" curl -fsS http://10.10.0.1:8080/metrics | grep -E '^corral_' | grep -v ' 0$' | sed 's/^/    /'
step "done: everything is torn down on exit"
