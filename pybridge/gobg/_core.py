"""The bridge to gobg's Go code: the gopy extension, errors, and buffers.

Arrays cross into Go as the address and length of a numpy buffer (see the Go
package github.com/gobg/gobg/pybridge/gobgcore); everything here exists to make
that safe: the array is checked (dtype, C-contiguity, writability) and kept
alive while Go reads or writes it.
"""

import ctypes
import gc
import sys

import numpy as np

try:
    from ._gobg import _gobgcore as _ext
    from ._gobg import gobgcore as core
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "gobg's Go extension (gobg._gobg) is not built. Install the package with "
        "`pip install .` at the root of the gobg repository; that needs Go with cgo, "
        "gopy and goimports (scripts/setup.sh installs them)."
    ) from exc


def _go_gc_after_full_collection(phase, info):
    """Runs Go's garbage collector after each full (generation 2) Python
    collection, so that Go objects whose Python wrappers were collected are
    freed promptly."""
    if phase == "stop" and info.get("generation") == 2:
        _ext.RequestGC()


def _replace_gopy_gc_callbacks():
    """gopy's generated modules (two of them) each register a gc callback
    that runs a full, synchronous Go GC after every Python collection,
    generation 0 included, which happens every few hundred allocations.
    Measured here, that made plain Python code that allocates about 50 times
    slower (2e6 small lists: 0.38 s -> 20 s) once gobg was imported. Go's own
    collector runs as the Go heap grows anyway; keep one Go GC per full
    Python collection only."""
    prefix = __name__.rsplit(".", 1)[0] + "._gobg"
    for cb in list(gc.callbacks):
        if getattr(cb, "__name__", "") == "_gopy_gc_cb" and getattr(cb, "__module__", "").startswith(prefix):
            gc.callbacks.remove(cb)
    if _go_gc_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_go_gc_after_full_collection)


_replace_gopy_gc_callbacks()

# The default GoMLX backend is XLA through the PJRT CPU plugin installed in
# this interpreter's environment (the xla-cpu-pjrt package); the Go side
# cannot tell which environment that is, so it is told where packages are.
core.SetPythonPath("\n".join(p for p in sys.path if p))


class GobgError(RuntimeError):
    """An error reported by gobg's Go code (bad file, bad frame, wrong shape)."""


def _call(fn, *args):
    """Calls a function of the Go extension, turning its errors into GobgError.

    gopy raises a bare RuntimeError carrying the Go error's text.
    """
    try:
        return fn(*args)
    except RuntimeError as exc:
        if isinstance(exc, GobgError):
            raise
        raise GobgError(str(exc)) from None


class _Buffer:
    """A numpy array that Go may read or write, by address and element count.

    Hold on to the _Buffer (a local variable is enough) until the Go call
    returns: it keeps the array, possibly a converted copy, alive.
    """

    __slots__ = ("array", "addr", "size")

    def __init__(self, array):
        self.array = array
        self.size = int(array.size)
        # An empty array's data pointer means nothing; Go ignores the address
        # of a length-0 buffer, so pass 0.
        self.addr = int(array.ctypes.data) if self.size else 0


def _as_buffer(arr, dtype=np.float64, writable=False, shape=None, name="array"):
    """Returns a _Buffer for passing arr to Go.

    For input (writable=False) anything numpy can convert is accepted and
    converted to a C-contiguous array of dtype (a copy only when needed). For
    output (writable=True) arr must already be a writable, C-contiguous numpy
    array of exactly dtype, because Go writes into its memory and a converted
    copy would silently lose the result. shape, if given, must match (-1 for
    any length along an axis).
    """
    dtype = np.dtype(dtype)
    if writable:
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name}: output must be a numpy array, got {type(arr).__name__}")
        if arr.dtype != dtype:
            raise TypeError(f"{name}: output must have dtype {dtype}, got {arr.dtype}")
        if not arr.flags.c_contiguous:
            raise ValueError(f"{name}: output must be C-contiguous (use np.ascontiguousarray or a fresh np.empty)")
        if not arr.flags.writeable:
            raise ValueError(f"{name}: output array is read-only")
    else:
        arr = np.ascontiguousarray(_strip_unit(arr), dtype=dtype)
    if shape is not None:
        ok = arr.ndim == len(shape) and all(w in (-1, s) for w, s in zip(shape, arr.shape))
        if not ok:
            want = "(" + ", ".join("any" if w == -1 else str(w) for w in shape) + ")"
            raise ValueError(f"{name}: shape {arr.shape}, want {want}")
    return _Buffer(arr)


def _strip_unit(x):
    """Returns x in nm if it is an OpenMM Quantity, else x unchanged."""
    if hasattr(x, "value_in_unit"):
        from openmm import unit

        return x.value_in_unit(unit.nanometer)
    return x


def _view(addr, n):
    """A float64 numpy view of n elements of memory at addr (Go memory pinned
    for a callback). Only valid during the callback: never let it escape."""
    if n == 0:
        return np.empty(0)
    return np.ctypeslib.as_array((ctypes.c_double * n).from_address(addr))


def _lines(s, n, what):
    """Splits one of the Go side's newline-joined lists, checking its length."""
    items = s.split("\n") if n else []
    if len(items) != n:
        raise GobgError(f"{what}: got {len(items)} entries, want {n}")
    return items
