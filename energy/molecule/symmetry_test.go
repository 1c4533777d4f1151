package molecule

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// symmetricCentres are the centres of methyl and NH3+ groups in Amber's
// residues, by residue name (a charged N-terminus adds its N).
var symmetricCentres = map[string][]string{
	"ALA": {"CB"}, "VAL": {"CG1", "CG2"}, "LEU": {"CD1", "CD2"}, "ILE": {"CG2", "CD1"}, "THR": {"CG2"},
	"MET": {"CE"}, "LYS": {"NZ"}, "ACE": {"CH3"}, "NME": {"CH3"},
}

// TestSymmetricGroups checks the groups found in the reference proteins
// against a table of Amber's residues: every expected centre, nothing else,
// with the right number of terminal atoms.
func TestSymmetricGroups(t *testing.T) {
	for _, name := range []string{"ala2", "hp35", "protein_g"} {
		t.Run(name, func(t *testing.T) {
			p, err := ReadPDBFile(filepath.Join(testenv.SharedData(t), name+".pdb"))
			if err != nil {
				t.Fatal(err)
			}
			top := p.Topology
			var want []string
			for i, r := range top.Residues {
				for _, c := range symmetricCentres[r.Name] {
					if r.Name == "NME" && !slices.ContainsFunc(r.Atoms, func(a *Atom) bool { return a.Name == "CH3" }) {
						c = "C" // NME's methyl carbon in older files
					}
					want = append(want, fmt.Sprintf("%s%d:%s", r.Name, r.Number, c))
				}
				// A charged N-terminus (no cap): NH3+.
				if i == 0 && r.Name != "ACE" {
					want = append(want, fmt.Sprintf("%s%d:N", r.Name, r.Number))
				}
			}
			var got []string
			for _, g := range top.SymmetricGroups() {
				c := top.Atoms[g.Centre]
				got = append(got, fmt.Sprintf("%s%d:%s", c.Residue.Name, c.Residue.Number, c.Name))
				if len(g.Atoms) != 3 || top.Atoms[g.Atoms[0]].Element.Symbol != "H" {
					t.Errorf("%s: terminal atoms %v, want three hydrogens", got[len(got)-1], g.Atoms)
				}
				if !slices.Contains(top.Neighbors()[g.Centre], g.Parent) {
					t.Errorf("%s: parent %d is not bonded to the centre", got[len(got)-1], g.Parent)
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("symmetric groups\n got %v\nwant %v", got, want)
			}
			t.Logf("%d symmetric groups", len(got))
		})
	}
}
