"""gobg.DCDReader and gobg.write_dcd against mdtraj."""

import mdtraj as md
import numpy as np
import pytest
from openmm import unit


def assert_float32_close(got, want32):
    """gobg decodes the file's float32 Å into float64 nm exactly rounded;
    mdtraj keeps float32 nm. They may differ by one float32 rounding of the
    nm value: at most one float32 spacing of mdtraj's value."""
    want32 = np.asarray(want32, dtype=np.float32)
    assert got.shape == want32.shape
    bound = np.spacing(np.abs(want32)).astype(np.float64)
    diff = np.abs(got - want32.astype(np.float64))
    worst = np.unravel_index(np.argmax(diff - bound), diff.shape)
    assert np.all(diff <= bound), f"at {worst}: gobg {got[worst]!r}, mdtraj {want32[worst]!r}"


@pytest.mark.parametrize("system", ["hp35", "ala2"])
def test_dcd_frames_equal_mdtraj(gobg, shared_data, system):
    d = shared_data / "md" / system
    traj = md.load_dcd(str(d / "traj.dcd"), top=str(d / "top.pdb"))
    with gobg.DCDReader(d / "traj.dcd") as r:
        assert (r.n_atoms, r.n_frames, len(r)) == (traj.n_atoms, traj.n_frames, traj.n_frames)
        if r.has_unit_cell:
            x, boxes = r.read(with_boxes=True)
            assert_float32_close(boxes, traj.unitcell_vectors)
        else:
            x = r.read()
            assert traj.unitcell_vectors is None
        assert x.dtype == np.float64
        assert_float32_close(x, traj.xyz)

        # Frame by frame, iterating, after a seek: the same arrays.
        r.seek(traj.n_frames - 3)
        rest = list(r)
        assert len(rest) == 3
        for k, f in enumerate(rest):
            np.testing.assert_array_equal(f, x[traj.n_frames - 3 + k])
        assert r.read_frame() is None


def test_write_dcd_roundtrip(gobg, shared_data, tmp_path):
    d = shared_data / "md" / "hp35"
    with gobg.DCDReader(d / "traj.dcd") as r:
        r.seek(100)
        frames = np.stack([r.read_frame() for _ in range(5)])
    boxes = np.tile(np.diag([4.9, 4.6, 3.9]), (5, 1, 1))

    out = tmp_path / "out.dcd"
    n = gobg.write_dcd(out, frames, boxes, timestep=0.004, first_step=1000, interval=250, title="gobg test")
    assert n == 5
    back = md.load_dcd(str(out), top=str(d / "top.pdb"))
    assert_float32_close(frames, back.xyz)
    assert_float32_close(boxes, back.unitcell_vectors)
    with gobg.DCDReader(out) as r:
        # Frames that came from float32 survive the trip exactly.
        x, b = r.read(with_boxes=True)
        np.testing.assert_array_equal(x, frames)
        np.testing.assert_array_equal(b, boxes)
        assert (r.first_step, r.interval) == (1000, 250)
        assert r.timestep == pytest.approx(0.004, rel=1e-6)  # stored as float32 AKMA units

    # Append an OpenMM Quantity frame (in Å, converted) without a box: the
    # file has a unit cell, so that is refused, and then accepted with one.
    q = unit.Quantity(frames[0] * 10, unit.angstrom)
    with pytest.raises(gobg.GobgError, match="no box"):
        gobg.write_dcd(out, q, append=True)
    assert gobg.write_dcd(out, q, boxes[0], append=True) == 6
    with gobg.DCDReader(out) as r:
        x = r.read()
    np.testing.assert_allclose(x[5], frames[0], rtol=1e-7, atol=1e-7)


def test_write_dcd_iterable_and_errors(gobg, tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.uniform(-2, 2, size=(7, 3)) for _ in range(3)]
    out = tmp_path / "it.dcd"
    assert gobg.write_dcd(out, iter(frames)) == 3
    with gobg.DCDReader(out) as r:
        assert not r.has_unit_cell
        x = r.read()
    # DCD stores float32 Å: what comes back is float32(10·x) / 10, up to the
    # float64 rounding of the division.
    want = (np.stack(frames) * 10).astype(np.float32).astype(np.float64) / 10
    np.testing.assert_allclose(x, want, rtol=2 * np.finfo(np.float64).eps, atol=0)

    with pytest.raises(ValueError):
        gobg.write_dcd(tmp_path / "shape.dcd", np.zeros((2, 7, 2)))
    # A new file is all or nothing: a NaN in frame 1 leaves no file.
    bad = np.stack(frames)
    bad[1, 4, 2] = np.nan
    with pytest.raises(gobg.GobgError, match="frame 1: atom 4"):
        gobg.write_dcd(tmp_path / "nan.dcd", bad)
    assert not (tmp_path / "nan.dcd").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["it.dcd"]

    with pytest.raises(FileNotFoundError):
        gobg.DCDReader(tmp_path / "missing.dcd")
    notdcd = tmp_path / "not.dcd"
    notdcd.write_bytes(b"\x00" * 300)
    with pytest.raises(gobg.GobgError, match="not.dcd"):
        gobg.DCDReader(notdcd)

    with gobg.DCDReader(out) as r:
        with pytest.raises(TypeError, match="float64"):
            r.read_frame(out=np.empty((7, 3), np.float32))
        with pytest.raises(ValueError, match="shape"):
            r.read_frame(out=np.empty((6, 3)))
    with pytest.raises(ValueError, match="closed"):
        r.read_frame()


def test_dcd_reader_shared_by_threads(gobg, shared_data):
    """Go calls release the GIL; threads sharing one reader still get every
    frame exactly once, intact."""
    import threading

    path = shared_data / "md" / "ala2" / "traj.dcd"
    with gobg.DCDReader(path) as r:
        want = sorted(x.tobytes() for x in r.read())
    got = []
    with gobg.DCDReader(path) as r:

        def work():
            mine = []
            while (x := r.read_frame()) is not None:
                mine.append(x.tobytes())
            got.extend(mine)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(got) == want
