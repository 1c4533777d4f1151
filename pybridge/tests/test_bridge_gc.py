"""Importing gobg must not slow down Python's garbage collector: gopy's
generated modules run a full Go GC after every Python collection; gobg keeps
one only after full (generation 2) collections."""

import gc
import time


def test_no_go_gc_on_young_collections(gobg):
    gopy = [cb for cb in gc.callbacks if getattr(cb, "__name__", "") == "_gopy_gc_cb"]
    assert gopy == []
    ours = [cb for cb in gc.callbacks if getattr(cb, "__module__", "").startswith("gobg.")]
    assert len(ours) == 1

    # A synchronous Go GC costs about a millisecond or more: 1000 young
    # collections with one each would take over a second.
    t0 = time.perf_counter()
    for _ in range(1000):
        gc.collect(0)
    assert time.perf_counter() - t0 < 0.3
    gc.collect()  # a full collection, with its Go GC, still works
