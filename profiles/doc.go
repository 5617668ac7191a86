// Package profiles decides what a node becomes: which profile it gets and
// what that profile makes of its hardware.
//
// A profile (apiVersion corral.io/v1alpha1, kind Profile) is a YAML document
// with a name, a priority, a CEL rule over the node's inventory, explicit
// selectors (MAC, serial, UUID, node id, hostname patterns), and what a
// matching node gets: hostname, labels, taints, a role, kernel and k3s
// arguments, an image version and a disk policy. Parse, LoadFile and LoadDir
// read and validate profiles; Defaults returns the shipped ones (gpu-worker,
// storage, compute). Select picks a profile for an inventory and explains
// the decision for every profile; Resolve turns the chosen profile and the
// inventory into a Plan: hostname, labels, taints, kernel and k3s arguments
// and a disk plan that never wipes data Corral did not write unless the
// profile allows it for that disk, and never wipes a Ceph OSD.
//
// The package imports only api/ and libraries, so the controller, the CLI and
// tests can use it alike. The format is documented in docs/profiles.md.
package profiles
