package molecule

// SymmetricGroup is three identical terminal atoms on one centre atom whose
// only other neighbour is its parent: a methyl or NH3+ group. Turning the
// group about the parent–centre bond by 120° carries the atoms onto each
// other's places, so a cyclic relabelling of Atoms is a symmetry of a force
// field that gives the three atoms identical parameters and no improper
// torsion (Amber does): U is unchanged, and the relabelled structure is one
// that dynamics reaches by turning the group.
//
// Planar pairs (carboxylate oxygens, NH2 hydrogens) are not listed: Amber's
// improper torsions on them name the two atoms in a fixed order, and
// exchanging them changed U by up to 0.15 kJ/mol on HP35's MD frames.
type SymmetricGroup struct {
	Parent, Centre int
	Atoms          []int // in increasing index order
}

// SymmetricGroups lists the topology's symmetric terminal groups, ordered by
// centre atom. Atoms with an unknown element never form one. Only cyclic
// relabellings are symmetries that rotation reaches: exchanging two of the
// three atoms mirrors the group, which no rotation does.
func (t *Topology) SymmetricGroups() []SymmetricGroup {
	nb := t.Neighbors()
	var out []SymmetricGroup
	for c, ns := range nb {
		if len(ns) != 4 {
			continue // a parent and three terminal atoms
		}
		parent := -1
		var term []int
		for _, a := range ns {
			if len(nb[a]) == 1 {
				term = append(term, a)
			} else if parent < 0 {
				parent = a
			} else {
				parent = -2 // two non-terminal neighbours: not a terminal group
			}
		}
		if parent < 0 || len(term) != len(ns)-1 {
			continue
		}
		el := t.Atoms[term[0]].Element
		same := el != nil
		for _, a := range term[1:] {
			same = same && t.Atoms[a].Element == el
		}
		if same {
			out = append(out, SymmetricGroup{Parent: parent, Centre: c, Atoms: term})
		}
	}
	return out
}
