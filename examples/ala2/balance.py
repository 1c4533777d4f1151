"""The detailed-balance statistics of flow-augmented MD of alanine dipeptide
against plain MD (examples/ala2/reference_md.json), and negative controls:
generators whose log q is wrong in a known way, for chains that must fail
them (test_flow_md.py, pybridge/tests/test_openmmtools.py).

The statistics: the total-variation distance between 12 x 12 phi/psi
histograms must be at most TV_TOLERANCE, and the mean potential energy must
agree within SIGMAS combined standard errors (block averages, 20 blocks);
test_flow_md.py states their scale and power.

An independence proposal q accepted with min(1, pi(x') q~(x) / (pi(x) q~(x')))
samples pi q / q~ instead of pi when the ratio uses a wrong density q~, so:

- "sign" (log q~ = -log q): the flow moves sample pi q^2, piled into the
  flow's modes;
- "scale" (log q~ = s log q): they sample pi q^(1-s); s = 0 is the rule of a
  symmetric proposal (openmmtools' MetropolizedMove), s = -1 is "sign", and
  s near 1 a small error, for measuring what the statistics can detect;
- "jacobian" (log q~ = log q + log|det dx/dic|: the flow's density of the
  internal coordinates, the internal-coordinate volume factor left out): the
  flow moves sample pi / J, J = prod r^2 sin(theta) of the Z-matrix.

Mixed with MD, which samples pi, the chain lands in between.

Run a chain of flow_md.py, with or without a control, and print its
statistics (what test_flow_md.py checks, 1 ns and seed 3 by default):

    .venv/bin/python examples/ala2/balance.py
    .venv/bin/python examples/ala2/balance.py --kind sign
    .venv/bin/python examples/ala2/balance.py --kind scale --scale 0.5
    .venv/bin/python examples/ala2/balance.py --move-temperature 275
"""

import argparse
import contextlib
import functools
import gzip
import io
import json
import math
import os
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TV_TOLERANCE = 0.10
SIGMAS = 4.0


def statistics(phi, psi, energies, reference):
    """The checks of a chain's frames (phi, psi in degrees, potential
    energies in kJ/mol) against the reference (reference_md.json's dict):
    a dict with tv, the mean energy and its standard error, the energy
    tolerance, z (the energy's offset in combined standard errors) and
    whether each check passes."""
    from reference import block_mean, histogram, tv_distance

    tv = tv_distance(histogram(np.asarray(phi), np.asarray(psi), reference["bins"]), reference["counts"])
    mean, se = block_mean(energies, blocks=20)
    combined = math.hypot(se, reference["mean_potential_standard_error"])
    offset = mean - reference["mean_potential_kj_mol"]
    return {"tv": tv, "mean_u": mean, "se_u": se, "tolerance_u": SIGMAS * combined, "z": offset / combined,
            "tv_ok": tv <= TV_TOLERANCE, "energy_ok": abs(offset) <= SIGMAS * combined}


@functools.lru_cache(maxsize=8)
def ic_entries(model_path):
    """The Z-matrix of a gobg model file (manifest.json's ic.entries: Atom,
    Bond, Angle, Torsion as atom indices in the generator's order) and its
    free coordinates."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(open(model_path, "rb").read()))) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    ic = manifest["ic"]
    return ic["mode"], ic["entries"], ic["free"]


def ic_log_det(model_path, x):
    """log|det dx/dic| of structures x [n, n_atoms, 3] (nm) for the model's
    Z-matrix, up to a constant: for each free angle of entry p, log r_p; for
    each free torsion, log r_p + log|sin theta_p| (gobg's ic.Spec.LogDetJacobian,
    full mode: every coordinate free). The constant cancels in a proposal
    ratio."""
    mode, entries, free = ic_entries(str(model_path))
    n = len(entries)
    if mode != "full" or len(free) != 3 * n - 6:
        raise ValueError(f"{model_path}: {mode} mode with {len(free)} free coordinates; want full mode, {3 * n - 6}")
    x = np.asarray(x, float)
    total = np.zeros(x.shape[0])
    for p, e in enumerate(entries):
        if p < 2:
            continue
        a, b, c = e["Atom"], e["Bond"], e["Angle"]
        u, v = x[:, a] - x[:, b], x[:, c] - x[:, b]
        r = np.linalg.norm(u, axis=1)
        cos = np.sum(u * v, axis=1) / (r * np.linalg.norm(v, axis=1))
        total += np.log(r)  # the angle's factor
        if p >= 3:
            total += np.log(r) + 0.5 * np.log1p(-np.clip(cos, -1, 1) ** 2)  # the torsion's: r |sin theta|
    return total


class MisweightedGenerator:
    """A gobg.Generator whose sample and log_prob report a wrong log q (kind:
    "sign", "scale" with its factor, or "jacobian"; see the module's
    documentation); everything else is the generator's. Only the generator's
    own atom order (no topology)."""

    KINDS = ("sign", "scale", "jacobian")

    def __init__(self, generator, kind, scale=None):
        if kind not in self.KINDS:
            raise ValueError(f"kind {kind!r}: want one of {self.KINDS}")
        if (kind == "scale") != (scale is not None):
            raise ValueError("a scale goes with kind \"scale\", and only with it")
        self._gen = generator
        self.kind = kind
        self.scale = -1.0 if kind == "sign" else scale

    def __getattr__(self, name):
        return getattr(self._gen, name)

    def _wrong(self, x, lq):
        if self.kind == "jacobian":
            return lq + ic_log_det(self._gen.path, x)
        return self.scale * lq

    def sample(self, n, seed=None):
        x, lq = self._gen.sample(n, seed=seed)
        return x, self._wrong(x, lq)

    def log_prob(self, positions, topology=None):
        if topology is not None:
            raise ValueError("MisweightedGenerator.log_prob: positions in the generator's order only")
        x = np.asarray(positions, float)
        single = x.ndim == 2
        xb = x[None] if single else x
        out = self._wrong(xb, np.atleast_1d(self._gen.log_prob(xb)))
        return float(out[0]) if single else out


@contextlib.contextmanager
def misweighted_load(kind, scale=None):
    """Within the block gobg.load returns generators misweighted as kind says
    (MisweightedGenerator), so that flow_md.main runs a control chain."""
    import gobg

    real = gobg.load
    gobg.load = lambda *args, **kw: MisweightedGenerator(real(*args, **kw), kind, scale)
    try:
        yield
    finally:
        gobg.load = real


def main(argv=None):
    import flow_md

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(HERE / "model.gobg"))
    p.add_argument("--kind", choices=MisweightedGenerator.KINDS, help="the control (default: none)")
    p.add_argument("--scale", type=float, help="the factor of log q for --kind scale")
    p.add_argument("--move-temperature", type=float, help="the acceptance rule's temperature (K)")
    p.add_argument("--ns", type=float, default=1.0)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    reference = json.loads((HERE / "reference_md.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "chain.json")
        run = ["--model", args.model, "--ns", str(args.ns), "--every", str(args.every), "--seed", str(args.seed),
               "--out", out]
        if args.move_temperature:
            run += ["--move-temperature", str(args.move_temperature)]
        with misweighted_load(args.kind, args.scale) if args.kind else contextlib.nullcontext():
            summary = flow_md.main(run)
        res = json.loads(Path(out).read_text())
    st = statistics(res["phi_deg"], res["psi_deg"], res["potential_kj_mol"], reference)
    st.update(kind=args.kind, scale=args.scale, move_temperature=args.move_temperature, ns=args.ns, seed=args.seed,
              acceptance_rate=summary["acceptance_rate"], fraction_phi_positive=summary["fraction_phi_positive"])
    print(json.dumps(st))
    return st


if __name__ == "__main__":
    main()
