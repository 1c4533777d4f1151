package model

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/flow/ic"
)

// LayoutFromSpec describes the free vector of a fitted internal-coordinate
// spec: torsions are circular, bonds and angles are intervals on [-1, 1]
// (ic's normalisation), the backbone channel is Coord.IsBackbone, and there
// is one token per topology residue, typed by its name.
func LayoutFromSpec(spec *ic.Spec) (*Layout, error) {
	if spec == nil || spec.Z == nil || spec.Z.Top == nil {
		return nil, fmt.Errorf("layout: spec has no Z-matrix or topology")
	}
	if spec.Ref == nil {
		return nil, fmt.Errorf("layout: spec is not fitted")
	}
	top := spec.Z.Top
	coords := spec.FreeCoords()
	l := &Layout{
		Circular: spec.Circular(),
		Backbone: make([]bool, len(coords)),
		Residue:  make([]int, len(coords)),
		Lower:    make([]float64, len(coords)),
		Upper:    make([]float64, len(coords)),
		Names:    make([]string, len(coords)),
		NumTypes: NumResidueTypes(),
	}
	for _, r := range top.Residues {
		l.ResidueType = append(l.ResidueType, ResidueTypeIndex(r.Name))
	}
	for i, c := range coords {
		l.Backbone[i] = c.IsBackbone(top)
		l.Residue[i] = c.Residue
		l.Names[i] = c.Name
		if l.Circular[i] {
			l.Lower[i], l.Upper[i] = -math.Pi, math.Pi
		} else {
			l.Lower[i], l.Upper[i] = -1, 1
		}
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}
