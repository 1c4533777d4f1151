"""Potential energies written in Python, for gobg's Go side."""

import numpy as np

from ._core import GobgError, _as_buffer, _call, _view, core


class PythonEnergy:
    """A potential energy function written in Python (for example with
    OpenMM), wrapped so that gobg's Go code can call it as one of its energy
    providers (energy.Energy in Go).

    fn(positions, forces) is called with positions, a new numpy array
    [batch, n_atoms, 3] in nm, and forces, a bool; it returns the energies
    [batch] in kJ/mol, or, when forces is true, (energies, forces) with forces
    [batch, n_atoms, 3] in kJ/mol/nm. A conformation without a finite energy
    may return NaN or inf for it.

    Go calls fn with its own (pinned) memory; this class copies the positions
    out and the results in, so fn may keep what it is given and returns.
    """

    def __init__(self, n_atoms, fn):
        self.n_atoms = int(n_atoms)
        self.fn = fn
        self._error = None
        # gopy keeps only a borrowed pointer to the callable: hold the bound
        # method for as long as the Go object may call it.
        self._callback_ref = self._callback
        self._core = _call(core.NewPythonEnergy, self.n_atoms, self._callback_ref)

    def _callback(self, pos_addr, batch, atoms, energies_addr, forces_addr):
        # Never raise: gopy cannot carry an exception back through Go. Keep
        # it and fail the batch; evaluate() re-raises it.
        try:
            want_forces = forces_addr != 0
            x = _view(pos_addr, batch * atoms * 3).reshape(batch, atoms, 3).copy()
            out = self.fn(x, want_forces)
            if want_forces:
                e, f = out
                f = np.asarray(f, dtype=np.float64)
                if f.shape != (batch, atoms, 3):
                    raise ValueError(f"energy function returned forces of shape {f.shape}, want {(batch, atoms, 3)}")
                _view(forces_addr, batch * atoms * 3)[:] = f.reshape(-1)
            else:
                e = out
            e = np.asarray(e, dtype=np.float64)
            if e.shape != (batch,):
                raise ValueError(f"energy function returned energies of shape {e.shape}, want ({batch},)")
            _view(energies_addr, batch)[:] = e
            return 0
        except BaseException as exc:  # noqa: BLE001 - re-raised by evaluate
            self._error = exc
            return 1

    def evaluate(self, positions, forces=False):
        """Evaluates a batch [batch, n_atoms, 3] (or one conformation
        [n_atoms, 3]) through Go, from a goroutine of its own as gobg's
        training does: returns energies [batch] (NaN where there is no finite
        energy) and, with forces=True, (energies, forces [batch, n_atoms, 3])."""
        pb = _as_buffer(positions, name="positions")
        if pb.array.ndim == 2:
            pb = _as_buffer(pb.array[None], name="positions")
        if pb.array.ndim != 3 or pb.array.shape[1:] != (self.n_atoms, 3):
            raise ValueError(f"positions: shape {pb.array.shape}, want (batch, {self.n_atoms}, 3)")
        batch = pb.array.shape[0]
        e = np.empty(batch)
        eb = _as_buffer(e, writable=True)
        f = np.empty((batch, self.n_atoms, 3)) if forces else None
        fb = _as_buffer(f, writable=True) if forces else None
        self._error = None
        try:
            _call(self._core.EvaluateInto, pb.addr, pb.size, eb.addr, eb.size,
                  fb.addr if fb else 0, fb.size if fb else 0)
        except GobgError:
            err, self._error = self._error, None
            if err is not None:
                raise err from None
            raise
        return (e, f) if forces else e
