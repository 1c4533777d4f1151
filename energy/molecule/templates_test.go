package molecule

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// templateTablesScript prints OpenMM's residue templates (Topology's
// standard bonds from residues.xml) and PDBFile's residue and atom name
// replacement tables (from pdbNames.xml).
const templateTablesScript = `
import json
from openmm.app import PDBFile, Topology
Topology().createStandardBonds()
PDBFile._loadNameReplacementTables()
print(json.dumps({
    'bonds': {k: [list(b) for b in v] for k, v in Topology._standardBonds.items()},
    'residues': PDBFile._residueNameReplacements,
    'atoms': PDBFile._atomNameReplacements,
}))
`

// gobgOnlyResidueAliases are residue names gobg maps to a template and
// OpenMM does not (documented in templates.go).
var gobgOnlyResidueAliases = map[string]string{"LYN": "LYS", "CYM": "CYS", "HSE": "HIS"}

// TestTemplatesMatchOpenMM compares gobg's Go tables with OpenMM's data
// files: the bonds of every residue gobg has a template for, every residue
// name alias, and every atom name alias of those residues.
func TestTemplatesMatchOpenMM(t *testing.T) {
	var ref struct {
		Bonds    map[string][][2]string
		Residues map[string]string
		Atoms    map[string]map[string]string
	}
	if err := json.Unmarshal(testenv.RunPython(t, templateTablesScript), &ref); err != nil {
		t.Fatal(err)
	}
	if len(templates) != 24 {
		t.Errorf("%d templates, want 24 (20 amino acids, ACE, NME, NH2, HOH)", len(templates))
	}
	for name, tpl := range templates {
		want, ok := ref.Bonds[name]
		if !ok {
			t.Errorf("OpenMM has no template %s", name)
			continue
		}
		var w, g []string
		link := false
		for _, b := range want {
			if b == [2]string{"-C", "N"} {
				link = true
				continue
			}
			w = append(w, pairKey(b[0], b[1]))
		}
		for _, b := range tpl.bonds {
			g = append(g, pairKey(b[0], b[1]))
		}
		sort.Strings(w)
		sort.Strings(g)
		if len(w) != len(g) {
			t.Errorf("%s: %d bonds, OpenMM %d\n gobg   %v\n OpenMM %v", name, len(g), len(w), g, w)
			continue
		}
		for i := range w {
			if w[i] != g[i] {
				t.Errorf("%s: bond %s, OpenMM %s", name, g[i], w[i])
			}
		}
		if link != tpl.peptideLink {
			t.Errorf("%s: peptide link %v, OpenMM %v", name, tpl.peptideLink, link)
		}
	}
	// Residue names: every OpenMM alias leads to the same template (or to
	// none where OpenMM's target is a residue gobg has no template for).
	for alias, canon := range ref.Residues {
		got, ok := CanonicalResidueName(alias)
		_, want := templates[canon]
		if ok != want || (ok && got != canon) {
			t.Errorf("residue %s: gobg %s (template %v), OpenMM %s (gobg template %v)", alias, got, ok, canon, want)
		}
	}
	for alias, canon := range residueAliases {
		if ref.Residues[alias] != canon && gobgOnlyResidueAliases[alias] != canon {
			t.Errorf("residue alias %s -> %s is neither OpenMM's (%q) nor a documented addition", alias, canon, ref.Residues[alias])
		}
	}
	// Atom names, per residue, in both directions.
	for name := range templates {
		omm := ref.Atoms[name]
		if omm == nil {
			t.Errorf("OpenMM has no atom name table for %s", name)
			continue
		}
		names := map[string]bool{}
		for k := range omm {
			names[k] = true
		}
		for k := range atomAliases[name] {
			names[k] = true
		}
		for _, b := range templates[name].bonds {
			names[b[0]], names[b[1]] = true, true
		}
		for k := range names {
			want, ok := omm[k]
			if !ok {
				want = k
			}
			if got := CanonicalAtomName(name, k); got != want {
				t.Errorf("%s atom %s: gobg %s, OpenMM %s", name, k, got, want)
			}
		}
	}
	// An alias resolves through the residue alias too.
	if got := CanonicalAtomName("WAT", "OW"); got != "O" {
		t.Errorf("WAT OW -> %s, want O", got)
	}
	if got := CanonicalAtomName("LIG", "HN"); got != "HN" {
		t.Errorf("LIG HN -> %s, want HN unchanged (no template)", got)
	}
}

func pairKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "-" + b
}
