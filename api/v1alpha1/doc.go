// Package v1alpha1 holds version v1alpha1 of the wire types exchanged between
// the Corral node agent and the controller.
//
// Every document carries apiVersion and kind (as Kubernetes and Talos
// configuration do) so that a reader can refuse what it does not understand.
// Within v1alpha1, fields may be added but never renamed, retyped or given a
// new meaning; anything else needs a new version package. The field-by-field
// documentation of the inventory, and the node-id algorithm, are in
// docs/inventory.md.
//
// This package imports only the standard library.
package v1alpha1

// Version is the apiVersion of every document defined in this package.
const Version = "corral.io/v1alpha1"
