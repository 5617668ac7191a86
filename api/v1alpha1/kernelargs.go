package v1alpha1

import (
	"fmt"
	"strings"
)

// Kernel command-line arguments: the controller writes them into a node's
// iPXE script (controller/boot/ipxe, controller/scripts.go) and the agent
// reads them from /proc/cmdline (agent/enroll, agent/rootfs). This file is
// the only place their names are spelt; [ParseKernelArgs] and
// [KernelArgs.Format] are the only reader and writer.
const (
	// KernelArgAPI is the controller's HTTPS API URL (https://host:9443).
	KernelArgAPI = "corral.api"
	// KernelArgCA is the hex SHA-256 fingerprint of the controller's CA
	// certificate, which the agent pins.
	KernelArgCA = "corral.ca"
	// KernelArgRootfs is the http(s) URL of the image's rootfs.squashfs.
	KernelArgRootfs = "corral.rootfs"
	// KernelArgRootfsSHA256 is that file's hex sha256; the agent requires
	// it with KernelArgRootfs.
	KernelArgRootfsSHA256 = "corral.rootfs.sha256"
)

// kernelArgNames are Corral's arguments, in the order Format writes them.
var kernelArgNames = [...]string{KernelArgAPI, KernelArgCA, KernelArgRootfs, KernelArgRootfsSHA256}

// KernelArgs are Corral's arguments on a kernel command line. A field is ""
// when its argument is absent or empty; Has tells the two apart. Values are
// not validated here: each reader checks the ones it uses and says what is
// wrong with them.
type KernelArgs struct {
	API           string // corral.api=
	CAFingerprint string // corral.ca=
	RootfsURL     string // corral.rootfs=
	RootfsSHA256  string // corral.rootfs.sha256=
	// seen has bit i set when kernelArgNames[i] was on the command line.
	seen uint8
}

func (a *KernelArgs) field(i int) *string {
	return [...]*string{&a.API, &a.CAFingerprint, &a.RootfsURL, &a.RootfsSHA256}[i]
}

// Has reports whether the command line parsed carried the argument name
// (one of the KernelArg constants), even with an empty value.
func (a KernelArgs) Has(name string) bool {
	for i, n := range kernelArgNames {
		if n == name {
			return a.seen&(1<<i) != 0
		}
	}
	return false
}

// ParseKernelArgs reads Corral's arguments from a kernel command line
// (/proc/cmdline). It splits like the kernel ([SplitCmdline]) and stops at
// "--", after which the arguments belong to init. A later occurrence of an
// argument wins; a bare name ("corral.rootfs", no "=") counts for Has but
// sets no value.
func ParseKernelArgs(cmdline string) KernelArgs {
	var a KernelArgs
	for _, arg := range SplitCmdline(cmdline) {
		if arg == "--" {
			break
		}
		k, v, ok := strings.Cut(arg, "=")
		for i, n := range kernelArgNames {
			if n == k {
				a.seen |= 1 << i
				if ok {
					*a.field(i) = v
				}
			}
		}
	}
	return a
}

// Format writes the non-empty fields as command-line words, "name=value",
// in a fixed order (API, CA, root filesystem, its digest). A value the
// kernel would split or unquote (whitespace, a double quote) is an error:
// iPXE has no quoting, so such a value cannot be passed on.
func (a KernelArgs) Format() ([]string, error) {
	var words []string
	for i, n := range kernelArgNames {
		v := *a.field(i)
		if v == "" {
			continue
		}
		if j := strings.IndexFunc(v, func(r rune) bool { return r == '"' || (r < 0x80 && isSpace(byte(r))) }); j >= 0 {
			return nil, fmt.Errorf("kernel argument %s=%q: %q at byte %d cannot be passed on a kernel command line", n, v, v[j], j)
		}
		words = append(words, n+"="+v)
	}
	return words, nil
}

// SplitCmdline splits a kernel command line into its words as the kernel
// does (lib/cmdline.c next_arg): on whitespace outside double quotes, the
// quotes being dropped (corral.api="https://..." is corral.api=https://...).
// Every reader of /proc/cmdline in the agent splits with it (enroll,
// rootfs, netup), so they agree on what a word is. "--" is returned as a
// word: what follows it belongs to init, and the caller stops there.
func SplitCmdline(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inArg := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote, inArg = !inQuote, true
		case !inQuote && isSpace(c):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// isSpace is the kernel's isspace for the ASCII range (lib/ctype.c).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
