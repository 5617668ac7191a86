package dhcp

import (
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Client is what the boot decision needs to know about a requester, read from
// its options.
type Client struct {
	// PXE: option 60 starts with "PXEClient" (PXE 2.1 §2.2.1).
	PXE bool
	// HTTPBoot: option 60 starts with "HTTPClient" (UEFI 2.x §24.7.2).
	HTTPBoot bool
	// IPXE: user class (option 77) "iPXE", or iPXE's encapsulated option 175.
	IPXE bool
	// Arch is the first client system architecture (option 93, RFC 4578
	// §2.1), or -1 when absent.
	Arch int
}

// classify reads the boot-relevant options of a request.
func classify(req *dhcpv4.DHCPv4) Client {
	vc := req.ClassIdentifier()
	c := Client{
		PXE:      strings.HasPrefix(vc, "PXEClient"),
		HTTPBoot: strings.HasPrefix(vc, "HTTPClient"),
		Arch:     -1,
	}
	if archs := req.ClientArch(); len(archs) > 0 {
		c.Arch = int(archs[0])
	}
	for _, uc := range req.UserClass() {
		if uc == "iPXE" {
			c.IPXE = true
		}
	}
	if req.Options.Has(dhcpv4.GenericOptionCode(175)) {
		c.IPXE = true
	}
	return c
}

// Boot is what a client is told to load next.
type Boot struct {
	// File is a TFTP file name or, for HTTP boot and iPXE, a URL.
	File string
	// VendorClass is echoed as option 60 ("PXEClient" or "HTTPClient"),
	// which PXE and UEFI HTTP clients require in a boot offer.
	VendorClass string
}

// BootConfig names the boot programs and where iPXE continues.
type BootConfig struct {
	// BIOSFile is served over TFTP to BIOS PXE clients.
	BIOSFile string
	// UEFIFile is served over TFTP to x86-64 UEFI PXE clients.
	UEFIFile string
	// HTTPBase is the controller's HTTP root, e.g. http://10.10.0.1:8080.
	HTTPBase string
}

// decideBoot picks the boot file for a client. ok is false when the client
// is not network booting, or booting an architecture Corral has no program for.
//
// iPXE is checked first: an iPXE client also says PXEClient and arch 0/7, and
// giving it the iPXE binary again would loop forever, so it gets the URL of its
// boot script instead. The script URL carries ${netX/mac} (the interface iPXE is booting
// from, right on a machine that boots from its second port), which iPXE expands.
func decideBoot(c Client, cfg BootConfig) (b Boot, ok bool) {
	switch {
	case c.IPXE:
		return Boot{File: cfg.HTTPBase + "/boot.ipxe?mac=${netX/mac}", VendorClass: "PXEClient"}, true
	case c.HTTPBoot:
		switch c.Arch {
		case int(iana.EFI_X86_64_HTTP), int(iana.EFI_BC_HTTP):
			return Boot{File: cfg.HTTPBase + "/ipxe/" + cfg.UEFIFile, VendorClass: "HTTPClient"}, true
		}
	case c.PXE:
		switch c.Arch {
		case int(iana.INTEL_X86PC), -1: // RFC 4578: absent option 93 means legacy x86 PC
			return Boot{File: cfg.BIOSFile, VendorClass: "PXEClient"}, true
		case int(iana.EFI_X86_64), int(iana.EFI_BC):
			return Boot{File: cfg.UEFIFile, VendorClass: "PXEClient"}, true
		}
	}
	return Boot{}, false
}
