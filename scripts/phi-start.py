"""Write a starting structure with a chosen backbone phi for unbiased MD.

Alanine dipeptide's phi > 0 basins (alpha-L, C7ax) hold a few percent of the
Boltzmann mass in amber99sbildn/OBC at 300 K, but plain MD started in C7eq
does not reach them in tens of nanoseconds, so a flow trained on that MD
never learns them. This script pulls phi (of the first residue with one) to
--phi with a harmonic torsion restraint, minimises and equilibrates briefly
under the restraint, and writes the restrained structure as a PDB; `gobg
simulate --pdb OUT` then runs ordinary, unbiased MD from it.

Example:
  .venv/bin/python scripts/phi-start.py --pdb out/ala2-long/md/top.pdb --phi 60 --out out/ala2-alphaL/start.pdb
"""
import argparse
import math
import os
import sys
import tempfile

import openmm
import openmm.app as app
import openmm.unit as u


def phi_atoms(topology):
    """Indices of C(i-1), N, CA, C of the first residue that has a phi."""
    res = list(topology.residues())
    for prev, cur in zip(res, res[1:]):
        names = {a.name: a.index for a in cur.atoms()}
        pc = {a.name: a.index for a in prev.atoms()}
        if "C" in pc and all(k in names for k in ("N", "CA", "C")):
            return pc["C"], names["N"], names["CA"], names["C"]
    raise SystemExit("phi-start: no residue with a backbone phi (C-N-CA-C) in the topology")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdb", required=True)
    ap.add_argument("--phi", type=float, required=True, help="target phi in degrees")
    ap.add_argument("--out", required=True)
    ap.add_argument("--k", type=float, default=1000.0, help="restraint constant, kJ/mol/rad^2")
    ap.add_argument("--ps", type=float, default=20.0, help="restrained MD before writing, ps")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    try:
        pdb = app.PDBFile(a.pdb)
        ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
        system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    except Exception as exc:  # OpenMM raises plain Exceptions for bad PDBs and unknown residues
        raise SystemExit(f"phi-start: {a.pdb}: {exc}")
    idx = phi_atoms(pdb.topology)
    restraint = openmm.CustomTorsionForce("0.5*k*min(dt, 2*pi-dt)^2; dt=abs(theta-theta0); pi=3.141592653589793")
    restraint.addPerTorsionParameter("k")
    restraint.addPerTorsionParameter("theta0")
    restraint.addTorsion(*idx, [a.k, math.radians(a.phi)])
    system.addForce(restraint)
    integ = openmm.LangevinMiddleIntegrator(300 * u.kelvin, 1 / u.picosecond, 0.001 * u.picoseconds)
    integ.setRandomNumberSeed(a.seed)
    sim = app.Simulation(pdb.topology, system, integ, openmm.Platform.getPlatformByName("CPU"))
    sim.context.setPositions(pdb.positions)
    sim.minimizeEnergy()
    sim.context.setVelocitiesToTemperature(300 * u.kelvin, a.seed)
    sim.step(int(a.ps / 0.001))
    state = sim.context.getState(getPositions=True)
    pos = state.getPositions()
    x = [pos[i].value_in_unit(u.nanometer) for i in idx]
    phi = math.degrees(_dihedral(*x))
    d = os.path.dirname(os.path.abspath(a.out))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".pdb")
    with os.fdopen(fd, "w") as f:
        app.PDBFile.writeFile(pdb.topology, pos, f)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: phi {phi:.1f} deg (target {a.phi:.1f})", file=sys.stderr)


def _dihedral(p0, p1, p2, p3):
    """IUPAC dihedral angle (radians) of four points."""
    def sub(a, b):
        return [a[i] - b[i] for i in range(3)]

    def cross(a, b):
        return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]

    def dot(a, b):
        return sum(a[i] * b[i] for i in range(3))

    b1, b2, b3 = sub(p1, p0), sub(p2, p1), sub(p3, p2)
    n1, n2 = cross(b1, b2), cross(b2, b3)
    return math.atan2(math.sqrt(dot(b2, b2)) * dot(b1, n2), dot(n1, n2))


if __name__ == "__main__":
    main()
