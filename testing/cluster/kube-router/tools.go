//go:build tools

// Package tools records the command build.sh builds from this module (kube-router, for its
// NetworkPolicy firewall), so `go mod tidy` keeps its dependencies in go.mod and go.sum.
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)
