package ic

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

const allTwenty = "ACDEFGHIKLMNPQRSTVWY"

func deg(d float64) float64 { return d * math.Pi / 180 }

// TestBuildGeometry: the built peptide has every bond at its Amber length,
// every Z-matrix angle at its Amber angle (except the proline ring, which
// must shrink to close), the requested phi/psi/omega, closed proline rings,
// no overlapping atoms, and it reads back through NewZMatrix.
func TestBuildGeometry(t *testing.T) {
	for _, tc := range []struct {
		seq      string
		caps     bool
		phi, psi float64
	}{
		{allTwenty, true, deg(-120), deg(130)},
		{strings.ReplaceAll(allTwenty, "P", ""), false, deg(-60), deg(-45)}, // proline clashes inside a helix
		{"GP", false, deg(-75), deg(150)},
		{"A", true, deg(-80), deg(80)},
	} {
		top, x, err := Build(tc.seq, tc.caps, tc.phi, tc.psi)
		if err != nil {
			t.Fatal(err)
		}
		z, err := NewZMatrix(top)
		if err != nil {
			t.Fatal(err)
		}
		ic := make([]float64, z.NumCoords())
		if err := z.Internal(x, ic); err != nil {
			t.Fatal(err)
		}
		for k, c := range z.Coords() {
			switch {
			case c.Torsion == Phi && top.Residues[c.Residue].Name != "PRO" || c.Torsion == Psi:
				want := tc.phi
				if c.Torsion == Psi {
					want = tc.psi
				}
				if d := math.Abs(wrapAngle(ic[k] - want)); d > 1e-9 {
					t.Errorf("%s: %s = %v, want %v", tc.seq, c.Name, ic[k], want)
				}
			case c.Torsion == Omega:
				if d := math.Abs(wrapAngle(ic[k] - math.Pi)); d > 1e-9 {
					t.Errorf("%s: %s = %v", tc.seq, c.Name, ic[k])
				}
			}
		}
		// Bonds (all of them, ring closures included) against the generated Amber table.
		cls := map[int]string{}
		for _, r := range top.Residues {
			tn := r.Name
			for _, cand := range []string{"N" + tn, "C" + tn, tn, "HIE", "NHIE", "CHIE"} {
				if res, ok := amberResidues[cand]; ok && len(res.atoms) == len(r.Atoms) {
					for i, a := range res.atoms {
						if r.Atoms[i].Name == a.name {
							cls[r.Atoms[i].Index] = a.class
						}
					}
					break
				}
			}
		}
		worst := 0.0
		for _, b := range top.Bonds {
			p := [2]string{cls[b.I], cls[b.J]}
			if p[1] < p[0] {
				p[0], p[1] = p[1], p[0]
			}
			r0, ok := amberBondLength[p]
			if !ok {
				t.Fatalf("no class for bond %d-%d", b.I, b.J)
			}
			d := math.Abs(Distance(x[b.I], x[b.J]) - r0)
			if e := z.Entries[z.Position(b.I)]; e.Bond != b.J && z.Entries[z.Position(b.J)].Bond != b.I {
				// A ring closure: Amber's angles and lengths need not close rings exactly.
				if d > 0.005 {
					t.Errorf("%s: ring closure %s %s-%s off by %g nm", tc.seq, top.Atoms[b.I].Residue, top.Atoms[b.I].Name,
						top.Atoms[b.J].Name, d)
				}
				continue
			}
			worst = math.Max(worst, d)
		}
		if worst > 1e-12 {
			t.Errorf("%s: a bond deviates from its Amber length by %g nm", tc.seq, worst)
		}
		// No two atoms closer than 0.15 nm unless bonded.
		nb := top.Neighbors()
		for i := range x {
			for j := i + 1; j < len(x); j++ {
				if Distance(x[i], x[j]) < 0.15 && !containsInt(nb[i], j) {
					t.Errorf("%s: atoms %s %s and %s %s are %g nm apart", tc.seq, top.Atoms[i].Residue, top.Atoms[i].Name,
						top.Atoms[j].Residue, top.Atoms[j].Name, Distance(x[i], x[j]))
				}
			}
		}
	}
	for _, bad := range []struct {
		seq  string
		caps bool
	}{{"", true}, {"AXA", true}, {"A", false}} {
		if _, _, err := Build(bad.seq, bad.caps, 0, 0); err == nil {
			t.Errorf("Build(%q, caps=%v) accepted", bad.seq, bad.caps)
		}
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// chirality is the sign of (N-CA) x (C-CA) . (CB-CA): a definition of the
// handedness at CA that uses no Z-matrix, compared between the builder and
// the reference structures; likewise at CB of ILE (CA, CG1, CG2) and THR
// (CA, OG1, CG2).
func chirality(top *molecule.Topology, x []Vec3, r *molecule.Residue, centre string, ref [3]string) (float64, bool) {
	c := r.AtomByName(centre)
	var p [3]*molecule.Atom
	for i, n := range ref {
		if p[i] = r.AtomByName(n); p[i] == nil {
			return 0, false
		}
	}
	if c == nil {
		return 0, false
	}
	o := x[c.Index]
	return math.Copysign(1, dot(cross(sub(x[p[0].Index], o), sub(x[p[1].Index], o)), sub(x[p[2].Index], o))), true
}

func TestBuildChirality(t *testing.T) {
	centres := []struct {
		res, centre string
		ref         [3]string
	}{
		{"*", "CA", [3]string{"N", "C", "CB"}},
		{"ILE", "CB", [3]string{"CA", "CG1", "CG2"}},
		{"THR", "CB", [3]string{"CA", "OG1", "CG2"}},
	}
	want := map[string]float64{}
	for _, name := range []string{"hp35", "protein_g"} {
		s := loadSystem(t, name, false)
		for _, r := range s.top.Residues {
			for _, c := range centres {
				if c.res != "*" && c.res != r.Name {
					continue
				}
				key := c.res + c.centre
				if v, ok := chirality(s.top, s.pdb, r, c.centre, c.ref); ok {
					if w, seen := want[key]; seen && w != v {
						t.Fatalf("reference structures disagree on chirality at %s %s", r, c.centre)
					}
					want[key] = v
				}
			}
		}
	}
	if len(want) != 3 {
		t.Fatalf("reference chiralities found: %v", want)
	}
	for _, caps := range []bool{true, false} {
		top, x, err := Build(allTwenty, caps, deg(-60), deg(-45))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range top.Residues {
			for _, c := range centres {
				if c.res != "*" && c.res != r.Name {
					continue
				}
				if v, ok := chirality(top, x, r, c.centre, c.ref); ok {
					n++
					if v != want[c.res+c.centre] {
						t.Errorf("%s: wrong handedness at %s", r, c.centre)
					}
				}
			}
		}
		if n != 19+2 { // 19 non-glycine CA, ILE CB, THR CB
			t.Errorf("checked %d chiral centres, want 21", n)
		}
	}
}

// openmmMinimize is run by the project's Python: it builds the
// amber99sb-ildn + OBC System of a PDB file (OpenMM must match every residue
// to a template), reports the energy by force before and after a local
// minimisation, and the RMSD of the heavy atoms between the two structures.
const openmmMinimize = `
import json, sys
import numpy as np
import openmm, openmm.app as app, openmm.unit as u
def run(path):
    pdb = app.PDBFile(path)
    ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
    system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    names = []
    for i, f in enumerate(system.getForces()):
        f.setForceGroup(i)
        names.append(f.__class__.__name__)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pdb.positions)
    def energies():
        out = {}
        for i, n in enumerate(names):
            e = ctx.getState(getEnergy=True, groups={i}).getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
            out[n] = out.get(n, 0.0) + e
        out["total"] = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        return out
    before = energies()
    x0 = np.array(pdb.positions.value_in_unit(u.nanometer))
    openmm.LocalEnergyMinimizer.minimize(ctx, 10.0, 2000)
    after = energies()
    x1 = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(u.nanometer)
    heavy = [a.index for a in pdb.topology.atoms() if a.element.symbol != "H"]
    bb = [a.index for a in pdb.topology.atoms() if a.name in ("N", "CA", "C")]
    rmsd = float(np.sqrt(((x1[heavy] - x0[heavy]) ** 2).sum(axis=1).mean()))
    bbrmsd = float(np.sqrt(((x1[bb] - x0[bb]) ** 2).sum(axis=1).mean()))
    return {"atoms": system.getNumParticles(), "before": before, "after": after, "rmsd": rmsd, "bbrmsd": bbrmsd}
print(json.dumps([run(p) for p in sys.argv[1:]]))
`

// TestBuildOpenMM writes built peptides with molecule.WritePDBFile and lets
// OpenMM parameterise and minimise them (one Python process for all).
func TestBuildOpenMM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OpenMM")
	}
	testenv.Python(t)
	cases := []struct {
		seq      string
		caps     bool
		phi, psi float64
		noClash  bool
	}{
		{allTwenty, true, deg(-120), deg(130), true},
		{allTwenty, false, deg(-60), deg(-45), false},
	}
	var paths []string
	var tops []*molecule.Topology
	for k, tc := range cases {
		top, x, err := Build(tc.seq, tc.caps, tc.phi, tc.psi)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), fmt.Sprintf("peptide%d.pdb", k))
		if err := molecule.WritePDBFile(path, top, [][]Vec3{x}, nil); err != nil {
			t.Fatal(err)
		}
		paths, tops = append(paths, path), append(tops, top)
	}
	out := testenv.RunPython(t, openmmMinimize, paths...)
	var results []struct {
		Atoms         int
		Before, After map[string]float64
		RMSD, BBRMSD  float64
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &results); err != nil || len(results) != len(cases) {
		t.Fatalf("%v: %s", err, out)
	}
	for k, tc := range cases {
		res := results[k]
		t.Logf("%s caps=%v: %d atoms; before minimisation %.1f kJ/mol (bonds %.3f, angles %.2f, torsions %.1f), "+
			"after %.1f kJ/mol; RMSD to the minimised structure: heavy atoms %.4f nm, backbone N/CA/C %.4f nm",
			tc.seq, tc.caps, res.Atoms, res.Before["total"],
			res.Before["HarmonicBondForce"], res.Before["HarmonicAngleForce"], res.Before["PeriodicTorsionForce"],
			res.After["total"], res.RMSD, res.BBRMSD)
		if res.Atoms != len(tops[k].Atoms) {
			t.Errorf("OpenMM has %d atoms, the builder %d", res.Atoms, len(tops[k].Atoms))
		}
		// Bonds at Amber lengths: only the ring closures are strained.
		if res.Before["HarmonicBondForce"] > 10 {
			t.Errorf("bond energy %g kJ/mol of an ideal-geometry peptide", res.Before["HarmonicBondForce"])
		}
		// Angles: only those the Z-matrix does not set (the other angles at a
		// centre, the rings) deviate from equilibrium.
		if a := res.Before["HarmonicAngleForce"] / float64(len(tc.seq)); a > 10 {
			t.Errorf("angle energy %g kJ/mol per residue", a)
		}
		// No clashes in the strand (a clash would make the total positive);
		// the helix has proline's CD against O(i-4), which minimisation resolves.
		if tc.noClash && res.Before["total"] > 0 {
			t.Errorf("energy before minimisation %g kJ/mol: clashes", res.Before["total"])
		}
		if res.After["total"] > res.Before["total"] || res.After["total"] > 0 {
			t.Errorf("minimisation: %g -> %g kJ/mol", res.Before["total"], res.After["total"])
		}
	}
}
