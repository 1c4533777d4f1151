"""scripts/phi-start.py puts alanine dipeptide's phi where it is asked to."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "phi-start.py"


def _shared():
    """The reference data folder; skips without it, except under CI=true."""
    d = Path(os.environ.get("GOBG_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not (d / "ala2.pdb").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference data not found: {d}", pytrace=False)
        pytest.skip(f"reference data not found: {d}")
    return d


def _pdb():
    return _shared() / "ala2.pdb"


def _mdtraj():
    """mdtraj; skips without it, except under CI=true."""
    try:
        import mdtraj
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"mdtraj is not installed: {exc}", pytrace=False)
        pytest.skip(f"mdtraj is not installed: {exc}")
    return mdtraj


@pytest.mark.parametrize("target", [60.0, -150.0])
def test_phi_start_reaches_target(tmp_path, target):
    md = _mdtraj()
    import numpy as np

    out = tmp_path / "start.pdb"
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--pdb", str(_pdb()), "--phi", str(target), "--ps", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    phi = np.degrees(md.compute_phi(md.load(str(out)))[1][0, 0])
    diff = (phi - target + 180.0) % 360.0 - 180.0
    # k = 1000 kJ/mol/rad^2 at 300 K: thermal spread about 3 degrees.
    assert abs(diff) < 20.0, f"phi {phi:.1f}, want {target}"
    # The script's own report uses the same convention as mdtraj.
    reported = float(r.stderr.split("phi ")[1].split(" deg")[0])
    assert abs(reported - phi) < 0.5, r.stderr


def test_phi_start_bad_pdb_names_file(tmp_path):
    bad = tmp_path / "bad.pdb"
    bad.write_text("ATOM      1  N   XYZ A   1       0.000   0.000   0.000  1.00  0.00           N\nEND\n")
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--pdb", str(bad), "--phi", "60", "--out", str(tmp_path / "o.pdb")],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode != 0
    assert str(bad) in r.stderr, r.stderr
    assert not (tmp_path / "o.pdb").exists()
