//go:build tools

// Package tools records the command build.sh builds, so `go mod tidy` keeps its
// dependencies in go.mod and go.sum.
package tools

import (
	_ "gitea.dev"
)
