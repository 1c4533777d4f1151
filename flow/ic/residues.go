package ic

import (
	"strings"

	"github.com/gobg/gobg/energy/molecule"
)

// residueKind says how a residue takes part in a chain.
type residueKind uint8

const (
	aminoAcid residueKind = iota
	capACE                // N-terminal acetyl cap: CH3-C(=O)-
	capNME                // C-terminal N-methylamide cap: -NH-CH3
)

// residueInfo is what the Z-matrix builder needs to know about one residue
// type: its role in the chain and its heavy atoms, in the canonical order
// that decides which branch of a fork carries the proper torsion (CG1 before
// CG2 makes chi1 of ILE/VAL the IUPAC N-CA-CB-CG1 dihedral, OG1 before CG2
// does the same for THR, ND1 before CD2 for HIS).
type residueInfo struct {
	kind residueKind
	// heavy lists the side-chain heavy atoms of an amino acid (without N, CA,
	// C, O), or all heavy atoms of a cap.
	heavy []string
}

// Heavy atoms of the standard amino acids (Amber/PDB names). Protonation
// variants that OpenMM's Amber templates use share the heavy atoms of their
// parent residue.
var aminoAcidSideChains = map[string][]string{
	"ALA": {"CB"},
	"ARG": {"CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"},
	"ASN": {"CB", "CG", "OD1", "ND2"},
	"ASP": {"CB", "CG", "OD1", "OD2"},
	"CYS": {"CB", "SG"},
	"GLN": {"CB", "CG", "CD", "OE1", "NE2"},
	"GLU": {"CB", "CG", "CD", "OE1", "OE2"},
	"GLY": {},
	"HIS": {"CB", "CG", "ND1", "CD2", "CE1", "NE2"},
	"ILE": {"CB", "CG1", "CG2", "CD1"},
	"LEU": {"CB", "CG", "CD1", "CD2"},
	"LYS": {"CB", "CG", "CD", "CE", "NZ"},
	"MET": {"CB", "CG", "SD", "CE"},
	"PHE": {"CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"},
	"PRO": {"CB", "CG", "CD"},
	"SER": {"CB", "OG"},
	"THR": {"CB", "OG1", "CG2"},
	"TRP": {"CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"},
	"TYR": {"CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"},
	"VAL": {"CB", "CG1", "CG2"},
}

// protonationVariants maps Amber's residue names for other protonation
// states to the standard residue with the same heavy atoms.
var protonationVariants = map[string]string{
	"ASH": "ASP", "GLH": "GLU", "HID": "HIS", "HIE": "HIS", "HIP": "HIS",
	"HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "CYX": "CYS", "CYM": "CYS", "LYN": "LYS",
}

// backboneNames are the heavy backbone atoms of an amino acid; OXT is the
// second carboxylate oxygen of a charged C terminus (optional).
var backboneNames = []string{"N", "CA", "C", "O"}

// lookupResidue returns the residue type of name, or false when gobg does not
// know it (ligands, water, ions, nucleic acids).
func lookupResidue(name string) (residueInfo, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	switch name {
	case "ACE":
		return residueInfo{kind: capACE, heavy: []string{"CH3", "C", "O"}}, true
	case "NME":
		return residueInfo{kind: capNME, heavy: []string{"N", "C"}}, true
	}
	if std, ok := protonationVariants[name]; ok {
		name = std
	}
	sc, ok := aminoAcidSideChains[name]
	if !ok {
		return residueInfo{}, false
	}
	return residueInfo{kind: aminoAcid, heavy: sc}, true
}

// standardName returns the standard amino-acid name of a residue name
// (HIE -> HIS), or the name itself.
func standardName(name string) string {
	name = strings.ToUpper(strings.TrimSpace(name))
	if std, ok := protonationVariants[name]; ok {
		return std
	}
	return name
}

// atomByName finds an atom of r by name. The NME methyl carbon is "C" in
// OpenMM's templates and "CH3" in some other tools; both are accepted.
func atomByName(r *molecule.Residue, name string) *molecule.Atom {
	if a := r.AtomByName(name); a != nil {
		return a
	}
	if name == "C" && strings.EqualFold(strings.TrimSpace(r.Name), "NME") {
		return r.AtomByName("CH3")
	}
	return nil
}

// isHydrogen tells hydrogens from heavy atoms, by element where the topology
// has one and by the PDB naming convention (first letter H, after any leading
// digit) where it does not.
func isHydrogen(a *molecule.Atom) bool {
	if a.Element != nil {
		return a.Element.Number == 1
	}
	n := strings.TrimLeft(strings.TrimSpace(a.Name), "0123456789")
	return strings.HasPrefix(strings.ToUpper(n), "H")
}

// isBackboneAtom reports whether a is a heavy backbone atom in the sense of
// the coordinate classes: N, CA, C, O, OXT of an amino acid and the heavy
// atoms of the caps (which continue the backbone).
func isBackboneAtom(a *molecule.Atom) bool {
	if isHydrogen(a) {
		return false
	}
	info, ok := lookupResidue(a.Residue.Name)
	if !ok {
		return false
	}
	switch info.kind {
	case capACE, capNME:
		return true
	}
	switch a.Name {
	case "N", "CA", "C", "O", "OXT":
		return true
	}
	return false
}

// sideChainRank orders the side-chain heavy atoms of a residue as in the
// table above; atoms that the table does not list come after, by name.
func sideChainRank(r *molecule.Residue, a *molecule.Atom) int {
	info, ok := lookupResidue(r.Name)
	if ok {
		for k, n := range info.heavy {
			if n == a.Name {
				return k
			}
		}
	}
	return len(info.heavy) + 1
}
