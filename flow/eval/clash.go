package eval

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
)

// DefaultClashFactor is the fraction of the sum of two van der Waals radii
// below which two heavy atoms clash (see the package documentation).
const DefaultClashFactor = 0.7

// bondiRadius holds Bondi's van der Waals radii (J. Phys. Chem. 68, 441,
// 1964) in nm, by element symbol.
var bondiRadius = map[string]float64{
	"H": 0.120, "C": 0.170, "N": 0.155, "O": 0.152, "S": 0.180,
	"P": 0.180, "F": 0.147, "Cl": 0.175, "Br": 0.185, "I": 0.198, "Se": 0.190,
}

// VDWRadius returns the Bondi van der Waals radius of an element in nm, and
// false if the table has none.
func VDWRadius(el *molecule.Element) (float64, bool) {
	if el == nil {
		return 0, false
	}
	r, ok := bondiRadius[el.Symbol]
	return r, ok
}

// ClashChecker finds clashes in conformations of one topology.
type ClashChecker struct {
	top    *molecule.Topology
	factor float64
	i, j   []int32   // candidate pairs
	sumR   []float64 // r_i + r_j in nm
	cut2   []float64 // (factor*(r_i+r_j))^2
}

// NewClashChecker prepares the heavy-atom pairs of top that can clash: all
// pairs of non-hydrogen atoms except bonded pairs and pairs bonded to a
// common atom (1-3); 1-4 pairs are checked (see the package documentation).
// factor is the fraction of the sum of van der Waals radii below which a
// pair clashes (0: DefaultClashFactor). The topology's bonds must be set.
func NewClashChecker(top *molecule.Topology, factor float64) (*ClashChecker, error) {
	if top == nil {
		return nil, fmt.Errorf("eval: clashes: no topology")
	}
	if factor == 0 {
		factor = DefaultClashFactor
	}
	if !(factor > 0) || factor > 2 {
		return nil, fmt.Errorf("eval: clash factor %g is not in (0, 2]", factor)
	}
	n := top.NumAtoms()
	if n > 1 && len(top.Bonds) == 0 {
		return nil, fmt.Errorf("eval: clashes: the topology has %d atoms and no bonds", n)
	}
	heavy := make([]bool, n)
	radius := make([]float64, n)
	var heavyIdx []int
	for k, a := range top.Atoms {
		if a.Element != nil && a.Element.Symbol == "H" {
			continue
		}
		r, ok := VDWRadius(a.Element)
		if !ok {
			el := "unknown element"
			if a.Element != nil {
				el = a.Element.Symbol
			}
			return nil, fmt.Errorf("eval: clashes: atom %d (%s of %s, %s) has no van der Waals radius", k, a.Name, a.Residue, el)
		}
		heavy[k], radius[k] = true, r
		heavyIdx = append(heavyIdx, k)
	}
	nb := top.Neighbors()
	excluded := func(i, j int) bool {
		for _, a := range nb[i] {
			if a == j {
				return true
			}
			if _, found := slices.BinarySearch(nb[j], a); found {
				return true
			}
		}
		return false
	}
	c := &ClashChecker{top: top, factor: factor}
	for x, i := range heavyIdx {
		for _, j := range heavyIdx[x+1:] {
			if excluded(i, j) {
				continue
			}
			s := radius[i] + radius[j]
			c.i, c.j = append(c.i, int32(i)), append(c.j, int32(j))
			c.sumR = append(c.sumR, s)
			c.cut2 = append(c.cut2, factor*factor*s*s)
		}
	}
	return c, nil
}

// Factor is the clash factor in use.
func (c *ClashChecker) Factor() float64 { return c.factor }

// NumPairs is the number of heavy-atom pairs checked.
func (c *ClashChecker) NumPairs() int { return len(c.i) }

// Clash is one clashing pair of atoms.
type Clash struct {
	I, J  int
	Ratio float64 // distance / (r_i + r_j)
}

// Check returns the clashing pairs of conformation x (nil when there are
// none), and the smallest ratio of distance to sum of radii over all
// checked pairs (+Inf when there are none). It returns an error if x has
// the wrong length or a non-finite position.
func (c *ClashChecker) Check(x []molecule.Vec3) (clashes []Clash, minRatio float64, err error) {
	if len(x) != c.top.NumAtoms() {
		return nil, 0, fmt.Errorf("eval: clashes: %d positions for %d atoms", len(x), c.top.NumAtoms())
	}
	if k := firstNonFinite(x); k >= 0 {
		return nil, 0, fmt.Errorf("eval: clashes: atom %d has non-finite position %v", k, x[k])
	}
	minR2 := math.Inf(1)
	for p := range c.i {
		a, b := x[c.i[p]], x[c.j[p]]
		dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
		d2 := dx*dx + dy*dy + dz*dz
		s := c.sumR[p]
		if r2 := d2 / (s * s); r2 < minR2 {
			minR2 = r2
		}
		if d2 < c.cut2[p] {
			clashes = append(clashes, Clash{I: int(c.i[p]), J: int(c.j[p]), Ratio: math.Sqrt(d2) / s})
		}
	}
	return clashes, math.Sqrt(minR2), nil
}

// firstNonFinite returns the index of the first position with a non-finite
// coordinate, or -1.
func firstNonFinite(x []molecule.Vec3) int {
	for k, p := range x {
		if !finite(p[0]) || !finite(p[1]) || !finite(p[2]) {
			return k
		}
	}
	return -1
}

// ClashStats summarises the clashes of a set of conformations.
type ClashStats struct {
	Factor float64 `json:"factor"` // fraction of the sum of vdW radii
	Pairs  int     `json:"pairs"`  // heavy-atom pairs checked per conformation
	N      int     `json:"n"`
	// Clashing counts conformations with at least one clash, plus those
	// with a non-finite position (NonFinite of them): a conformation that
	// cannot be placed is no usable structure either.
	Clashing  int     `json:"clashing"`
	NonFinite int     `json:"non_finite"`
	Fraction  float64 `json:"fraction"` // Clashing / N
	// MinRatio is the smallest distance / (r_i + r_j) seen in any finite
	// conformation, and MinPair names that pair: how close the set came to
	// a clash, or how deep the worst one is.
	MinRatio Float  `json:"min_ratio"`
	MinPair  string `json:"min_pair,omitempty"`
	// TopPairs are the pairs that clash most often (at most five).
	TopPairs []PairCount `json:"top_pairs,omitempty"`
	// Flags[k] says whether conformation k clashes (or is not finite).
	Flags []bool `json:"-"`
}

// PairCount is how many conformations had a clash between two atoms.
type PairCount struct {
	Pair  string `json:"pair"`
	Count int    `json:"count"`
}

// atomLabel names an atom for a report: "ALA 2 CA".
func atomLabel(a *molecule.Atom) string {
	if a.Residue == nil {
		return fmt.Sprintf("atom %d %s", a.Index, a.Name)
	}
	return fmt.Sprintf("%s %d%s %s", a.Residue.Name, a.Residue.Number, a.Residue.InsertionCode, a.Name)
}

func (c *ClashChecker) pairLabel(i, j int) string {
	return atomLabel(c.top.Atoms[i]) + " - " + atomLabel(c.top.Atoms[j])
}

// Stats checks every conformation of frames.
func (c *ClashChecker) Stats(frames [][]molecule.Vec3) (*ClashStats, error) {
	st := &ClashStats{Factor: c.factor, Pairs: c.NumPairs(), N: len(frames), Flags: make([]bool, len(frames))}
	minRatio, minI, minJ := math.Inf(1), -1, -1
	counts := map[[2]int]int{}
	for f, x := range frames {
		if len(x) != c.top.NumAtoms() {
			return nil, fmt.Errorf("eval: clashes: frame %d has %d positions for %d atoms", f, len(x), c.top.NumAtoms())
		}
		if firstNonFinite(x) >= 0 {
			st.NonFinite++
			st.Clashing++
			st.Flags[f] = true
			continue
		}
		cl, mr, err := c.Check(x)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		if mr < minRatio {
			minRatio = mr
			minI, minJ = -1, -1
			if len(cl) > 0 { // the worst clash is the pair with the smallest ratio
				best := cl[0]
				for _, k := range cl[1:] {
					if k.Ratio < best.Ratio {
						best = k
					}
				}
				minI, minJ = best.I, best.J
			} else {
				minI, minJ = c.argMin(x)
			}
		}
		if len(cl) > 0 {
			st.Clashing++
			st.Flags[f] = true
			for _, k := range cl {
				counts[[2]int{k.I, k.J}]++
			}
		}
	}
	if st.N > 0 {
		st.Fraction = float64(st.Clashing) / float64(st.N)
	}
	st.MinRatio = Float(minRatio)
	if minI >= 0 {
		st.MinPair = c.pairLabel(minI, minJ)
	}
	type pc struct {
		p [2]int
		n int
	}
	var all []pc
	for p, n := range counts {
		all = append(all, pc{p, n})
	}
	slices.SortFunc(all, func(a, b pc) int {
		if a.n != b.n {
			return b.n - a.n
		}
		if a.p[0] != b.p[0] {
			return a.p[0] - b.p[0]
		}
		return a.p[1] - b.p[1]
	})
	for _, e := range all[:min(5, len(all))] {
		st.TopPairs = append(st.TopPairs, PairCount{Pair: c.pairLabel(e.p[0], e.p[1]), Count: e.n})
	}
	return st, nil
}

// argMin returns the pair with the smallest distance / (r_i + r_j).
func (c *ClashChecker) argMin(x []molecule.Vec3) (int, int) {
	best, bi, bj := math.Inf(1), -1, -1
	for p := range c.i {
		a, b := x[c.i[p]], x[c.j[p]]
		dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
		if r2 := (dx*dx + dy*dy + dz*dz) / (c.sumR[p] * c.sumR[p]); r2 < best {
			best, bi, bj = r2, int(c.i[p]), int(c.j[p])
		}
	}
	return bi, bj
}

// String is a one-line summary.
func (s *ClashStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d clashing (%.4g), %d non-finite, min ratio %.3g", s.Clashing, s.N, s.Fraction, s.NonFinite, float64(s.MinRatio))
	if s.MinPair != "" {
		fmt.Fprintf(&b, " (%s)", s.MinPair)
	}
	return b.String()
}
