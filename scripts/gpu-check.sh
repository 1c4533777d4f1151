#!/usr/bin/env bash
# gpu-check.sh: the flow check and the training-step benchmark on the pure-Go
# backend and on XLA (a PJRT plugin, normally CUDA), side by side, as a
# Markdown table for docs/.
#
# Usage: scripts/gpu-check.sh [--plugin PATH] [--data DIR] [--prebuilt] [--quick-cpu]
#                             [--timeout SECONDS] [--out FILE]
#
#   --plugin PATH  the PJRT plugin .so (e.g. the xla_cuda_plugin.so of PyPI's
#                  jax-cuda12-pjrt); default $GOBG_PJRT_PLUGIN, else searched
#                  in .venv, ~/.local, /usr/local/lib and /opt.
#   --data DIR     reference data with hp35.pdb (default $GOBG_SHARED_DATA,
#                  else ../shared/data, else shared/data).
#   --prebuilt     use bin/gobg-xla and bin/flow-model-xla.test as they are
#                  (machines without Go or the module cache: build them
#                  elsewhere with this script, then carry bin/).
#   --quick-cpu    on the pure-Go backend time the NLL step once and skip the
#                  flow check (it was measured on the CPU machines already);
#                  for a GPU machine whose time is short.
#   --timeout S    stop any one check or benchmark after S seconds (default
#                  1800); its cell then says it timed out.
#   --out FILE     also write the table to FILE.
#
# What runs, per backend (go:ops_sequential, then xla:PLUGIN):
#   gobg flow check --arch {nsf,split-gau} --pdb hp35.pdb   (inversion f64/f32, log-det vs autodiff)
#   BenchmarkFlow train/{nsf,split-gau}/hp35 (one NLL step, batch 256, float32)
# Without a plugin the XLA column says why it was not run and the script
# still exits 0; with a plugin that fails, it exits 1.
#
# Example (on a GPU machine with the plugin carried in .venv):
#   scripts/gpu-check.sh --plugin .venv/lib/python3.11/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so --out docs/gpu-check.md
set -uo pipefail
cd "$(dirname "$0")/.."

plugin=${GOBG_PJRT_PLUGIN:-}
data=${GOBG_SHARED_DATA:-}
prebuilt=0
quick_cpu=0
limit=1800
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --plugin) plugin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --prebuilt) prebuilt=1; shift ;;
    --quick-cpu) quick_cpu=1; shift ;;
    --timeout) limit=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
log() { printf '[gpu-check] %s\n' "$*" >&2; }

if [ -z "$data" ]; then
  for d in ../shared/data shared/data; do [ -f "$d/hp35.pdb" ] && data=$d && break; done
fi
[ -f "$data/hp35.pdb" ] || { echo "gpu-check: hp35.pdb not found (give --data DIR)" >&2; exit 2; }
export GOBG_SHARED_DATA=$(cd "$data" && pwd)

if [ -z "$plugin" ]; then
  plugin=$(find .venv "$HOME/.local" /usr/local/lib /opt -maxdepth 8 \
    \( -name 'xla_cuda_plugin.so' -o -name 'pjrt_c_api_*_plugin.so' \) 2>/dev/null | head -1)
fi
[ -n "$plugin" ] && plugin=$(readlink -f "$plugin")

if [ $prebuilt = 0 ]; then
  log "building bin/gobg-xla and bin/flow-model-xla.test (cgo: they link XLA)"
  go build -o bin/gobg-xla ./gobg || exit 1
  go test -c -o bin/flow-model-xla.test ./flow/model || exit 1
fi
for b in bin/gobg-xla bin/flow-model-xla.test; do
  [ -x "$b" ] || { echo "gpu-check: $b missing (run without --prebuilt where Go is installed)" >&2; exit 2; }
done
export GOMLX_NO_AUTO_INSTALL=1

machine="$(nproc) CPU cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
if command -v nvidia-smi >/dev/null; then
  machine="$machine; $(nvidia-smi -L 2>/dev/null | head -1)"
else
  machine="$machine; no nvidia-smi"
fi

backends=("go:ops_sequential")
xla_note=""
if [ -n "$plugin" ] && [ -f "$plugin" ]; then
  backends+=("xla:$plugin")
else
  xla_note="not run: no PJRT plugin found (give --plugin PATH or set GOBG_PJRT_PLUGIN)"
fi

failed=0
declare -A cell
json_field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" | head -1; }
for be in "${backends[@]}"; do
  benchtime=3x
  [ $quick_cpu = 1 ] && [ "$be" = go:ops_sequential ] && benchtime=1x
  for arch in nsf split-gau; do
    if [ $quick_cpu = 1 ] && [ "$be" = go:ops_sequential ]; then
      cell[$be,$arch,check]="not run (--quick-cpu)"
    else
      log "flow check: $arch on $be"
      if res=$(timeout "$limit" bin/gobg-xla flow check --arch "$arch" --pdb "$GOBG_SHARED_DATA/hp35.pdb" --backend "$be" --json 2>/tmp/gpu-check.err | tail -1) && [ -n "$res" ]; then
        cell[$be,$arch,check]="$(printf '%.1e / %.1e / %.1e' "$(json_field inverse_err_f64 <<<"$res")" \
          "$(json_field inverse_err_f32 <<<"$res")" "$(json_field logdet_rel_err <<<"$res")")"
      else
        cell[$be,$arch,check]="failed or timed out after ${limit} s: $(tail -1 /tmp/gpu-check.err)"
        failed=1
      fi
    fi
    log "benchmark: one NLL step, $arch on $be ($benchtime)"
    if b=$(GOMLX_BACKEND="$be" timeout "$limit" bin/flow-model-xla.test -test.run '^$' -test.bench "^BenchmarkFlow\$/^train\$/^$arch\$/^hp35\$" \
      -test.benchtime $benchtime 2>/tmp/gpu-check.err | awk '/ns\/op/ {print $3; exit}') && [ -n "$b" ]; then
      cell[$be,$arch,step]="$(awk -v ns="$b" 'BEGIN {printf "%.3f s", ns / 1e9}')"
    else
      cell[$be,$arch,step]="failed or timed out after ${limit} s: $(tail -1 /tmp/gpu-check.err)"
      failed=1
    fi
  done
done

{
  echo "Machine: $machine. $(date -u +%Y-%m-%d). HP35 (reduced, D = 718), default configurations."
  echo
  echo "| backend | arch | inverse f64 / f32 / log-det rel. err | NLL step, batch 256, float32 |"
  echo "|---|---|---|---|"
  for be in "${backends[@]}"; do
    for arch in nsf split-gau; do
      echo "| \`${be}\` | $arch | ${cell[$be,$arch,check]} | ${cell[$be,$arch,step]} |"
    done
  done
  [ -n "$xla_note" ] && echo "| xla | all | $xla_note | |"
} | tee ${out:+"$out"}
exit $failed
