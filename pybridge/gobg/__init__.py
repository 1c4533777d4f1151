"""gobg — Boltzmann generators for proteins, in Go — from Python.

Use gobg's Go code from an OpenMM script::

    import gobg
    pdb = gobg.read_pdb("protein.pdb")          # .topology is an openmm.app.Topology
    simulation.context.setPositions(pdb.positions)
    for x in gobg.DCDReader("traj.dcd"):        # numpy [n_atoms, 3] in nm per frame
        ...
    gobg.write_dcd("out.dcd", frames, timestep=0.002)

Positions are in nm, energies in kJ/mol, as in OpenMM. Arrays cross into Go
without copies: Go reads and writes the numpy buffers directly.
"""

from ._core import GobgError, _as_buffer, core as _core_module
from .dcd import DCDReader, DCDWriter, write_dcd
from .energy import PythonEnergy
from .pdb import Structure, read_pdb


def version():
    """gobg's version, as the Go code reports it."""
    return _core_module.Version()


__version__ = version()

__all__ = [
    "DCDReader",
    "DCDWriter",
    "GobgError",
    "PythonEnergy",
    "Structure",
    "read_pdb",
    "version",
    "write_dcd",
]
