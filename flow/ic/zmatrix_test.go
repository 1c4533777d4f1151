package ic

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// edit copies top, dropping atoms for which keep returns false (and their
// bonds), dropping bonds for which keepBond returns false, renaming
// residues with rename (nil: keep), and moving residues to new chains with
// chainOf (nil: keep). It returns the copy and the old index of each new atom.
type edit struct {
	keep     func(a *molecule.Atom) bool
	keepBond func(top *molecule.Topology, b molecule.Bond) bool
	rename   func(r *molecule.Residue) string
	chainOf  func(r *molecule.Residue) string
}

func (e edit) apply(top *molecule.Topology) (*molecule.Topology, []int) {
	out := &molecule.Topology{}
	newIdx := make([]int, len(top.Atoms))
	var old []int
	var ch *molecule.Chain
	for _, r := range top.Residues {
		cid := r.Chain.ID
		if e.chainOf != nil {
			cid = e.chainOf(r)
		}
		if ch == nil || ch.ID != cid || (r.Chain != top.Residues[max(r.Index-1, 0)].Chain && e.chainOf == nil) {
			ch = out.AddChain(cid)
		}
		name := r.Name
		if e.rename != nil {
			name = e.rename(r)
		}
		nr := out.AddResidue(ch, name, r.Number, r.InsertionCode)
		for _, a := range r.Atoms {
			newIdx[a.Index] = -1
			if e.keep != nil && !e.keep(a) {
				continue
			}
			na := out.AddAtom(nr, a.Name, a.Element, a.Serial)
			newIdx[a.Index] = na.Index
			old = append(old, a.Index)
		}
	}
	for _, b := range top.Bonds {
		if newIdx[b.I] < 0 || newIdx[b.J] < 0 || (e.keepBond != nil && !e.keepBond(top, b)) {
			continue
		}
		out.AddBond(newIdx[b.I], newIdx[b.J])
	}
	return out, old
}

func atomNamed(top *molecule.Topology, resIndex int, name string) *molecule.Atom {
	return top.Residues[resIndex].AtomByName(name)
}

// TestZMatrixInvariants checks, on every reference system, the properties
// every Z-matrix must have: each atom once, references placed earlier and
// distinct, references joined by real bonds as their kind says, the frame
// made of N, CA, C of the first amino acid, and consistent layers.
func TestZMatrixInvariants(t *testing.T) {
	for _, name := range []string{"ala2", "hp35", "protein_g"} {
		t.Run(name, func(t *testing.T) {
			s := loadSystem(t, name, false)
			z, top := s.z, s.top
			bonded := map[[2]int]bool{}
			for _, b := range top.Bonds {
				bonded[[2]int{b.I, b.J}], bonded[[2]int{b.J, b.I}] = true, true
			}
			seen := make([]bool, len(top.Atoms))
			for p, e := range z.Entries {
				if seen[e.Atom] {
					t.Fatalf("atom %d placed twice", e.Atom)
				}
				seen[e.Atom] = true
				if z.Position(e.Atom) != p {
					t.Fatalf("Position(%d) = %d, want %d", e.Atom, z.Position(e.Atom), p)
				}
				refs := []int{e.Bond, e.Angle, e.Torsion}[:min(p, 3)]
				for k, r := range refs {
					if r < 0 || z.Position(r) >= p {
						t.Fatalf("entry %d (%s): reference %d not placed before", p, top.Atoms[e.Atom].Name, r)
					}
					for _, r2 := range refs[:k] {
						if r == r2 {
							t.Fatalf("entry %d: repeated reference", p)
						}
					}
				}
				if p >= 3 {
					want := 1 + max(z.Entries[z.Position(e.Bond)].Layer, z.Entries[z.Position(e.Angle)].Layer,
						z.Entries[z.Position(e.Torsion)].Layer)
					if e.Layer != want {
						t.Fatalf("entry %d: layer %d, want %d", p, e.Layer, want)
					}
					if !bonded[[2]int{e.Atom, e.Bond}] || !bonded[[2]int{e.Bond, e.Angle}] {
						t.Fatalf("entry %d (%s %s): bond/angle references not bonded", p, top.Atoms[e.Atom].Residue, top.Atoms[e.Atom].Name)
					}
					tref := e.Angle
					if e.Improper {
						tref = e.Bond
					}
					if !bonded[[2]int{e.Torsion, tref}] {
						t.Fatalf("entry %d: torsion reference not bonded to its partner", p)
					}
					if isHydrogen(top.Atoms[e.Bond]) || isHydrogen(top.Atoms[e.Angle]) {
						t.Fatalf("entry %d: a hydrogen used as bond or angle reference", p)
					}
				}
			}
			for i, ok := range seen {
				if !ok {
					t.Fatalf("atom %d never placed", i)
				}
			}
			first := top.Residues[0]
			if first.Name == "ACE" {
				first = top.Residues[1]
			}
			for k, n := range []string{"N", "CA", "C"} {
				if a := top.Atoms[z.Entries[k].Atom]; a.Residue != first || a.Name != n {
					t.Fatalf("frame atom %d is %s %s, want %s %s", k, a.Residue, a.Name, first, n)
				}
			}
			if got := len(z.Coords()); got != 3*len(top.Atoms)-6 {
				t.Fatalf("%d coordinates, want %d", got, 3*len(top.Atoms)-6)
			}
			// Deterministic: a second build is identical.
			z2, err := NewZMatrix(top)
			if err != nil {
				t.Fatal(err)
			}
			for p := range z.Entries {
				if z.Entries[p] != z2.Entries[p] || z.Coords()[p].Name != z2.Coords()[p].Name {
					t.Fatalf("second build differs at entry %d", p)
				}
			}
			t.Logf("%s: %d atoms, %d coordinates, %d layers", name, len(top.Atoms), len(z.Coords()), z.NumLayers())
		})
	}
}

// dihedralByNames computes a dihedral from atoms named per residue offset.
func dihedralByNames(top *molecule.Topology, x []Vec3, res int, spec [4]string) (float64, bool) {
	var p [4]Vec3
	for k, s := range spec {
		off := 0
		if strings.HasSuffix(s, "-") {
			off, s = -1, strings.TrimSuffix(s, "-")
		} else if strings.HasSuffix(s, "+") {
			off, s = 1, strings.TrimSuffix(s, "+")
		}
		ri := res + off
		if ri < 0 || ri >= len(top.Residues) {
			return 0, false
		}
		a := atomByName(top.Residues[ri], s)
		if a == nil {
			if s == "CA" && top.Residues[ri].Name == "ACE" {
				a = top.Residues[ri].AtomByName("CH3")
			} else if s == "CA" && top.Residues[ri].Name == "NME" {
				a = atomByName(top.Residues[ri], "C")
			}
		}
		if a == nil {
			return 0, false
		}
		p[k] = x[a.Index]
	}
	return Dihedral(p[0], p[1], p[2], p[3]), true
}

var chi1Atom = map[string]string{"ILE": "CG1", "VAL": "CG1", "THR": "OG1", "SER": "OG", "CYS": "SG"}

// TestNamedTorsions checks that the coordinates named PHI, PSI, OMEGA and
// CHI1 exist once per residue where they are defined and carry the values
// of the textbook definitions (computed here from atom names).
func TestNamedTorsions(t *testing.T) {
	for _, tc := range []struct {
		name            string
		phi, psi, omega int
	}{
		{"ala2", 1, 1, 2},
		{"hp35", 34, 34, 34},
		{"protein_g", 55, 55, 55},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadSystem(t, tc.name, false)
			ic := make([]float64, s.z.NumCoords())
			if err := s.z.Internal(s.pdb, ic); err != nil {
				t.Fatal(err)
			}
			count := map[TorsionType]int{}
			chi1 := 0
			for k, c := range s.z.Coords() {
				var def [4]string
				switch {
				case c.Torsion == Phi:
					def = [4]string{"C-", "N", "CA", "C"}
				case c.Torsion == Psi:
					def = [4]string{"N", "CA", "C", "N+"}
				case c.Torsion == Omega:
					def = [4]string{"CA-", "C-", "N", "CA"}
				case strings.HasPrefix(c.Name, "CHI1 "):
					g := "CG"
					if a, ok := chi1Atom[standardName(s.top.Residues[c.Residue].Name)]; ok {
						g = a
					}
					def = [4]string{"N", "CA", "CB", g}
					chi1++
				default:
					continue
				}
				count[c.Torsion]++
				// Named by the residue that owns N (phi, omega) or CA (psi, chi).
				res := -1
				for ri, r := range s.top.Residues {
					if strings.HasSuffix(c.Name, fmt.Sprintf(" %s %d%s", r.Name, r.Number, r.InsertionCode)) {
						res = ri
					}
				}
				want, ok := dihedralByNames(s.top, s.pdb, res, def)
				if !ok {
					t.Fatalf("%s: definition atoms not found", c.Name)
				}
				if d := math.Abs(wrapAngle(ic[k] - want)); d > 1e-12 {
					t.Errorf("%s = %v, textbook definition gives %v", c.Name, ic[k], want)
				}
			}
			if count[Phi] != tc.phi || count[Psi] != tc.psi || count[Omega] != tc.omega {
				t.Errorf("phi/psi/omega counts %d/%d/%d, want %d/%d/%d", count[Phi], count[Psi], count[Omega], tc.phi, tc.psi, tc.omega)
			}
			// One chi1 per residue with a CG-like atom (all but ALA, GLY, caps).
			want := 0
			for _, r := range s.top.Residues {
				switch standardName(r.Name) {
				case "ALA", "GLY", "ACE", "NME":
				default:
					want++
				}
			}
			if chi1 != want {
				t.Errorf("%d CHI1 coordinates, want %d", chi1, want)
			}
		})
	}
}

// TestProlineRing checks the ring rule: CD of PRO hangs from CG (angle CB,
// proper torsion through CA), so N-CD is a ring closure.
func TestProlineRing(t *testing.T) {
	s := loadSystem(t, "hp35", false)
	found := false
	for _, r := range s.top.Residues {
		if r.Name != "PRO" {
			continue
		}
		found = true
		e := s.z.Entries[s.z.Position(r.AtomByName("CD").Index)]
		if e.Bond != r.AtomByName("CG").Index || e.Angle != r.AtomByName("CB").Index ||
			e.Torsion != r.AtomByName("CA").Index || e.Improper {
			t.Errorf("%s CD placed from %d/%d/%d", r, e.Bond, e.Angle, e.Torsion)
		}
	}
	if !found {
		t.Fatal("hp35 has no proline")
	}
}

// TestClasses checks the class rules on alanine dipeptide, where every
// coordinate can be listed by hand: the free set of Reduced mode is the 7
// angles between heavy backbone atoms (listed below) plus all 19 torsions.
func TestClasses(t *testing.T) {
	s := loadSystem(t, "ala2", false)
	var bbAngles []string
	classes := map[Class]int{}
	for _, c := range s.z.Coords() {
		classes[c.Class]++
		if c.Class == ClassBackboneAngle {
			bbAngles = append(bbAngles, c.Name)
		}
		for _, a := range c.Atoms {
			if a >= 0 && isHydrogen(s.top.Atoms[a]) && (c.Class == ClassBackboneAngle || c.Class == ClassBackboneTorsion) {
				t.Errorf("%s involves a hydrogen but is class %s", c.Name, c.Class)
			}
		}
	}
	// 22 atoms: 21 bonds, 20 angles, 19 torsions. Heavy backbone atoms: ACE CH3 C O,
	// ALA N CA C O, NME N C; their angles (all heavy-atom entries except CB).
	wantBB := []string{"ANGLE C-CA-N ALA 2", "ANGLE N-C-CA NME 3", "ANGLE C-N-C NME 3", "ANGLE C-N-CA ACE 1",
		"ANGLE CH3-C-N ACE 1", "ANGLE O-C-N ACE 1", "ANGLE O-C-CA ALA 2"}
	if strings.Join(bbAngles, ",") != strings.Join(wantBB, ",") {
		t.Errorf("backbone angles %v, want %v", bbAngles, wantBB)
	}
	if classes[ClassBond] != 21 || classes[ClassBackboneAngle]+classes[ClassSideChainAngle] != 20 ||
		classes[ClassBackboneTorsion]+classes[ClassSideChainTorsion] != 19 || classes[ClassInterChain] != 0 {
		t.Errorf("class counts %v", classes)
	}
	spec, err := FitSpec(s.z, [][]Vec3{s.pdb}, Reduced)
	if err != nil {
		t.Fatal(err)
	}
	if spec.NumFree() != 7+19 {
		t.Errorf("reduced ala2 has %d free coordinates, want 26", spec.NumFree())
	}
	full, _ := FitSpec(s.z, [][]Vec3{s.pdb}, Full)
	if full.NumFree() != 60 {
		t.Errorf("full ala2 has %d free coordinates, want 60", full.NumFree())
	}
}

// TestZMatrixErrors checks that inputs that cannot be described give an
// error naming the residue and the atom, never a Z-matrix.
func TestZMatrixErrors(t *testing.T) {
	s := loadSystem(t, "hp35", false)
	top := s.top
	leu := -1
	for _, r := range top.Residues {
		if r.Name == "LEU" && r.Index > 0 {
			leu = r.Index
			break
		}
	}
	cases := []struct {
		name string
		e    edit
		want []string // substrings of the error
	}{
		{"unknown residue", edit{rename: func(r *molecule.Residue) string {
			if r.Index == 5 {
				return "LIG"
			}
			return r.Name
		}}, []string{top.Residues[5].String()[3:], "LIG", "unknown residue"}},
		{"missing side-chain atom", edit{keep: func(a *molecule.Atom) bool {
			return !(a.Residue.Index == leu && a.Name == "CD1")
		}}, []string{top.Residues[leu].String(), "CD1", "missing heavy atom"}},
		{"broken chain", edit{keepBond: func(top *molecule.Topology, b molecule.Bond) bool {
			c, n := atomNamed(top, 10, "C").Index, atomNamed(top, 11, "N").Index
			return !(b.I == min(c, n) && b.J == max(c, n))
		}}, []string{top.Residues[10].String(), top.Residues[11].String(), "atom C", "atom N", "broken"}},
		{"no hydrogens", edit{keep: func(a *molecule.Atom) bool { return !isHydrogen(a) }},
			[]string{top.Residues[0].String(), "no hydrogen", "CA"}},
		{"unbonded hydrogen", edit{keepBond: func(top *molecule.Topology, b molecule.Bond) bool {
			ha := atomNamed(top, 3, "HA").Index
			return b.I != ha && b.J != ha
		}}, []string{top.Residues[3].String(), "CA", "hydrogen"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad, _ := tc.e.apply(top)
			z, err := NewZMatrix(bad)
			if err == nil {
				t.Fatalf("no error (Z-matrix with %d entries)", len(z.Entries))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := NewZMatrix(&molecule.Topology{}); err == nil {
		t.Error("empty topology accepted")
	}
}

// TestGapInChain moves the second half of HP35 away by 0.5 nm: the
// topology still has the peptide bond (readers add it as OpenMM does), and
// Fit refuses the structure, naming both residues.
func TestGapInChain(t *testing.T) {
	s := loadSystem(t, "hp35", false)
	x := append([]Vec3(nil), s.pdb...)
	for i, a := range s.top.Atoms {
		if a.Residue.Index >= 20 {
			x[i] = add(x[i], Vec3{0.5, 0, 0})
		}
	}
	_, err := FitSpec(s.z, [][]Vec3{x}, Reduced)
	for _, w := range []string{s.top.Residues[19].String(), s.top.Residues[20].String(), "atom C", "atom N", "chain broken"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %q", err, w)
		}
	}
	if err := s.z.CheckBonds(s.pdb); err != nil {
		t.Errorf("intact structure refused: %v", err)
	}
}

// TestCapInsideChain puts two alanine dipeptides into one chain (a PDB file
// without TER between them): the first NME is inside the chain.
func TestCapInsideChain(t *testing.T) {
	s := loadSystem(t, "ala2", false)
	top := &molecule.Topology{}
	ch := top.AddChain("A")
	for copyNo := 0; copyNo < 2; copyNo++ {
		base := len(top.Atoms)
		for _, r := range s.top.Residues {
			nr := top.AddResidue(ch, r.Name, r.Number+3*copyNo, "")
			for _, a := range r.Atoms {
				top.AddAtom(nr, a.Name, a.Element, 0)
			}
		}
		for _, b := range s.top.Bonds {
			top.AddBond(base+b.I, base+b.J)
		}
	}
	_, err := NewZMatrix(top)
	if err == nil || !strings.Contains(err.Error(), "NME 3") || !strings.Contains(err.Error(), "atom N") ||
		!strings.Contains(err.Error(), "inside chain") {
		t.Errorf("got error %v, want one about NME 3 inside the chain", err)
	}
}

// TestMultiChain splits HP35 into two chains (no bond between residues 17
// and 18): the Z-matrix gets exactly six inter-chain coordinates, and the
// round trip still reproduces the structure.
func TestMultiChain(t *testing.T) {
	s := loadSystem(t, "hp35", false)
	top2, old := edit{
		chainOf: func(r *molecule.Residue) string {
			if r.Index >= 18 {
				return "B"
			}
			return "A"
		},
		keepBond: func(top *molecule.Topology, b molecule.Bond) bool {
			return top.Atoms[b.I].Residue.Index < 18 == (top.Atoms[b.J].Residue.Index < 18)
		},
	}.apply(s.top)
	if len(top2.Chains) != 2 {
		t.Fatalf("%d chains", len(top2.Chains))
	}
	z, err := NewZMatrix(top2)
	if err != nil {
		t.Fatal(err)
	}
	inter := 0
	for _, c := range z.Coords() {
		if c.Class == ClassInterChain {
			inter++
			if !Full.IsFree(c) || !Reduced.IsFree(c) {
				t.Errorf("%s is not free", c.Name)
			}
		}
	}
	if inter != 6 {
		t.Errorf("%d inter-chain coordinates, want 6", inter)
	}
	x := make([]Vec3, len(old))
	for i, o := range old {
		x[i] = s.pdb[o]
	}
	ic := make([]float64, z.NumCoords())
	y := make([]Vec3, len(x))
	if err := z.Internal(x, ic); err != nil {
		t.Fatal(err)
	}
	if err := z.Cartesian(ic, y); err != nil {
		t.Fatal(err)
	}
	can, _, _ := z.CanonicalFrame(x)
	if d := maxDev(y, can); d > 1e-9 {
		t.Errorf("two-chain round trip deviates by %g nm", d)
	}
	// The graph transform in Reduced mode keeps the inter-chain placement free.
	spec, err := FitSpec(z, [][]Vec3{x}, Reduced)
	if err != nil {
		t.Fatal(err)
	}
	g := newExecs(t, spec, dtypes.Float64)
	out := g.toCart.MustExec(g.toInt.MustExec(tensorOf(dtypes.Float64, positionsFlat([][]Vec3{x}), 1, len(x), 3))[0])
	got := unflatten(flat64(t, out[0]), 1, len(x))[0]
	if d := maxDev(got, can); d > 1e-9 {
		t.Errorf("two-chain graph round trip (reduced, references from this structure) deviates by %g nm", d)
	}
}
