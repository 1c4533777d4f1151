"""DCD trajectories (OpenMM's CHARMM flavour) read and written by gobg."""

import os
import threading

import numpy as np

from ._core import GobgError, _as_buffer, _call, _strip_unit, core


class DCDReader:
    """Reads the frames of a DCD file into numpy arrays.

    Iterating yields one new array [n_atoms, 3] of positions (nm) per frame,
    from the current frame to the last. Use as a context manager, or call
    close().

    Attributes: n_atoms, n_frames (complete frames in the file), timestep
    (ps), first_step and interval (MD steps), has_unit_cell.

    gobg's Go calls release the GIL, and Go's reader is not safe for
    concurrent use: a lock serialises the calls of threads sharing a reader.
    """

    def __init__(self, path):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory", path)
        self.path = path
        self._lock = threading.Lock()
        self._r = _call(core.OpenDCD, path)
        self.n_atoms = self._r.NumAtoms()
        self.n_frames = self._r.NumFrames()
        self.timestep = self._r.Timestep()
        self.first_step = self._r.FirstStep()
        self.interval = self._r.Interval()
        self.has_unit_cell = self._r.HasUnitCell()

    def __len__(self):
        return self.n_frames

    def __iter__(self):
        while True:
            x = self.read_frame()
            if x is None:
                return
            yield x

    def seek(self, k):
        """Makes the next read return frame k (0 <= k <= n_frames)."""
        with self._lock:
            self._check_open()
            _call(self._r.Seek, int(k))

    def read_frame(self, out=None, box=None):
        """Reads the next frame; returns its positions [n_atoms, 3] in nm, or
        None after the last frame.

        out: a float64 C-contiguous array [n_atoms, 3] to fill instead of a new
        one. box: a float64 array [3, 3] to fill with the frame's box vectors
        (nm, one per row); the file must have a unit cell.
        """
        if out is None:
            out = np.empty((self.n_atoms, 3))
        pb = _as_buffer(out, writable=True, shape=(self.n_atoms, 3), name="out")
        bb = _as_buffer(box, writable=True, shape=(3, 3), name="box") if box is not None else None
        with self._lock:
            self._check_open()
            more = _call(self._r.NextInto, pb.addr, pb.size, bb.addr if bb else 0, bb.size if bb else 0)
        return out if more else None

    def read(self, with_boxes=False):
        """Reads the remaining frames into one array [frames, n_atoms, 3] (nm);
        with with_boxes, returns (positions, boxes [frames, 3, 3])."""
        self._check_open()
        frames = []
        boxes = []
        while True:
            x = np.empty((self.n_atoms, 3))
            b = np.empty((3, 3)) if with_boxes else None
            if self.read_frame(x, b) is None:
                break
            frames.append(x)
            boxes.append(b)
        pos = np.stack(frames) if frames else np.empty((0, self.n_atoms, 3))
        if with_boxes:
            return pos, (np.stack(boxes) if boxes else np.empty((0, 3, 3)))
        return pos

    def close(self):
        with self._lock:
            if self._r is not None:
                r, self._r = self._r, None
                _call(r.Close)

    def _check_open(self):
        if self._r is None:
            raise ValueError(f"{self.path}: DCD reader is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<gobg.DCDReader {self.path!r}: {self.n_frames} frames of {self.n_atoms} atoms>"


class DCDWriter:
    """Writes frames to a DCD file in OpenMM's flavour.

    A new file is written beside its path and renamed into place by close()
    (a context manager closes it), so the path never holds a half-written
    file. With append=True an existing file is extended in place, keeping its
    header (atom count, unit cell, steps); n_atoms and the header options are
    then ignored.

    timestep is the MD time step in ps, first_step and interval number the
    frames' MD steps, unit_cell makes every frame carry a box, title is the
    first title line (at most 80 bytes).
    """

    def __init__(self, path, n_atoms=None, *, timestep=0.0, first_step=0, interval=1,
                 unit_cell=False, title="", append=False):
        path = os.fspath(path)
        self.path = path
        self._lock = threading.Lock()
        if append:
            self._w = _call(core.AppendDCD, path)
        else:
            if n_atoms is None:
                raise TypeError("DCDWriter: n_atoms is required for a new file")
            self._w = _call(core.CreateDCD, path, int(n_atoms), int(first_step), int(interval),
                            float(timestep), bool(unit_cell), str(title))
        self.n_atoms = self._w.NumAtoms()

    @property
    def n_frames(self):
        """Frames in the file so far."""
        with self._lock:
            self._check_open()
            return self._w.NumFrames()

    def write(self, positions, box=None):
        """Appends one frame [n_atoms, 3] or several [frames, n_atoms, 3]
        (nm, or an OpenMM Quantity), with box vectors [3, 3] or [frames, 3, 3]
        (nm) when the file has a unit cell."""
        self._check_open()
        pb = _as_buffer(positions, name="positions")
        if pb.array.ndim == 2:
            pb = _as_buffer(pb.array[None], name="positions")
        if pb.array.ndim != 3 or pb.array.shape[1:] != (self.n_atoms, 3):
            raise ValueError(f"positions: shape {pb.array.shape}, want ({self.n_atoms}, 3) or (frames, {self.n_atoms}, 3)")
        bb = None
        if box is not None:
            bb = _as_buffer(box, name="box")
            if bb.array.ndim == 2:
                bb = _as_buffer(bb.array[None], name="box")
            if bb.array.shape != (pb.array.shape[0], 3, 3):
                raise ValueError(f"box: shape {bb.array.shape}, want (3, 3) or ({pb.array.shape[0]}, 3, 3)")
        with self._lock:
            self._check_open()
            _call(self._w.Write, pb.addr, pb.size, bb.addr if bb else 0, bb.size if bb else 0)

    def close(self):
        with self._lock:
            if self._w is not None:
                w, self._w = self._w, None
                _call(w.Close)

    def _check_open(self):
        if self._w is None:
            raise ValueError(f"{self.path}: DCD writer is closed")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close()

    def __del__(self):
        # Like a Python file object: an unclosed writer is closed (and its file
        # renamed into place) when it is collected.
        try:
            self.close()
        except Exception:
            pass


def write_dcd(path, frames, boxes=None, *, timestep=0.0, first_step=0, interval=1, title="",
              append=False):
    """Writes frames to a DCD file (or appends them with append=True).

    frames: positions in nm, [frames, n_atoms, 3] or one frame [n_atoms, 3],
    an OpenMM Quantity, or an iterable of frames [n_atoms, 3]. boxes: periodic
    box vectors in nm, [frames, 3, 3] (or [3, 3] for one frame), None for no
    unit cell. The other options are DCDWriter's. Returns the number of frames
    in the file.
    """
    frames = _strip_unit(frames)
    if not isinstance(frames, np.ndarray):
        frames = [np.asarray(_strip_unit(f), dtype=np.float64) for f in frames]
        if not frames:
            raise ValueError("write_dcd: no frames")
        frames = np.stack(frames)
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or frames.shape[2] != 3:
        raise ValueError(f"write_dcd: frames of shape {frames.shape}, want (frames, n_atoms, 3)")
    w = DCDWriter(path, frames.shape[1], timestep=timestep, first_step=first_step,
                  interval=interval, unit_cell=boxes is not None, title=title, append=append)
    try:
        if append and w.n_atoms != frames.shape[1]:
            raise GobgError(f"{path} has {w.n_atoms} atoms, the frames have {frames.shape[1]}")
        w.write(frames, boxes)
        n = w.n_frames
    except BaseException:
        # A new file is all or nothing: close it (which renames it into
        # place) and remove it. Appended frames before a bad one stay.
        w.close()
        if not append:
            os.remove(path)
        raise
    w.close()
    return n
