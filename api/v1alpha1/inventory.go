package v1alpha1

import "strings"

// KindInventory is the kind of an Inventory document.
const KindInventory = "Inventory"

// Inventory is what a node agent reports about the machine it runs on.
//
// Every source is best effort: a fact the agent could not read is left at its
// zero value (and omitted from JSON where marked omitempty), and the reason is
// appended to Warnings. An Inventory is never rejected because it is partial.
type Inventory struct {
	// APIVersion is always Version ("corral.io/v1alpha1").
	APIVersion string `json:"apiVersion"`
	// Kind is always KindInventory ("Inventory").
	Kind string `json:"kind"`
	// Identity is the stable node id and how it was derived.
	Identity Identity `json:"identity"`
	// System describes the machine: DMI/SMBIOS, firmware, hypervisor, kernel, OS.
	System System `json:"system"`
	// CPU summarises the processors.
	CPU CPU `json:"cpu"`
	// Memory is usable memory and the installed modules.
	Memory Memory `json:"memory"`
	// NUMA lists the NUMA nodes; empty when the kernel exposes none.
	NUMA []NUMANode `json:"numa,omitempty"`
	// NVIDIA is the NVIDIA driver stack, present only when NVML loaded.
	NVIDIA *NVIDIADriver `json:"nvidia,omitempty"`
	// GPUs lists GPUs and other accelerators, from NVML when it loads and
	// otherwise from a PCI scan.
	GPUs []GPU `json:"gpus,omitempty"`
	// Disks lists the physical block devices (no loop, ram, zram, device-mapper or md).
	Disks []Disk `json:"disks,omitempty"`
	// NICs lists the network interfaces backed by a device (no loopback, bridges, veths).
	NICs []NIC `json:"nics,omitempty"`
	// Labels are the Kubernetes node labels derived from this inventory.
	Labels map[string]string `json:"labels,omitempty"`
	// Warnings are human-readable notes about facts that could not be read.
	Warnings []string `json:"warnings,omitempty"`
}

// Identity is the node's stable id. See docs/inventory.md for the algorithm.
type Identity struct {
	// NodeID is "n" followed by 24 lower-case hex digits; empty if no source
	// of identity was found (then the controller must not enrol the node).
	NodeID string `json:"nodeID,omitempty"`
	// Source names what NodeID was derived from: "dmi-uuid", "board-serial",
	// "chassis-serial", "system-serial" or "mac".
	Source string `json:"source,omitempty"`
	// Value is the normalised input to the derivation (e.g. the lower-case UUID).
	Value string `json:"value,omitempty"`
}

// System describes the machine as a whole.
type System struct {
	// Vendor is the DMI system manufacturer (SMBIOS type 1).
	Vendor string `json:"vendor,omitempty"`
	// Product is the DMI product name.
	Product string `json:"product,omitempty"`
	// Version is the DMI product version.
	Version string `json:"version,omitempty"`
	// Serial is the DMI system serial number.
	Serial string `json:"serial,omitempty"`
	// UUID is the DMI system UUID, lower case, as the kernel presents it.
	UUID string `json:"uuid,omitempty"`
	// SKU is the DMI product SKU.
	SKU string `json:"sku,omitempty"`
	// Family is the DMI product family.
	Family string `json:"family,omitempty"`
	// BoardVendor is the baseboard manufacturer (SMBIOS type 2).
	BoardVendor string `json:"boardVendor,omitempty"`
	// BoardProduct is the baseboard product name.
	BoardProduct string `json:"boardProduct,omitempty"`
	// BoardSerial is the baseboard serial number.
	BoardSerial string `json:"boardSerial,omitempty"`
	// ChassisVendor is the chassis manufacturer (SMBIOS type 3).
	ChassisVendor string `json:"chassisVendor,omitempty"`
	// ChassisType is the SMBIOS chassis type name, e.g. "Rack Mount Chassis".
	ChassisType string `json:"chassisType,omitempty"`
	// ChassisSerial is the chassis serial number.
	ChassisSerial string `json:"chassisSerial,omitempty"`
	// ChassisAssetTag is the chassis asset tag.
	ChassisAssetTag string `json:"chassisAssetTag,omitempty"`
	// BIOSVendor is the firmware vendor (SMBIOS type 0).
	BIOSVendor string `json:"biosVendor,omitempty"`
	// BIOSVersion is the firmware version.
	BIOSVersion string `json:"biosVersion,omitempty"`
	// BIOSDate is the firmware release date as the firmware writes it (usually MM/DD/YYYY).
	BIOSDate string `json:"biosDate,omitempty"`
	// Firmware is "uefi" when the kernel was booted by UEFI, else "bios".
	Firmware string `json:"firmware,omitempty"`
	// Hypervisor names the hypervisor when the machine is virtual ("kvm",
	// "qemu" for emulation without KVM, "xen", "vmware", "microsoft", …, or
	// "unknown"); empty on bare metal.
	Hypervisor string `json:"hypervisor,omitempty"`
	// KernelVersion is the running kernel release (uname -r).
	KernelVersion string `json:"kernelVersion,omitempty"`
	// OSID is ID from os-release, e.g. "debian".
	OSID string `json:"osID,omitempty"`
	// OSVersionID is VERSION_ID from os-release, e.g. "12".
	OSVersionID string `json:"osVersionID,omitempty"`
	// BootMAC is the MAC from the kernel argument BOOTIF, if given.
	BootMAC string `json:"bootMAC,omitempty"`
}

// CPU summarises the processors. Every logical CPU is assumed to be of the
// same model (as on all multi-socket x86 servers); the first one is described.
type CPU struct {
	// Sockets is the number of distinct physical packages.
	Sockets int `json:"sockets"`
	// Cores is the number of physical cores over all sockets.
	Cores int `json:"cores"`
	// Threads is the number of logical CPUs (hardware threads) online.
	Threads int `json:"threads"`
	// Vendor is the vendor id, e.g. "GenuineIntel", "AuthenticAMD".
	Vendor string `json:"vendor,omitempty"`
	// Model is the model name, e.g. "AMD EPYC 7763 64-Core Processor".
	Model string `json:"model,omitempty"`
	// Family is the CPU family number (decimal).
	Family int `json:"family,omitempty"`
	// ModelID is the CPU model number (decimal).
	ModelID int `json:"modelID,omitempty"`
	// Stepping is the stepping number.
	Stepping int `json:"stepping,omitempty"`
	// Microcode is the microcode revision as the kernel prints it.
	Microcode string `json:"microcode,omitempty"`
	// MinMHz is the lowest frequency cpufreq reports, 0 if not exposed.
	MinMHz int `json:"minMHz,omitempty"`
	// MaxMHz is the highest frequency cpufreq reports, 0 if not exposed.
	MaxMHz int `json:"maxMHz,omitempty"`
	// CurrentMHz is the frequency /proc/cpuinfo reported for the first CPU.
	CurrentMHz float64 `json:"currentMHz,omitempty"`
	// Flags are the kernel's CPU feature flags, sorted.
	Flags []string `json:"flags,omitempty"`
}

// NUMANode is one NUMA node.
type NUMANode struct {
	// ID is the node number.
	ID int `json:"id"`
	// CPUs is the kernel's list of the node's logical CPUs, e.g. "0-31,64-95".
	CPUs string `json:"cpus"`
	// MemoryBytes is the memory attached to the node.
	MemoryBytes uint64 `json:"memoryBytes"`
	// Distances is the row of the SLIT distance table for this node.
	Distances []int `json:"distances,omitempty"`
}

// Memory is the machine's memory.
type Memory struct {
	// TotalBytes is the usable memory (MemTotal in /proc/meminfo).
	TotalBytes uint64 `json:"totalBytes"`
	// InstalledBytes is the sum of the sizes of Modules; 0 when SMBIOS has no type 17 records.
	InstalledBytes uint64 `json:"installedBytes,omitempty"`
	// Modules are the populated memory devices (SMBIOS type 17), in table order.
	Modules []MemoryModule `json:"modules,omitempty"`
}

// MemoryModule is one populated memory device (SMBIOS type 17).
type MemoryModule struct {
	// Locator is the slot, e.g. "DIMM_A1".
	Locator string `json:"locator,omitempty"`
	// BankLocator is the bank, e.g. "P0 CHANNEL A".
	BankLocator string `json:"bankLocator,omitempty"`
	// SizeBytes is the module size.
	SizeBytes uint64 `json:"sizeBytes"`
	// Type is the memory type, e.g. "DDR4", "DDR5", "RAM".
	Type string `json:"type,omitempty"`
	// FormFactor is e.g. "DIMM", "SODIMM".
	FormFactor string `json:"formFactor,omitempty"`
	// SpeedMTs is the maximum speed in MT/s, 0 if unknown.
	SpeedMTs int `json:"speedMTs,omitempty"`
	// ConfiguredSpeedMTs is the configured speed in MT/s, 0 if unknown.
	ConfiguredSpeedMTs int `json:"configuredSpeedMTs,omitempty"`
	// Manufacturer is the module vendor.
	Manufacturer string `json:"manufacturer,omitempty"`
	// PartNumber is the module part number.
	PartNumber string `json:"partNumber,omitempty"`
	// Serial is the module serial number.
	Serial string `json:"serial,omitempty"`
}

// NVIDIADriver describes the NVIDIA driver stack as NVML reports it.
type NVIDIADriver struct {
	// DriverVersion is the kernel driver version, e.g. "550.54.15".
	DriverVersion string `json:"driverVersion,omitempty"`
	// CUDAVersion is the highest CUDA version the driver supports, e.g. "12.4".
	CUDAVersion string `json:"cudaVersion,omitempty"`
	// NVMLVersion is the NVML library version.
	NVMLVersion string `json:"nvmlVersion,omitempty"`
}

// GPU sources.
const (
	GPUSourceNVML = "nvml"
	GPUSourcePCI  = "pci"
)

// GPU is one GPU or accelerator.
type GPU struct {
	// Source is where the facts came from: "nvml" or "pci".
	Source string `json:"source"`
	// Index is the NVML index (nvml) or the position in PCI address order (pci).
	Index int `json:"index"`
	// PCIAddress is the PCI address, lower case, "0000:17:00.0".
	PCIAddress string `json:"pciAddress,omitempty"`
	// VendorID is the PCI vendor id, four lower-case hex digits ("10de").
	VendorID string `json:"vendorID,omitempty"`
	// DeviceID is the PCI device id, four lower-case hex digits.
	DeviceID string `json:"deviceID,omitempty"`
	// Class is the PCI class and subclass, four hex digits ("0302" = 3D controller).
	Class string `json:"class,omitempty"`
	// Vendor is the vendor name (from pci.ids for pci, "NVIDIA" for nvml).
	Vendor string `json:"vendor,omitempty"`
	// Name is the product name (NVML's name, or pci.ids' device name).
	Name string `json:"name,omitempty"`
	// UUID is the NVML GPU UUID ("GPU-…").
	UUID string `json:"uuid,omitempty"`
	// Serial is the board serial number (NVML).
	Serial string `json:"serial,omitempty"`
	// MemoryBytes is the framebuffer size (NVML).
	MemoryBytes uint64 `json:"memoryBytes,omitempty"`
	// ComputeCapability is the CUDA compute capability, e.g. "8.0" (NVML).
	ComputeCapability string `json:"computeCapability,omitempty"`
	// Architecture is the architecture name in lower case, e.g. "ampere" (NVML).
	Architecture string `json:"architecture,omitempty"`
	// MIGMode is "enabled" or "disabled" when the GPU supports MIG, else empty (NVML).
	MIGMode string `json:"migMode,omitempty"`
	// NUMANode is the NUMA node of the PCI device, -1 when the platform does not say.
	NUMANode int `json:"numaNode"`
	// Driver is the kernel driver bound to the PCI device ("nvidia", "amdgpu"), empty if none.
	Driver string `json:"driver,omitempty"`
}

// Disk is one physical block device.
type Disk struct {
	// Name is the kernel name, e.g. "nvme0n1", "sda".
	Name string `json:"name"`
	// Path is the device node, "/dev/" + Name.
	Path string `json:"path"`
	// ByID is the preferred stable path under /dev/disk/by-id (wwn-… first), if udev made one.
	ByID string `json:"byID,omitempty"`
	// SizeBytes is the capacity.
	SizeBytes uint64 `json:"sizeBytes"`
	// LogicalSectorSize is the logical block size in bytes.
	LogicalSectorSize int `json:"logicalSectorSize,omitempty"`
	// PhysicalSectorSize is the physical block size in bytes.
	PhysicalSectorSize int `json:"physicalSectorSize,omitempty"`
	// Rotational is true for spinning disks.
	Rotational bool `json:"rotational"`
	// Transport is one of "nvme", "sata", "sas", "scsi", "virtio", "usb", "mmc", "xen" or "" if unknown.
	Transport string `json:"transport,omitempty"`
	// Model is the device model.
	Model string `json:"model,omitempty"`
	// Serial is the device serial number.
	Serial string `json:"serial,omitempty"`
	// WWN is the world-wide name (or NVMe EUI/NGUID) as the kernel reports it.
	WWN string `json:"wwn,omitempty"`
	// Removable is the kernel's removable flag.
	Removable bool `json:"removable"`
	// ReadOnly is the kernel's read-only flag.
	ReadOnly bool `json:"readOnly"`
	// PartitionTable is "gpt"; "other" when the kernel shows partitions of a
	// table the prober does not read (MBR); empty when there is none.
	PartitionTable string `json:"partitionTable,omitempty"`
	// PartitionTableUUID is the GPT disk GUID.
	PartitionTableUUID string `json:"partitionTableUUID,omitempty"`
	// Filesystem is a superblock found on the whole disk (no partition table),
	// e.g. an xfs filesystem or a Ceph bluestore OSD.
	Filesystem *Filesystem `json:"filesystem,omitempty"`
	// Partitions are the partitions, in table order.
	Partitions []Partition `json:"partitions,omitempty"`
	// Mountpoints are where the disk or its partitions are mounted, sorted.
	Mountpoints []string `json:"mountpoints,omitempty"`
	// Boot is true when the running system's root or /boot is on this disk.
	Boot bool `json:"boot"`
	// Probed is true when the disk's contents were read (partition table and
	// superblocks); false when probing was off or failed (see warnings).
	Probed bool `json:"probed"`
}

// Contents names the filesystems found on the disk and its partitions,
// comma-separated: "-" when it was probed and holds none, "?" when it was
// not probed (its contents are unknown).
func (d Disk) Contents() string {
	var fs []string
	if d.Filesystem != nil {
		fs = append(fs, d.Filesystem.Type)
	}
	for _, p := range d.Partitions {
		if p.Filesystem != nil {
			fs = append(fs, p.Filesystem.Type)
		}
	}
	switch {
	case len(fs) > 0:
		return strings.Join(fs, ",")
	case !d.Probed:
		return "?"
	}
	return "-"
}

// Partition is one partition of a Disk.
type Partition struct {
	// Number is the 1-based partition number.
	Number int `json:"number"`
	// Name is the kernel name, e.g. "nvme0n1p1"; empty if the kernel has not seen it.
	Name string `json:"name,omitempty"`
	// OffsetBytes is the start of the partition.
	OffsetBytes uint64 `json:"offsetBytes"`
	// SizeBytes is the length of the partition.
	SizeBytes uint64 `json:"sizeBytes"`
	// Label is the GPT partition name.
	Label string `json:"label,omitempty"`
	// TypeUUID is the GPT partition type GUID.
	TypeUUID string `json:"typeUUID,omitempty"`
	// UUID is the GPT unique partition GUID.
	UUID string `json:"uuid,omitempty"`
	// Filesystem is the superblock found in the partition, if any.
	Filesystem *Filesystem `json:"filesystem,omitempty"`
}

// Filesystem is a superblock found by probing.
type Filesystem struct {
	// Type is the probe's name: "ext4", "xfs", "vfat", "bluestore", "swap", "luks", "lvm2", …
	Type string `json:"type"`
	// UUID is the filesystem UUID, if it has one.
	UUID string `json:"uuid,omitempty"`
	// Label is the filesystem label, if it has one.
	Label string `json:"label,omitempty"`
}

// NIC is one network interface backed by a device.
type NIC struct {
	// Name is the current interface name; it may change across boots.
	Name string `json:"name"`
	// MAC is the current hardware address.
	MAC string `json:"mac,omitempty"`
	// PermanentMAC is the burned-in address, empty if the kernel does not know it.
	PermanentMAC string `json:"permanentMAC,omitempty"`
	// Driver is the bound kernel driver, e.g. "ixgbe", "virtio_net".
	Driver string `json:"driver,omitempty"`
	// PCIAddress is the PCI address of the device, if it is on PCI.
	PCIAddress string `json:"pciAddress,omitempty"`
	// VendorID is the PCI vendor id, four lower-case hex digits ("15b3").
	VendorID string `json:"vendorID,omitempty"`
	// DeviceID is the PCI device id, four lower-case hex digits.
	DeviceID string `json:"deviceID,omitempty"`
	// Vendor is the PCI vendor's name from pci.ids.
	Vendor string `json:"vendor,omitempty"`
	// Model is the PCI device's name from pci.ids, e.g. "MT2892 Family [ConnectX-6 Dx]".
	Model string `json:"model,omitempty"`
	// SpeedMbps is the negotiated speed, 0 when unknown or link down.
	SpeedMbps int `json:"speedMbps,omitempty"`
	// MTU is the interface MTU.
	MTU int `json:"mtu,omitempty"`
	// OperState is the RFC 2863 operational state ("up", "down", …).
	OperState string `json:"operState,omitempty"`
	// Carrier is true when the link has carrier.
	Carrier bool `json:"carrier"`
	// Addresses are the IP addresses in CIDR form (from netlink; empty in fixtures).
	Addresses []string `json:"addresses,omitempty"`
	// SRIOVTotalVFs is the number of virtual functions the device supports, 0 if no SR-IOV.
	SRIOVTotalVFs int `json:"sriovTotalVFs,omitempty"`
	// SRIOVNumVFs is the number of virtual functions enabled.
	SRIOVNumVFs int `json:"sriovNumVFs,omitempty"`
	// Boot is true when this NIC's MAC is the one in BOOTIF.
	Boot bool `json:"boot"`
}
