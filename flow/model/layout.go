package model

import (
	"fmt"
	"math"
	"strings"
)

// Layout describes the vector a flow models, one entry per dimension, without
// reference to how it was built (LayoutFromSpec makes one from an
// internal-coordinate Spec). Dimensions are circular (angles on [-π, π)) or
// intervals [Lower, Upper].
type Layout struct {
	// Circular marks periodic dimensions (torsions, radians on [-π, π)).
	Circular []bool `json:"circular"`
	// Backbone marks the dimensions of the backbone channel of a split flow;
	// the others form the side-chain channel.
	Backbone []bool `json:"backbone"`
	// Residue is the token (residue) index of each dimension, in
	// [0, NumResidues).
	Residue []int `json:"residue"`
	// ResidueType is the type of each token, in [0, NumTypes) (see
	// ResidueTypeIndex); it selects the token's type embedding.
	ResidueType []int `json:"residue_type"`
	// NumTypes is the size of the residue-type vocabulary.
	NumTypes int `json:"num_types"`
	// Lower and Upper bound each interval dimension (ignored, and
	// conventionally -π and π, for circular ones).
	Lower []float64 `json:"lower"`
	Upper []float64 `json:"upper"`
	// Names optionally labels the dimensions (for messages only).
	Names []string `json:"names,omitempty"`
}

// Dim is the number of dimensions D.
func (l *Layout) Dim() int { return len(l.Circular) }

// NumResidues is the number of tokens.
func (l *Layout) NumResidues() int { return len(l.ResidueType) }

// Validate checks that the per-dimension slices agree and the values are in
// range.
func (l *Layout) Validate() error {
	d := len(l.Circular)
	if d == 0 {
		return fmt.Errorf("layout: no dimensions")
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"backbone", len(l.Backbone)}, {"residue", len(l.Residue)}, {"lower", len(l.Lower)}, {"upper", len(l.Upper)}} {
		if c.n != d {
			return fmt.Errorf("layout: %d circular flags but %d %s entries", d, c.n, c.name)
		}
	}
	if l.Names != nil && len(l.Names) != d {
		return fmt.Errorf("layout: %d dimensions but %d names", d, len(l.Names))
	}
	nr := len(l.ResidueType)
	if nr == 0 {
		return fmt.Errorf("layout: no residues (tokens)")
	}
	if l.NumTypes <= 0 {
		return fmt.Errorf("layout: NumTypes must be positive, got %d", l.NumTypes)
	}
	for r, t := range l.ResidueType {
		if t < 0 || t >= l.NumTypes {
			return fmt.Errorf("layout: residue %d has type %d outside [0, %d)", r, t, l.NumTypes)
		}
	}
	for i := range d {
		if r := l.Residue[i]; r < 0 || r >= nr {
			return fmt.Errorf("layout: dimension %s has residue %d outside [0, %d)", l.name(i), r, nr)
		}
		if !l.Circular[i] {
			lo, hi := l.Lower[i], l.Upper[i]
			if !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
				return fmt.Errorf("layout: interval dimension %s has bounds [%g, %g]", l.name(i), lo, hi)
			}
		}
	}
	return nil
}

func (l *Layout) name(i int) string {
	if i < len(l.Names) && l.Names[i] != "" {
		return fmt.Sprintf("%d (%s)", i, l.Names[i])
	}
	return fmt.Sprint(i)
}

// Equal reports whether two layouts describe the same vector (names aside).
func (l *Layout) Equal(o *Layout) bool {
	if l.Dim() != o.Dim() || l.NumTypes != o.NumTypes || len(l.ResidueType) != len(o.ResidueType) {
		return false
	}
	for i := range l.Circular {
		if l.Circular[i] != o.Circular[i] || l.Backbone[i] != o.Backbone[i] || l.Residue[i] != o.Residue[i] {
			return false
		}
		if !l.Circular[i] && (l.Lower[i] != o.Lower[i] || l.Upper[i] != o.Upper[i]) {
			return false
		}
	}
	for r := range l.ResidueType {
		if l.ResidueType[r] != o.ResidueType[r] {
			return false
		}
	}
	return true
}

// residueTypes is the residue-type vocabulary: the standard amino acids,
// the Amber protonation variants (their side chains carry different atoms,
// hence different coordinates per token), the caps, and UNK for anything
// else. Appending keeps old indices valid; reordering would break stored
// models.
var residueTypes = []string{
	"UNK",
	"ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
	"LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
	"HID", "HIE", "HIP", "CYX", "CYM", "ASH", "GLH", "LYN",
	"ACE", "NME",
}

// NumResidueTypes is the size of the residue-type vocabulary.
func NumResidueTypes() int { return len(residueTypes) }

// ResidueTypeIndex maps a residue name to its vocabulary index (0, "UNK",
// for names outside the vocabulary).
func ResidueTypeIndex(name string) int {
	n := strings.ToUpper(strings.TrimSpace(name))
	for i, t := range residueTypes {
		if t == n {
			return i
		}
	}
	return 0
}
