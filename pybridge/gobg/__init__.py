"""gobg — Boltzmann generators for proteins, in Go — from Python.

Use gobg's Go code from an OpenMM script::

    import gobg
    pdb = gobg.read_pdb("protein.pdb")          # .topology is an openmm.app.Topology
    simulation.context.setPositions(pdb.positions)
    for x in gobg.DCDReader("traj.dcd"):        # numpy [n_atoms, 3] in nm per frame
        ...
    gobg.write_dcd("out.dcd", frames, timestep=0.002)

    gen = gobg.load("model.gobg")               # a model trained by gobg
    x, logq = gen.sample(1000, seed=1)          # [1000, n_atoms, 3] nm, [1000]
    gen.log_prob(x)                             # log q(x)
    gobg.train("config.json", energy=context)   # KL stages with your Context

    import gobg.openmm                          # flow moves inside MD
    simulation.reporters.append(gobg.openmm.FlowMove(gen, every=50))

Positions are in nm, energies in kJ/mol, as in OpenMM. Arrays cross into Go
without copies: Go reads and writes the numpy buffers directly.
"""

from ._core import GobgError, _as_buffer, core as _core_module
from .dcd import DCDReader, DCDWriter, write_dcd
from .energy import PythonEnergy
from .generator import Generator, load, train
from .pdb import Structure, read_pdb


def version():
    """gobg's version, as the Go code reports it."""
    return _core_module.Version()


def default_backend():
    """The GoMLX backend that gobg.load and gobg.train use when given none:
    "xla:/.../xla_cpu_pjrt.so" when XLA's PJRT CPU plugin (the xla-cpu-pjrt
    package) is installed in this environment, else "go:ops_sequential"
    ($GOMLX_BACKEND and $GOBG_PJRT_PLUGIN override it; see docs/backends.md)."""
    from ._core import _call

    return _call(_core_module.DefaultBackend)


__version__ = version()

__all__ = [
    "DCDReader",
    "DCDWriter",
    "Generator",
    "GobgError",
    "PythonEnergy",
    "Structure",
    "load",
    "read_pdb",
    "default_backend",
    "train",
    "version",
    "write_dcd",
]
