#!/usr/bin/env python3
"""Where does the variance of the log importance weights come from?

Reads the output of `gobg sample` (FILE.dcd, FILE.pdb, FILE.csv with a log_w
column) and reports, for each group of dihedrals (named by the central bond:
peptide C-N, N-CA, CA-C, CA-CB, the rest), how much of var(log w) a least-squares
fit on Fourier features (orders 1-3) of that group's dihedrals explains. Every
dihedral i-j-k-l of the bond graph is used, not only the flow's own torsions, so
the answer does not depend on the Z-matrix. A group that explains much of the
variance is one whose density the flow gets systematically wrong.

With --md TRAJ.dcd (and --md-top, default: the sample PDB) it also prints the
worst Gaussian KL(q||p) of single bond lengths and angles, samples against MD.

Example:
  bin/gobg sample --model examples/ala2/model.gobg --n 20000 --seed 7 --out out/diag/s.dcd
  .venv/bin/python scripts/logw-by-torsion.py out/diag/s --md out/ala2-long/md/traj.dcd
"""
import argparse
import itertools
import sys

import mdtraj as md
import numpy as np


def dihedrals(top):
    nb = {a.index: set() for a in top.atoms}
    for b in top.bonds:
        nb[b[0].index].add(b[1].index)
        nb[b[1].index].add(b[0].index)
    out = []
    for b in top.bonds:
        j, k = b[0].index, b[1].index
        for i in sorted(nb[j] - {k}):
            for l in sorted(nb[k] - {j}):
                out.append((i, j, k, l))
    return np.array(out), nb


def group(top, t):
    mid = {top.atom(t[1]).name, top.atom(t[2]).name}
    for name, pair in (("peptide C-N", {"C", "N"}), ("N-CA", {"N", "CA"}), ("CA-C", {"CA", "C"}), ("CA-CB", {"CA", "CB"})):
        if mid == pair:
            return name
    return "other"


def explained(lw, angles):
    feats = [f(k * angles) for k in (1, 2, 3) for f in (np.cos, np.sin)]
    f = np.hstack(feats + [np.ones((len(lw), 1))])
    coef, *_ = np.linalg.lstsq(f, lw, rcond=None)
    return lw.var() - (lw - f @ coef).var()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefix", help="gobg sample output without extension (PREFIX.dcd, .pdb, .csv)")
    ap.add_argument("--md", help="MD trajectory (DCD) for the bond/angle comparison")
    ap.add_argument("--md-top", help="topology of --md (default: PREFIX.pdb)")
    a = ap.parse_args()
    try:
        s = md.load(a.prefix + ".dcd", top=a.prefix + ".pdb")
        d = np.genfromtxt(a.prefix + ".csv", delimiter=",", names=True)
    except (OSError, ValueError) as e:
        sys.exit(f"logw-by-torsion: read {a.prefix}.*: {e}")
    if "log_w" not in d.dtype.names:
        sys.exit(f"logw-by-torsion: {a.prefix}.csv has no log_w column (sample with --energy)")
    lw = d["log_w"]
    ok = np.isfinite(lw)
    if ok.sum() < len(lw):
        print(f"{len(lw) - ok.sum()} samples without a finite log w left out")
    lw, s = lw[ok], s[np.flatnonzero(ok)]
    top = s.topology
    tors, nb = dihedrals(top)
    ang = md.compute_dihedrals(s, tors)
    groups = {}
    for c, t in enumerate(tors):
        groups.setdefault(group(top, t), []).append(c)
    print(f"{len(lw)} samples, var(log w) {lw.var():.3f}; explained by Fourier features (orders 1-3) of:")
    for name, cols in sorted(groups.items()):
        print(f"  {name:12s} {len(cols):3d} dihedrals: {explained(lw, ang[:, cols]):.3f}")
    print(f"  all          {len(tors):3d} dihedrals: {explained(lw, ang):.3f}")
    if a.md:
        m = md.load(a.md, top=a.md_top or a.prefix + ".pdb")
        bonds = np.array([[b[0].index, b[1].index] for b in top.bonds])
        angles = np.array([[i, j, k] for j in nb for i, k in itertools.combinations(sorted(nb[j]), 2)])
        rows = []
        for kind, xs, xm, idx in (("bond", md.compute_distances(s, bonds), md.compute_distances(m, bonds), bonds),
                                  ("angle", md.compute_angles(s, angles), md.compute_angles(m, angles), angles)):
            for c in range(xs.shape[1]):
                r = xs[:, c].std() / xm[:, c].std()
                mu = (xs[:, c].mean() - xm[:, c].mean()) / xm[:, c].std()
                kl = (r * r - 1) / 2 - np.log(r) + mu * mu / 2
                rows.append((kl, kind, "-".join(str(top.atom(i)) for i in idx[c]), r, mu))
        rows.sort(reverse=True)
        print("single bonds and angles, Gaussian KL(q||p) against MD (sum %.4f nats); worst:" % sum(r[0] for r in rows))
        for r in rows[:5]:
            print("  %.4f %-5s %-34s std ratio %.3f, mean shift %+.3f MD sd" % r)


if __name__ == "__main__":
    main()
