package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// KindImageManifest is the kind of a built image's manifest.json. The image
// builder (package image) writes it; the controller's image store and the
// CLI read it.
const KindImageManifest = "ImageManifest"

// File names in a built image's directory.
const (
	// ImageManifestFile is the manifest (an ImageManifest).
	ImageManifestFile = "manifest.json"
	// ImageRootfsFile is the root filesystem's artifact name.
	ImageRootfsFile = "rootfs.squashfs"
)

// ImageManifest describes a built image. It holds no time and no host path,
// so it is the same for the same inputs.
type ImageManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Version is the image version.
	Version string `json:"version"`
	// Kernel is the kernel the image boots.
	Kernel ImageKernel `json:"kernel"`
	// Artifacts are the files of the image, sorted by name.
	Artifacts []ImageArtifact `json:"artifacts"`
	// Inputs are what the artifacts were built from; a build with the
	// same inputs and version reuses the image.
	Inputs ImageInputs `json:"inputs"`
	// Initramfs says what the initramfs holds.
	Initramfs ImageInitramfs `json:"initramfs"`
	// K3s says whether rootfs.squashfs carries k3s ("without k3s":
	// included false, with the reason); absent without a root filesystem.
	K3s *ImageK3s `json:"k3s,omitempty"`
}

// ImageKernel names the kernel and the Debian package it came from.
type ImageKernel struct {
	// Version is the kernel release (uname -r), e.g. 6.1.0-56-amd64.
	Version string `json:"version"`
	// Package and PackageVersion name the .deb, when known.
	Package        string `json:"package,omitempty"`
	PackageVersion string `json:"packageVersion,omitempty"`
}

// ImageArtifact is one file of the image.
type ImageArtifact struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ImageInputs are the digests of everything an image is built from.
type ImageInputs struct {
	// Recipe is the version of the build's layout rules.
	Recipe int `json:"recipe"`
	// AgentSHA256 is the corral-agent binary's digest.
	AgentSHA256 string `json:"agentSHA256"`
	// KernelPackage and KernelPackageVersion name the kernel .deb.
	KernelPackage        string `json:"kernelPackage,omitempty"`
	KernelPackageVersion string `json:"kernelPackageVersion,omitempty"`
	// VmlinuzSHA256 and ModulesDepSHA256 pin the kernel's files.
	VmlinuzSHA256    string `json:"vmlinuzSHA256"`
	ModulesDepSHA256 string `json:"modulesDepSHA256"`
	// Modules are the module names asked for.
	Modules []string `json:"modules"`
	// Libraries are the host's shared libraries the agent needs.
	Libraries []ImageFile `json:"libraries"`
	// PCIIDsSHA256 is pci.ids' digest; empty when it was left out.
	PCIIDsSHA256 string `json:"pciIDsSHA256,omitempty"`
	// SourceDateEpoch is the mtime of the initramfs' files.
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
	// Rootfs are the root filesystem's inputs, when the image has one.
	Rootfs *ImageRootfsInputs `json:"rootfs,omitempty"`
}

// ImageFile is a file and its digest.
type ImageFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ImageInitramfs lists what the initramfs holds besides /init.
type ImageInitramfs struct {
	// Modules are the module files, relative to /lib/modules/<kver>, in the
	// order they can be loaded.
	Modules []string `json:"modules"`
	// BuiltinModules were asked for but are built into the kernel.
	BuiltinModules []string `json:"builtinModules,omitempty"`
	// MissingModules were asked for but this kernel does not have them.
	MissingModules []string `json:"missingModules,omitempty"`
	// Libraries are the shared libraries' paths.
	Libraries []string `json:"libraries"`
	// PCIIDs says whether /usr/share/misc/pci.ids is included.
	PCIIDs bool `json:"pciIDs"`
}

// ImageRootfsInputs are what rootfs.squashfs is built from.
type ImageRootfsInputs struct {
	Recipe      int      `json:"recipe"`
	Suite       string   `json:"suite"`
	Variant     string   `json:"variant"`
	Mirror      string   `json:"mirror"`
	Packages    []string `json:"packages"`
	Compression string   `json:"compression"`
	// ModuleDirs are the kernel module directories included.
	ModuleDirs []string `json:"moduleDirs"`
	// Installed are the packages in the tree with their versions (dpkg-query).
	Installed []ImagePackage `json:"installed"`
	// K3sSHA256 is the k3s binary's digest; empty when the image has none.
	K3sSHA256 string `json:"k3sSHA256,omitempty"`
	// AirgapImages is the air-gap tarball's path in the root filesystem
	// and AirgapImagesSHA256 its digest; empty when the image has none.
	AirgapImages       string `json:"airgapImages,omitempty"`
	AirgapImagesSHA256 string `json:"airgapImagesSHA256,omitempty"`
}

// ImagePackage is an installed Debian package.
type ImagePackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ImageK3s says whether the root filesystem carries k3s, and why not.
type ImageK3s struct {
	Version  string `json:"version"`
	Included bool   `json:"included"`
	// SHA256 is the binary's digest, when included.
	SHA256 string `json:"sha256,omitempty"`
	// Reason says why it is not included.
	Reason string `json:"reason,omitempty"`
	// AirgapImages says whether the image tarball k3s imports at start
	// is in the root filesystem (K3S_AIRGAP_IMAGES).
	AirgapImages *ImageAirgapImages `json:"airgapImages,omitempty"`
}

// ImageAirgapImages says whether the root filesystem carries the k3s
// air-gap image tarball, and why not.
type ImageAirgapImages struct {
	Included bool `json:"included"`
	// Path is the tarball's absolute path in the root filesystem.
	Path string `json:"path,omitempty"`
	// SHA256 and Size describe the tarball, when included.
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Reason says why it is not included.
	Reason string `json:"reason,omitempty"`
}

// Artifact returns the named artifact.
func (m ImageManifest) Artifact(name string) (ImageArtifact, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return ImageArtifact{}, false
}

// ReadImageManifest reads and checks a manifest.json.
func ReadImageManifest(p string) (ImageManifest, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return ImageManifest{}, err
	}
	var m ImageManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return ImageManifest{}, fmt.Errorf("parse %s: %w", p, err)
	}
	if m.APIVersion != Version || m.Kind != KindImageManifest {
		return ImageManifest{}, fmt.Errorf("%s: apiVersion %q, kind %q: want %s, %s", p, m.APIVersion, m.Kind, Version, KindImageManifest)
	}
	return m, nil
}
