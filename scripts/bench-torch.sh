#!/usr/bin/env bash
# gobg against a matched PyTorch spline flow (nflows), interleaved on the same
# cores: CPU ms per NLL step, per KL step and per 1,000 structures with log q.
# docs/flow-bench.md has the table this prints and what is compared.
#
#   scripts/bench-torch.sh [--rounds 2] [--reps 10] [--threads 2] [--json]
#
# Needs the project's set-up (scripts/setup.sh: .venv with OpenMM and the PJRT
# plugin). Installs Debian's python3-torch (PyTorch 1.13) when missing and a
# separate environment .venv-bench (Debian's Python with its torch, plus
# nflows, OpenMM and mdtraj from PyPI); the project's .venv is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_VENV=${GOBG_BENCH_VENV:-$ROOT/.venv-bench}
PY=${GOBG_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "bench-torch: no $PY; run scripts/setup.sh first" >&2; exit 1; }

if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "[bench-torch] installing Debian's python3-torch" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch >&2
fi
if [ ! -x "$BENCH_VENV/bin/python" ] || ! "$BENCH_VENV/bin/python" -c 'import nflows, openmm, mdtraj, torch' 2>/dev/null; then
	echo "[bench-torch] preparing $BENCH_VENV" >&2
	/usr/bin/python3 -m venv --system-site-packages "$BENCH_VENV"
	# numpy below 2: Debian's torch 1.13 is built against numpy 1.x.
	"$BENCH_VENV/bin/pip" install -q "numpy<2" matplotlib tqdm "openmm>=8.1,<9" mdtraj >&2
	# nflows' other requirement, tensorboard, is not needed for its transforms.
	"$BENCH_VENV/bin/pip" install -q --no-deps nflows==0.14 >&2
fi

echo "[bench-torch] building gobg's benchmark binary" >&2
mkdir -p bin
go test -c -o bin/flow-train.test ./flow/train

# libgomp's threads spin while waiting; on 2 shared cores that makes PyTorch
# many times slower.
export OMP_WAIT_POLICY=PASSIVE GOBG_PYTHON=$PY
exec "$BENCH_VENV/bin/python" scripts/bench_torch.py --gobg-test "$ROOT/bin/flow-train.test" "$@"
