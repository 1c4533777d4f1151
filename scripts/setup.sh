#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian machine: system packages, Go tools,
# and the project's Python virtual environment (.venv) with OpenMM from PyPI.
# Safe to run again: each step checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${GOBG_VENV:-$ROOT/.venv}

log() { printf '[setup] %s\n' "$*" >&2; }

need_apt=()
for pkg in python3-venv python3-dev libpython3.11 protobuf-compiler; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# Debian's interpreter, not a pyenv one: gopy needs its headers and libpython.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  /usr/bin/python3 -m venv "$VENV"
fi
stamp="$VENV/.gobg-requirements"
if ! cmp -s requirements.txt "$stamp" 2>/dev/null; then
  log "installing Python requirements into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt
  cp requirements.txt "$stamp"
fi

log "downloading Go modules"
go mod download

if [ -f tools.go ]; then
  GOBIN_DIR=$(go env GOPATH)/bin
  for tool in google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc; do
    name=$(basename "$tool")
    if [ ! -x "$GOBIN_DIR/$name" ] && grep -q "\"$tool\"" tools.go; then
      log "go install $tool"
      go install "$tool"
    fi
  done
fi

log "building bin/gobg"
mkdir -p bin
go build -o bin/gobg ./gobg
log "done: venv at $VENV, binary at bin/gobg"

# --- Python module `import gobg` (pybridge/, setup.py) ---------------------
# gopy turns pybridge/gobgcore into a CPython extension with cgo: it needs a C
# compiler, goimports, and python3-dev (above). gopy's version is go.mod's
# (tools.go); goimports is pinned to the golang.org/x/tools version go.mod
# requires. scripts/build-python.sh then runs `pip install .` into the venv
# whenever the module's sources changed.
if ! command -v gcc >/dev/null 2>&1; then
  log "apt-get install gcc (cgo)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gcc
fi
GOBIN_DIR=$(go env GOPATH)/bin
gopy_want=$(go list -m -f '{{.Version}}' github.com/go-python/gopy)
# No gopy yet is the normal case on a fresh machine: under pipefail a failing
# `go version -m` must not end the script.
gopy_have=""
if [ -x "$GOBIN_DIR/gopy" ]; then
  gopy_have=$(go version -m "$GOBIN_DIR/gopy" 2>/dev/null | awk '$1 == "mod" {print $3}' || true)
fi
if [ "$gopy_have" != "$gopy_want" ]; then
  log "go install github.com/go-python/gopy ($gopy_want)"
  go install github.com/go-python/gopy
fi
if [ ! -x "$GOBIN_DIR/goimports" ]; then
  log "go install golang.org/x/tools/cmd/goimports@v0.36.0"
  go install golang.org/x/tools/cmd/goimports@v0.36.0
fi
bash scripts/build-python.sh
