"""scripts/select-frames.py keeps exactly the frames whose phi is in range."""

import subprocess
import sys
from pathlib import Path

import pytest

from test_phi_start import _mdtraj, _shared

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "select-frames.py"


@pytest.mark.parametrize("lo,hi,every", [(-180.0, -90.0, 1), (-90.0, 0.0, 3)])
def test_select_frames_by_phi(tmp_path, lo, hi, every):
    md = _mdtraj()
    import numpy as np

    d = _shared() / "md" / "ala2"
    top, traj = d / "top.pdb", d / "traj.dcd"
    # Two inputs: the first 300 frames, and frames 300-499 (concatenation order is kept).
    full = md.load(str(traj), top=str(top))[:500]
    a, b = tmp_path / "a.dcd", tmp_path / "b.dcd"
    full[:300].save_dcd(str(a))
    full[300:].save_dcd(str(b))
    out = tmp_path / "sel.dcd"
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--top", str(top), "--phi", str(lo), str(hi), "--every", str(every),
         "--out", str(out), str(a), str(b)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    phi = np.degrees(md.compute_phi(full)[1][:, 0])
    want = np.where((phi >= lo) & (phi < hi))[0][::every]
    assert len(want) > 10, "the range should hold frames of the reference MD"
    got = md.load(str(out), top=str(top))
    assert got.n_frames == len(want)
    np.testing.assert_allclose(got.xyz, full.xyz[want], atol=1e-6)


def test_select_frames_empty_range_writes_nothing(tmp_path):
    d = _shared() / "md" / "ala2"
    out = tmp_path / "sel.dcd"
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--top", str(d / "top.pdb"), "--phi", "200", "300", "--out", str(out),
         str(d / "traj.dcd")],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode != 0 and "no frame in the range" in r.stderr, r.stderr
    assert not out.exists()
