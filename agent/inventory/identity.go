package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// Identity sources, in the order they are tried.
const (
	IDSourceDMIUUID       = "dmi-uuid"
	IDSourceBoardSerial   = "board-serial"
	IDSourceChassisSerial = "chassis-serial"
	IDSourceMAC           = "mac"
)

// bogusUUIDs are system UUIDs that firmware ships unset or shared by every
// board of a model, beyond the all-same-byte ones validUUID rejects anyway.
var bogusUUIDs = map[string]bool{
	"03000200-0400-0500-0006-000700080009": true, // AMI Aptio default, seen on Supermicro and others
	"00020003-0004-0005-0006-000700080009": true, // the same, byte-swapped by SMBIOS < 2.6 readers
	"12345678-1234-5678-90ab-cddeefaabbcc": true, // another AMI template value
}

// NormalizeUUID returns a UUID in lower-case 8-4-4-4-12 form, or "" when s
// is not a UUID or is one that does not identify a machine: all bytes the
// same (all-zero, all-F) or a known firmware placeholder.
func NormalizeUUID(s string) string {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if len(h) != 32 {
		return ""
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return ""
	}
	same := true
	for _, c := range b[1:] {
		if c != b[0] {
			same = false
			break
		}
	}
	if same {
		return ""
	}
	u := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	if bogusUUIDs[u] {
		return ""
	}
	return u
}

// validSerial rejects serial numbers that cannot tell machines apart:
// placeholders (see cleanDMI) and strings of one repeated character.
func validSerial(s string) bool {
	s = cleanDMI(s)
	if len(s) < 3 {
		return false
	}
	return strings.Trim(s, s[:1]) != ""
}

// DeriveIdentity computes the node id from the hardware, trying in order:
//
//  1. the DMI system UUID, if NormalizeUUID accepts it;
//  2. the baseboard serial number, if validSerial accepts it;
//  3. the chassis serial number, likewise;
//  4. the lowest permanent MAC address of the NICs backed by a device
//     (unicast and non-zero; compared as lower-case colon strings, which
//     orders them as numbers).
//
// The id is "n" followed by the first 24 hex digits of
// SHA-256("corral.io/node-id/v1\n" + source + "\n" + value). It depends on
// neither interface names, nor disks, nor anything that changes at boot.
func DeriveIdentity(sys api.System, nics []api.NIC) api.Identity {
	if u := NormalizeUUID(sys.UUID); u != "" {
		return identity(IDSourceDMIUUID, u)
	}
	if validSerial(sys.BoardSerial) {
		return identity(IDSourceBoardSerial, strings.TrimSpace(sys.BoardSerial))
	}
	if validSerial(sys.ChassisSerial) {
		return identity(IDSourceChassisSerial, strings.TrimSpace(sys.ChassisSerial))
	}
	lowest := ""
	for _, n := range nics {
		hw, err := net.ParseMAC(n.PermanentMAC)
		if err != nil || len(hw) != 6 || hw[0]&1 == 1 || hw.String() == "00:00:00:00:00:00" {
			continue
		}
		if m := hw.String(); lowest == "" || m < lowest {
			lowest = m
		}
	}
	if lowest != "" {
		return identity(IDSourceMAC, lowest)
	}
	return api.Identity{}
}

func identity(source, value string) api.Identity {
	sum := sha256.Sum256([]byte("corral.io/node-id/v1\n" + source + "\n" + value))
	return api.Identity{NodeID: "n" + hex.EncodeToString(sum[:])[:24], Source: source, Value: value}
}
