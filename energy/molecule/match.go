package molecule

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// AtomSource is one side of MatchAtoms: a topology, the file it came from
// (for messages) and, where known, one structure of it.
type AtomSource struct {
	File string
	Top  *Topology
	// Positions (nm, one per atom) of any one structure with these labels,
	// or nil. They decide which hydrogens of a group pair up (see
	// MatchAtoms); without them on both sides the pairing is by name alone.
	Positions []Vec3
}

// AtomMatch pairs every atom of a reference topology with one atom of another
// topology of the same molecule.
type AtomMatch struct {
	// Order[i] is the index in the other topology of reference atom i, so a
	// structure x of the other topology is, in the reference's atom order,
	// x[Order[0]], x[Order[1]], ... (see ToRef).
	Order []int
	// Reoriented names the hydrogen groups whose pairing by name was
	// changed to the one the structures' geometry gives (see MatchAtoms).
	Reoriented []string
}

// IsIdentity reports whether both topologies list the atoms in the same order.
func (m *AtomMatch) IsIdentity() bool {
	for i, j := range m.Order {
		if i != j {
			return false
		}
	}
	return true
}

// ToRef writes src (a structure in the other topology's order) into dst in the
// reference's order. dst and src must not overlap.
func (m *AtomMatch) ToRef(dst, src []Vec3) {
	for i, j := range m.Order {
		dst[i] = src[j]
	}
}

// FromRef writes src (a structure in the reference's order) into dst in the
// other topology's order. dst and src must not overlap.
func (m *AtomMatch) FromRef(dst, src []Vec3) {
	for i, j := range m.Order {
		dst[j] = src[i]
	}
}

// MatchError is MatchAtoms' refusal: what could not be paired.
type MatchError struct {
	Ref, Other string // the two files
	// First is the first atom of Other (in its file order) that has no
	// counterpart in Ref, or where every atom of Other has one, the first
	// atom of Ref that Other lacks; with the reason.
	First string
	// Missing are the atoms of Ref that Other lacks; Extra the atoms of
	// Other that Ref lacks ("ALA 2 (chain "A") HB1"). A residue that differs
	// in sequence contributes all its atoms.
	Missing, Extra []string
}

func (e *MatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atoms of %s do not match %s: %s", e.Other, e.Ref, e.First)
	list := func(what, file string, atoms []string) {
		if len(atoms) == 0 {
			return
		}
		const show = 8
		fmt.Fprintf(&b, "; %d %s %s: %s", len(atoms), what, file, strings.Join(atoms[:min(show, len(atoms))], ", "))
		if len(atoms) > show {
			fmt.Fprintf(&b, " and %d more", len(atoms)-show)
		}
	}
	list("missing from", e.Other, e.Missing)
	list("extra in", e.Other, e.Extra)
	return b.String()
}

// MatchAtoms pairs the atoms of other with those of ref by identity, not by
// position in the file, and returns the pairing (AtomMatch.Order: for each
// reference atom, its index in other).
//
// Chains are paired in order, residues by their position in the chain (not
// their number), atoms by name within a residue; IDs, numbers and file order
// do not matter. Names are compared after translation to the names of
// OpenMM's residue templates (templates.go, the aliases of OpenMM's
// pdbNames.xml), which covers the PDB v3, Amber and CHARMM conventions:
//   - residue variants: HID/HIE/HIP/HSD/HSE/HSP are HIS, CYX/CYM CYS, LYN LYS,
//     ASH ASP, GLH GLU, NMA NME, NHE NH2, WAT/TIP3/SOL HOH, and Amber's
//     terminal names (NALA, CALA, ...) are the residue itself;
//   - atom names: HN is H; a charged N terminus's H1/H2/H3, HT1/HT2/HT3 and
//     H/H2/H3 are the same atoms; C-terminal OT1/OT2 are O/OXT; the old
//     numbering of methylene hydrogens HB1/HB2 is HB3/HB2 (likewise HG, HD,
//     HE, and GLY's HA); 1HB is HB1; ILE's CD (and HD1..3) is CD1
//     (HD11..13); ACE's methyl is CH3 with H1/H2/H3 or HH31/HH32/HH33 (or
//     CHARMM's CAY, HY1..3, with CY and OY), NME's is C with H1/H2/H3 or CH3
//     with HH31/HH32/HH33 (or CHARMM's NT, HNT, CAT, HT1..3);
//   - CHARMM's ACE, CT3 and CT2 patches, whose cap atoms (CAY ... OY; NT,
//     HNT, CAT, HT1..3; NT, HT1, HT2) lie inside the first or last amino
//     acid, are taken as the separate ACE, NME and NH2 residues they are in
//     the other conventions. (A one-residue chain with both a CT3/CT2 patch
//     and a charged N terminus named HT1..3 is not understood.)
//
// Residues without a template (ligands, unknown caps) must have the same name
// and their atoms the same names. Paired atoms must have the same element
// where both are known.
//
// Groups of hydrogens. Where a file's convention names a group of
// hydrogens differently (a methyl's, an NH3+'s), any one-to-one pairing
// within the group would leave the energy unchanged, since the force field
// gives the group's atoms identical parameters: the atoms are chemically
// equivalent. It is not enough for a density of structures such as a
// generator's, which is not symmetric under relabelling: exchanging two of
// a methyl's three hydrogens mirrors the group (no rotation does it), and a
// generator that learned one handedness gives the mirrored labelling almost
// no density. Likewise a methylene's two hydrogens (HB2, HB3) are not
// equivalent at all (pro-R and pro-S), and conventions disagree on which
// name is which. So where both sources have positions, every group of two
// or three hydrogens on an atom with four bonds (methyl, NH3+, methylene)
// is paired by geometry: within the group, the pairing by name is kept if
// it gives both structures the same handedness about the centre atom, and
// otherwise its last two hydrogens are exchanged, which leaves a methyl
// pairing cyclic (a rotation of the group) and gives a methylene's
// hydrogens their stereochemical identity. AtomMatch.Reoriented lists such
// groups. Groups whose geometry is degenerate (flat), and hydrogens of planar
// groups (NH2 of ASN, GLN, ARG), are paired by name.
//
// Where atoms cannot be paired, the error is a *MatchError naming the first
// atom that cannot be matched (file, chain, residue name and number, atom
// name) and listing the atoms missing from other and the extra ones.
func MatchAtoms(ref, other AtomSource) (*AtomMatch, error) {
	if ref.Top == nil || other.Top == nil {
		return nil, fmt.Errorf("match atoms of %s and %s: no topology", ref.File, other.File)
	}
	rc, oc := normalize(ref), normalize(other)
	nr, no := len(ref.Top.Atoms), len(other.Top.Atoms)
	order := make([]int, nr)
	for i := range order {
		order[i] = -1
	}
	paired := make([]bool, no)
	e := &MatchError{Ref: ref.File, Other: other.File}
	var firstOther, firstRef string // first unpaired atom of each side, in file order
	var firstOtherIdx, firstRefIdx = no, nr
	noteExtra := func(i int, why string) {
		a := other.Top.Atoms[i]
		if i < firstOtherIdx {
			firstOtherIdx, firstOther = i, fmt.Sprintf("%s: chain %q, %s %d%s, atom %s: %s",
				other.File, chainID(a.Residue), a.Residue.Name, a.Residue.Number, a.Residue.InsertionCode, a.Name, why)
		}
	}
	noteMissing := func(i int, why string) {
		a := ref.Top.Atoms[i]
		if i < firstRefIdx {
			firstRefIdx, firstRef = i, fmt.Sprintf("%s: chain %q, %s %d%s, atom %s: %s",
				ref.File, chainID(a.Residue), a.Residue.Name, a.Residue.Number, a.Residue.InsertionCode, a.Name, why)
		}
	}
	residueAtoms := func(r normRes) []int {
		var out []int
		for _, name := range r.names {
			out = append(out, r.atoms[name])
		}
		for _, d := range r.dups {
			out = append(out, d.index)
		}
		return out
	}
	for c := range max(len(rc), len(oc)) {
		var rr, or []normRes
		if c < len(rc) {
			rr = rc[c]
		}
		if c < len(oc) {
			or = oc[c]
		}
		for k := range max(len(rr), len(or)) {
			switch {
			case k >= len(rr):
				why := fmt.Sprintf("%s has no residue %d in its chain %d", ref.File, k+1, c+1)
				if c >= len(rc) {
					why = fmt.Sprintf("%s has %d chains", ref.File, len(rc))
				}
				for _, i := range residueAtoms(or[k]) {
					e.Extra = append(e.Extra, atomLabel(other.Top.Atoms[i]))
					noteExtra(i, why)
				}
				continue
			case k >= len(or):
				why := fmt.Sprintf("%s has no residue %d in its chain %d", other.File, k+1, c+1)
				if c >= len(oc) {
					why = fmt.Sprintf("%s has %d chains", other.File, len(oc))
				}
				for _, i := range residueAtoms(rr[k]) {
					e.Missing = append(e.Missing, atomLabel(ref.Top.Atoms[i]))
					noteMissing(i, why)
				}
				continue
			}
			r, o := rr[k], or[k]
			if r.family != o.family {
				why := fmt.Sprintf("residue %d of its chain is %s %d in %s: a different sequence",
					k+1, r.res.Name, r.res.Number, ref.File)
				for _, i := range residueAtoms(o) {
					e.Extra = append(e.Extra, atomLabel(other.Top.Atoms[i]))
					noteExtra(i, why)
				}
				for _, i := range residueAtoms(r) {
					e.Missing = append(e.Missing, atomLabel(ref.Top.Atoms[i]))
					noteMissing(i, fmt.Sprintf("residue %d of its chain is %s %d in %s: a different sequence",
						k+1, o.res.Name, o.res.Number, other.File))
				}
				continue
			}
			for _, d := range o.dups {
				e.Extra = append(e.Extra, atomLabel(other.Top.Atoms[d.index]))
				noteExtra(d.index, d.why)
			}
			for _, d := range r.dups {
				e.Missing = append(e.Missing, atomLabel(ref.Top.Atoms[d.index]))
				noteMissing(d.index, d.why)
			}
			for _, name := range o.names {
				j := o.atoms[name]
				i, ok := r.atoms[name]
				if !ok {
					e.Extra = append(e.Extra, atomLabel(other.Top.Atoms[j]))
					noteExtra(j, fmt.Sprintf("%s %d%s of %s has no such atom", r.res.Name, r.res.Number, r.res.InsertionCode, ref.File))
					continue
				}
				ea, eb := ref.Top.Atoms[i].Element, other.Top.Atoms[j].Element
				if ea != nil && eb != nil && ea != eb {
					e.Extra = append(e.Extra, atomLabel(other.Top.Atoms[j]))
					e.Missing = append(e.Missing, atomLabel(ref.Top.Atoms[i]))
					noteExtra(j, fmt.Sprintf("it is %s, its namesake %s in %s is %s", eb.Symbol, ref.Top.Atoms[i].Name, ref.File, ea.Symbol))
					continue
				}
				order[i], paired[j] = j, true
			}
			for _, name := range r.names {
				i := r.atoms[name]
				if order[i] < 0 && !slices.Contains(e.Missing, atomLabel(ref.Top.Atoms[i])) {
					e.Missing = append(e.Missing, atomLabel(ref.Top.Atoms[i]))
					noteMissing(i, fmt.Sprintf("%s %d%s of %s has no such atom", o.res.Name, o.res.Number, o.res.InsertionCode, other.File))
				}
			}
		}
	}
	switch {
	case firstOtherIdx < no:
		e.First = firstOther
	case firstRefIdx < nr:
		e.First = firstRef + " (missing from " + other.File + ")"
	}
	if e.First != "" {
		return nil, e
	}
	m := &AtomMatch{Order: order}
	if len(ref.Positions) == nr && len(other.Positions) == no {
		m.Reoriented = orientHydrogens(ref, other, order)
	}
	return m, nil
}

// normRes is a residue with canonical names: its atoms by canonical name.
type normRes struct {
	res    *Residue // the file's residue (a CHARMM cap patch: the residue that holds it)
	family string   // canonical residue name, or the file's name without a template
	atoms  map[string]int
	names  []string  // canonical atom names in file order
	dups   []dupAtom // atoms whose canonical name an earlier atom has
}

type dupAtom struct {
	index int
	why   string
}

// charmmCaps are CHARMM's patches that put a cap's atoms inside the first or
// last amino acid: the atoms (by CHARMM name) and the residue they form
// elsewhere. CT3 is tried before CT2, whose atoms it includes.
var charmmCaps = []struct {
	family string
	atoms  []string
	key    []string // atoms that must all be present
	before bool     // the cap precedes the residue
}{
	{"ACE", []string{"CAY", "HY1", "HY2", "HY3", "CY", "OY"}, []string{"CAY", "CY"}, true},
	{"NME", []string{"NT", "HNT", "CAT", "HT1", "HT2", "HT3"}, []string{"NT", "CAT"}, false},
	{"NH2", []string{"NT", "HT1", "HT2"}, []string{"NT"}, false},
}

// residueFamily is the canonical name of a residue name: the template name
// (HIE -> HIS), an Amber terminal name without its N or C (NALA -> ALA), or
// the name itself where there is no template.
func residueFamily(name string) (string, bool) {
	if c, ok := CanonicalResidueName(name); ok {
		return c, true
	}
	if len(name) == 4 && (name[0] == 'N' || name[0] == 'C') {
		if c, ok := CanonicalResidueName(name[1:]); ok && aminoSideChains[c] != "" {
			return c, true
		}
	}
	return name, false
}

// normalize lists each chain's residues with canonical names, splitting
// CHARMM cap patches into residues of their own.
func normalize(s AtomSource) [][]normRes {
	var out [][]normRes
	for _, c := range s.Top.Chains {
		var chain []normRes
		for _, r := range c.Residues {
			fam, known := residueFamily(r.Name)
			var pre, post []normRes
			atoms := r.Atoms
			if known && aminoSideChains[fam] != "" {
				for _, cap := range charmmCaps {
					has := func(n string) bool { return slices.ContainsFunc(atoms, func(a *Atom) bool { return a.Name == n }) }
					if !all(cap.key, has) {
						continue
					}
					var in, rest []*Atom
					for _, a := range atoms {
						if slices.Contains(cap.atoms, a.Name) {
							in = append(in, a)
						} else {
							rest = append(rest, a)
						}
					}
					nr := canonicalResidue(r, cap.family, true, in)
					if cap.before {
						pre = append(pre, nr)
					} else {
						post = append(post, nr)
					}
					atoms = rest
				}
			}
			nr := canonicalResidue(r, fam, known, atoms)
			chain = append(chain, pre...)
			chain = append(chain, nr)
			chain = append(chain, post...)
		}
		out = append(out, chain)
	}
	return out
}

func all(names []string, has func(string) bool) bool {
	for _, n := range names {
		if !has(n) {
			return false
		}
	}
	return true
}

func canonicalResidue(r *Residue, family string, known bool, atoms []*Atom) normRes {
	nr := normRes{res: r, family: family, atoms: make(map[string]int, len(atoms))}
	for _, a := range atoms {
		name := a.Name
		if known {
			if v, ok := atomAliases[family][name]; ok {
				name = v
			}
		}
		if prev, ok := nr.atoms[name]; ok {
			nr.dups = append(nr.dups, dupAtom{a.Index, fmt.Sprintf("%s and %s of this residue are both %s, which cannot be told apart",
				atomName(r, prev), a.Name, name)})
			continue
		}
		nr.atoms[name] = a.Index
		nr.names = append(nr.names, name)
	}
	return nr
}

func atomName(r *Residue, index int) string {
	for _, a := range r.Atoms {
		if a.Index == index {
			return a.Name
		}
	}
	return fmt.Sprint(index)
}

func chainID(r *Residue) string {
	if r.Chain == nil {
		return ""
	}
	return r.Chain.ID
}

func atomLabel(a *Atom) string {
	return fmt.Sprintf("%s %d%s (chain %q) %s", a.Residue.Name, a.Residue.Number, a.Residue.InsertionCode, chainID(a.Residue), a.Name)
}

// orientHydrogens makes the pairing of each group of two or three hydrogens
// on a four-bonded reference atom keep the handedness of the reference
// structure (see MatchAtoms) and returns the groups it changed.
func orientHydrogens(ref, other AtomSource, order []int) []string {
	var changed []string
	nb := ref.Top.Neighbors()
	isH := func(i int) bool {
		el := ref.Top.Atoms[i].Element
		return el != nil && el.Symbol == "H" && len(nb[i]) == 1
	}
	for c, ns := range nb {
		if len(ns) != 4 {
			continue
		}
		var hs, heavy []int
		for _, a := range ns {
			if isH(a) {
				hs = append(hs, a)
			} else {
				heavy = append(heavy, a)
			}
		}
		// The triple whose handedness is compared: a methyl's three
		// hydrogens, or a methylene's two heavy neighbours and its first
		// hydrogen. In each the exchange of the group's last two hydrogens
		// flips the sign.
		var triple [3]int
		switch len(hs) {
		case 3:
			triple = [3]int{hs[0], hs[1], hs[2]}
		case 2:
			triple = [3]int{heavy[0], heavy[1], hs[0]}
		default:
			continue
		}
		sr := handedness(ref.Positions, c, triple)
		so := handedness(other.Positions, order[c], [3]int{order[triple[0]], order[triple[1]], order[triple[2]]})
		if sr == 0 || so == 0 || sr == so {
			continue
		}
		a, b := hs[len(hs)-2], hs[len(hs)-1]
		order[a], order[b] = order[b], order[a]
		r := ref.Top.Atoms[c].Residue
		names := make([]string, len(hs))
		for k, h := range hs {
			names[k] = ref.Top.Atoms[h].Name
		}
		changed = append(changed, fmt.Sprintf("%s %s: %s", r, ref.Top.Atoms[c].Name, strings.Join(names, " ")))
	}
	return changed
}

// handedness is the sign of the triple product of the bonds from centre c to
// the three atoms, or 0 when the three are too close to a plane (within
// about 3 degrees) or a position is not finite.
func handedness(pos []Vec3, c int, t [3]int) int {
	var v [3]Vec3
	var norm float64 = 1
	for k, i := range t {
		for d := range 3 {
			v[k][d] = pos[i][d] - pos[c][d]
		}
		norm *= math.Sqrt(v[k][0]*v[k][0] + v[k][1]*v[k][1] + v[k][2]*v[k][2])
	}
	det := v[0][0]*(v[1][1]*v[2][2]-v[1][2]*v[2][1]) -
		v[0][1]*(v[1][0]*v[2][2]-v[1][2]*v[2][0]) +
		v[0][2]*(v[1][0]*v[2][1]-v[1][1]*v[2][0])
	switch {
	case math.IsNaN(det) || !(norm > 0) || math.Abs(det) < 0.05*norm:
		return 0
	case det > 0:
		return 1
	}
	return -1
}
