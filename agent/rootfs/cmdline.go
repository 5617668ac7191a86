package rootfs

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// The kernel command-line arguments naming the root filesystem.
const (
	ParamURL    = api.KernelArgRootfs
	ParamSHA256 = api.KernelArgRootfsSHA256
)

// Params say which root filesystem to fetch.
type Params struct {
	URL    string
	SHA256 string // lower-case hex, 64 digits
}

// ParseCmdline reads the root filesystem's URL and sha256 from a kernel
// command line with api.ParseKernelArgs (split like the kernel, nothing
// after "--", a later occurrence wins). ok is
// false when neither is there: the node then stays in its initramfs. Either
// without the other, a URL that is not http(s)://host/..., or a digest that
// is not 64 hex digits is an error: a root filesystem is never mounted
// unverified.
func ParseCmdline(cmdline string) (p Params, ok bool, err error) {
	a := api.ParseKernelArgs(cmdline)
	p = Params{URL: a.RootfsURL, SHA256: strings.ToLower(a.RootfsSHA256)}
	haveURL, haveSum := a.Has(ParamURL), a.Has(ParamSHA256)
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
