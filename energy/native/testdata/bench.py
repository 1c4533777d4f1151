"""Conformations and an OpenMM CPU-platform timing for gobg's native benchmark.

usage: bench.py TOP.pdb TRAJ.dcd NFRAMES OUTDIR THREADS

Builds the amber99sbildn + amber99_obc System (NoCutoff, no constraints),
writes OUTDIR/system.xml, OUTDIR/pos.bin (float64 [F, N, 3], nm) and
OUTDIR/shape.txt ("F N"), then times energies and forces of the F frames on
OpenMM's CPU platform with THREADS threads (context.setPositions plus
getState(getEnergy, getForces), one Context, after one warm-up evaluation) and
writes the wall-clock and process CPU seconds to OUTDIR/openmm_seconds.txt.
CPU seconds (all threads) make the comparison meaningful on a machine that
other jobs share.
"""
import os
import sys
import time

import mdtraj
import numpy as np
import openmm
import openmm.app as app

top, traj, nframes, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
pdb = app.PDBFile(top)
ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
with open(os.path.join(out, "system.xml"), "w") as fh:
    fh.write(openmm.XmlSerializer.serialize(system))

t = mdtraj.load(traj, top=top)
idx = np.linspace(0, t.n_frames - 1, nframes).round().astype(int)
pos = t.xyz[idx].astype(np.float64)
pos.tofile(os.path.join(out, "pos.bin"))
with open(os.path.join(out, "shape.txt"), "w") as fh:
    fh.write(f"{pos.shape[0]} {pos.shape[1]}\n")

ctx = openmm.Context(system, openmm.VerletIntegrator(0.001),
                     openmm.Platform.getPlatformByName("CPU"), {"Threads": threads})
ctx.setPositions(pos[0])
ctx.getState(getEnergy=True, getForces=True)
t0, c0 = time.perf_counter(), time.process_time()
for x in pos:
    ctx.setPositions(x)
    st = ctx.getState(getEnergy=True, getForces=True)
    st.getPotentialEnergy()
    st.getForces(asNumpy=True)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
with open(os.path.join(out, "openmm_seconds.txt"), "w") as fh:
    fh.write(f"{wall} {cpu}\n")
