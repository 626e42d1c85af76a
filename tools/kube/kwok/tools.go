//go:build tools

// Package tools pins kwok, which registers fake nodes on the local control plane and moves the
// pods bound to them through their lifecycle (Running, Ready) without a container runtime, so the
// readiness waits of Helm and the Kubernetes provider run for real. Its own module: kwok pins its
// own k8s.io staging versions, which differ from the control plane's in ../go.mod.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
