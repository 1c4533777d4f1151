"""Reference energies and forces for gobg's native energy tests.

Builds the amber99sbildn + amber99_obc System (NoCutoff, no constraints) for a
topology, serializes it, picks frames of a trajectory and evaluates them with
OpenMM's Reference platform (double precision), force group by force group.

usage: reference.py TOP.pdb TRAJ.dcd NFRAMES OUTDIR [random-phases]

Writes to OUTDIR:
  system.xml    the serialized System
  pos.bin       float64 [F, N, 3] positions in nm
  energies.bin  float64 [F, G+1]: the energy of each group, then the total
  forces.bin    float64 [F, G+1, N, 3]
  shape.txt     the number of frames and atoms (stdout is not used: mdtraj's
                DCD plugin prints there)
"""
import os
import sys

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit

GROUPS = ["HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce",
          "NonbondedForce", "GBSAOBCForce"]

top, traj, nframes, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
random_phases = len(sys.argv) > 5 and sys.argv[5] == "random-phases"

pdb = app.PDBFile(top)
ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
for f in system.getForces():
    name = f.__class__.__name__
    f.setForceGroup(GROUPS.index(name) if name in GROUPS else len(GROUPS))
    if random_phases and isinstance(f, openmm.PeriodicTorsionForce):
        # Amber's phases are 0 or pi, where the sign of the dihedral does not
        # matter; arbitrary phases test the sign convention.
        rng = np.random.default_rng(7)
        for k in range(f.getNumTorsions()):
            a, b, c, d, n, phase, kk = f.getTorsionParameters(k)
            f.setTorsionParameters(k, a, b, c, d, n, rng.uniform(0, 2 * np.pi), kk)

with open(os.path.join(out, "system.xml"), "w") as fh:
    fh.write(openmm.XmlSerializer.serialize(system))

t = mdtraj.load(traj, top=top)
idx = np.linspace(0, t.n_frames - 1, nframes).round().astype(int)
pos = t.xyz[idx].astype(np.float64)
n = pos.shape[1]

ctx = openmm.Context(system, openmm.VerletIntegrator(0.001),
                     openmm.Platform.getPlatformByName("Reference"))
kjmol = unit.kilojoule_per_mole
kjmolnm = kjmol / unit.nanometer
energies = np.zeros((len(idx), len(GROUPS) + 1))
forces = np.zeros((len(idx), len(GROUPS) + 1, n, 3))
for k, x in enumerate(pos):
    ctx.setPositions(x)
    for g in range(len(GROUPS) + 1):
        groups = {g} if g < len(GROUPS) else set(range(len(GROUPS) + 1))
        st = ctx.getState(getEnergy=True, getForces=True, groups=groups)
        energies[k, g] = st.getPotentialEnergy().value_in_unit(kjmol)
        forces[k, g] = st.getForces(asNumpy=True).value_in_unit(kjmolnm)

pos.tofile(os.path.join(out, "pos.bin"))
energies.tofile(os.path.join(out, "energies.bin"))
forces.tofile(os.path.join(out, "forces.bin"))
with open(os.path.join(out, "shape.txt"), "w") as fh:
    fh.write(f"{len(idx)} {n}\n")
