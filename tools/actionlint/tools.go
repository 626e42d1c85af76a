//go:build tools

// Package tools pins actionlint, which the test suite runs on .github/workflows/. It is built from
// its Go module because its PyPI wrapper downloads a release binary at install time.
package tools

import (
	_ "github.com/rhysd/actionlint/cmd/actionlint"
)
