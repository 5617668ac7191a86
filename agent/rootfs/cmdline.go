package rootfs

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"corral.io/corral/agent/enroll"
)

// Kernel command line parameters naming the root filesystem.
const (
	// ParamURL is the http(s) URL of rootfs.squashfs.
	ParamURL = "corral.rootfs"
	// ParamSHA256 is its hex sha256; required with ParamURL.
	ParamSHA256 = "corral.rootfs.sha256"
)

// Params say which root filesystem to fetch.
type Params struct {
	URL    string
	SHA256 string // lower-case hex, 64 digits
}

// ParseCmdline reads corral.rootfs= and corral.rootfs.sha256= from a kernel
// command line. It splits like the kernel (whitespace outside double quotes,
// quotes dropped; nothing after "--"), and a later occurrence wins. ok is
// false when neither is there: the node then stays in its initramfs. Either
// without the other, a URL that is not http(s)://host/..., or a digest that
// is not 64 hex digits is an error: a root filesystem is never mounted
// unverified.
func ParseCmdline(cmdline string) (p Params, ok bool, err error) {
	var haveURL, haveSum bool
	for _, arg := range enroll.SplitCmdline(cmdline) {
		if arg == "--" {
			break
		}
		k, v, _ := strings.Cut(arg, "=")
		switch k {
		case ParamURL:
			p.URL, haveURL = v, true
		case ParamSHA256:
			p.SHA256, haveSum = strings.ToLower(v), true
		}
	}
	switch {
	case !haveURL && !haveSum:
		return Params{}, false, nil
	case !haveURL || p.URL == "":
		return Params{}, true, fmt.Errorf("%s= without %s=<http URL of rootfs.squashfs>: the controller writes both", ParamSHA256, ParamURL)
	case !haveSum || p.SHA256 == "":
		return Params{}, true, fmt.Errorf("%s=%s without %s=<hex>: a root filesystem is not mounted unverified", ParamURL, p.URL, ParamSHA256)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return Params{}, true, fmt.Errorf("%s=%q: %w", ParamURL, p.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Params{}, true, fmt.Errorf("%s=%q: want http://host[:port]/path/rootfs.squashfs", ParamURL, p.URL)
	}
	if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
		return Params{}, true, fmt.Errorf("%s=%q: want the 64 hex digits of a sha256", ParamSHA256, p.SHA256)
	}
	return p, true, nil
}
