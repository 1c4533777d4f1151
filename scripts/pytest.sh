#!/usr/bin/env bash
# Runs the Python tests with the project's environment. pytest exits 5 when it
# collects nothing; that is not a failure while a folder has no tests yet.
set -uo pipefail
cd "$(dirname "$0")/.."
dirs=()
for d in plugin pybridge examples scripts; do
  [ -d "$d" ] && dirs+=("$d")
done
[ ${#dirs[@]} -gt 0 ] || { echo "no Python test folders"; exit 0; }
.venv/bin/python -m pytest -q "${dirs[@]}"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest: no Python tests collected"; exit 0; fi
exit $rc
