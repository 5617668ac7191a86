package inventory

import (
	"testing"

	api "corral.io/corral/api/v1alpha1"
)

func TestHypervisor(t *testing.T) {
	tests := []struct {
		name     string
		sys      api.System
		flags    []string
		xen      string
		kvmClock bool
		want     string
	}{
		{"bare metal", api.System{Vendor: "Dell Inc."}, []string{"avx2"}, "", false, ""},
		{"QEMU with KVM", api.System{Vendor: "QEMU"}, []string{"hypervisor"}, "", true, "kvm"},
		{"QEMU emulating (TCG)", api.System{Vendor: "QEMU"}, []string{"hypervisor"}, "", false, "qemu"},
		{"VMware", api.System{Vendor: "VMware, Inc.", Product: "VMware7,1"}, []string{"hypervisor"}, "", false, "vmware"},
		{"Hyper-V", api.System{Vendor: "Microsoft Corporation", Product: "Virtual Machine"}, []string{"hypervisor"}, "", false, "microsoft"},
		{"Xen says so in sysfs", api.System{Vendor: "Xen"}, nil, "xen", false, "xen"},
		{"no DMI, KVM clock (Firecracker)", api.System{}, []string{"hypervisor"}, "", true, "kvm"},
		{"no DMI, only the CPU flag", api.System{}, []string{"hypervisor"}, "", false, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tr := tree{t, dir}
			if tt.xen != "" {
				tr.file("sys/hypervisor/type", tt.xen+"\n")
			}
			if tt.kvmClock {
				tr.file("sys/devices/system/clocksource/clocksource0/available_clocksource", "kvm-clock tsc acpi_pm \n")
			}
			if got := hypervisor(PrefixRoot(dir), tt.sys, tt.flags); got != tt.want {
				t.Errorf("hypervisor = %q, want %q", got, tt.want)
			}
		})
	}
}
