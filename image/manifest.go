// The manifest of a built image (manifest.json).

package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Manifest describes a built image. It holds no time and no host path, so
// it is the same for the same inputs.
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Version is the image version.
	Version string `json:"version"`
	// Kernel is the kernel the image boots.
	Kernel Kernel `json:"kernel"`
	// Artifacts are the files of the image, sorted by name.
	Artifacts []Artifact `json:"artifacts"`
	// Inputs are what the artifacts were built from; a build with the
	// same inputs and version reuses the image.
	Inputs Inputs `json:"inputs"`
	// Initramfs says what the initramfs holds.
	Initramfs Initramfs `json:"initramfs"`
	// K3s says whether rootfs.squashfs carries k3s ("without k3s":
	// included false, with the reason); absent without a root filesystem.
	K3s *K3s `json:"k3s,omitempty"`
}

// Kernel names the kernel and the Debian package it came from.
type Kernel struct {
	// Version is the kernel release (uname -r), e.g. 6.1.0-56-amd64.
	Version string `json:"version"`
	// Package and PackageVersion name the .deb, when known.
	Package        string `json:"package,omitempty"`
	PackageVersion string `json:"packageVersion,omitempty"`
}

// Artifact is one file of the image.
type Artifact struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Inputs are the digests of everything an image is built from.
type Inputs struct {
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
	Libraries []File `json:"libraries"`
	// PCIIDsSHA256 is pci.ids' digest; empty when it was left out.
	PCIIDsSHA256 string `json:"pciIDsSHA256,omitempty"`
	// SourceDateEpoch is the mtime of the initramfs' files.
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
	// Rootfs are the root filesystem's inputs, when the image has one.
	Rootfs *RootfsInputs `json:"rootfs,omitempty"`
}

// File is a file and its digest.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Initramfs lists what the initramfs holds besides /init.
type Initramfs struct {
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

// Artifact returns the named artifact.
func (m Manifest) Artifact(name string) (Artifact, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return Artifact{}, false
}

// ReadManifest reads and checks a manifest.json.
func ReadManifest(p string) (Manifest, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("parse %s: %w", p, err)
	}
	if m.APIVersion != APIVersion || m.Kind != Kind {
		return Manifest{}, fmt.Errorf("%s: apiVersion %q, kind %q: want %s, %s", p, m.APIVersion, m.Kind, APIVersion, Kind)
	}
	return m, nil
}

func (m Manifest) encode() []byte {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // plain structs of strings and numbers always marshal
	}
	return append(data, '\n')
}
