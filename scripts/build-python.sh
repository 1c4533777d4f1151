#!/usr/bin/env bash
# Builds gobg's Python module (`import gobg`: the gopy extension from
# pybridge/gobgcore plus the Python layer pybridge/gobg) and installs it into
# the project's virtual environment with `pip install .`, unless nothing it is
# built from changed since the last install. --force rebuilds regardless.
# Needs gopy and goimports (scripts/setup.sh installs them; setup.py builds
# them itself when they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GOBG_VENV:-$PWD/.venv}
PY="$VENV/bin/python"
export PATH="$(go env GOPATH)/bin:$PATH"

log() { printf '[build-python] %s\n' "$*" >&2; }

# What the module is built from: the non-test Go files of every package of
# this module that gobgcore depends on, the Python layer, the build files.
sources() {
  go list -deps -f '{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}' ./pybridge/gobgcore |
    while read -r dir; do
      find "$dir" -maxdepth 1 -name '*.go' ! -name '*_test.go'
    done
  find pybridge/gobg -name '*.py' ! -path '*/_gobg/*'
  printf '%s\n' setup.py pyproject.toml go.mod go.sum
}
hash=$(sources | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
stamp="$VENV/.gobg-python-build"

if [ "${1:-}" != "--force" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ] &&
  (cd / && "$PY" -c 'import gobg; gobg.read_pdb') 2>/dev/null; then
  log "gobg Python module up to date"
  exit 0
fi
# The venv already holds what the build needs (setuptools with bdist_wheel,
# pybindgen from requirements.txt): use it rather than an isolated build
# environment fetched from PyPI on every build.
isolation=()
if "$PY" -c 'import pybindgen, setuptools as s; assert tuple(map(int, s.__version__.split(".")[:2])) >= (70, 1)' 2>/dev/null; then
  isolation=(--no-build-isolation)
fi
log "building and installing the gobg Python module (gopy)"
start=$(date +%s)
"$PY" -m pip install -q "${isolation[@]}" .
log "installed in $(( $(date +%s) - start )) s"
echo "$hash" >"$stamp"
