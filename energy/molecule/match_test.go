package molecule

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// matchRename gives each atom of a residue its name in another convention;
// first and last say whether the residue begins or ends its chain. "" drops
// the atom. The new residue name is returned too.
type matchRename func(r *Residue, first, last bool) (resName string, atom func(a *Atom) string)

// charmmStyle renames a topology with OpenMM's (PDB v3) names into CHARMM's:
// HN, HT1..3 and OT1/OT2 at the termini, methylene hydrogens HX1/HX2 (the old
// numbering) for HX2/HX3, ILE's CD and HD1..3, SER's and CYS's HG1, HSD,
// HSE or HSP for HIS.
func charmmStyle(r *Residue, first, last bool) (string, func(*Atom) string) {
	has := func(n string) bool { return r.AtomByName(n) != nil }
	name := r.Name
	if name == "HIS" {
		switch {
		case has("HD1") && has("HE2"):
			name = "HSP"
		case has("HD1"):
			name = "HSD"
		default:
			name = "HSE"
		}
	}
	methylenes := map[string][]string{
		"LEU": {"HB"}, "SER": {"HB"}, "CYS": {"HB"}, "PRO": {"HB", "HG", "HD"}, "PHE": {"HB"}, "TYR": {"HB"},
		"TRP": {"HB"}, "HIS": {"HB"}, "ASP": {"HB"}, "ASN": {"HB"}, "GLU": {"HB", "HG"}, "GLN": {"HB", "HG"},
		"MET": {"HB", "HG"}, "LYS": {"HB", "HG", "HD", "HE"}, "ARG": {"HB", "HG", "HD"}, "GLY": {"HA"},
	}
	return name, func(a *Atom) string {
		n := a.Name
		switch {
		case first && n == "H":
			return "HT1"
		case first && (n == "H2" || n == "H3"):
			return "HT" + n[1:]
		case n == "H":
			return "HN"
		case last && n == "O" && has("OXT"):
			return "OT1"
		case last && n == "OXT":
			return "OT2"
		}
		for _, m := range methylenes[r.Name] {
			if n == m+"3" {
				return m + "1"
			}
		}
		switch r.Name + " " + n {
		case "ILE CD1":
			return "CD"
		case "ILE HD11", "ILE HD12", "ILE HD13":
			return "HD" + n[3:]
		case "ILE HG13":
			return "HG11"
		case "SER HG", "CYS HG":
			return "HG1"
		}
		return n
	}
}

// amberTermini names the chain's first and last residues as Amber's
// libraries do (NMET, CGLU) and the N-terminal hydrogens H1, H2, H3.
func amberTermini(r *Residue, first, last bool) (string, func(*Atom) string) {
	name := r.Name
	switch {
	case first:
		name = "N" + name
	case last:
		name = "C" + name
	}
	return name, func(a *Atom) string {
		if first && a.Name == "H" {
			return "H1"
		}
		return a.Name
	}
}

// charmmPatches puts alanine dipeptide's caps into the alanine, named as
// CHARMM's ACE and CT3 patches name them.
func charmmPatches(r *Residue, first, last bool) (string, func(*Atom) string) {
	ace := map[string]string{"CH3": "CAY", "H1": "HY1", "H2": "HY2", "H3": "HY3", "C": "CY", "O": "OY"}
	nme := map[string]string{"N": "NT", "H": "HNT", "C": "CAT", "H1": "HT1", "H2": "HT2", "H3": "HT3"}
	return r.Name, func(a *Atom) string {
		switch r.Name {
		case "ACE":
			return ace[a.Name]
		case "NME":
			return nme[a.Name]
		case "ALA":
			if a.Name == "H" {
				return "HN"
			}
		}
		return a.Name
	}
}

// rewrite writes top (with positions pos) as a PDB file in another
// convention: renamed by rename, the atoms of each residue in a random order
// (seed), residues renumbered from 101, chain IDs B, C, ... Atoms whose new
// name is "" are left out; with merge, a residue named ACE or NME joins the
// residue after or before it (CHARMM's cap patches). It returns the file and,
// for each atom of top, its index in the file (-1 if left out).
func rewrite(t *testing.T, top *Topology, pos []Vec3, rename matchRename, seed uint64, merge bool) (string, []int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	out := &Topology{}
	var newPos []Vec3
	where := make([]int, len(top.Atoms))
	for i := range where {
		where[i] = -1
	}
	for ci, c := range top.Chains {
		nc := out.AddChain(string(rune('B' + ci)))
		var pending []*Atom // ACE atoms waiting for their residue
		var pendingNames []string
		var last *Residue
		for k, r := range c.Residues {
			name, atomName := rename(r, k == 0, k == len(c.Residues)-1)
			var atoms []*Atom
			var names []string
			for _, a := range r.Atoms {
				if n := atomName(a); n != "" {
					atoms, names = append(atoms, a), append(names, n)
				}
			}
			if merge && r.Name == "ACE" {
				pending, pendingNames = atoms, names
				continue
			}
			perm := rng.Perm(len(atoms) + len(pending))
			all, allNames := append(pending, atoms...), append(pendingNames, names...)
			pending, pendingNames = nil, nil
			var nr *Residue
			if merge && r.Name == "NME" && last != nil {
				nr = last
			} else {
				nr = out.AddResidue(nc, name, 101+k, "")
			}
			for _, p := range perm {
				a := all[p]
				na := out.AddAtom(nr, allNames[p], a.Element, 0)
				where[a.Index] = na.Index
				newPos = append(newPos, pos[a.Index])
			}
			last = nr
		}
	}
	path := filepath.Join(t.TempDir(), "rewritten.pdb")
	if err := WritePDBFile(path, out, [][]Vec3{newPos}, nil); err != nil {
		t.Fatal(err)
	}
	return path, where
}

func readSource(t *testing.T, path string) AtomSource {
	t.Helper()
	p, err := ReadPDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return AtomSource{File: path, Top: p.Topology, Positions: p.Models[0]}
}

// modelTopology is the topology inside the committed alanine dipeptide
// model (gobg build's names: ACE HH31 CH3 HH32 HH33, NME CH3 HH31..33).
func modelTopology(t *testing.T) AtomSource {
	t.Helper()
	path := filepath.Join(testenv.Root(), "examples", "ala2", "model.gobg")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no topology.pdb: %v", path, err)
		}
		if h.Name == "topology.pdb" {
			p, err := ReadPDB(tr, path)
			if err != nil {
				t.Fatal(err)
			}
			return AtomSource{File: path, Top: p.Topology, Positions: p.Models[0]}
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			t.Fatal(err)
		}
	}
}

// hydrogenGroups are the reference's centres with two or three terminal
// hydrogens and four bonds, each with the triple whose handedness
// MatchAtoms keeps (see orientHydrogens).
func hydrogenGroups(top *Topology) map[int][3]int {
	nb := top.Neighbors()
	out := map[int][3]int{}
	for c, ns := range nb {
		if len(ns) != 4 {
			continue
		}
		var hs, heavy []int
		for _, a := range ns {
			if el := top.Atoms[a].Element; el != nil && el.Symbol == "H" && len(nb[a]) == 1 {
				hs = append(hs, a)
			} else {
				heavy = append(heavy, a)
			}
		}
		switch len(hs) {
		case 3:
			out[c] = [3]int{hs[0], hs[1], hs[2]}
		case 2:
			out[c] = [3]int{heavy[0], heavy[1], hs[0]}
		}
	}
	return out
}

// checkPairing checks what any correct pairing satisfies: a permutation,
// paired atoms of the same element, every bond of ref a bond of other (where
// other has its bonds from templates), and every hydrogen group of the same
// handedness in both structures.
func checkPairing(t *testing.T, ref, other AtomSource, m *AtomMatch, bonds bool) {
	t.Helper()
	if len(m.Order) != len(ref.Top.Atoms) || len(ref.Top.Atoms) != len(other.Top.Atoms) {
		t.Fatalf("%d pairs for %d and %d atoms", len(m.Order), len(ref.Top.Atoms), len(other.Top.Atoms))
	}
	seen := make([]bool, len(m.Order))
	for i, j := range m.Order {
		if j < 0 || j >= len(seen) || seen[j] {
			t.Fatalf("Order is not a permutation: Order[%d] = %d", i, j)
		}
		seen[j] = true
		if a, b := ref.Top.Atoms[i], other.Top.Atoms[j]; a.Element != b.Element {
			t.Errorf("%s paired with %s: elements differ", atomLabel(a), atomLabel(b))
		}
	}
	if bonds {
		have := map[Bond]bool{}
		for _, b := range other.Top.Bonds {
			have[b] = true
		}
		for _, b := range ref.Top.Bonds {
			i, j := m.Order[b.I], m.Order[b.J]
			if !have[Bond{min(i, j), max(i, j)}] {
				t.Errorf("bond %s-%s of %s is not a bond of %s", atomLabel(ref.Top.Atoms[b.I]), atomLabel(ref.Top.Atoms[b.J]), ref.File, other.File)
			}
		}
	}
	for c, tr := range hydrogenGroups(ref.Top) {
		hr := handedness(ref.Positions, c, tr)
		ho := handedness(other.Positions, m.Order[c], [3]int{m.Order[tr[0]], m.Order[tr[1]], m.Order[tr[2]]})
		if hr != ho {
			t.Errorf("hydrogens on %s: handedness %d in %s, %d in %s as paired", atomLabel(ref.Top.Atoms[c]), hr, ref.File, ho, other.File)
		}
	}
}

func TestMatchAtoms(t *testing.T) {
	data := testenv.SharedData(t)
	ala2 := readSource(t, filepath.Join(data, "ala2.pdb"))
	ala2MD := readSource(t, filepath.Join(data, "md", "ala2", "top.pdb"))
	model := modelTopology(t)
	hp35 := readSource(t, filepath.Join(data, "hp35.pdb"))
	proteinG := readSource(t, filepath.Join(data, "protein_g.pdb"))

	t.Run("same naming", func(t *testing.T) {
		// The MD's topology and the system's PDB: one convention, one order.
		m, err := MatchAtoms(ala2, ala2MD)
		if err != nil {
			t.Fatal(err)
		}
		checkPairing(t, ala2, ala2MD, m, true)
		if !m.IsIdentity() || len(m.Reoriented) > 0 {
			t.Errorf("order %v, reoriented %v; want the identity", m.Order, m.Reoriented)
		}
	})

	t.Run("model against MD topology", func(t *testing.T) {
		// gobg build's names and order (HH31 CH3 HH32 HH33) against
		// OpenMM's (CH3 H1 H2 H3): the case of a count-only pairing.
		m, err := MatchAtoms(model, ala2MD)
		if err != nil {
			t.Fatal(err)
		}
		checkPairing(t, model, ala2MD, m, true)
		if m.IsIdentity() {
			t.Errorf("identity pairing of differently ordered files")
		}
		// By name alone, the groups MatchAtoms reoriented have the other
		// handedness, and only those.
		byName, err := MatchAtoms(AtomSource{File: model.File, Top: model.Top}, AtomSource{File: ala2MD.File, Top: ala2MD.Top})
		if err != nil {
			t.Fatal(err)
		}
		var flipped []string
		for c, tr := range hydrogenGroups(model.Top) {
			o := byName.Order
			if handedness(model.Positions, c, tr) != handedness(ala2MD.Positions, o[c], [3]int{o[tr[0]], o[tr[1]], o[tr[2]]}) {
				a := model.Top.Atoms[c]
				flipped = append(flipped, a.Residue.String()+" "+a.Name)
			}
		}
		var got []string
		for _, g := range m.Reoriented {
			got = append(got, g[:strings.Index(g, ":")])
		}
		slices.Sort(flipped)
		slices.Sort(got)
		if !slices.Equal(got, flipped) {
			t.Errorf("reoriented %v; pairing by name mirrors %v", m.Reoriented, flipped)
		}
		t.Logf("reoriented: %v", m.Reoriented)
	})

	shuffled := []struct {
		name   string
		src    AtomSource
		rename matchRename
		merge  bool
	}{
		{"hp35 CHARMM", hp35, charmmStyle, false},
		{"protein_g CHARMM", proteinG, charmmStyle, false},
		{"protein_g Amber termini", proteinG, amberTermini, false},
		{"ala2 CHARMM patches", ala2MD, charmmPatches, true},
	}
	for k, c := range shuffled {
		t.Run(c.name, func(t *testing.T) {
			path, where := rewrite(t, c.src.Top, c.src.Positions, c.rename, uint64(k+1), c.merge)
			other := readSource(t, path)
			if c.merge && len(other.Top.Residues) != 1 {
				t.Fatalf("%s has %d residues, want the caps inside the alanine", path, len(other.Top.Residues))
			}
			m, err := MatchAtoms(c.src, other)
			if err != nil {
				t.Fatal(err)
			}
			checkPairing(t, c.src, other, m, !c.merge)
			if !slices.Equal(m.Order, where) {
				t.Errorf("order %v, want %v", m.Order, where)
			}
			// The file holds the same structure: paired atoms coincide (to
			// the PDB's 0.001 Å).
			got := make([]Vec3, len(m.Order))
			m.ToRef(got, other.Positions)
			if d := maxDiff(got, c.src.Positions); d > 1e-4 {
				t.Errorf("paired positions differ by %.3g nm", d)
			}
			back := make([]Vec3, len(m.Order))
			m.FromRef(back, got)
			if d := maxDiff(back, other.Positions); d != 0 {
				t.Errorf("FromRef(ToRef(x)) differs from x by %g", d)
			}
			if len(m.Reoriented) > 0 {
				t.Errorf("reoriented %v in an identical structure", m.Reoriented)
			}
		})
	}

	// Names that mirror the structure: the geometry wins, and the paired
	// atoms coincide. Exchanging a methylene's names (HB2/HB3 of SER 2) and
	// two of a methyl's (HD12/HD13 of LEU 1).
	t.Run("mirrored names", func(t *testing.T) {
		swap := map[string]string{"SER HB2": "HB3", "SER HB3": "HB2", "LEU HD12": "HD13", "LEU HD13": "HD12"}
		rename := func(r *Residue, first, last bool) (string, func(*Atom) string) {
			return r.Name, func(a *Atom) string {
				if n, ok := swap[r.Name+" "+a.Name]; ok && r.Index < 2 {
					return n
				}
				return a.Name
			}
		}
		path, _ := rewrite(t, hp35.Top, hp35.Positions, rename, 9, false)
		other := readSource(t, path)
		m, err := MatchAtoms(hp35, other)
		if err != nil {
			t.Fatal(err)
		}
		checkPairing(t, hp35, other, m, true)
		got := make([]Vec3, len(m.Order))
		m.ToRef(got, other.Positions)
		if d := maxDiff(got, hp35.Positions); d > 1e-4 {
			t.Errorf("paired positions differ by %.3g nm", d)
		}
		if len(m.Reoriented) != 2 {
			t.Errorf("reoriented %v, want SER 2's CB and LEU 1's CD1", m.Reoriented)
		}
		t.Logf("reoriented: %v", m.Reoriented)
	})

	// Refusals: the error names the first atom that cannot be matched and
	// lists what is missing and extra.
	lines := func(src string, edit func([]string) []string) AtomSource {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "edited.pdb")
		if err := os.WriteFile(path, []byte(strings.Join(edit(strings.Split(string(b), "\n")), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return readSource(t, path)
	}
	replaceLine := func(old, new string) func([]string) []string {
		return func(ls []string) []string {
			for i, l := range ls {
				if strings.HasPrefix(l, "CONECT") {
					ls[i] = ""
				}
				if strings.Contains(l, old) {
					ls[i] = strings.Replace(l, old, new, 1)
				}
			}
			return ls
		}
	}
	for _, c := range []struct {
		name           string
		ref, other     AtomSource
		first          []string // substrings of MatchError.First
		missing, extra int      // -1: some
	}{
		{"unknown atom", ala2MD, lines(ala2MD.File, replaceLine(" HB2 ALA A   2", " HQ2 ALA A   2")),
			[]string{"chain \"A\", ALA 2, atom HQ2", "has no such atom"}, 1, 1},
		{"missing atom", ala2MD, lines(ala2MD.File, replaceLine("HETATM   21  H2  NME", "REMARK")),
			[]string{"chain \"A\", NME 3, atom H2", "missing from"}, 1, 0},
		{"two names for one atom", ala2MD, lines(ala2MD.File, replaceLine(" HA  ALA A   2", " HN  ALA A   2")),
			[]string{"chain \"A\", ALA 2, atom HN", "H and HN of this residue are both H"}, 1, 1},
		{"different sequence", ala2MD, lines(ala2MD.File, replaceLine("ALA A   2", "SER A   2")),
			[]string{"SER 2, atom N", "different sequence"}, 10, 10},
		{"other protein", hp35, proteinG, []string{"MET 1, atom N", "different sequence"}, -1, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := MatchAtoms(c.ref, c.other)
			var me *MatchError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, %v; want a *MatchError", m, err)
			}
			for _, s := range c.first {
				if !strings.Contains(me.First, s) {
					t.Errorf("first unmatched atom %q does not say %q", me.First, s)
				}
			}
			if !strings.Contains(me.First, c.other.File) && !strings.Contains(me.First, c.ref.File) {
				t.Errorf("%q names no file", me.First)
			}
			count := func(got []string, want int) bool { return len(got) == want || (want < 0 && len(got) > 0) }
			if !count(me.Missing, c.missing) || !count(me.Extra, c.extra) {
				t.Errorf("missing %v, extra %v; want %d and %d", me.Missing, me.Extra, c.missing, c.extra)
			}
			t.Logf("%v", err)
		})
	}
}
