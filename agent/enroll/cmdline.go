package enroll

import api "corral.io/corral/api/v1alpha1"

// BootParams are the enrollment settings found on the kernel command line.
type BootParams struct {
	// API is api.KernelArgAPI, CAFingerprint api.KernelArgCA; "" when absent.
	API           string
	CAFingerprint string
}

// ParseCmdline reads the controller's API URL and CA fingerprint from a
// kernel command line (/proc/cmdline), as api.ParseKernelArgs does. Values
// are not validated here: the client checks the URL and the fingerprint and
// says what is wrong with them.
func ParseCmdline(cmdline string) BootParams {
	a := api.ParseKernelArgs(cmdline)
	return BootParams{API: a.API, CAFingerprint: a.CAFingerprint}
}
