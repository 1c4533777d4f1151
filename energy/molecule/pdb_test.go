package molecule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// pdbOpenMMScript reads PDB files with OpenMM (and, for files marked "md:",
// also with mdtraj) and prints what it found as JSON, one object per file.
const pdbOpenMMScript = `
import json, sys
import openmm.app as app
from openmm import unit
out = []
for spec in sys.argv[1:]:
    kind, path = spec.split(':', 1)
    pdb = app.PDBFile(path)
    top = pdb.topology
    rec = {
        'chains': [c.id for c in top.chains()],
        'residues': [[r.name, r.id, r.insertionCode, r.chain.index] for r in top.residues()],
        'atoms': [[a.name, a.element.symbol if a.element is not None else '',
                   a.element.mass.value_in_unit(unit.dalton) if a.element is not None else 0.0]
                  for a in top.atoms()],
        'bonds': [[b[0].index, b[1].index] for b in top.bonds()],
        'frames': [pdb.getPositions(asNumpy=True, frame=k).value_in_unit(unit.nanometer).tolist()
                   for k in range(pdb.getNumFrames())],
        'box': None,
    }
    box = top.getPeriodicBoxVectors()
    if box is not None:
        rec['box'] = [[v.value_in_unit(unit.nanometer) for v in vec] for vec in box]
    if kind == 'md':
        import mdtraj
        tr = mdtraj.load_pdb(path)
        rec['mdtraj'] = {'atoms': tr.n_atoms, 'residues': tr.n_residues, 'chains': tr.n_chains,
                         'xyz': tr.xyz.tolist()}
    out.append(rec)
json.dump(out, sys.stdout)
`

type pdbOpenMMResult struct {
	Chains   []string
	Residues [][4]any // name, id, insertion code, chain index
	Atoms    [][3]any // name, element symbol, mass
	Bonds    [][2]int
	Frames   [][][3]float64
	Box      *[3][3]float64
	Mdtraj   *struct {
		Atoms, Residues, Chains int
		XYZ                     [][][3]float64
	}
}

// pdbOpenMMTestFile is the villin-in-water file that ships with OpenMM (no
// element columns, GROMACS names, ions, 2798 residues); "" if not found.
func pdbOpenMMTestFile(t *testing.T) string {
	py := testenv.Python(t)
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(py), "..", "lib", "python3*", "site-packages", "openmm", "app", "data", "test.pdb"))
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// pdbInput is one PDB file gobg must read as OpenMM does; reference marks
// the project's reference systems, which must read without warnings.
type pdbInput struct {
	path, label string
	reference   bool
}

// pdbReferenceFiles lists the PDB inputs that gobg must read as OpenMM does.
func pdbReferenceFiles(t *testing.T) []pdbInput {
	data := testenv.SharedData(t)
	var files []pdbInput
	for _, f := range []string{"ala2.pdb", "hp35.pdb", "protein_g.pdb"} {
		files = append(files, pdbInput{filepath.Join(data, f), f, true})
	}
	md, _ := filepath.Glob(filepath.Join(data, "md", "*", "top.pdb"))
	if len(md) == 0 {
		t.Fatalf("no md/*/top.pdb under %s", data)
	}
	for _, f := range md {
		rel, _ := filepath.Rel(data, f)
		files = append(files, pdbInput{f, rel, true})
	}
	files = append(files, pdbInput{filepath.Join("testdata", "variants.pdb"), "testdata/variants.pdb", false})
	if p := pdbOpenMMTestFile(t); p == "" {
		t.Logf("OpenMM's test.pdb not found next to %s; not compared", testenv.Python(t))
	} else if testing.Short() {
		t.Log("short mode: OpenMM's test.pdb (8867 atoms) not compared")
	} else {
		files = append(files, pdbInput{p, "openmm/app/data/test.pdb", false})
	}
	return files
}

// TestPDBMatchesOpenMM reads every reference PDB with gobg and with OpenMM
// and compares chains, residues, atoms, elements, masses, the set of bonds,
// positions of every model and the box. It then writes each file with gobg
// and has OpenMM and mdtraj read the result back.
func TestPDBMatchesOpenMM(t *testing.T) {
	files := pdbReferenceFiles(t)
	dir := t.TempDir()
	var specs []string
	read := make([]*PDB, len(files))
	for i, f := range files {
		p, err := ReadPDBFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		read[i] = p
		specs = append(specs, "omm:"+f.path)
	}
	for i, f := range files {
		w := filepath.Join(dir, fmt.Sprintf("%d_%s", i, filepath.Base(f.path)))
		if err := WritePDBFile(w, read[i].Topology, read[i].Models, read[i].Box); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, "md:"+w)
	}
	var ref []pdbOpenMMResult
	if err := json.Unmarshal(testenv.RunPython(t, pdbOpenMMScript, specs...), &ref); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		p := read[i]
		t.Run(f.label, func(t *testing.T) {
			pdbCompareOpenMM(t, p, &ref[i], 1e-6)
			if f.reference && len(p.Warnings) > 0 {
				t.Errorf("warnings for a reference system: %q", p.Warnings)
			}
			t.Logf("%d chains, %d residues, %d atoms, %d bonds, %d models, %d warnings",
				len(p.Topology.Chains), len(p.Topology.Residues), len(p.Topology.Atoms), len(p.Topology.Bonds), len(p.Models), len(p.Warnings))
		})
		t.Run(f.label+"/written", func(t *testing.T) {
			// The box goes through CRYST1's 3 decimals in Å and 2 in degrees.
			pdbCompareOpenMM(t, p, &ref[len(files)+i], 1e-3)
			md := ref[len(files)+i].Mdtraj
			if md == nil {
				t.Fatal("no mdtraj result")
			}
			if md.Atoms != len(p.Topology.Atoms) || md.Residues != len(p.Topology.Residues) || md.Chains != len(p.Topology.Chains) {
				t.Errorf("mdtraj reads %d atoms, %d residues, %d chains; gobg wrote %d, %d, %d",
					md.Atoms, md.Residues, md.Chains, len(p.Topology.Atoms), len(p.Topology.Residues), len(p.Topology.Chains))
			}
			if len(md.XYZ) != len(p.Models) {
				t.Fatalf("mdtraj reads %d frames, gobg wrote %d", len(md.XYZ), len(p.Models))
			}
			// mdtraj holds positions in float32: 6e-8 relative, 5e-7 nm at 8 nm.
			if d := pdbMaxDiff(md.XYZ, p.Models); d > 1e-6 {
				t.Errorf("mdtraj positions differ by up to %g nm", d)
			}
		})
	}
}

func pdbCompareOpenMM(t *testing.T, p *PDB, ref *pdbOpenMMResult, boxTol float64) {
	t.Helper()
	top := p.Topology
	if len(top.Chains) != len(ref.Chains) || len(top.Residues) != len(ref.Residues) || len(top.Atoms) != len(ref.Atoms) {
		t.Fatalf("gobg: %d chains, %d residues, %d atoms; OpenMM: %d, %d, %d",
			len(top.Chains), len(top.Residues), len(top.Atoms), len(ref.Chains), len(ref.Residues), len(ref.Atoms))
	}
	for i, c := range top.Chains {
		if c.ID != strings.TrimSpace(ref.Chains[i]) {
			t.Errorf("chain %d: ID %q, OpenMM %q", i, c.ID, ref.Chains[i])
		}
	}
	for i, r := range top.Residues {
		rr := ref.Residues[i]
		canon, _ := CanonicalResidueName(r.Name)
		id := fmt.Sprint(r.Number)
		icode := r.InsertionCode
		if icode == "" {
			icode = " "
		}
		if canon != rr[0] || id != rr[1] || icode != rr[2] || float64(r.Chain.Index) != rr[3] {
			t.Errorf("residue %d: gobg %s (canonical %s, chain %d), OpenMM %v", i, r, canon, r.Chain.Index, rr)
		}
	}
	for i, a := range top.Atoms {
		ra := ref.Atoms[i]
		if cn := CanonicalAtomName(a.Residue.Name, a.Name); cn != ra[0] {
			t.Errorf("atom %d of %s: name %q (canonical %q), OpenMM %q", i, a.Residue, a.Name, cn, ra[0])
		}
		sym, mass := "", 0.0
		if a.Element != nil {
			sym, mass = a.Element.Symbol, a.Element.Mass
		}
		if sym != ra[1] || math.Abs(mass-ra[2].(float64)) > 1e-3 {
			t.Errorf("atom %d (%s of %s): element %q mass %g, OpenMM %q %v", i, a.Name, a.Residue, sym, mass, ra[1], ra[2])
		}
	}
	want := map[Bond]bool{}
	for _, b := range ref.Bonds {
		want[Bond{min(b[0], b[1]), max(b[0], b[1])}] = true
	}
	got := map[Bond]bool{}
	for _, b := range top.Bonds {
		got[b] = true
	}
	if len(got) != len(top.Bonds) {
		t.Errorf("gobg has duplicate bonds: %d bonds, %d distinct", len(top.Bonds), len(got))
	}
	for b := range want {
		if !got[b] {
			t.Errorf("bond %s missing in gobg (OpenMM has it)", pdbBondString(top, b))
		}
	}
	for b := range got {
		if !want[b] {
			t.Errorf("bond %s in gobg, not in OpenMM", pdbBondString(top, b))
		}
	}
	if len(ref.Frames) != len(p.Models) {
		t.Fatalf("%d models, OpenMM %d", len(p.Models), len(ref.Frames))
	}
	if d := pdbMaxDiff(ref.Frames, p.Models); d > 1e-6 {
		t.Errorf("positions differ from OpenMM's by up to %g nm", d)
	}
	switch {
	case (ref.Box == nil) != (p.Box == nil):
		t.Errorf("box %v, OpenMM %v", p.Box, ref.Box)
	case p.Box != nil:
		for i := range 3 {
			for k := range 3 {
				if d := math.Abs(p.Box[i][k] - ref.Box[i][k]); d > boxTol {
					t.Errorf("box vector %d[%d] = %g, OpenMM %g", i, k, p.Box[i][k], ref.Box[i][k])
				}
			}
		}
	}
}

func pdbBondString(top *Topology, b Bond) string {
	a, c := top.Atoms[b.I], top.Atoms[b.J]
	return fmt.Sprintf("%d-%d (%s of %s - %s of %s)", b.I, b.J, a.Name, a.Residue, c.Name, c.Residue)
}

func pdbMaxDiff(ref [][][3]float64, got [][]Vec3) float64 {
	d := 0.0
	for m := range ref {
		if len(ref[m]) != len(got[m]) {
			return math.Inf(1)
		}
		for i := range ref[m] {
			for k := range 3 {
				d = math.Max(d, math.Abs(ref[m][i][k]-got[m][i][k]))
			}
		}
	}
	return d
}

// TestPDBExpectedCounts checks the sizes the data README states.
func TestPDBExpectedCounts(t *testing.T) {
	data := testenv.SharedData(t)
	for _, c := range []struct {
		file            string
		residues, atoms int
	}{
		{"protein_g.pdb", 56, 855},
		{"hp35.pdb", 35, 582},
		{"ala2.pdb", 3, 22},
	} {
		p, err := ReadPDBFile(filepath.Join(data, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Topology.Residues) != c.residues || len(p.Topology.Atoms) != c.atoms {
			t.Errorf("%s: %d residues, %d atoms; want %d, %d", c.file, len(p.Topology.Residues), len(p.Topology.Atoms), c.residues, c.atoms)
		}
	}
}

// TestPDBRoundTrip: read -> write -> read keeps the topology and the
// positions to the precision of the format (0.0005 Å); a second round trip
// reproduces the first byte for byte.
func TestPDBRoundTrip(t *testing.T) {
	data := testenv.SharedData(t)
	files := []string{filepath.Join(data, "ala2.pdb"), filepath.Join(data, "hp35.pdb"), filepath.Join(data, "protein_g.pdb"),
		filepath.Join("testdata", "variants.pdb"), filepath.Join("testdata", "features.pdb")}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p1, err := ReadPDBFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var b1 bytes.Buffer
			if err := WritePDB(&b1, p1.Topology, p1.Models, p1.Box); err != nil {
				t.Fatal(err)
			}
			p2, err := ReadPDB(bytes.NewReader(b1.Bytes()), "written1.pdb")
			if err != nil {
				t.Fatal(err)
			}
			pdbSameTopology(t, p1.Topology, p2.Topology)
			if d := pdbMaxDiffModels(p1.Models, p2.Models); d > 0.5e-4+1e-12 {
				t.Errorf("positions moved by %g nm", d)
			}
			var b2 bytes.Buffer
			if err := WritePDB(&b2, p2.Topology, p2.Models, p2.Box); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
				t.Errorf("second write differs from the first")
			}
			p3, err := ReadPDB(bytes.NewReader(b2.Bytes()), "written2.pdb")
			if err != nil {
				t.Fatal(err)
			}
			pdbSameTopology(t, p2.Topology, p3.Topology)
			if d := pdbMaxDiffModels(p2.Models, p3.Models); d != 0 {
				t.Errorf("second round trip moved positions by %g nm", d)
			}
			if (p2.Box == nil) != (p3.Box == nil) || (p2.Box != nil && *p2.Box != *p3.Box) {
				t.Errorf("second round trip changed the box: %v -> %v", p2.Box, p3.Box)
			}
		})
	}
}

func pdbMaxDiffModels(a, b [][]Vec3) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for m := range a {
		if len(a[m]) != len(b[m]) {
			return math.Inf(1)
		}
		for i := range a[m] {
			for k := range 3 {
				d = math.Max(d, math.Abs(a[m][i][k]-b[m][i][k]))
			}
		}
	}
	return d
}

func pdbSameTopology(t *testing.T, a, b *Topology) {
	t.Helper()
	if len(a.Chains) != len(b.Chains) || len(a.Residues) != len(b.Residues) || len(a.Atoms) != len(b.Atoms) {
		t.Fatalf("sizes differ: %d/%d/%d vs %d/%d/%d chains/residues/atoms",
			len(a.Chains), len(a.Residues), len(a.Atoms), len(b.Chains), len(b.Residues), len(b.Atoms))
	}
	for i := range a.Chains {
		if a.Chains[i].ID != b.Chains[i].ID || len(a.Chains[i].Residues) != len(b.Chains[i].Residues) {
			t.Errorf("chain %d differs: %q/%d vs %q/%d", i, a.Chains[i].ID, len(a.Chains[i].Residues), b.Chains[i].ID, len(b.Chains[i].Residues))
		}
	}
	for i := range a.Residues {
		ra, rb := a.Residues[i], b.Residues[i]
		if ra.Name != rb.Name || ra.Number != rb.Number || ra.InsertionCode != rb.InsertionCode || ra.Hetero != rb.Hetero ||
			ra.Chain.Index != rb.Chain.Index || len(ra.Atoms) != len(rb.Atoms) {
			t.Errorf("residue %d differs: %s hetero=%v vs %s hetero=%v", i, ra, ra.Hetero, rb, rb.Hetero)
		}
	}
	for i := range a.Atoms {
		x, y := a.Atoms[i], b.Atoms[i]
		if x.Name != y.Name || x.Element != y.Element || x.Residue.Index != y.Residue.Index {
			t.Errorf("atom %d differs: %s/%v vs %s/%v", i, x.Name, x.Element, y.Name, y.Element)
		}
	}
	if len(a.Bonds) != len(b.Bonds) {
		t.Errorf("%d bonds vs %d", len(a.Bonds), len(b.Bonds))
		return
	}
	for i := range a.Bonds {
		if a.Bonds[i] != b.Bonds[i] {
			t.Errorf("bond %d: %v vs %v", i, a.Bonds[i], b.Bonds[i])
		}
	}
}

// TestPDBErrors: every malformed input gives an error naming the file and
// the line.
func TestPDBErrors(t *testing.T) {
	atom := func(serial int, name, res string, seq int, x, y, z string) string {
		return fmt.Sprintf("ATOM  %5d %-4s %3s A%4d    %8s%8s%8s  1.00  0.00           %s  \n", serial, " "+name, res, seq, x, y, z, name[:1])
	}
	good := atom(1, "N", "ALA", 1, "1.000", "2.000", "3.000")
	good2 := atom(2, "CA", "ALA", 1, "2.000", "2.000", "3.000")
	cases := []struct {
		name, input, want string
	}{
		{"short line", good + "ATOM      2  CA  ALA A   1       2.000   2.000\n", "bad.pdb:2: short ATOM/HETATM record (46 columns; coordinates need 54)"},
		{"bad x", good + atom(2, "CA", "ALA", 1, "12.3a4", "2.000", "3.000"), `bad.pdb:2: bad x coordinate "  12.3a4"`},
		{"bad y", atom(1, "N", "ALA", 1, "1.000", "", "3.000"), `bad.pdb:1: bad y coordinate "        "`},
		{"NaN z", "REMARK x\n" + atom(1, "N", "ALA", 1, "1.000", "2.000", "NaN"), `bad.pdb:2: z coordinate "     NaN" is not finite`},
		{"Inf x", atom(1, "N", "ALA", 1, "+Inf", "2.000", "3.000"), `bad.pdb:1: x coordinate "    +Inf" is not finite`},
		{"bad residue number", strings.Replace(good, "A   1", "A  x1", 1), `bad.pdb:1: bad residue number "  x1"`},
		{"blank atom name", strings.Replace(good, " N  ", "    ", 1), "bad.pdb:1: blank atom name"},
		{"duplicate atom", good + good, `bad.pdb:2: duplicate atom "N" in residue ALA 1`},
		{"fewer atoms in model 2", "MODEL        1\n" + good + good2 + "ENDMDL\nMODEL        2\n" + good + "ENDMDL\n", "bad.pdb:7: model 2 has 1 atoms, model 1 has 2"},
		{"more atoms in model 2", "MODEL        1\n" + good + "ENDMDL\nMODEL        2\n" + good + good2 + "ENDMDL\nEND\n", "bad.pdb:6: model 2 has 2 atoms, model 1 has 1"},
		{"other atoms in model 2", "MODEL        1\n" + good + good2 + "ENDMDL\nMODEL        2\n" + good2 + good + "ENDMDL\n", `bad.pdb:6: model 2 atom 1 is CA of ALA 1 (chain "A"), model 1 has N of ALA 1 (chain "A")`},
		{"atoms outside models", "MODEL        1\n" + good + "ENDMDL\n" + good2, "bad.pdb:4: atom record outside MODEL/ENDMDL"},
		{"nested MODEL", "MODEL        1\n" + good + "MODEL        2\n", "bad.pdb:3: MODEL record inside a model"},
		{"ENDMDL alone", good + "ENDMDL\n", "bad.pdb:2: ENDMDL without MODEL"},
		{"bad CRYST1", "CRYST1   40.x52   51.262   49.253  90.00  90.00  90.00 P 1           1\n" + good, `bad.pdb:1: bad CRYST1 a "   40.x52"`},
		{"short CRYST1", "CRYST1   40.752   51.262\n" + good, "bad.pdb:1: short CRYST1 record"},
		{"degenerate CRYST1", "CRYST1   40.000   40.000   40.000  90.00  90.00 180.00 P 1           1\n" + good, "bad.pdb:1: CRYST1: degenerate cell 40 40 40 Å, 90 90 180 degrees"},
		{"bad CONECT", good + "CONECT    1    x\n", `bad.pdb:2: bad CONECT atom serial "    x"`},
		{"misaligned residue name", strings.Replace(good, " ALA A", " AL  A", 1)[:17] + "AL X" + good[21:], `bad.pdb:1: misaligned residue name "AL X"`},
		{"no atoms", "REMARK nothing\nEND\n", "bad.pdb: no atoms"},
		{"empty", "", "bad.pdb: no atoms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadPDB(strings.NewReader(c.input), "bad.pdb")
			if err == nil {
				t.Fatalf("no error for\n%s", c.input)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// TestPDBFeatures reads testdata/features.pdb, written by hand: an unknown
// ligand, altLocs, insertion codes, a TER and a chain ID change, two models,
// CONECT records and element inference.
func TestPDBFeatures(t *testing.T) {
	p, err := ReadPDBFile(filepath.Join("testdata", "features.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	top := p.Topology
	var res []string
	for _, r := range top.Residues {
		res = append(res, fmt.Sprintf("%s:%s%d%s/%d", r.Chain.ID, r.Name, r.Number, r.InsertionCode, len(r.Atoms)))
	}
	// GLY 2 and GLY 2A are separate residues; chain A ends at TER and the
	// next atoms (chain ID A again) start a new chain; the change to B starts
	// another.
	wantRes := "A:GLY1/4 A:GLY2/4 A:GLY2A/4 A:SER3/7 A:LIG4/9 B:NA5/1"
	if got := strings.Join(res, " "); got != wantRes {
		t.Errorf("residues %s, want %s", got, wantRes)
	}
	if len(top.Chains) != 3 || len(top.Chains[1].Residues) != 1 || top.Chains[1].Residues[0].Name != "LIG" {
		t.Errorf("chains: %d, want A (4 residues), A (LIG), B (NA)", len(top.Chains))
	}
	if len(p.Models) != 2 {
		t.Fatalf("%d models, want 2", len(p.Models))
	}
	ser := top.Residues[3]
	og := ser.AtomByName("OG")
	cb := ser.AtomByName("CB")
	// altLoc A of OG (first) is kept, B skipped; for CB the B location comes
	// first in the file and is the one kept.
	if og == nil || cb == nil {
		t.Fatal("SER lacks CB or OG")
	}
	if got := p.Models[0][og.Index]; got != (Vec3{0.3, 0.4, 0.5}) {
		t.Errorf("OG at %v, want altLoc A (0.3 0.4 0.5)", got)
	}
	if got := p.Models[0][cb.Index]; got != (Vec3{0.1, 0.2, 0.3}) {
		t.Errorf("CB at %v, want altLoc B (0.1 0.2 0.3), the first seen", got)
	}
	if got := p.Models[1][og.Index]; got != (Vec3{1.3, 1.4, 1.5}) {
		t.Errorf("model 2 OG at %v, want (1.3 1.4 1.5)", got)
	}
	// The ligand, ethanol without CONECT records: C1-C2, C2-O, O-HO, three H
	// on C1 and two on C2; no bond between the hydrogens.
	lig := top.Residues[4]
	idx := map[string]int{}
	for _, a := range lig.Atoms {
		idx[a.Name] = a.Index
	}
	want := map[Bond]bool{}
	for _, pr := range [][2]string{{"C1", "C2"}, {"C2", "O"}, {"O", "HO"}, {"C1", "H11"}, {"C1", "H12"}, {"C1", "H13"}, {"C2", "H21"}, {"C2", "H22"}} {
		i, j := idx[pr[0]], idx[pr[1]]
		want[Bond{min(i, j), max(i, j)}] = true
	}
	got := map[Bond]bool{}
	for _, b := range top.Bonds {
		if top.Atoms[b.I].Residue == lig || top.Atoms[b.J].Residue == lig {
			got[b] = true
		}
	}
	if fmt.Sprint(pdbSortedBonds(got)) != fmt.Sprint(pdbSortedBonds(want)) {
		t.Errorf("ligand bonds %v, want %v", pdbSortedBonds(got), pdbSortedBonds(want))
	}
	wantWarn := `no template for residue LIG 4 (chain "A"): 8 bonds guessed from covalent radii`
	if len(p.Warnings) != 1 || p.Warnings[0] != wantWarn {
		t.Errorf("warnings %q, want [%q]", p.Warnings, wantWarn)
	}
	// Elements: from the columns where present, else from the names.
	for _, c := range []struct{ res, atom, want string }{
		{"GLY", "CA", "C"}, {"SER", "OG", "O"}, {"SER", "HG", "H"}, {"NA", "NA", "Na"}, {"LIG", "HO", "H"}, {"LIG", "C1", "C"},
	} {
		for _, r := range top.Residues {
			if r.Name != c.res {
				continue
			}
			a := r.AtomByName(c.atom)
			if a == nil || a.Element == nil || a.Element.Symbol != c.want {
				t.Errorf("%s %s: element %v, want %s", c.res, c.atom, a, c.want)
			}
			break
		}
	}
	// CONECT 1-7 joins two template atoms that are not bonded otherwise (N of
	// GLY 1 and C of GLY 2): OpenMM adds such bonds, so gobg does too.
	n1, c2 := top.Residues[0].AtomByName("N"), top.Residues[1].AtomByName("C")
	if !pdbHasBond(top, n1.Index, c2.Index) {
		t.Errorf("CONECT bond N(GLY 1)-C(GLY 2) missing")
	}
	if p.Box != nil {
		t.Errorf("box %v without CRYST1", p.Box)
	}
}

func pdbHasBond(top *Topology, i, j int) bool {
	for _, b := range top.Bonds {
		if b == (Bond{min(i, j), max(i, j)}) {
			return true
		}
	}
	return false
}

func pdbSortedBonds(m map[Bond]bool) []Bond {
	var out []Bond
	for b := range m {
		out = append(out, b)
	}
	sort.Slice(out, func(x, y int) bool {
		if out[x].I != out[y].I {
			return out[x].I < out[y].I
		}
		return out[x].J < out[y].J
	})
	return out
}

// TestElementInference covers the name rule for atoms without element columns.
func TestElementInference(t *testing.T) {
	for _, c := range []struct {
		column, name string
		residueAtoms int
		want         string
	}{
		{"", "HB2", 10, "H"}, {"", "1HB", 10, "H"}, {"", "CA", 10, "C"}, {"", "CA", 1, "Ca"},
		{"", "CL", 1, "Cl"}, {"", "Cl", 1, "Cl"}, {"", "NA", 1, "Na"}, {"", "ZN", 1, "Zn"}, {"", "K", 1, "K"},
		{"", "BR1", 12, "Br"}, {"", "SD", 10, "S"}, {"", "OXT", 10, "O"}, {"", "NZ", 10, "N"},
		{"", "LI", 1, "Li"}, {"", "BE1", 4, "Be"}, {"", "B1", 4, "B"},
		{"C", "CL", 5, "C"}, {"fe", "X", 1, "Fe"}, {"EP", "O", 1, ""}, {"", "XX", 3, ""}, {"??", "N1", 3, "N"},
	} {
		e := pdbElement(c.column, c.name, c.residueAtoms)
		got := ""
		if e != nil {
			got = e.Symbol
		}
		if got != c.want {
			t.Errorf("column %q name %q (%d atoms): %q, want %q", c.column, c.name, c.residueAtoms, got, c.want)
		}
	}
}

// TestWritePDBErrors: invalid input writes nothing and says why.
func TestWritePDBErrors(t *testing.T) {
	p, err := ReadPDBFile(filepath.Join("testdata", "features.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(p.Topology.Atoms)
	withPos := func(i int, v Vec3) [][]Vec3 {
		m := append([]Vec3(nil), p.Models[0]...)
		m[i] = v
		return [][]Vec3{m}
	}
	cases := []struct {
		name   string
		top    *Topology
		models [][]Vec3
		want   string
	}{
		{"nil topology", nil, p.Models, "nil topology"},
		{"no models", p.Topology, nil, "no models"},
		{"wrong count", p.Topology, [][]Vec3{p.Models[0][:n-1]}, fmt.Sprintf("model 1 has %d positions, topology has %d atoms", n-1, n)},
		{"NaN", p.Topology, withPos(3, Vec3{math.NaN(), 0, 0}), "model 1 atom 4 (O of GLY 1 (chain \"A\")): coordinate NaN is not finite"},
		{"huge", p.Topology, withPos(0, Vec3{0, 1e8, 0}), "does not fit in 8 columns"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WritePDB(&b, c.top, c.models, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", b.Len())
			}
		})
	}
	// Large but representable coordinates lose decimals, not the value.
	var b bytes.Buffer
	if err := WritePDB(&b, p.Topology, withPos(0, Vec3{123456.7, -99999.9, 0}), nil); err != nil {
		t.Fatal(err)
	}
	q, err := ReadPDB(&b, "big.pdb")
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Models[0][0]; math.Abs(got[0]-123456.7) > 0.05 || math.Abs(got[1]+99999.9) > 0.05 {
		t.Errorf("large coordinates read back as %v", got)
	}
}

// TestWritePDBFileAtomic: the file appears complete, no temporary file is
// left, and a failed write leaves an existing file alone.
func TestWritePDBFileAtomic(t *testing.T) {
	p, err := ReadPDBFile(filepath.Join("testdata", "features.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pdb")
	if err := WritePDBFile(path, p.Topology, p.Models, p.Box); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := [][]Vec3{append([]Vec3(nil), p.Models[0]...)}
	bad[0][0][0] = math.Inf(1)
	if err := WritePDBFile(path, p.Topology, bad, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v should name %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed write changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only out.pdb", names)
	}
	q, err := ReadPDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pdbSameTopology(t, p.Topology, q.Topology)
}

// TestPDBLineEndings: CRLF and lone CR line endings read like LF, and
// reading stops at END.
func TestPDBLineEndings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "features.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ReadPDB(bytes.NewReader(b), "lf.pdb")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, text string }{
		{"crlf.pdb", strings.ReplaceAll(string(b), "\n", "\r\n")},
		{"cr.pdb", strings.ReplaceAll(string(b), "\n", "\r")},
		{"end.pdb", string(b) + "ATOM  this line is after END and not read\n"},
	} {
		p, err := ReadPDB(strings.NewReader(c.text), c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		pdbSameTopology(t, ref.Topology, p.Topology)
		if d := pdbMaxDiffModels(ref.Models, p.Models); d != 0 {
			t.Errorf("%s: positions differ by %g", c.name, d)
		}
	}
	// Line numbers count lone CRs as line ends.
	bad := "REMARK\rREMARK\rATOM      1  N   ALA A   1       1.0x0   2.000   3.000\r"
	if _, err := ReadPDB(strings.NewReader(bad), "cr.pdb"); err == nil || !strings.HasPrefix(err.Error(), "cr.pdb:3: bad x coordinate") {
		t.Errorf("error %v, want cr.pdb:3: bad x coordinate", err)
	}
}

// TestPDBHybridNumbers: residue numbers beyond 9999 and serials beyond 99999
// use the hexadecimal continuation of VMD and OpenMM (OpenMM's _formatIndex:
// hex of n - 10^w + 10*16^(w-1)), both ways.
func TestPDBHybridNumbers(t *testing.T) {
	for _, c := range []struct {
		n, width int
		text     string
		ok       bool
	}{
		{1, 4, "   1", true}, {-999, 4, "-999", true}, {9999, 4, "9999", true},
		{10000, 4, "A000", true}, {10015, 4, "A00F", true}, {34575, 4, "FFFF", true}, {34576, 4, "", false}, {-1000, 4, "", false},
		{99999, 5, "99999", true}, {100000, 5, "A0000", true}, {493215, 5, "FFFFF", true}, {493216, 5, "", false},
	} {
		s, ok := formatHybrid(c.n, c.width)
		if ok != c.ok || s != c.text {
			t.Errorf("format %d width %d: %q %v, want %q %v", c.n, c.width, s, ok, c.text, c.ok)
		}
		if c.ok {
			if n, ok := parseHybrid(s, c.width); !ok || n != c.n {
				t.Errorf("parse %q: %d %v, want %d", s, n, ok, c.n)
			}
		}
	}
	for _, s := range []string{"  1A", "9FFF", "", "    ", "A00G", " A00"} {
		if n, ok := parseHybrid(s, 4); ok {
			t.Errorf("parse %q = %d, want an error", s, n)
		}
	}
}
