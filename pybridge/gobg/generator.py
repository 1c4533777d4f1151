"""Trained Boltzmann generators: sampling and densities of structures."""

import io
import json
import os

import numpy as np

from ._core import GobgError, _as_buffer, _call, core
from .pdb import Structure


class Generator:
    """A Boltzmann generator trained by gobg (a model file from `gobg train`).

    Positions are numpy arrays [n, n_atoms, 3] in nm. log q(x) is the
    generator's log-density of a structure's internal coordinates per
    Cartesian volume of its non-rigid degrees of freedom: it does not change
    when a structure is rotated or translated, like exp(-U(x)/kT), so
    exp(-U(x)/kT) / q(x) is an importance weight and q(x)/q(x') the proposal
    ratio of a Metropolis-Hastings move.

    Attributes:
        path: the model file.
        topology: openmm.app.Topology of the molecule.
        structure: gobg.Structure of the topology (positions: the structure
            built from the mean internal coordinates of the training data).
        n_atoms, n_free: atoms, and coordinates the flow models.
        mode: "full" (bond lengths and angles free) or "reduced" (bond lengths
            and side-chain angles fixed at the training data's means).
        architecture: nsf, split-gau or split-mlp.
        temperature: the temperature in K the model was trained at (its
            samples are meant for that ensemble), as the model file records
            it; 300.0 for files from gobg versions that did not record it.
        temperature_recorded: whether the model file records it.
        backend: the GoMLX backend it computes on, e.g.
            "xla:/.../xla_cpu_pjrt.so" (XLA's CPU plugin) or "go:ops_sequential".
        defensive: None, or the defensive mixture set by set_defensive.
        symmetrized: None, or the relabelling average set by set_symmetrize.
    """

    def __init__(self, path, backend="", batch=0):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory", path)
        self.path = path
        self._g = _call(core.LoadGenerator, path, backend, int(batch))
        self.n_atoms = self._g.NumAtoms()
        self.n_free = self._g.NumFree()
        self.mode = self._g.Mode()
        self.architecture = self._g.Architecture()
        self.backend = self._g.Backend()
        self.n_params = self._g.NumParams()
        self.temperature = float(self._g.Temperature())
        self.temperature_recorded = bool(self._g.TemperatureRecorded())
        self.structure = Structure._from_core(_call(self._g.Structure), path)
        self.topology = self.structure.topology
        self.defensive = None
        self.symmetrized = None

    def sample(self, n, seed=None):
        """Draws n structures: returns (positions [n, n_atoms, 3] in nm,
        log q [n]). The same seed gives the same structures; seed None draws
        one from numpy's global generator."""
        n = int(n)
        if n < 0:
            raise ValueError(f"n = {n}: want n >= 0")
        if seed is None:
            seed = int(np.random.randint(0, 2**62))
        x = np.empty((n, self.n_atoms, 3))
        lq = np.empty(n)
        if n == 0:
            return x, lq
        xb, lb = _as_buffer(x, writable=True, name="positions"), _as_buffer(lq, writable=True, name="log q")
        _call(self._g.SampleInto, n, int(seed), xb.addr, xb.size, lb.addr, lb.size)
        return x, lq

    def log_prob(self, positions, topology=None):
        """log q(x) of structures [n, n_atoms, 3] (nm; numpy or an OpenMM
        Quantity); one structure [n_atoms, 3] gives a float.

        Without topology the atoms must be in the generator's order (that of
        self.topology). With topology, an openmm.app.Topology of the same
        molecule whose atoms may be named and ordered otherwise (PDBFixer,
        CHARMM-GUI, mdtraj, ...), the positions are in its order and are
        paired with the generator's atoms by identity (see atom_order; the
        first structure decides the pairing of hydrogen groups)."""
        x = _positions_nm(positions)
        single = x.ndim == 2
        if single:
            x = x[None]
        if topology is not None and x.ndim == 3 and x.shape[0] > 0:
            x = np.ascontiguousarray(x[:, self.atom_order(topology, x[0])])
        if x.ndim != 3 or x.shape[1:] != (self.n_atoms, 3):
            raise ValueError(f"positions: shape {x.shape}, want (n, {self.n_atoms}, 3)")
        out = np.empty(x.shape[0])
        if x.shape[0] == 0:
            return out
        xb, ob = _as_buffer(x, name="positions"), _as_buffer(out, writable=True, name="log q")
        _call(self._g.LogProbInto, x.shape[0], xb.addr, xb.size, ob.addr, ob.size)
        return float(out[0]) if single else out

    def atom_order(self, topology, positions=None):
        """Pairs the atoms of topology (an openmm.app.Topology of the
        generator's molecule, atoms in any order and naming convention) with
        the generator's and returns, for each of the generator's atoms, its
        index in topology: x[..., order, :] puts structures of topology into
        the generator's atom order.

        Atoms are paired by identity, as `gobg eval` pairs a trajectory with
        a model: chains in order, residues by position in their chain
        (HID/HIE/HIP are HIS, NALA is ALA, ...), atoms by name across the PDB
        v3, Amber and CHARMM conventions (HH31 or H1, HN or H, OT1 or O,
        HB1/HB2 or HB2/HB3, ...). The hydrogens of a methyl, NH3+ or
        methylene group are paired by their handedness in positions (one
        structure of topology, nm or a Quantity): the energy is the same
        under any relabelling of a methyl's hydrogens, the generator's
        density is not, since it learned one handedness. Without positions
        they are paired by name. Raises GobgError naming the first atom
        that does not pair, and the atoms missing and extra."""
        from openmm import app

        atoms = topology.getNumAtoms()
        if positions is None:
            x = np.zeros((atoms, 3))
        else:
            x = _positions_nm(positions)
        if x.shape != (atoms, 3):
            raise ValueError(f"positions: shape {x.shape}, want ({atoms}, 3) for the topology's atoms")
        text = io.StringIO()
        app.PDBFile.writeFile(topology, x * 10, text)
        order = np.empty(self.n_atoms, np.int64)
        ob = _as_buffer(order, np.int64, writable=True, name="atom order")
        _call(self._g.MatchPDBInto, text.getvalue(), "the OpenMM topology", ob.addr, ob.size)
        return order

    def set_defensive(self, fraction, widen=2.0, dims="backbone-torsions"):
        """Makes the generator a defensive mixture: a fraction of the samples
        comes from the flow with a base `widen` times wider (von Mises
        concentrations divided by widen**2) in the dimensions `dims` names
        ("all", "torsions": the periodic ones, "backbone-torsions": phi and
        psi). sample and log_prob then give the mixture's log-density, so
        importance weights and Metropolis-Hastings ratios stay exact; the
        widened part bounds the weights of structures in the flow's thin
        tails. fraction 0 restores the flow."""
        _call(self._g.SetDefensive, float(fraction), float(widen), str(dims))
        self.defensive = None if fraction == 0 else {"fraction": float(fraction), "widen": float(widen), "dims": str(dims)}

    def set_symmetrize(self, max_images=64):
        """Averages the density over cyclic relabellings of the hydrogens of
        methyl and NH3+ groups, as many groups as fit in max_images relabellings (alanine
        dipeptide's three methyls: 27); 0 turns it off. The Boltzmann density
        is unchanged by these relabellings, so the averaged density is an exact
        proposal at least as close to it; sample relabels each structure at
        random, and sample and log_prob give the averaged log-density, at
        max_images passes of the inverse flow each. Full-mode models only.
        Returns {"images", "groups", "skipped_groups"}."""
        info = json.loads(_call(self._g.SetSymmetrize, int(max_images)))
        self.symmetrized = info if info["images"] > 1 else None
        return info

    def temperature_warning(self, temperature):
        """"" when working at `temperature` (K) suits the model, otherwise
        one line saying why not: the model was trained at another
        temperature, or its file does not record one (300 K assumed)."""
        return self._g.TemperatureWarning(float(temperature))

    def close(self):
        """Releases the compiled graphs (also done when garbage collected)."""
        if getattr(self, "_g", None) is not None:
            self._g.Close()

    def __repr__(self):
        return (f"<gobg.Generator {self.path!r}: {self.architecture}, {self.mode} coordinates, "
                f"{self.n_atoms} atoms, {self.n_free} free coordinates, {self.n_params} parameters>")


def load(path, backend="", batch=0):
    """Loads a model file written by `gobg train` (or gobg.train).

    backend selects GoMLX's backend: "" for the default ($GOMLX_BACKEND, else
    the PJRT plugin in $GOBG_PJRT_PLUGIN, else XLA's CPU plugin installed in this
    environment, else the pure-Go "go:ops_sequential"), or "xla:/abs/plugin.so"
    (a CUDA plugin on a GPU machine, say). batch is the size of the compiled
    sampling graph (0: 256)."""
    return Generator(path, backend=backend, batch=batch)


def train(config, energy=None, resume=False):
    """Trains a Boltzmann generator from a configuration file (the file
    `gobg train --config` reads; `gobg train --print-config` prints a
    documented default) and returns the summary as a dict; the model is
    written to the configuration's output directory as model.gobg.

    energy, if given, replaces the configuration's energy provider for the
    stages with a KL term: a gobg.PythonEnergy, a callable
    fn(positions [batch, n_atoms, 3] nm, forces: bool) -> energies [batch]
    kJ/mol or (energies, forces [batch, n_atoms, 3] kJ/mol/nm), or an
    openmm.Context (see gobg.openmm.ContextEnergy). Progress goes to stderr.
    """
    from .energy import PythonEnergy

    config = os.fspath(config)
    if not os.path.exists(config):
        raise FileNotFoundError(2, "No such file or directory", config)
    pe = None
    if energy is not None:
        if isinstance(energy, PythonEnergy):
            pe = energy
        elif _is_context(energy):
            from .openmm import ContextEnergy
            pe = ContextEnergy(energy)
        elif callable(energy):
            n_atoms = _config_atoms(config)
            pe = PythonEnergy(n_atoms, energy)
        else:
            raise TypeError(f"energy: want a gobg.PythonEnergy, a callable or an openmm.Context, got {type(energy).__name__}")
    if pe is not None:
        pe._error = None
    try:
        if pe is None:
            out = _call(core.Train, config, bool(resume))
        else:
            out = _call(core.TrainWithEnergy, config, pe._core, bool(resume))
    except GobgError:
        err = pe._error if pe is not None else None
        if err is not None:
            pe._error = None
            raise err from None
        raise
    return json.loads(out)


def _is_context(obj):
    try:
        import openmm
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, openmm.Context)


def _config_atoms(config):
    """The number of atoms of a configuration's topology (for wrapping a
    plain callable)."""
    from .pdb import read_pdb

    text = open(config, encoding="utf-8").read()
    cfg = json.loads(_strip_comments(text))
    top = cfg.get("data", {}).get("topology", "")
    if not top:
        raise GobgError(f"{config}: data.topology is empty")
    if not os.path.isabs(top):
        top = os.path.join(os.path.dirname(os.path.abspath(config)), top)
    return read_pdb(top).n_atoms


def _strip_comments(text):
    """Drops // comments outside strings (the configuration format allows
    them)."""
    out, i, in_str = [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _positions_nm(positions):
    """numpy float64 positions in nm from an array or an OpenMM Quantity."""
    try:
        from openmm import unit
        if unit.is_quantity(positions):
            positions = positions.value_in_unit(unit.nanometer)
    except ImportError:  # pragma: no cover
        pass
    return np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
