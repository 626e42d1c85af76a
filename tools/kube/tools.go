//go:build tools

// Package tools pins the local Kubernetes control plane the kube test tier starts on loopback:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from Go modules because
// no release binary can be downloaded where the tests run.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
