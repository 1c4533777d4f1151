"""Arrays cross into Go by address and length: correctness of that path and
of the checks that make it safe. (Its speed: pybridge/bench_zero_copy.py.)"""

import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def test_zero_copy_scale(gobg):
    from gobg._core import _as_buffer, _call, core

    n = 1_000_000
    x = np.random.default_rng(7).standard_normal(n)
    orig = x.copy()

    # Into a separate output buffer.
    y = np.empty_like(x)
    src, dst = _as_buffer(x), _as_buffer(y, writable=True)
    assert src.array is x and dst.array is y  # no copies were made
    _call(core.ScaleInto, src.addr, src.size, dst.addr, dst.size, 2.5)
    np.testing.assert_array_equal(y, 2.5 * orig)
    np.testing.assert_array_equal(x, orig)

    # In place: Go's writes land in numpy's own memory.
    buf = _as_buffer(x, writable=True)
    _call(core.ScaleInto, buf.addr, buf.size, buf.addr, buf.size, -0.5)
    np.testing.assert_array_equal(x, -0.5 * orig)

    # A view into the middle of an array: Go sees exactly that window.
    z = orig.copy()
    win = _as_buffer(z[10:20], writable=True)
    _call(core.ScaleInto, win.addr, win.size, win.addr, win.size, 0.0)
    assert np.all(z[10:20] == 0) and np.array_equal(z[:10], orig[:10]) and np.array_equal(z[20:], orig[20:])

    # Go checks the lengths it is given.
    with pytest.raises(gobg.GobgError, match="want"):
        _call(core.ScaleInto, src.addr, src.size, dst.addr, dst.size - 1, 1.0)


def test_gopy_slice_path_agrees(gobg):
    """The element-by-element path the benchmark compares against."""
    from gobg._gobg import go
    from gobg._core import core

    x = np.random.default_rng(3).standard_normal(1000)
    out = core.ScaleSlice(go.Slice_float64(x), 2.0)
    np.testing.assert_array_equal(np.fromiter(out, np.float64, len(x)), 2.0 * x)


def test_as_buffer_checks(gobg):
    from gobg._core import _as_buffer

    # Inputs are converted, and the _Buffer keeps the converted copy alive.
    b = _as_buffer([[1, 2, 3], [4, 5, 6]])
    assert b.array.dtype == np.float64 and b.array.flags.c_contiguous
    assert b.size == 6 and b.addr == b.array.ctypes.data
    f32 = np.arange(6, dtype=np.float32)
    b = _as_buffer(f32)
    assert b.array is not f32 and b.array.dtype == np.float64
    strided = np.arange(12.0)[::2]
    b = _as_buffer(strided)
    assert b.array.flags.c_contiguous and np.array_equal(b.array, strided)
    assert _as_buffer(np.empty(0)).addr == 0

    # Outputs must be exactly right: a converted copy would lose Go's writes.
    with pytest.raises(TypeError, match="float64"):
        _as_buffer(np.empty(3, np.float32), writable=True)
    with pytest.raises(TypeError, match="numpy array"):
        _as_buffer([0.0, 0.0], writable=True)
    with pytest.raises(ValueError, match="C-contiguous"):
        _as_buffer(np.empty((4, 3)).T, writable=True)
    ro = np.empty(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _as_buffer(ro, writable=True)
    with pytest.raises(ValueError, match="shape"):
        _as_buffer(np.empty((5, 3)), writable=True, shape=(4, 3))
    assert _as_buffer(np.empty((5, 3)), shape=(-1, 3)).size == 15
    assert _as_buffer(np.empty(2, np.int64), np.int64, writable=True).size == 2


def test_version_is_the_go_constant(gobg):
    src = (REPO / "pybridge" / "gobgcore" / "gobgcore.go").read_text()
    want = re.search(r'^const version = "([^"]+)"', src, re.M).group(1)
    assert gobg.version() == want == gobg.__version__
    from importlib.metadata import version

    assert version("gobg") == want
