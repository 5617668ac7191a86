package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// SMBIOSStructure is one structure of an SMBIOS table (DSP0134 §6.1.2): the
// formatted area, whose first four bytes are type, length and handle, and the
// string set that follows it.
type SMBIOSStructure struct {
	Type      uint8
	Handle    uint16
	Formatted []byte   // the whole formatted area, header included
	Strings   []string // string 1 is Strings[0]
}

// str returns the string whose number is stored at offset off, "" when the
// offset is outside the formatted area or the number is 0 or out of range.
func (s SMBIOSStructure) str(off int) string {
	if off >= len(s.Formatted) {
		return ""
	}
	n := int(s.Formatted[off])
	if n == 0 || n > len(s.Strings) {
		return ""
	}
	return strings.TrimSpace(s.Strings[n-1])
}

func (s SMBIOSStructure) u8(off int) (uint8, bool) {
	if off+1 > len(s.Formatted) {
		return 0, false
	}
	return s.Formatted[off], true
}

func (s SMBIOSStructure) u16(off int) (uint16, bool) {
	if off+2 > len(s.Formatted) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(s.Formatted[off:]), true
}

func (s SMBIOSStructure) u32(off int) (uint32, bool) {
	if off+4 > len(s.Formatted) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(s.Formatted[off:]), true
}

// ParseSMBIOS splits an SMBIOS structure table (what the kernel exposes as
// /sys/firmware/dmi/tables/DMI) into structures. It stops at the end-of-table
// structure (type 127) or the end of data. A structure that overruns the
// data ends the parse with the structures read so far and an error, so a
// truncated table still yields what it holds.
func ParseSMBIOS(data []byte) ([]SMBIOSStructure, error) {
	var out []SMBIOSStructure
	for off := 0; off+4 <= len(data); {
		typ, length := data[off], int(data[off+1])
		if length < 4 {
			return out, fmt.Errorf("smbios structure at offset %d: length %d is shorter than its header", off, length)
		}
		if off+length > len(data) {
			return out, fmt.Errorf("smbios structure at offset %d: length %d overruns the table", off, length)
		}
		st := SMBIOSStructure{
			Type:      typ,
			Handle:    binary.LittleEndian.Uint16(data[off+2:]),
			Formatted: data[off : off+length],
		}
		// The string set ends with two NULs; with no strings it is just two NULs.
		rest := data[off+length:]
		end := bytes.Index(rest, []byte{0, 0})
		if end < 0 {
			return out, fmt.Errorf("smbios structure at offset %d: string set is not terminated", off)
		}
		if end > 0 {
			st.Strings = strings.Split(string(rest[:end]), "\x00")
		}
		out = append(out, st)
		off += length + end + 2
		if typ == 127 {
			break
		}
	}
	if len(out) == 0 {
		return nil, errors.New("smbios table holds no structures")
	}
	return out, nil
}

// memoryTypes names SMBIOS type 17 Memory Type values (DSP0134 §7.18.2).
var memoryTypes = map[uint8]string{
	0x01: "Other", 0x02: "Unknown", 0x03: "DRAM", 0x04: "EDRAM", 0x05: "VRAM",
	0x06: "SRAM", 0x07: "RAM", 0x08: "ROM", 0x09: "Flash", 0x0A: "EEPROM",
	0x0B: "FEPROM", 0x0C: "EPROM", 0x0D: "CDRAM", 0x0E: "3DRAM", 0x0F: "SDRAM",
	0x10: "SGRAM", 0x11: "RDRAM", 0x12: "DDR", 0x13: "DDR2", 0x14: "DDR2 FB-DIMM",
	0x18: "DDR3", 0x19: "FBD2", 0x1A: "DDR4", 0x1B: "LPDDR", 0x1C: "LPDDR2",
	0x1D: "LPDDR3", 0x1E: "LPDDR4", 0x1F: "Logical non-volatile device",
	0x20: "HBM", 0x21: "HBM2", 0x22: "DDR5", 0x23: "LPDDR5", 0x24: "HBM3",
}

// formFactors names SMBIOS type 17 Form Factor values (DSP0134 §7.18.1).
var formFactors = map[uint8]string{
	0x01: "Other", 0x02: "Unknown", 0x03: "SIMM", 0x04: "SIP", 0x05: "Chip",
	0x06: "DIP", 0x07: "ZIP", 0x08: "Proprietary Card", 0x09: "DIMM", 0x0A: "TSOP",
	0x0B: "Row of chips", 0x0C: "RIMM", 0x0D: "SODIMM", 0x0E: "SRIMM",
	0x0F: "FB-DIMM", 0x10: "Die", 0x11: "CAMM",
}

// chassisTypes names SMBIOS type 3 chassis types (DSP0134 §7.4.1).
var chassisTypes = map[int]string{
	1: "Other", 2: "Unknown", 3: "Desktop", 4: "Low Profile Desktop", 5: "Pizza Box",
	6: "Mini Tower", 7: "Tower", 8: "Portable", 9: "Laptop", 10: "Notebook",
	11: "Hand Held", 12: "Docking Station", 13: "All in One", 14: "Sub Notebook",
	15: "Space-saving", 16: "Lunch Box", 17: "Main Server Chassis",
	18: "Expansion Chassis", 19: "SubChassis", 20: "Bus Expansion Chassis",
	21: "Peripheral Chassis", 22: "RAID Chassis", 23: "Rack Mount Chassis",
	24: "Sealed-case PC", 25: "Multi-system chassis", 26: "Compact PCI",
	27: "Advanced TCA", 28: "Blade", 29: "Blade Enclosure", 30: "Tablet",
	31: "Convertible", 32: "Detachable", 33: "IoT Gateway", 34: "Embedded PC",
	35: "Mini PC", 36: "Stick PC",
}

// MemoryModules decodes the populated SMBIOS type 17 (Memory Device)
// structures (DSP0134 §7.18). Empty slots (size 0) are left out, as are
// structures too short to hold a size.
func MemoryModules(structs []SMBIOSStructure) []api.MemoryModule {
	var out []api.MemoryModule
	for _, s := range structs {
		if s.Type != 17 {
			continue
		}
		size, ok := s.u16(0x0C)
		if !ok || size == 0 {
			continue
		}
		var bytes uint64
		switch {
		case size == 0xFFFF:
			bytes = 0 // unknown
		case size == 0x7FFF:
			ext, ok := s.u32(0x1C) // extended size, in MiB, bits 0–30
			if !ok {
				continue
			}
			bytes = uint64(ext&0x7FFFFFFF) << 20
		case size&0x8000 != 0:
			bytes = uint64(size&0x7FFF) << 10 // KiB
		default:
			bytes = uint64(size) << 20 // MiB
		}
		m := api.MemoryModule{
			Locator:      s.str(0x10),
			BankLocator:  s.str(0x11),
			SizeBytes:    bytes,
			Manufacturer: s.str(0x17),
			Serial:       s.str(0x18),
			PartNumber:   s.str(0x1A),
		}
		if t, ok := s.u8(0x12); ok {
			m.Type = memoryTypes[t]
		}
		if f, ok := s.u8(0x0E); ok {
			m.FormFactor = formFactors[f]
		}
		m.SpeedMTs = speed(s, 0x15, 0x54)
		m.ConfiguredSpeedMTs = speed(s, 0x20, 0x58)
		out = append(out, m)
	}
	return out
}

// speed reads a 16-bit speed in MT/s whose value 0xFFFF means "see the
// 32-bit extended field" (SMBIOS 3.3); 0 means unknown.
func speed(s SMBIOSStructure, off, extOff int) int {
	v, ok := s.u16(off)
	if !ok {
		return 0
	}
	if v == 0xFFFF {
		ext, ok := s.u32(extOff)
		if !ok {
			return 0
		}
		return int(ext & 0x7FFFFFFF)
	}
	return int(v)
}

// cleanDMI turns the placeholder strings vendors ship into "". The list is
// what real firmware writes when a field was never filled in.
func cleanDMI(s string) string {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "none", "n/a", "na", "not specified", "not available", "not applicable",
		"to be filled by o.e.m.", "to be filled by oem", "default string", "oem",
		"system serial number", "system product name", "system manufacturer",
		"system version", "chassis serial number", "base board serial number",
		"0", "00000000", "0123456789", "123456789", "1234567890", "xxxxxxxxxx",
		"not present", "not settable", "unknown", "empty", "sku", "type1productconfigid",
		"default", "invalid":
		return ""
	}
	return s
}
