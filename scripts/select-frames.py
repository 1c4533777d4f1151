"""Keep the frames of MD trajectories whose backbone phi lies in a range.

Used to add a basin that ordinary MD misses to a training set: runs started
in the basin (scripts/phi-start.py, then gobg simulate) leave it after a
while, and only the frames still inside are wanted. phi is that of the
first residue with one (C-N-CA-C, as mdtraj.compute_phi), in degrees; the
range is half-open, lo <= phi < hi. Frames are kept in the order of the
trajectories, then thinned to every --every-th; the DCD is written
atomically.

Example:
  .venv/bin/python scripts/select-frames.py --top out/ala2-alphaL/md-21/top.pdb \\
      --phi 0 150 --every 4 --out out/ala2-alphaL/basin.dcd out/ala2-alphaL/md-2*/traj.dcd
"""
import argparse
import os
import sys
import tempfile

import mdtraj
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", required=True, help="topology PDB of the trajectories")
    ap.add_argument("--phi", type=float, nargs=2, required=True, metavar=("LO", "HI"), help="degrees")
    ap.add_argument("--every", type=int, default=1, help="keep every n-th selected frame")
    ap.add_argument("--out", required=True, help="DCD to write")
    ap.add_argument("traj", nargs="+", help="DCD trajectories")
    a = ap.parse_args()
    if a.every < 1:
        raise SystemExit("select-frames: --every must be at least 1")
    lo, hi = a.phi
    parts = []
    for path in a.traj:
        try:
            t = mdtraj.load(path, top=a.top)
        except Exception as exc:  # mdtraj raises many types for unreadable files
            raise SystemExit(f"select-frames: {path}: {exc}")
        idx, phi = mdtraj.compute_phi(t)
        if len(idx) == 0:
            raise SystemExit(f"select-frames: {a.top}: no residue with a backbone phi")
        deg = np.degrees(phi[:, 0])
        keep = np.where((deg >= lo) & (deg < hi))[0]
        print(f"{path}: {len(keep)} of {t.n_frames} frames with {lo:g} <= phi < {hi:g}", file=sys.stderr)
        if len(keep):
            parts.append(t[keep])
    if not parts:
        raise SystemExit("select-frames: no frame in the range; nothing written")
    sel = mdtraj.join(parts)[:: a.every]
    d = os.path.dirname(os.path.abspath(a.out))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".dcd")
    os.close(fd)
    try:
        sel.save_dcd(tmp)
        os.replace(tmp, a.out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {a.out}: {sel.n_frames} frames", file=sys.stderr)


if __name__ == "__main__":
    main()
