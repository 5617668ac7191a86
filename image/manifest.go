// The manifest of a built image (manifest.json). Its types are the
// contract between the builder and its readers (the controller's image
// store, the CLI), so they live in api/v1alpha1; these are the builder's
// names for them.

package image

import (
	"encoding/json"

	api "corral.io/corral/api/v1alpha1"
)

// The manifest's types.
type (
	Manifest     = api.ImageManifest
	Kernel       = api.ImageKernel
	Artifact     = api.ImageArtifact
	Inputs       = api.ImageInputs
	File         = api.ImageFile
	Initramfs    = api.ImageInitramfs
	RootfsInputs = api.ImageRootfsInputs
	Package      = api.ImagePackage
	K3s          = api.ImageK3s
	AirgapImages = api.ImageAirgapImages
)

// ReadManifest reads and checks a manifest.json.
func ReadManifest(p string) (Manifest, error) { return api.ReadImageManifest(p) }

func encodeManifest(m Manifest) []byte {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // plain structs of strings and numbers always marshal
	}
	return append(data, '\n')
}
