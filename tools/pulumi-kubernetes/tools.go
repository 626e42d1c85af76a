//go:build tools

// Package tools pins the real Pulumi Kubernetes provider the kube test tier runs, built from its Go
// module because no release plugin can be downloaded where the tests run. The provider's main
// package embeds files generated at release time (schema-embed.json, terraform-mapping-embed.json)
// that its module zip does not hold: scripts/install-kube-tools copies upstream's main.go,
// generate.go and schema from this module's pinned version into a build directory and generates
// them there, as upstream's `go:generate` does.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	// generate.go's one import.
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
