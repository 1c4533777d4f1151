//go:build tools

// Package tools pins the build tools gobg uses (gopy for the Python module,
// the protobuf generators for the plugin service) so that `go install` takes
// the versions recorded in go.mod.
package tools

import (
	_ "github.com/go-python/gopy"
	_ "github.com/go-python/gopy/gopyh"
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
