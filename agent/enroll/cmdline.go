package enroll

import "strings"

// Kernel command line parameters the iPXE script gives a node.
const (
	// ParamAPI is the controller's API URL (https://host:9443).
	ParamAPI = "corral.api"
	// ParamCA is the hex SHA-256 fingerprint of the controller's CA.
	ParamCA = "corral.ca"
)

// BootParams are the enrollment settings found on the kernel command line.
type BootParams struct {
	// API is corral.api=, CAFingerprint corral.ca=; "" when absent.
	API           string
	CAFingerprint string
}

// ParseCmdline reads corral.api= and corral.ca= from a kernel command line
// (/proc/cmdline). It splits parameters like the kernel (lib/cmdline.c
// next_arg): on whitespace outside double quotes, the quotes being dropped
// (corral.api="https://..." is corral.api=https://...); it stops at "--",
// after which the arguments belong to init. A later
// occurrence of a parameter wins. Values are not validated here: the client
// checks the URL and the fingerprint and says what is wrong with them.
func ParseCmdline(cmdline string) BootParams {
	var p BootParams
	for _, arg := range SplitCmdline(cmdline) {
		if arg == "--" {
			break
		}
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			continue
		}
		switch k {
		case ParamAPI:
			p.API = v
		case ParamCA:
			p.CAFingerprint = v
		}
	}
	return p
}

// SplitCmdline splits a kernel command line into its parameters as the
// kernel does (lib/cmdline.c next_arg): on whitespace outside double
// quotes, the quotes being dropped. Every reader of /proc/cmdline in the
// agent splits with it (enroll, rootfs, netup), so they agree on what a
// parameter is. "--" is returned as a parameter: what follows it belongs
// to init, and the caller stops there.
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
