"""Writes the phi/psi reference of alanine dipeptide from plain MD, for the
detailed-balance test of flow-augmented MD (test_flow_md.py).

    .venv/bin/python examples/ala2/reference.py out/ala2-long/md examples/ala2/reference_md.json

The MD directory is a `gobg simulate` run (top.pdb, traj.dcd, energies.csv,
meta.json),
unconstrained like the flow's moves. The file holds the 2-D phi/psi
histogram (counts, BINS x BINS over [-180, 180) degrees) of every frame, the
same for each half of the run (their distance measures how far plain MD of
half the length is from converged), the mean potential energy with its
block-averaged standard error, and the run's settings.
"""

import json
import os
import sys

import numpy as np

import gobg
from flow_md import backbone_atoms, dihedral

BINS = 12


def histogram(phi, psi, bins=BINS):
    """2-D counts of phi/psi (degrees) over [-180, 180)^2."""
    h, _, _ = np.histogram2d(phi, psi, bins=bins, range=[[-180, 180], [-180, 180]])
    return h


def tv_distance(a, b):
    """Total-variation distance between two histograms (normalised here)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())


def block_mean(x, blocks=50):
    """Mean of a correlated series and its standard error from the scatter
    of the means of `blocks` contiguous blocks."""
    x = np.asarray(x, float)
    m = len(x) // blocks
    means = x[: m * blocks].reshape(blocks, m).mean(axis=1)
    return float(x.mean()), float(means.std(ddof=1) / np.sqrt(blocks))


def main(md_dir, out):
    x = np.array(list(gobg.DCDReader(os.path.join(md_dir, "traj.dcd"))))
    top = gobg.read_pdb(os.path.join(md_dir, "top.pdb")).topology
    phi_i, psi_i = backbone_atoms(top)
    phi, psi = dihedral(x, *phi_i), dihedral(x, *psi_i)
    half = len(phi) // 2
    h = histogram(phi, psi)
    h1, h2 = histogram(phi[:half], psi[:half]), histogram(phi[half:], psi[half:])
    with open(os.path.join(md_dir, "meta.json")) as fh:
        meta = json.load(fh)
    u = np.loadtxt(os.path.join(md_dir, "energies.csv"), delimiter=",", skiprows=1, usecols=1)
    u_mean, u_se = block_mean(u)
    ref = {
        "source": md_dir, "frames": len(phi), "bins": BINS,
        "md": {k: meta.get(k) for k in ("source", "forcefield", "constraints", "hydrogen_mass_amu", "timestep_ps",
                                         "temperature_K", "seed", "save_interval_ps", "openmm")},
        "counts": h.astype(int).tolist(),
        "tv_between_halves": tv_distance(h1, h2),
        "fraction_phi_positive": float(np.mean(phi > 0)),
        "mean_potential_kj_mol": u_mean,
        "mean_potential_standard_error": u_se,
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(ref, fh, indent=1)
    os.replace(tmp, out)
    print(json.dumps({k: ref[k] for k in ("frames", "tv_between_halves", "fraction_phi_positive",
                                           "mean_potential_kj_mol", "mean_potential_standard_error")}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
