"""PDB files read by gobg, as OpenMM objects."""

import os

import numpy as np

from ._core import GobgError, _as_buffer, _call, _lines, core


class Structure:
    """A PDB file as gobg reads it.

    Attributes:
        topology: openmm.app.Topology with chains, residues, atoms (with
            elements) and bonds: gobg's residue-template bonds (the same rules
            as OpenMM's PDBFile) and the file's CONECT records.
        positions: numpy array [n_atoms, 3] of the first model's positions, nm.
        models: numpy array [n_models, n_atoms, 3] of every model's positions, nm.
        box: numpy array [3, 3] of periodic box vectors (nm, one per row), or
            None without a CRYST1 record. Also set on the topology.
        bonds: numpy int64 array [n_bonds, 2] of bonded atom indices, i < j.
        warnings: what gobg could not do from templates (list of str).
        path: the file read.
    """

    def __init__(self, path):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory", path)
        self._fill(_call(core.ReadPDB, path), path)

    @classmethod
    def _from_core(cls, s, path):
        """A Structure from a gobgcore.Structure that Go built (a model's
        topology, for example)."""
        self = cls.__new__(cls)
        self._fill(s, path)
        return self

    def _fill(self, s, path):
        self.path = path
        n, nres, nchain, nbond = s.NumAtoms(), s.NumResidues(), s.NumChains(), s.NumBonds()

        self.models = np.empty((s.NumModels(), n, 3))
        for k in range(self.models.shape[0]):
            buf = _as_buffer(self.models[k], writable=True, name="positions")
            _call(s.PositionsInto, k, buf.addr, buf.size)
        self.positions = self.models[0]
        self.box = None
        if s.HasBox():
            self.box = np.empty((3, 3))
            buf = _as_buffer(self.box, writable=True, name="box")
            _call(s.BoxInto, buf.addr, buf.size)
        self.warnings = [w for w in s.Warnings().split("\n") if w]

        atom_res = np.empty(n, np.int64)
        serial = np.empty(n, np.int64)
        rb, sb = (_as_buffer(a, np.int64, writable=True) for a in (atom_res, serial))
        _call(s.AtomTableInto, rb.addr, rb.size, sb.addr, sb.size)
        res_chain = np.empty(nres, np.int64)
        res_num = np.empty(nres, np.int64)
        res_het = np.empty(nres, np.int64)
        cb, nb, hb = (_as_buffer(a, np.int64, writable=True) for a in (res_chain, res_num, res_het))
        _call(s.ResidueTableInto, cb.addr, cb.size, nb.addr, nb.size, hb.addr, hb.size)
        bonds = np.empty((nbond, 2), np.int64)
        bb = _as_buffer(bonds, np.int64, writable=True)
        _call(s.BondsInto, bb.addr, bb.size)
        self.bonds = bonds

        self.topology = _topology(
            chain_ids=_lines(s.ChainIDs(), nchain, "chain IDs"),
            res_names=_lines(s.ResidueNames(), nres, "residue names"),
            res_icodes=_lines(s.ResidueInsertionCodes(), nres, "insertion codes"),
            res_chain=res_chain,
            res_num=res_num,
            atom_names=_lines(s.AtomNames(), n, "atom names"),
            atom_elements=_lines(s.AtomElements(), n, "atom elements"),
            atom_res=atom_res,
            serial=serial,
            bonds=bonds,
            box=self.box,
        )

    @property
    def n_atoms(self):
        return self.positions.shape[0]

    # The two accessors OpenMM scripts call on app.PDBFile, so that a
    # Structure can stand in for one.
    def getTopology(self):
        """The openmm.app.Topology (as app.PDBFile.getTopology)."""
        return self.topology

    def getPositions(self, asNumpy=False, frame=0):
        """Positions of one model as an OpenMM Quantity in nm (as
        app.PDBFile.getPositions): a list of Vec3, or a numpy array with
        asNumpy=True."""
        from openmm import Vec3, unit

        x = self.models[frame]
        if asNumpy:
            return unit.Quantity(x.copy(), unit.nanometer)
        return unit.Quantity([Vec3(*map(float, p)) for p in x], unit.nanometer)

    def __repr__(self):
        return (
            f"<gobg.Structure {self.path!r}: {self.topology.getNumChains()} chains, "
            f"{self.topology.getNumResidues()} residues, {self.n_atoms} atoms, "
            f"{len(self.bonds)} bonds, {self.models.shape[0]} models>"
        )


def read_pdb(path):
    """Reads a PDB file with gobg's reader; returns a Structure."""
    return Structure(path)


def _topology(chain_ids, res_names, res_icodes, res_chain, res_num, atom_names, atom_elements,
              atom_res, serial, bonds, box):
    """Builds an openmm.app.Topology from gobg's tables, with the ids that
    app.PDBFile gives (residue number and atom serial as strings)."""
    from openmm import Vec3, app, unit

    top = app.Topology()
    chains = [top.addChain(id=cid) for cid in chain_ids]
    # A blank insertion code is " " in app.PDBFile's topologies.
    residues = [
        top.addResidue(name, chains[c], id=str(num), insertionCode=icode or " ")
        for name, c, num, icode in zip(res_names, res_chain.tolist(), res_num.tolist(), res_icodes)
    ]
    atoms = []
    for name, sym, r, ser in zip(atom_names, atom_elements, atom_res.tolist(), serial.tolist()):
        el = None
        if sym:
            try:
                el = app.element.get_by_symbol(sym)
            except KeyError:
                raise GobgError(f"element {sym!r} of atom {name!r} is unknown to OpenMM") from None
        atoms.append(top.addAtom(name, el, residues[r], id=str(ser)))
    for i, j in bonds.tolist():
        top.addBond(atoms[i], atoms[j])
    if box is not None:
        top.setPeriodicBoxVectors([Vec3(*map(float, v)) for v in box] * unit.nanometer)
    return top
