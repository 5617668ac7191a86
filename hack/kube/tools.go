//go:build tools

// Package tools pins the kube-apiserver command so that go.sum records every
// module it needs; hack/kube/build.sh builds it.
package tools

import (
	_ "k8s.io/kubernetes/pkg/controlplane"
)
