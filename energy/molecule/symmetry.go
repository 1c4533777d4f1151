package molecule

// SymmetricGroup is a set of identical terminal atoms on one centre atom
// whose only other neighbour is its parent: a methyl or NH3+ group (three
// hydrogens), a carboxylate (two oxygens), a planar NH2 (two hydrogens).
// Turning the group about the parent–centre bond by 2π/len(Atoms) carries
// the atoms onto each other's places, so a cyclic relabelling of Atoms is a
// symmetry of any force field that gives identical atoms identical
// parameters (Amber does): U is unchanged, and the relabelled structure is
// one that dynamics reaches by turning the group.
type SymmetricGroup struct {
	Parent, Centre int
	Atoms          []int // in increasing index order
}

// SymmetricGroups lists the topology's symmetric terminal groups, ordered by
// centre atom. Atoms with an unknown element never form one. Only cyclic
// relabellings are symmetries that rotation reaches: exchanging two of three
// methyl hydrogens mirrors the group, which no rotation does.
func (t *Topology) SymmetricGroups() []SymmetricGroup {
	nb := t.Neighbors()
	var out []SymmetricGroup
	for c, ns := range nb {
		if len(ns) < 3 {
			continue // a parent and at least two terminal atoms
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
