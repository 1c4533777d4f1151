package generator

import (
	"fmt"

	"github.com/gobg/gobg/energy/molecule"
)

// MatchAtoms pairs the atoms of other, a topology of the generator's molecule
// from another file (with one structure of it where known), with the
// generator's by identity: molecule.MatchAtoms with the generator's topology
// as the reference. The reference structure is the one built from the mean
// internal coordinates of the training frames, whose hydrogen groups have the
// handedness the flow learned.
func (g *Generator) MatchAtoms(other molecule.AtomSource) (*molecule.AtomMatch, error) {
	ref := make([]molecule.Vec3, g.NumAtoms())
	if err := g.spec.Z.Cartesian(g.spec.Ref, ref); err != nil {
		return nil, fmt.Errorf("%s: reference structure: %w", g.path, err)
	}
	return molecule.MatchAtoms(molecule.AtomSource{File: g.path, Top: g.Topology(), Positions: ref}, other)
}
