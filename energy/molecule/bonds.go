package molecule

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// BondGuessTolerance is the slack of the covalent-radius rule that guesses
// bonds for residues without a template: atoms i and j are bonded when their
// distance is below r_i + r_j + BondGuessTolerance (nm). 0.045 nm accepts
// stretched bonds (C-C 0.152 nm against a cutoff of 0.197 nm) and rejects
// every 1-3 neighbour of a normal geometry (C-C-C 0.25 nm, H-C-H 0.178 nm
// against 0.107 nm).
const BondGuessTolerance = 0.045

// DisulfideCutoff is the SG-SG distance (nm) below which two cysteines
// without HG are taken to form a disulfide bond, OpenMM's rule.
const DisulfideCutoff = 0.3

// CreateStandardBonds adds the bonds of the topology's residues and returns
// warnings about what it could not do from templates. positions (nm, one per
// atom) are needed for disulfides and guessed bonds.
//
// Bonds come from, in this order:
//   - residue templates (templates.go): intra-residue bonds by atom name for
//     residues with a template; atoms missing from a residue are skipped, and
//     atoms a template does not know get no template bonds (with a warning);
//   - the peptide bond C(i-1)-N(i) between consecutive residues of a chain
//     when residue i is an amino acid, NME or NH2 and both atoms exist, by
//     name alone (OpenMM's "-C" external bond);
//   - for a residue without a template, bonds from the covalent-radius rule
//     (d < r_i + r_j + BondGuessTolerance) between its own atoms, and the
//     C(i-1)-N(i) bond to the previous residue if it passes the same rule;
//     atoms of unknown element get none. Each such residue with more than one
//     atom gives a warning. A residue without a template that already has a
//     bond between two of its own atoms (e.g. from CONECT records) is taken
//     as complete and not guessed;
//   - disulfides: a CYS or CYX residue with SG and no HG is bonded to the
//     closest such earlier SG within DisulfideCutoff that is not already in a
//     disulfide (OpenMM's createDisulfideBonds; CYM, a thiolate, never is).
//
// Existing bonds are kept. Afterwards Topology.Bonds is free of duplicates
// and sorted by (I, J).
func (t *Topology) CreateStandardBonds(positions []Vec3) (warnings []string, err error) {
	if err := t.checkIndices(); err != nil {
		return nil, fmt.Errorf("create bonds: %w", err)
	}
	if len(positions) != len(t.Atoms) {
		return nil, fmt.Errorf("create bonds: %d positions for %d atoms", len(positions), len(t.Atoms))
	}
	t.sortBonds() // existing bonds in canonical form (I < J), no duplicates
	have := make(map[Bond]bool, len(t.Bonds)+len(t.Atoms))
	for _, b := range t.Bonds {
		have[b] = true
	}
	add := func(i, j int) bool {
		if i == j {
			return false
		}
		if i > j {
			i, j = j, i
		}
		b := Bond{i, j}
		if have[b] {
			return false
		}
		have[b] = true
		t.Bonds = append(t.Bonds, b)
		return true
	}
	// Which residues already have an internal bond: those are not guessed.
	bondedInside := make(map[*Residue]bool)
	for _, b := range t.Bonds {
		if r := t.Atoms[b.I].Residue; r == t.Atoms[b.J].Residue {
			bondedInside[r] = true
		}
	}

	for _, c := range t.Chains {
		var prev *Residue
		var prevNames map[string]int
		for _, r := range c.Residues {
			names, dup := canonicalAtoms(r)
			tpl := templateFor(r.Name)
			switch {
			case tpl != nil:
				for _, b := range tpl.bonds {
					i, ok1 := names[b[0]]
					j, ok2 := names[b[1]]
					if ok1 && ok2 {
						add(i, j)
					}
				}
				if tpl.peptideLink && prev != nil {
					if i, ok := prevNames["C"]; ok {
						if j, ok := names["N"]; ok {
							add(i, j)
						}
					}
				}
				var unknown []string
				for _, a := range r.Atoms {
					cn := CanonicalAtomName(r.Name, a.Name)
					if !tpl.atoms[cn] || dup[a.Index] {
						unknown = append(unknown, a.Name)
					}
				}
				if len(unknown) > 0 {
					warnings = append(warnings, fmt.Sprintf("residue %s: atom(s) %s not matched to template %s; they get no template bonds",
						r, strings.Join(unknown, ", "), tpl.name))
				}
			case !bondedInside[r]:
				n, unknownElem := 0, 0
				for x, a := range r.Atoms {
					if a.Element == nil {
						unknownElem++
						continue
					}
					for _, b := range r.Atoms[x+1:] {
						if covalentlyBonded(a, b, positions) && add(a.Index, b.Index) {
							n++
						}
					}
				}
				if prev != nil {
					if i, ok := prevNames["C"]; ok {
						if j, ok := names["N"]; ok && covalentlyBonded(t.Atoms[i], t.Atoms[j], positions) && add(i, j) {
							n++
						}
					}
				}
				if len(r.Atoms) > 1 || n > 0 {
					w := fmt.Sprintf("no template for residue %s: %d bonds guessed from covalent radii", r, n)
					if unknownElem > 0 {
						w += fmt.Sprintf(" (%d atoms of unknown element left without bonds)", unknownElem)
					}
					warnings = append(warnings, w)
				}
			}
			prev, prevNames = r, names
		}
	}
	t.addDisulfides(positions, add)
	t.sortBonds()
	return warnings, nil
}

// checkIndices verifies that the topology's cross references agree, so that
// bond creation can index by them without panicking on a hand-built topology.
func (t *Topology) checkIndices() error {
	for i, a := range t.Atoms {
		if a == nil || a.Index != i || a.Residue == nil {
			return fmt.Errorf("atom %d: bad index or no residue", i)
		}
	}
	for _, c := range t.Chains {
		for _, r := range c.Residues {
			for _, a := range r.Atoms {
				if a.Index < 0 || a.Index >= len(t.Atoms) || t.Atoms[a.Index] != a {
					return fmt.Errorf("residue %s: atom %q is not in the topology's atom list", r, a.Name)
				}
			}
		}
	}
	for _, b := range t.Bonds {
		if b.I < 0 || b.J < 0 || b.I >= len(t.Atoms) || b.J >= len(t.Atoms) {
			return fmt.Errorf("bond %d-%d: atom index out of range [0,%d)", b.I, b.J, len(t.Atoms))
		}
	}
	return nil
}

// canonicalAtoms maps the residue's canonical atom names to atom indices. When
// two atoms share a canonical name (say HN and H in one residue) the last
// wins, as in OpenMM; dup marks the others.
func canonicalAtoms(r *Residue) (names map[string]int, dup map[int]bool) {
	names = make(map[string]int, len(r.Atoms))
	for _, a := range r.Atoms {
		cn := CanonicalAtomName(r.Name, a.Name)
		if prev, ok := names[cn]; ok {
			if dup == nil {
				dup = map[int]bool{}
			}
			dup[prev] = true
		}
		names[cn] = a.Index
	}
	return names, dup
}

// covalentlyBonded applies the covalent-radius rule.
func covalentlyBonded(a, b *Atom, pos []Vec3) bool {
	if a.Element == nil || b.Element == nil {
		return false
	}
	cut := a.Element.CovalentRadius + b.Element.CovalentRadius + BondGuessTolerance
	return dist(pos[a.Index], pos[b.Index]) < cut
}

func dist(p, q Vec3) float64 {
	dx, dy, dz := p[0]-q[0], p[1]-q[1], p[2]-q[2]
	return math.Sqrt(dx*dx + dy*dy + dz*dz)
}

// addDisulfides bonds free cysteine SG atoms pairwise by OpenMM's rule: in
// residue order, each SG takes the closest earlier SG within DisulfideCutoff
// that is not in a disulfide yet.
func (t *Topology) addDisulfides(pos []Vec3, add func(i, j int) bool) {
	isSG := func(a *Atom) bool {
		c, _ := CanonicalResidueName(a.Residue.Name)
		return c == "CYS" && CanonicalAtomName(a.Residue.Name, a.Name) == "SG"
	}
	inSS := map[int]bool{}
	for _, b := range t.Bonds {
		if isSG(t.Atoms[b.I]) && isSG(t.Atoms[b.J]) {
			inSS[b.I], inSS[b.J] = true, true
		}
	}
	var sg []int // SG of each free cysteine, in residue order
	for _, r := range t.Residues {
		// CYM is a thiolate by name: its author did not want a disulfide.
		if c, _ := CanonicalResidueName(r.Name); c != "CYS" || r.Name == "CYM" {
			continue
		}
		s, hasHG := -1, false // the first SG, as OpenMM takes
		for _, a := range r.Atoms {
			switch CanonicalAtomName(r.Name, a.Name) {
			case "SG":
				if s < 0 {
					s = a.Index
				}
			case "HG":
				hasHG = true
			}
		}
		if s >= 0 && !hasHG {
			sg = append(sg, s)
		}
	}
	for x, i := range sg {
		if inSS[i] {
			continue
		}
		best, bestD := -1, DisulfideCutoff
		for _, j := range sg[:x] {
			if d := dist(pos[i], pos[j]); d < bestD && !inSS[j] {
				best, bestD = j, d
			}
		}
		if best >= 0 {
			add(i, best)
			inSS[i], inSS[best] = true, true
		}
	}
}

// sortBonds orders bonds by (I, J) with I < J and removes duplicates.
func (t *Topology) sortBonds() {
	for k, b := range t.Bonds {
		if b.I > b.J {
			t.Bonds[k] = Bond{b.J, b.I}
		}
	}
	sort.Slice(t.Bonds, func(x, y int) bool {
		if t.Bonds[x].I != t.Bonds[y].I {
			return t.Bonds[x].I < t.Bonds[y].I
		}
		return t.Bonds[x].J < t.Bonds[y].J
	})
	out := t.Bonds[:0]
	for k, b := range t.Bonds {
		if k > 0 && b == t.Bonds[k-1] {
			continue
		}
		out = append(out, b)
	}
	t.Bonds = out
}

// templateBondSet returns the bonds the templates give by name alone (intra-
// residue template bonds and template peptide links), the bonds a reader
// recreates without CONECT records.
func (t *Topology) templateBondSet() map[Bond]bool {
	set := map[Bond]bool{}
	addB := func(i, j int) {
		if i > j {
			i, j = j, i
		}
		set[Bond{i, j}] = true
	}
	for _, c := range t.Chains {
		var prevNames map[string]int
		for k, r := range c.Residues {
			names, _ := canonicalAtoms(r)
			if tpl := templateFor(r.Name); tpl != nil {
				for _, b := range tpl.bonds {
					i, ok1 := names[b[0]]
					j, ok2 := names[b[1]]
					if ok1 && ok2 {
						addB(i, j)
					}
				}
				if tpl.peptideLink && k > 0 {
					i, ok1 := prevNames["C"]
					j, ok2 := names["N"]
					if ok1 && ok2 {
						addB(i, j)
					}
				}
			}
			prevNames = names
		}
	}
	return set
}
