package molecule

import "strings"

// Residue templates: which atoms of a standard residue are bonded, by atom
// name. The facts (bond lists, alternate residue and atom names) are those of
// OpenMM's residues.xml and pdbNames.xml, restated here as Go tables for the
// residues gobg needs: the 20 amino acids with their Amber protonation
// variants, the ACE, NME and NH2 caps, and water. Nucleic acids and OpenMM's
// rarer residues (AIB, ORN, PCA, FOR, UNK) are not covered; they get bonds
// guessed from distances like any other residue without a template.
//
// OpenMM renames residues and atoms to canonical names when it reads a PDB
// file (HID -> HIS, HN -> H, 1HB -> HB3 ...) and then matches templates. gobg
// keeps the names of the file and instead maps them to canonical names when it
// matches, which gives the same bonds.

// residueTemplate is one canonical residue.
type residueTemplate struct {
	name  string
	bonds [][2]string // intra-residue bonds by canonical atom name
	// peptideLink: the residue's N is bonded to the C of the previous residue
	// in the chain (OpenMM's "-C"/"N" external bond).
	peptideLink bool
	atoms       map[string]bool // every atom name that occurs in bonds
	protein     bool            // protein-wide alternate atom names apply
}

// aminoBackbone are the bonds every amino acid template has: the backbone,
// the three hydrogens of a charged N terminus and the C-terminal OXT/HXT.
const aminoBackbone = "N-CA CA-C C-O C-OXT OXT-HXT N-H N-H2 N-H3"

// aminoSideChains lists each amino acid's bonds beyond aminoBackbone. CA-HA
// is included where the residue has a single alpha hydrogen.
var aminoSideChains = map[string]string{
	"ALA": "CA-HA CA-CB CB-HB1 CB-HB2 CB-HB3",
	"ARG": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG2 CG-HG3 CG-CD CD-HD2 CD-HD3 CD-NE NE-HE NE-CZ CZ-NH1 CZ-NH2 NH1-HH11 NH1-HH12 NH2-HH21 NH2-HH22",
	"ASN": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-OD1 CG-ND2 ND2-HD21 ND2-HD22",
	"ASP": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-OD1 CG-OD2 OD2-HD2",
	"CYS": "CA-HA CA-CB CB-HB2 CB-HB3 CB-SG SG-HG",
	"GLN": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG2 CG-HG3 CG-CD CD-OE1 CD-NE2 NE2-HE21 NE2-HE22",
	"GLU": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG2 CG-HG3 CG-CD CD-OE1 CD-OE2 OE2-HE2",
	"GLY": "CA-HA2 CA-HA3",
	"HIS": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-ND1 CG-CD2 ND1-HD1 ND1-CE1 CE1-HE1 CE1-NE2 CD2-HD2 CD2-NE2 NE2-HE2",
	"ILE": "CA-HA CA-CB CB-HB CB-CG1 CB-CG2 CG1-HG12 CG1-HG13 CG1-CD1 CD1-HD11 CD1-HD12 CD1-HD13 CG2-HG21 CG2-HG22 CG2-HG23",
	"LEU": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG CG-CD1 CG-CD2 CD1-HD11 CD1-HD12 CD1-HD13 CD2-HD21 CD2-HD22 CD2-HD23",
	"LYS": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG2 CG-HG3 CG-CD CD-HD2 CD-HD3 CD-CE CE-HE2 CE-HE3 CE-NZ NZ-HZ1 NZ-HZ2 NZ-HZ3",
	"MET": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG2 CG-HG3 CG-SD SD-CE CE-HE1 CE-HE2 CE-HE3",
	"PHE": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-CD1 CG-CD2 CD1-HD1 CD1-CE1 CD2-HD2 CD2-CE2 CE1-HE1 CE1-CZ CE2-HE2 CE2-CZ CZ-HZ",
	"PRO": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-HG2 CG-HG3 CG-CD CD-HD2 CD-HD3 CD-N",
	"SER": "CA-HA CA-CB CB-HB2 CB-HB3 CB-OG OG-HG",
	"THR": "CA-HA CA-CB CB-HB CB-OG1 CB-CG2 OG1-HG1 CG2-HG21 CG2-HG22 CG2-HG23",
	"TRP": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-CD1 CG-CD2 CD1-HD1 CD1-NE1 NE1-HE1 NE1-CE2 CD2-CE2 CD2-CE3 CE2-CZ2 CE3-HE3 CE3-CZ3 CZ2-HZ2 CZ2-CH2 CZ3-HZ3 CZ3-CH2 CH2-HH2",
	"TYR": "CA-HA CA-CB CB-HB2 CB-HB3 CB-CG CG-CD1 CG-CD2 CD1-HD1 CD1-CE1 CD2-HD2 CD2-CE2 CE1-HE1 CE1-CZ CE2-HE2 CE2-CZ CZ-OH OH-HH",
	"VAL": "CA-HA CA-CB CB-HB CB-CG1 CB-CG2 CG1-HG11 CG1-HG12 CG1-HG13 CG2-HG21 CG2-HG22 CG2-HG23",
}

// otherTemplates are the caps and water. ACE's C-H bond is in OpenMM's
// template too (it makes a formyl-like cap work); it is harmless where the
// atom is absent.
var otherTemplates = []struct {
	name, bonds string
	peptideLink bool
	protein     bool
}{
	{"ACE", "CH3-C C-O CH3-H1 CH3-H2 CH3-H3 C-H", false, true},
	{"NME", "N-H N-HN2 N-C C-H1 C-H2 C-H3", true, true},
	{"NH2", "N-HN1 N-HN2", true, true},
	{"HOH", "O-H1 O-H2", false, false},
}

// residueAliases maps alternate residue names to canonical ones. All but
// LYN, CYM and HSE are OpenMM's; OpenMM has no template for those three (it
// leaves them without bonds), gobg maps them to the residue they are a
// protonation state of.
var residueAliases = map[string]string{
	"CYX": "CYS", "CYM": "CYS",
	"HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HIH": "HIS",
	"HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HSH": "HIS",
	"ASH": "ASP", "GLH": "GLU", "LYN": "LYS",
	"NMA": "NME", "NHE": "NH2",
	"WAT": "HOH", "H2O": "HOH", "SOL": "HOH", "TIP3": "HOH", "TP3": "HOH",
	"TIP": "HOH", "T4P": "HOH", "SPC": "HOH",
}

// proteinAtomAliases apply to every protein residue (amino acids and caps)
// unless the residue's own table says otherwise.
var proteinAtomAliases = map[string]string{
	"HN": "H", "H1": "H", "1H": "H", "HN1": "H", "HT1": "H",
	"2H": "H2", "HN2": "H2", "HT2": "H2",
	"3H": "H3", "HN3": "H3", "HT3": "H3",
	"O1": "O", "OT1": "O", "OCT1": "O", "OC1": "O",
	"O2": "OXT", "OT2": "OXT", "OCT2": "OXT", "OC2": "OXT", "OT": "OXT",
}

// methylene gives the aliases of a CH2 group's hydrogens HX2/HX3 in the
// older naming that called them HX1/HX2 (and 1HX/2HX): 2HX -> HX2 and
// HX1, 1HX, 3HX -> HX3.
func methylene(h string) map[string]string {
	return map[string]string{"2" + h: h + "2", h + "1": h + "3", "1" + h: h + "3", "3" + h: h + "3"}
}

// numbered gives the aliases "1HX" -> "HX1" ... of the listed hydrogens.
// Each entry is a canonical name whose last character is the number.
func numbered(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		k := len(n) - 1
		m[n[k:]+n[:k]] = n
	}
	return m
}

// residueAtomAliases are the per-residue alternate atom names (canonical
// names map to themselves implicitly, see atomAliases).
var residueAtomAliases = map[string][]map[string]string{
	"GLY": {{"2HA": "HA2", "HA1": "HA3", "1HA": "HA3", "3HA": "HA3"}},
	"ALA": {numbered("HB1", "HB2", "HB3")},
	"VAL": {numbered("HG11", "HG12", "HG13", "HG21", "HG22", "HG23")},
	"LEU": {methylene("HB"), numbered("HD11", "HD12", "HD13", "HD21", "HD22", "HD23")},
	"ILE": {{"CD": "CD1", "2HG1": "HG12", "HG11": "HG13", "1HG1": "HG13", "3HG1": "HG13",
		"HD1": "HD11", "HD2": "HD12", "HD3": "HD13"},
		numbered("HG21", "HG22", "HG23", "HD11", "HD12", "HD13")},
	"SER": {methylene("HB"), {"OG1": "OG", "HG1": "HG", "HOG": "HG"}},
	"THR": {{"OG": "OG1", "CG": "CG2", "HOG": "HG1", "HOG1": "HG1", "1HG": "HG1"},
		numbered("HG21", "HG22", "HG23")},
	"CYS": {methylene("HB"), {"SG1": "SG", "HG1": "HG", "HSG": "HG"}},
	"PRO": {methylene("HB"), methylene("HG"), methylene("HD"), {"HT1": "H2", "HT2": "H3"}},
	"PHE": {methylene("HB"), numbered("HD1", "HD2", "HE1", "HE2")},
	"TYR": {methylene("HB"), {"HOH": "HH"}},
	"TRP": {methylene("HB"), {"HNE": "HE1"}},
	"HIS": {methylene("HB"), {"HND": "HD1", "HND1": "HD1", "HD": "HD2", "HE": "HE1", "HNE": "HE2", "HNE2": "HE2"}},
	"ASP": {methylene("HB")},
	"ASN": {methylene("HB"), {"OD": "OD1", "ND": "ND2", "HND1": "HD21", "HND2": "HD22"}, numbered("HD21", "HD22")},
	"GLU": {methylene("HB"), methylene("HG")},
	"GLN": {methylene("HB"), methylene("HG"), {"OE": "OE1", "NE": "NE2", "HNE1": "HE21", "HNE2": "HE22"}, numbered("HE21", "HE22")},
	"MET": {methylene("HB"), methylene("HG"), numbered("HE1", "HE2", "HE3")},
	"LYS": {methylene("HB"), methylene("HG"), methylene("HD"), methylene("HE"),
		numbered("HZ1", "HZ2", "HZ3"), {"HNZ1": "HZ1", "HNZ2": "HZ2", "HNZ3": "HZ3"}},
	"ARG": {methylene("HB"), methylene("HG"), methylene("HD"),
		{"1HH1": "HH11", "2HH1": "HH12", "1HH2": "HH21", "2HH2": "HH22",
			"HN11": "HH11", "HN12": "HH12", "HN21": "HH21", "HN22": "HH22"}},
	"ACE": {{"CY": "C", "CAY": "CH3", "CA": "CH3", "OY": "O",
		"1H": "H1", "HY1": "H1", "HH31": "H1", "1HH3": "H1",
		"2H": "H2", "HY2": "H2", "HH32": "H2", "2HH3": "H2",
		"3H": "H3", "HY3": "H3", "HH33": "H3", "3HH3": "H3"}},
	"NME": {{"NT": "N", "CH3": "C", "CT": "C", "CAT": "C", "CA": "C", "HNT": "H", "HN": "H",
		"1H": "H1", "1HA": "H1", "HT1": "H1", "HH31": "H1", "1HH3": "H1",
		"2H": "H2", "2HA": "H2", "HT2": "H2", "HH32": "H2", "2HH3": "H2",
		"3H": "H3", "3HA": "H3", "HT3": "H3", "HH33": "H3", "3HH3": "H3"}},
	"NH2": {{"NT": "N", "1H": "HN1", "HT1": "HN1", "H1": "HN1", "2H": "HN2", "HT2": "HN2", "H2": "HN2"}},
	"HOH": {{"OW": "O", "OH2": "O", "HW1": "H1", "HW2": "H2"}},
}

var (
	templates    map[string]*residueTemplate
	atomAliases  map[string]map[string]string // canonical residue -> alias -> canonical atom
	nonHeteroRes map[string]bool              // OpenMM's standard residues, for the CONECT metal rule
)

func init() {
	templates = map[string]*residueTemplate{}
	add := func(name, bonds string, link, protein bool) {
		t := &residueTemplate{name: name, peptideLink: link, protein: protein, atoms: map[string]bool{}}
		for _, b := range strings.Fields(bonds) {
			a, c, _ := strings.Cut(b, "-")
			t.bonds = append(t.bonds, [2]string{a, c})
			t.atoms[a], t.atoms[c] = true, true
		}
		templates[name] = t
	}
	for name, side := range aminoSideChains {
		add(name, aminoBackbone+" "+side, true, true)
	}
	for _, o := range otherTemplates {
		add(o.name, o.bonds, o.peptideLink, o.protein)
	}
	atomAliases = map[string]map[string]string{}
	for name, t := range templates {
		m := map[string]string{}
		for _, part := range residueAtomAliases[name] {
			for k, v := range part {
				m[k] = v
				// A canonical name named in a residue's own table keeps its
				// name even where a protein-wide alias would rename it (ACE's
				// H1 is not the amide H), as in OpenMM.
				m[v] = v
			}
		}
		if t.protein {
			for k, v := range proteinAtomAliases {
				if _, ok := m[k]; !ok {
					m[k] = v
				}
			}
		}
		atomAliases[name] = m
	}
	nonHeteroRes = map[string]bool{"HOH": true}
	for _, n := range strings.Fields("A G C U I DA DG DC DT DI") { // nucleotides, as OpenMM lists them
		nonHeteroRes[n] = true
	}
	for name := range aminoSideChains {
		nonHeteroRes[name] = true
	}
}

// CanonicalResidueName returns the template name for a residue name (HID ->
// HIS, WAT -> HOH, ALA -> ALA) and whether gobg has a template for it.
func CanonicalResidueName(name string) (string, bool) {
	if c, ok := residueAliases[name]; ok {
		name = c
	}
	_, ok := templates[name]
	return name, ok
}

// CanonicalAtomName returns the template's name for atom atomName of a residue
// named resName (for example "HN" in ALA -> "H", "1HB" in SER -> "HB3", "OW"
// in WAT -> "O"). Names of residues without a template are returned unchanged.
func CanonicalAtomName(resName, atomName string) string {
	c, ok := CanonicalResidueName(resName)
	if !ok {
		return atomName
	}
	if v, ok := atomAliases[c][atomName]; ok {
		return v
	}
	return atomName
}

// templateFor returns the template of a residue name, or nil.
func templateFor(resName string) *residueTemplate {
	c, _ := CanonicalResidueName(resName)
	return templates[c]
}
