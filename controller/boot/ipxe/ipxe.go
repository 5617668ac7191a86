// Package ipxe renders the iPXE script a booting node runs: fetch the kernel
// and the initramfs over HTTP and boot them, and when that fails say why on
// the console, retry, and in the end reboot to start again from DHCP — never
// stop at a dead end.
//
// # Kernel arguments Corral appends
//
// After the configured command line, in this order (a later duplicate wins
// in Linux, so Corral's own values cannot be overridden by accident; Validate
// refuses a command line that tries):
//
//   - initrd=initrd.img — the initramfs is loaded under that name, and an
//     EFI-stub kernel (UEFI boot) finds it by this argument; BIOS boot
//     ignores it.
//   - BOOTIF=01-${netX/mac:hexhyp} — the interface the node booted from, in
//     the form PXELINUX's "IPAPPEND 2" made common and the initramfs tools
//     read: "01" (ARP hardware type Ethernet, RFC 1700) then the MAC address
//     as lower-case hex bytes joined by hyphens, e.g.
//     BOOTIF=01-52-54-00-12-34-56. iPXE expands it when the script runs;
//     netX is the device iPXE last opened, i.e. the one this script came
//     through (net0 would be wrong on a machine that boots from its second
//     port).
//   - the controller's API URL and the SHA-256 of its CA certificate, when
//     set — the enrollment API and the fingerprint the agent pins, written
//     by api.KernelArgs.Format (api/v1alpha1/kernelargs.go names them).
//
// # What is safe in a script
//
// iPXE splits a line at whitespace, expands ${…} settings in every token,
// treats a token starting with "#" as the start of a comment and the tokens
// "||", "&&" and ";" as command separators, and has no quoting (core/exec.c).
// Validate therefore refuses, in the command line and the URLs, control
// characters (a newline would start a new command), "$", tokens starting with
// "#" and the separator tokens; anything else is passed on literally. Runs of
// spaces in the command line become one space (iPXE joins arguments with one
// space anyway).
package ipxe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/template"

	api "corral.io/corral/api/v1alpha1"
)

// Retry behaviour of the failure path.
const (
	// Attempts is how many times the script tries to load and boot before
	// rebooting.
	Attempts = 5
	// RetryDelaySeconds is the pause between attempts.
	RetryDelaySeconds = 10
	// RebootDelaySeconds is the pause, after the last attempt, before the
	// machine reboots to start over from DHCP.
	RebootDelaySeconds = 30
	// InitrdName is the name the initramfs is loaded under (initrd --name)
	// and given to the kernel as initrd=.
	InitrdName = "initrd.img"
)

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("invalid boot script")

// Script is what a node is told to boot.
type Script struct {
	// Kernel is the kernel's URL (http or https), or a path on the
	// controller such as /images/v1/vmlinuz, resolved against ControllerURL.
	Kernel string
	// Initrd is the initramfs, as a URL or a path like Kernel.
	Initrd string
	// Cmdline is the kernel command line from the configuration. Corral
	// appends its own arguments (see the package documentation).
	Cmdline string
	// ControllerURL is the controller's HTTP base URL, e.g.
	// http://10.0.0.1:8080, which Kernel and Initrd paths resolve against.
	ControllerURL string
	// APIURL is the controller's HTTPS API, passed as api.KernelArgAPI;
	// and CAFingerprint the SHA-256 of its CA certificate, passed as
	// api.KernelArgCA so the agent can pin it. Both optional.
	APIURL        string
	CAFingerprint string
}

// separators are the iPXE tokens that end a command (core/exec.c).
var separators = map[string]bool{"||": true, "&&": true, ";": true}

// reserved are the arguments Corral sets itself here, besides
// api.KernelArgAPI and api.KernelArgCA.
var reserved = []string{"initrd=", "BOOTIF="}

// checkText refuses what iPXE would not pass on literally.
func checkText(field, s string) error {
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: %s: control character %q is not allowed", ErrInvalid, field, r)
		case r == '$':
			return fmt.Errorf("%w: %s: \"$\" is not allowed (iPXE would expand it as a setting)", ErrInvalid, field)
		}
	}
	for _, tok := range strings.Fields(s) {
		if strings.HasPrefix(tok, "#") {
			return fmt.Errorf("%w: %s: an argument may not start with \"#\" (iPXE reads it as a comment): %q", ErrInvalid, field, tok)
		}
		if separators[tok] {
			return fmt.Errorf("%w: %s: %q on its own is an iPXE command separator", ErrInvalid, field, tok)
		}
	}
	return nil
}

// controller parses ControllerURL.
func (s Script) controller() (*url.URL, error) {
	if s.ControllerURL == "" {
		return nil, fmt.Errorf("%w: controller URL is empty; want e.g. http://10.0.0.1:8080", ErrInvalid)
	}
	if err := checkText("controller URL", s.ControllerURL); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.ControllerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s.ControllerURL, " ") {
		return nil, fmt.Errorf("%w: controller URL %q: want an http:// or https:// URL with a host", ErrInvalid, s.ControllerURL)
	}
	return u, nil
}

// resolve turns Kernel or Initrd into an absolute URL.
func resolve(field, ref string, base *url.URL) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("%w: %s is empty; want a URL or a path like /images/<version>/<file>", ErrInvalid, field)
	}
	if err := checkText(field, ref); err != nil {
		return "", err
	}
	if strings.ContainsAny(ref, " ") {
		return "", fmt.Errorf("%w: %s %q contains a space", ErrInvalid, field, ref)
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q: %v", ErrInvalid, field, ref, err)
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host == "" {
			return "", fmt.Errorf("%w: %s %q has no host", ErrInvalid, field, ref)
		}
		return ref, nil
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(ref, "/"):
		return strings.TrimSuffix(base.String(), "/") + ref, nil
	default:
		return "", fmt.Errorf("%w: %s %q: want an http:// or https:// URL or a path starting with /", ErrInvalid, field, ref)
	}
}

// Validate reports, naming the field, what would make the script unsafe or
// unbootable. Config validation can call it at start-up.
func (s Script) Validate() error {
	_, err := s.resolved()
	return err
}

// resolved is the validated data the template needs.
type resolved struct {
	Kernel, Initrd, Args, Controller  string
	Attempts, RetryDelay, RebootDelay int
	InitrdName                        string
}

func (s Script) resolved() (resolved, error) {
	base, err := s.controller()
	if err != nil {
		return resolved{}, err
	}
	kernel, err := resolve("kernel", s.Kernel, base)
	if err != nil {
		return resolved{}, err
	}
	initrd, err := resolve("initrd", s.Initrd, base)
	if err != nil {
		return resolved{}, err
	}
	if err := checkText("cmdline", s.Cmdline); err != nil {
		return resolved{}, err
	}
	args := strings.Fields(s.Cmdline)
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		own := name == api.KernelArgAPI || name == api.KernelArgCA
		for _, r := range reserved {
			own = own || strings.HasPrefix(a, r)
		}
		if own {
			return resolved{}, fmt.Errorf("%w: cmdline: %q is set by Corral; remove it", ErrInvalid, a)
		}
	}
	controller := strings.TrimSuffix(base.String(), "/")
	all := append([]string{"initrd=" + InitrdName}, args...)
	all = append(all, "BOOTIF=01-${netX/mac:hexhyp}")
	if s.APIURL != "" {
		u, err := url.Parse(s.APIURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || checkText("apiURL", s.APIURL) != nil {
			return resolved{}, fmt.Errorf("%w: apiURL: %q is not an https URL", ErrInvalid, s.APIURL)
		}
	}
	if s.CAFingerprint != "" {
		if len(s.CAFingerprint) != 64 || strings.Trim(s.CAFingerprint, "0123456789abcdef") != "" {
			return resolved{}, fmt.Errorf("%w: caFingerprint: want 64 lower-case hex digits", ErrInvalid)
		}
	}
	own, err := api.KernelArgs{API: s.APIURL, CAFingerprint: s.CAFingerprint}.Format()
	if err != nil {
		return resolved{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	all = append(all, own...)
	return resolved{
		Kernel: kernel, Initrd: initrd, Args: strings.Join(all, " "), Controller: controller,
		Attempts: Attempts, RetryDelay: RetryDelaySeconds, RebootDelay: RebootDelaySeconds,
		InitrdName: InitrdName,
	}, nil
}

// script is the iPXE script. A command that fails without "||" ends an
// iPXE script, so every command that may fail has one.
var script = template.Must(template.New("boot.ipxe").Parse(`#!ipxe
# Corral boot script, generated by the controller.

:corral-boot
inc corral-attempt
echo Corral: booting ${netX/mac} from {{.Controller}} (attempt ${corral-attempt} of {{.Attempts}})
kernel {{.Kernel}} {{.Args}} || goto corral-failed
initrd --name {{.InitrdName}} {{.Initrd}} || goto corral-failed
boot || goto corral-failed

:corral-failed
echo Corral: boot failed: error ${errno} (see https://ipxe.org/err/${errno})
echo Corral: check that {{.Controller}} is reachable from this machine and serves
echo Corral:   {{.Kernel}}
echo Corral:   {{.Initrd}}
imgfree ||
iseq ${corral-attempt} {{.Attempts}} && goto corral-reboot ||
echo Corral: retrying in {{.RetryDelay}} seconds
sleep {{.RetryDelay}} ||
goto corral-boot

:corral-reboot
echo Corral: giving up after {{.Attempts}} attempts, rebooting in {{.RebootDelay}} seconds to start again from DHCP
sleep {{.RebootDelay}} ||
reboot
`))

// Render validates the script and writes it to w.
func (s Script) Render(w io.Writer) error {
	r, err := s.resolved()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := script.Execute(&buf, r); err != nil {
		return fmt.Errorf("render iPXE script: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write iPXE script: %w", err)
	}
	return nil
}
