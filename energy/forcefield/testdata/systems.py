"""Serialized OpenMM Systems for gobg's forcefield tests.

usage: systems.py PDB OUTDIR

Writes to OUTDIR:
  amber.xml    amber99sbildn + amber99_obc, NoCutoff, HBonds constraints, the
               torsions in force group 3
  amber.json   every parameter of that System as OpenMM reads it back from
               amber.xml (XmlSerializer.deserialize), so the numbers are the
               ones the file holds
  <case>.xml   variants that gobg must refuse (see CASES below)
"""
import json
import os
import sys

import openmm
import openmm.app as app
import openmm.unit as unit

pdb_path, out = sys.argv[1], sys.argv[2]
pdb = app.PDBFile(pdb_path)
ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")


def build():
    return ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)


def force(system, cls):
    return next(f for f in system.getForces() if isinstance(f, cls))


def write(name, system):
    with open(os.path.join(out, name + ".xml"), "w") as fh:
        fh.write(openmm.XmlSerializer.serialize(system))


def v(q):
    """A plain float from a Quantity (in OpenMM's default units) or a number."""
    return q.value_in_unit_system(unit.md_unit_system) if unit.is_quantity(q) else q


system = build()
force(system, openmm.PeriodicTorsionForce).setForceGroup(3)
write("amber", system)

s = openmm.XmlSerializer.deserialize(open(os.path.join(out, "amber.xml")).read())
dump = {
    "masses": [v(s.getParticleMass(i)) for i in range(s.getNumParticles())],
    "constraints": [[a, b, v(d)] for a, b, d in (s.getConstraintParameters(i) for i in range(s.getNumConstraints()))],
    "forces": [[f.__class__.__name__, f.getName(), f.getForceGroup()] for f in s.getForces()],
}
for f in s.getForces():
    if isinstance(f, openmm.HarmonicBondForce):
        dump["bonds"] = [[a, b, v(d), v(k)] for a, b, d, k in (f.getBondParameters(i) for i in range(f.getNumBonds()))]
    elif isinstance(f, openmm.HarmonicAngleForce):
        dump["angles"] = [[a, b, c, v(t), v(k)] for a, b, c, t, k in (f.getAngleParameters(i) for i in range(f.getNumAngles()))]
    elif isinstance(f, openmm.PeriodicTorsionForce):
        dump["torsions"] = [[a, b, c, d, n, v(p), v(k)] for a, b, c, d, n, p, k in (f.getTorsionParameters(i) for i in range(f.getNumTorsions()))]
    elif isinstance(f, openmm.NonbondedForce):
        dump["nonbonded_particles"] = [[v(q), v(sg), v(e)] for q, sg, e in (f.getParticleParameters(i) for i in range(f.getNumParticles()))]
        dump["exceptions"] = [[a, b, v(q), v(sg), v(e)] for a, b, q, sg, e in (f.getExceptionParameters(i) for i in range(f.getNumExceptions()))]
    elif isinstance(f, openmm.GBSAOBCForce):
        dump["gb_particles"] = [[v(q), v(r), v(sc)] for q, r, sc in (f.getParticleParameters(i) for i in range(f.getNumParticles()))]
        dump["gb"] = [f.getSolventDielectric(), f.getSoluteDielectric(), v(f.getSurfaceAreaEnergy())]
with open(os.path.join(out, "amber.json"), "w") as fh:
    json.dump(dump, fh)

# Systems gobg must refuse, each with one change.
s = build()
force(s, openmm.NonbondedForce).setNonbondedMethod(openmm.NonbondedForce.PME)
write("pme", s)

s = build()
force(s, openmm.GBSAOBCForce).setNonbondedMethod(openmm.GBSAOBCForce.CutoffNonPeriodic)
write("gbcutoff", s)

s = build()
s.addForce(openmm.CustomBondForce("r^2"))
write("custombond", s)

s = build()
s.setVirtualSite(2, openmm.TwoParticleAverageSite(0, 1, 0.5, 0.5))
write("vsite", s)

s = build()
nb = force(s, openmm.NonbondedForce)
nb.addGlobalParameter("lambda", 1.0)
nb.addParticleParameterOffset("lambda", 0, 0.1, 0.0, 0.0)
write("offsets", s)

s = build()
force(s, openmm.HarmonicBondForce).setUsesPeriodicBoundaryConditions(True)
write("periodicbond", s)
