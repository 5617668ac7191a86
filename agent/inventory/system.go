package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// readSystem reads the DMI identification the kernel exposes under
// /sys/class/dmi/id (decoded from SMBIOS types 0–3), the firmware mode, the
// hypervisor, the kernel release and os-release. flags are the CPU flags
// (the "hypervisor" flag is how x86 guests learn they are guests).
func readSystem(r Root, w *warnings, flags []string) api.System {
	dmi := filepath.Join(r.Sys, "class/dmi/id")
	get := func(name string) string { return cleanDMI(optString(w, filepath.Join(dmi, name))) }
	s := api.System{
		Vendor:          get("sys_vendor"),
		Product:         get("product_name"),
		Version:         get("product_version"),
		Serial:          get("product_serial"),
		UUID:            strings.ToLower(get("product_uuid")),
		SKU:             get("product_sku"),
		Family:          get("product_family"),
		BoardVendor:     get("board_vendor"),
		BoardProduct:    get("board_name"),
		BoardSerial:     get("board_serial"),
		ChassisVendor:   get("chassis_vendor"),
		ChassisSerial:   get("chassis_serial"),
		ChassisAssetTag: get("chassis_asset_tag"),
		BIOSVendor:      get("bios_vendor"),
		BIOSVersion:     get("bios_version"),
		BIOSDate:        get("bios_date"),
	}
	if _, err := os.Stat(dmi); err != nil {
		w.add("system: no DMI information (%s missing): the firmware has no SMBIOS tables", dmi)
	}
	if t := optString(w, filepath.Join(dmi, "chassis_type")); t != "" {
		if n, err := strconv.Atoi(t); err == nil {
			s.ChassisType = chassisTypes[n&0x7F]
		}
	}

	s.Firmware = "bios"
	if _, err := os.Stat(filepath.Join(r.Sys, "firmware/efi")); err == nil {
		s.Firmware = "uefi"
	}
	s.Hypervisor = hypervisor(r, s, flags)
	s.KernelVersion = optString(w, filepath.Join(r.Proc, "sys/kernel/osrelease"))
	if b, err := readFile(filepath.Join(r.Etc, "os-release")); err == nil {
		kv := keyValues(b, "=")
		s.OSID, s.OSVersionID = unquote(kv["ID"]), unquote(kv["VERSION_ID"])
	} else if !os.IsNotExist(err) {
		w.add("system: %v", err)
	}
	return s
}

// hypervisor names the hypervisor, or "" on bare metal. Xen says so in
// /sys/hypervisor/type; others are recognised by the DMI strings they set.
// QEMU is "kvm" when the KVM paravirtual clock is offered and "qemu" (pure
// emulation, TCG) otherwise, as systemd-detect-virt reports them. A guest
// that hides its DMI strings is "kvm" if it has the KVM clock and "unknown"
// if only the CPU's hypervisor flag gives it away.
func hypervisor(r Root, s api.System, flags []string) string {
	if t, err := readString(filepath.Join(r.Sys, "hypervisor/type")); err == nil && t != "" {
		return t
	}
	kvmClock := false
	if cs, err := readString(filepath.Join(r.Sys, "devices/system/clocksource/clocksource0/available_clocksource")); err == nil {
		kvmClock = slices.Contains(strings.Fields(cs), "kvm-clock")
	}
	id := strings.ToLower(s.Vendor + " " + s.Product + " " + s.BIOSVendor)
	for _, h := range []struct{ match, name string }{
		{"qemu", "qemu"}, {"kvm", "kvm"}, {"vmware", "vmware"}, {"virtualbox", "virtualbox"},
		{"innotek", "virtualbox"}, {"microsoft corporation virtual machine", "microsoft"},
		{"amazon ec2", "kvm"}, {"google compute engine", "kvm"}, {"openstack", "kvm"},
		{"bochs", "bochs"}, {"parallels", "parallels"}, {"xen", "xen"},
	} {
		if strings.Contains(id, h.match) {
			if h.name == "qemu" && kvmClock {
				return "kvm"
			}
			return h.name
		}
	}
	if _, found := slices.BinarySearch(flags, "hypervisor"); !found {
		return ""
	}
	if kvmClock {
		return "kvm"
	}
	return "unknown"
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
