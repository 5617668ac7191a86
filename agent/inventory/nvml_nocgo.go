//go:build !cgo

package inventory

import api "corral.io/corral/api/v1alpha1"

// DefaultNVML in a build without cgo cannot load libnvidia-ml; it says so.
func DefaultNVML() GPULibrary { return noNVML{} }

type noNVML struct{}

func (noNVML) GPUs(note func(string, ...any)) (*api.NVIDIADriver, []api.GPU) {
	note("not available: corral-agent was built without cgo")
	return nil, nil
}
