#!/usr/bin/env python3
"""Benchmark: the cost of passing a float64 array from numpy to Go and back.

Compares the two ways gobg's Go code can take an array from Python:
  - zero-copy: Go gets the numpy buffer's address and length and writes the
    result into a caller-owned numpy buffer (gobgcore.ScaleInto);
  - gopy's slice conversion: numpy -> go.Slice_float64 element by element,
    Go returns a new []float64, read back element by element (ScaleSlice).
Go does the same work in both (y = 2.5·x). Prints a table and the ratio of the
zero-copy round trip to the slice round trip; exits 1 if the ratio is not
under 1%, the bound gobg's design assumes.

Run with the project's environment after installing gobg:
    .venv/bin/python pybridge/bench_zero_copy.py [--n 1000000] [--repeats 20]
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

# Python puts this script's folder first on sys.path, and that folder holds
# the source of the gobg package without its built extension: drop it, so
# that the installed gobg is imported.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]


def timed(fn, repeats):
    """Median wall time of fn() over repeats runs, in seconds."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="array length (float64 elements)")
    ap.add_argument("--repeats", type=int, default=20, help="runs of each fast path (median taken)")
    ap.add_argument("--slice-repeats", type=int, default=1, help="runs of the slow slice path")
    args = ap.parse_args()

    from gobg._core import _as_buffer, _call, core
    from gobg._gobg import go

    n = args.n
    x = np.random.default_rng(0).standard_normal(n)
    want = 2.5 * x
    y = np.empty_like(x)

    def zero_copy():
        src, dst = _as_buffer(x), _as_buffer(y, writable=True)
        _call(core.ScaleInto, src.addr, src.size, dst.addr, dst.size, 2.5)

    z = x.copy()

    def zero_copy_in_place():
        b = _as_buffer(z, writable=True)
        _call(core.ScaleInto, b.addr, b.size, b.addr, b.size, 1.0)

    def numpy_only():
        np.multiply(x, 2.5, out=y)

    parts = {"to Go": [], "Go call": [], "back": []}
    result = None

    def slices():
        nonlocal result
        t0 = time.perf_counter()
        s = go.Slice_float64(x)
        t1 = time.perf_counter()
        r = core.ScaleSlice(s, 2.5)
        t2 = time.perf_counter()
        result = np.fromiter(r, np.float64, n)
        t3 = time.perf_counter()
        for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[k].append(v)

    t_zero = timed(zero_copy, args.repeats)
    if not np.array_equal(y, want):
        sys.exit("zero-copy path gave a wrong result")
    t_inplace = timed(zero_copy_in_place, args.repeats)
    t_numpy = timed(numpy_only, args.repeats)
    t_slice = timed(slices, args.slice_repeats)
    if not np.array_equal(result, want):
        sys.exit("slice path gave a wrong result")

    rows = [
        ("numpy alone (np.multiply, out=)", t_numpy),
        ("zero-copy: address+length, into output buffer", t_zero),
        ("zero-copy: address+length, in place", t_inplace),
        ("gopy slices: numpy -> go.Slice_float64", statistics.median(parts["to Go"])),
        ("gopy slices: ScaleSlice call", statistics.median(parts["Go call"])),
        ("gopy slices: result -> numpy", statistics.median(parts["back"])),
        ("gopy slices: round trip", t_slice),
    ]
    print(f"n = {n} float64 ({n * 8 / 1e6:.0f} MB), y = 2.5*x; medians of {args.repeats} "
          f"(slice path: {args.slice_repeats}) runs")
    print(f"| {'path':<48} | {'time (ms)':>10} | {'ns/element':>10} |")
    print(f"|{'-' * 50}|{'-' * 12}|{'-' * 12}|")
    for name, t in rows:
        print(f"| {name:<48} | {t * 1e3:>10.3f} | {t / n * 1e9:>10.2f} |")
    ratio = t_zero / t_slice
    ok = ratio < 0.01
    print(f"\nzero-copy / slice round trip = {ratio:.5f} ({ratio * 100:.3f}%, bound 1%): {'OK' if ok else 'OVER THE BOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
