//go:build tools

// Package tools pins the Pulumi CLI and its Python language host, built from
// Go modules because no release binary can be downloaded where the tests run.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
