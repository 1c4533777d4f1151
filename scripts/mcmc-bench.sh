#!/usr/bin/env bash
# mcmc-bench.sh: effective samples per second of flow-augmented MD against
# plain MD on the same cores, from the integrated autocorrelation times of
# the backbone torsions that `gobg mcmc` reports (one thread each, run one
# after the other).
#
# Usage: scripts/mcmc-bench.sh MODEL PDB NS OUTDIR [EVERY ...]
#   MODEL   a full-mode model (examples/ala2/model.gobg)
#   PDB     the starting structure (its topology must be the model's)
#   NS      simulated time of each run, ns
#   OUTDIR  a new directory for the runs
#   EVERY   steps between flow moves, one run each (default: 250 1000)
#
# Example:
#   scripts/mcmc-bench.sh examples/ala2/model.gobg out/ala2-long/md/top.pdb 2 out/mcmc-bench 250 1000
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
model=$1 pdb=$2 ns=$3 out=$4
shift 4
everies=("$@")
[ ${#everies[@]} -gt 0 ] || everies=(250 1000)
[ -e "$out" ] && { echo "mcmc-bench: $out exists; give a new directory" >&2; exit 2; }
mkdir -p "$out"
run() {
  local name=$1; shift
  echo "[mcmc-bench] $name" >&2
  bin/gobg mcmc --pdb "$pdb" --ns "$ns" --out "$out/$name" --seed 1 --threads 1 --json "$@" | tail -1 > "$out/$name.json"
}
run plain --every 0
for k in "${everies[@]}"; do run "flow-every-$k" --model "$model" --every "$k"; done
.venv/bin/python - "$out" plain "${everies[@]/#/flow-every-}" <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
runs = {n: json.load(open(f"{out}/{n}.json")) for n in names}
base = {t["angle"]: t for t in runs["plain"]["torsions"]}
print(f"| run | acceptance | wall s | ns/day | angle | tau_int (ps) | N_eff | N_eff per s | vs plain MD |")
print("|---|---|---|---|---|---|---|---|---|")
for n, r in runs.items():
    acc = "-" if r["every"] == 0 else f"{r['acceptance_rate']:.3f} of {r['moves']}"
    for t in r["torsions"]:
        ratio = t["n_eff_per_s"] / base[t["angle"]]["n_eff_per_s"]
        rel = "" if t.get("reliable") else " (short series)"
        print(f"| {n} | {acc} | {r['wall_s']:.0f} | {r['ns_per_day']:.0f} | {t['angle']} | {t['tau_int_ps']:.2f}{rel} | "
              f"{t['n_eff']:.0f} | {t['n_eff_per_s']:.2f} | {ratio:.2f}x |")
PY
