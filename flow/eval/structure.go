package eval

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
)

// Atom selections for distance matrices and RMSF.
const (
	SelectionCA       = "CA"       // the C-alpha atom of each residue
	SelectionBackbone = "backbone" // N, CA and C of every residue (caps included)
)

// BackboneAtoms returns the atoms whose distances and fluctuations a report
// compares: the C-alpha atoms (carbons named CA, so that a calcium ion
// named CA is not one) when there are at least three of them, otherwise (a
// dipeptide has one) the backbone atoms of every residue, caps included:
// nitrogens named N, CA, and carbons named C that are bonded to an oxygen
// (the carbonyl carbon; OpenMM names the methyl carbon of an NME cap C as
// well). It returns the atom indices and the selection's name
// (SelectionCA or SelectionBackbone).
func BackboneAtoms(top *molecule.Topology) ([]int, string, error) {
	nb := top.Neighbors()
	is := func(a *molecule.Atom, sym string) bool { return a.Element != nil && a.Element.Symbol == sym }
	carbonyl := func(a *molecule.Atom) bool {
		for _, j := range nb[a.Index] {
			if is(top.Atoms[j], "O") {
				return true
			}
		}
		return false
	}
	var ca, bb []int
	for _, a := range top.Atoms {
		switch {
		case a.Name == "CA" && is(a, "C"):
			ca = append(ca, a.Index)
			bb = append(bb, a.Index)
		case a.Name == "N" && is(a, "N"), a.Name == "C" && is(a, "C") && carbonyl(a):
			bb = append(bb, a.Index)
		}
	}
	if len(ca) >= 3 {
		return ca, SelectionCA, nil
	}
	if len(bb) >= 2 {
		return bb, SelectionBackbone, nil
	}
	return nil, "", fmt.Errorf("eval: the topology has %d C-alpha and %d backbone atoms: no distances to compare", len(ca), len(bb))
}

// uniformOr returns w, or uniform weights 1/n when w is nil.
func uniformOr(w []float64, n int) []float64 {
	if w != nil {
		return w
	}
	u := make([]float64, n)
	for i := range u {
		u[i] = 1 / float64(n)
	}
	return u
}

// checkWeights returns the weights normalised to sum 1, or an error when
// they are not n non-negative finite numbers with a positive sum. nil means
// uniform.
func checkWeights(w []float64, n int) ([]float64, error) {
	if w == nil {
		return uniformOr(nil, n), nil
	}
	if len(w) != n {
		return nil, fmt.Errorf("eval: %d weights for %d frames", len(w), n)
	}
	s := 0.0
	for i, v := range w {
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("eval: weight %d is %g", i, v)
		}
		s += v
	}
	if !(s > 0) {
		return nil, fmt.Errorf("eval: weights sum to %g", s)
	}
	out := make([]float64, n)
	for i, v := range w {
		out[i] = v / s
	}
	return out, nil
}

// checkFrames returns an error unless every frame has natoms finite
// positions at the given atoms (all atoms when atoms is nil).
func checkFrames(frames [][]molecule.Vec3, natoms int, atoms []int) error {
	for f, x := range frames {
		if len(x) != natoms {
			return fmt.Errorf("eval: frame %d has %d positions for %d atoms", f, len(x), natoms)
		}
		for _, k := range atoms {
			p := x[k]
			if !finite(p[0]) || !finite(p[1]) || !finite(p[2]) {
				return fmt.Errorf("eval: frame %d: atom %d has non-finite position %v", f, k, p)
			}
		}
	}
	return nil
}

// MeanDistanceMatrix returns the (weighted) mean over frames of the matrix
// of distances (nm) between the given atoms. w holds one weight per frame
// (nil: all equal); weights are normalised.
func MeanDistanceMatrix(frames [][]molecule.Vec3, atoms []int, w []float64) ([][]float64, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("eval: mean distance matrix of no frames")
	}
	if err := checkFrames(frames, len(frames[0]), atoms); err != nil {
		return nil, err
	}
	for _, k := range atoms {
		if k < 0 || k >= len(frames[0]) {
			return nil, fmt.Errorf("eval: atom index %d out of range [0, %d)", k, len(frames[0]))
		}
	}
	w, err := checkWeights(w, len(frames))
	if err != nil {
		return nil, err
	}
	n := len(atoms)
	d := make([][]float64, n)
	for i := range d {
		d[i] = make([]float64, n)
	}
	for f, x := range frames {
		if w[f] == 0 {
			continue
		}
		for i := 0; i < n; i++ {
			a := x[atoms[i]]
			for j := i + 1; j < n; j++ {
				d[i][j] += w[f] * ic.Distance(a, x[atoms[j]])
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			d[j][i] = d[i][j]
		}
	}
	return d, nil
}

// DistanceDistortion is ΔD of Kim et al.: the mean absolute difference of
// two (mean) distance matrices over their upper triangle (i < j), in the
// matrices' unit. It returns an error when the matrices differ in size or
// have fewer than two rows.
func DistanceDistortion(a, b [][]float64) (float64, error) {
	n := len(a)
	if n != len(b) || n < 2 {
		return 0, fmt.Errorf("eval: distance distortion of %dx%d and %dx%d matrices", n, n, len(b), len(b))
	}
	sum := 0.0
	for i := 0; i < n; i++ {
		if len(a[i]) != n || len(b[i]) != n {
			return 0, fmt.Errorf("eval: distance distortion: row %d is not square", i)
		}
		for j := i + 1; j < n; j++ {
			sum += math.Abs(a[i][j] - b[i][j])
		}
	}
	return sum / float64(n*(n-1)/2), nil
}

// DefaultAlignIterations is how often RMSF realigns to the mean structure.
const DefaultAlignIterations = 3

// RMSF returns the root-mean-square fluctuation (nm) of each of the given
// atoms about their mean position after optimal superposition (Kabsch, on
// the same atoms, no mass weighting), and that mean structure. The frames
// are aligned to the first frame with a positive weight, the (weighted)
// mean is computed, and the frames are realigned to the mean, iterations
// times in all (0: DefaultAlignIterations; it stops early once the mean
// moves by less than 1e-9 nm RMS); the RMSF is taken about the mean of the
// last alignment. w holds one weight per frame (nil: all equal).
func RMSF(frames [][]molecule.Vec3, atoms []int, w []float64, iterations int) (rmsf []float64, mean []molecule.Vec3, err error) {
	if len(frames) == 0 {
		return nil, nil, fmt.Errorf("eval: RMSF of no frames")
	}
	if len(atoms) == 0 {
		return nil, nil, fmt.Errorf("eval: RMSF of no atoms")
	}
	for _, k := range atoms {
		if k < 0 || k >= len(frames[0]) {
			return nil, nil, fmt.Errorf("eval: atom index %d out of range [0, %d)", k, len(frames[0]))
		}
	}
	if err := checkFrames(frames, len(frames[0]), atoms); err != nil {
		return nil, nil, err
	}
	w, err = checkWeights(w, len(frames))
	if err != nil {
		return nil, nil, err
	}
	if iterations <= 0 {
		iterations = DefaultAlignIterations
	}
	n := len(atoms)
	sel := make([][]molecule.Vec3, len(frames))
	for f, x := range frames {
		s := make([]molecule.Vec3, n)
		for i, k := range atoms {
			s[i] = x[k]
		}
		sel[f] = s
	}
	var ref []molecule.Vec3
	for f := range sel {
		if w[f] > 0 {
			ref = sel[f]
			break
		}
	}
	aligned := make([][]molecule.Vec3, len(sel))
	for it := 0; it < iterations; it++ {
		for f, s := range sel {
			if w[f] == 0 {
				continue
			}
			_, moved, err := ic.Superpose(s, ref, nil)
			if err != nil {
				return nil, nil, fmt.Errorf("eval: RMSF: frame %d: %w", f, err)
			}
			aligned[f] = moved
		}
		m := make([]molecule.Vec3, n)
		for f, a := range aligned {
			if w[f] == 0 {
				continue
			}
			for i := range a {
				for c := 0; c < 3; c++ {
					m[i][c] += w[f] * a[i][c]
				}
			}
		}
		moved := 0.0
		if mean != nil {
			for i := range m {
				for c := 0; c < 3; c++ {
					moved += (m[i][c] - mean[i][c]) * (m[i][c] - mean[i][c])
				}
			}
		}
		mean, ref = m, m
		if it > 0 && math.Sqrt(moved/float64(n)) < 1e-9 {
			break
		}
	}
	rmsf = make([]float64, n)
	for f, a := range aligned {
		if w[f] == 0 {
			continue
		}
		for i := range a {
			for c := 0; c < 3; c++ {
				d := a[i][c] - mean[i][c]
				rmsf[i] += w[f] * d * d
			}
		}
	}
	for i := range rmsf {
		rmsf[i] = math.Sqrt(rmsf[i])
	}
	return rmsf, mean, nil
}
