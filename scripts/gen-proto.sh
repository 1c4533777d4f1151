#!/usr/bin/env bash
# Regenerates the energy plugin's gRPC stubs from plugin/proto/energy.proto:
# Go (plugin/proto/*.pb.go, with protoc + protoc-gen-go + protoc-gen-go-grpc at
# the versions pinned in go.mod through tools.go) and Python
# (plugin/openmm/energy_pb2*.py, with grpc_tools from the project's venv).
# Commit the results: the build and the worker use the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${GOBG_PYTHON:-.venv/bin/python}

command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
GOBIN_DIR=$(go env GOPATH)/bin
go install google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
export PATH="$GOBIN_DIR:$PATH"

protoc -I plugin/proto \
  --go_out=plugin/proto --go_opt=paths=source_relative \
  --go-grpc_out=plugin/proto --go-grpc_opt=paths=source_relative \
  plugin/proto/energy.proto

# The Python stubs sit beside server.py, which imports them as top-level
# modules (energy_pb2, energy_pb2_grpc).
"$PY" -m grpc_tools.protoc -I plugin/proto \
  --python_out=plugin/openmm --grpc_python_out=plugin/openmm \
  plugin/proto/energy.proto
echo "regenerated plugin/proto/*.pb.go and plugin/openmm/energy_pb2*.py" >&2
