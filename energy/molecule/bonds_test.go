package molecule

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// buildTopology makes a one-chain topology from residues given as
// "NAME:atom,atom,...", with elements from the first letter of each atom name
// after leading digits, or given as "NAME=Symbol" ("?" for none).
func buildTopology(t *testing.T, residues ...string) *Topology {
	t.Helper()
	top := &Topology{}
	c := top.AddChain("A")
	for k, spec := range residues {
		name, atoms, _ := strings.Cut(spec, ":")
		r := top.AddResidue(c, name, k+1, "")
		for _, a := range strings.Split(atoms, ",") {
			an, sym, ok := strings.Cut(a, "=")
			if !ok {
				sym = strings.TrimLeft(an, "0123456789")[:1]
			}
			e := ElementBySymbol(sym)
			if e == nil && sym != "?" {
				t.Fatalf("no element %q", sym)
			}
			top.AddAtom(r, an, e, 0)
		}
	}
	return top
}

func bondNames(top *Topology) string {
	var s []string
	for _, b := range top.Bonds {
		a, c := top.Atoms[b.I], top.Atoms[b.J]
		s = append(s, fmt.Sprintf("%s%d-%s%d", a.Name, a.Residue.Number, c.Name, c.Residue.Number))
	}
	return strings.Join(s, " ")
}

func checkSortedUnique(t *testing.T, top *Topology) {
	t.Helper()
	for k, b := range top.Bonds {
		if b.I >= b.J || (k > 0 && !(top.Bonds[k-1].I < b.I || (top.Bonds[k-1].I == b.I && top.Bonds[k-1].J < b.J))) {
			t.Fatalf("bonds not strictly sorted with I<J at %d: %v", k, top.Bonds[max(0, k-1):k+1])
		}
	}
}

// TestBondTemplates: template bonds by name, missing atoms skipped, peptide
// bonds between residues, unknown atom names reported.
func TestBondTemplates(t *testing.T) {
	// ALA without its side chain beyond CB's hydrogens: CB is missing, HB1 is
	// there but has nothing to bond to. GLY with old-style names (HN, 1HA).
	top := buildTopology(t, "ALA:N,H,CA,HA,HB1,C,O", "GLY:N,HN,CA,2HA,1HA,C,OT1,OT2,XX=C")
	pos := make([]Vec3, len(top.Atoms))
	w, err := top.CreateStandardBonds(pos)
	if err != nil {
		t.Fatal(err)
	}
	// Expected from the chemistry of the peptide: N-H, N-CA, CA-HA, CA-C,
	// C=O in ALA; the peptide bond C1-N2; N-HN, N-CA, CA-HA2/HA3, CA-C,
	// C-OT1, C-OT2 in GLY (OT1/OT2 are O/OXT).
	want := "N1-H1 N1-CA1 CA1-HA1 CA1-C1 C1-O1 C1-N2 N2-HN2 N2-CA2 CA2-2HA2 CA2-1HA2 CA2-C2 C2-OT12 C2-OT22"
	if got := bondNames(top); got != want {
		t.Errorf("bonds\n got  %s\n want %s", got, want)
	}
	checkSortedUnique(t, top)
	wantW := `residue GLY 2 (chain "A"): atom(s) XX not matched to template GLY; they get no template bonds`
	if len(w) != 1 || w[0] != wantW {
		t.Errorf("warnings %q, want [%q]", w, wantW)
	}
	// A second call adds nothing.
	before := bondNames(top)
	if _, err := top.CreateStandardBonds(pos); err != nil {
		t.Fatal(err)
	}
	if got := bondNames(top); got != before {
		t.Errorf("second call changed bonds:\n %s\n %s", before, got)
	}
}

// TestBondGuess: a residue without a template gets bonds from covalent radii.
func TestBondGuess(t *testing.T) {
	// Ethanol (Å): the 8 bonds are C1-C2, C2-O, O-HO and five C-H.
	top := buildTopology(t, "ALA:N,CA,C,O", "EOH:N,C1,C2,O,HO,H11,H12,H13,H21,H22,X=?")
	ang := []Vec3{
		{-3, 0, 0}, {-2, 1, 0}, {-1.5, 0, 0}, {-1.8, -1, 0}, // ALA
		{-0.1, 0.1, 0},                                                 // N of EOH, 1.4 Å from ALA C: a guessed peptide bond
		{2.8, 0.4, 0}, {4.32, 0.4, 0}, {4.8, 1.75, 0}, {5.76, 1.75, 0}, // C1 C2 O HO
		{2.437, 1.428, 0}, {2.437, -0.114, 0.89}, {2.437, -0.114, -0.89}, // H1x
		{4.683, -0.114, 0.89}, {4.683, -0.114, -0.89}, // H2x
		{2.8, 0.4, 0.5}, // X: unknown element, 0.5 Å from C1, gets no bond
	}
	pos := make([]Vec3, len(ang))
	for i, p := range ang {
		pos[i] = Vec3{p[0] / 10, p[1] / 10, p[2] / 10}
	}
	w, err := top.CreateStandardBonds(pos)
	if err != nil {
		t.Fatal(err)
	}
	want := "N1-CA1 CA1-C1 C1-O1 C1-N2 C12-C22 C12-H112 C12-H122 C12-H132 C22-O2 C22-H212 C22-H222 O2-HO2"
	if got := bondNames(top); got != want {
		t.Errorf("bonds\n got  %s\n want %s", got, want)
	}
	wantW := `no template for residue EOH 2 (chain "A"): 9 bonds guessed from covalent radii (1 atoms of unknown element left without bonds)`
	if len(w) != 1 || w[0] != wantW {
		t.Errorf("warnings %q, want [%q]", w, wantW)
	}
	// Far apart, the C-N link between a template residue and one without is
	// not made.
	pos[4] = Vec3{-0.1, 0.1, 1}
	top.Bonds = nil
	if _, err := top.CreateStandardBonds(pos); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bondNames(top), "C1-N2") {
		t.Errorf("C1-N2 bonded at 1 nm: %s", bondNames(top))
	}
}

// TestBondDisulfides: OpenMM's rule, closest earlier free SG within 0.3 nm,
// one partner per SG, no HG, no CYM.
func TestBondDisulfides(t *testing.T) {
	top := buildTopology(t,
		"CYX:SG", "CYS:SG", // 1-2: 0.205 nm apart, bonded
		"CYX:SG",                     // 3: within 0.3 nm of 1 and 2, both taken
		"CYS:SG,HG",                  // 4: a thiol near 1, not bonded
		"CYM:SG",                     // 5: a thiolate near 3, not bonded
		"CYX:SG", "CYX:SG", "CYX:SG", // 6-8: 8 is 0.25 from 6 and 0.21 from 7 -> 8 bonds to 7
	)
	pos := []Vec3{
		{0, 0, 0}, {0.205, 0, 0},
		{0.1, 0.22, 0},
		{0, -0.2, 0}, {0, -0.33, 0},
		{0.1, 0.42, 0},
		{5, 5, 5}, {5.46, 5, 5}, {5.25, 5, 5},
	}
	if _, err := top.CreateStandardBonds(pos); err != nil {
		t.Fatal(err)
	}
	if got, want := bondNames(top), "SG1-SG2 SG4-HG4 SG7-SG8"; got != want {
		t.Errorf("disulfides %q, want %q", got, want)
	}
}

// TestBondAmberVariants: LYN and CYM (no OpenMM template) get the bonds of
// LYS and CYS.
func TestBondAmberVariants(t *testing.T) {
	for _, c := range []struct{ file, from, to string }{
		{filepath.Join(testenv.SharedData(t), "hp35.pdb"), "LYS A   7", "LYN A   7"},
		{filepath.Join("testdata", "variants.pdb"), "CYS C   4", "CYM C   4"},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := ReadPDB(strings.NewReader(string(b)), c.file)
		if err != nil {
			t.Fatal(err)
		}
		renamed := strings.ReplaceAll(string(b), c.from, c.to)
		if renamed == string(b) {
			t.Fatalf("%s has no %q", c.file, c.from)
		}
		p, err := ReadPDB(strings.NewReader(renamed), c.to)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Warnings) != fmt.Sprint(orig.Warnings) {
			t.Errorf("%s: warnings %q, with %s %q", c.to, p.Warnings, c.from, orig.Warnings)
		}
		if got, want := fmt.Sprint(p.Topology.Bonds), fmt.Sprint(orig.Topology.Bonds); got != want || len(p.Topology.Bonds) == 0 {
			t.Errorf("%s: bonds differ from %s (%d vs %d)", c.to, c.from, len(p.Topology.Bonds), len(orig.Topology.Bonds))
		}
	}
}

// TestBondErrors: inconsistent input is an error, not a panic.
func TestBondErrors(t *testing.T) {
	top := buildTopology(t, "ALA:N,CA")
	if _, err := top.CreateStandardBonds(make([]Vec3, 1)); err == nil || !strings.Contains(err.Error(), "1 positions for 2 atoms") {
		t.Errorf("error %v", err)
	}
	top.Bonds = []Bond{{0, 5}}
	if _, err := top.CreateStandardBonds(make([]Vec3, 2)); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("error %v", err)
	}
	top.Bonds = nil
	top.Atoms[1].Index = 7
	if _, err := top.CreateStandardBonds(make([]Vec3, 2)); err == nil || !strings.Contains(err.Error(), "bad index") {
		t.Errorf("error %v", err)
	}
}
