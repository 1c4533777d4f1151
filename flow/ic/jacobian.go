package ic

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// JacobianFD is the Jacobian of the map from the internal coordinates cols
// (indices into Coords) to the canonical-frame positions (3N rows, atom
// order, x y z), at ic, by central differences with step h (radians or nm).
// It is a float64 reference for checks and diagnostics: its entries carry a
// relative error of about h^2 + 1e-16/h.
func (z *ZMatrix) JacobianFD(ic []float64, cols []int, h float64) (*mat.Dense, error) {
	n := z.NumAtoms()
	j := mat.NewDense(3*n, len(cols), nil)
	q := append([]float64(nil), ic...)
	xp, xm := make([]Vec3, n), make([]Vec3, n)
	for c, k := range cols {
		if k < 0 || k >= len(ic) {
			return nil, fmt.Errorf("ic: Jacobian column %d: coordinate %d out of range", c, k)
		}
		q[k] = ic[k] + h
		if err := z.Cartesian(q, xp); err != nil {
			return nil, err
		}
		q[k] = ic[k] - h
		if err := z.Cartesian(q, xm); err != nil {
			return nil, err
		}
		q[k] = ic[k]
		for a := 0; a < n; a++ {
			for d := 0; d < 3; d++ {
				j.Set(3*a+d, c, (xp[a][d]-xm[a][d])/(2*h))
			}
		}
	}
	return j, nil
}

// GramLogDet is 0.5 log det(J^T W J), where J is the Jacobian of the map
// from the free coordinates (not normalised) to canonical-frame positions
// at the full internal coordinates ic, and W is diag(masses) per atom
// (nil: identity). It is the log volume factor of the reduced manifold in
// Cartesian space (mass-weighted when masses are given: the metric factor
// of an ensemble in which the fixed coordinates are rigid constraints). J
// comes from central differences with step 1e-6, so expect agreement to
// ~1e-8 relative, not to round-off. In Full mode it equals
// LogDetJacobian up to that error; in Reduced mode it does not (see
// LogDetJacobian).
func (s *Spec) GramLogDet(ic []float64, masses []float64) (float64, error) {
	if err := s.checkFitted(); err != nil {
		return 0, err
	}
	n := s.Z.NumAtoms()
	if masses != nil && len(masses) != n {
		return 0, fmt.Errorf("ic: %d masses for %d atoms", len(masses), n)
	}
	j, err := s.Z.JacobianFD(ic, s.Free, 1e-6)
	if err != nil {
		return 0, err
	}
	if masses != nil {
		for a := 0; a < n; a++ {
			w := math.Sqrt(masses[a])
			for d := 0; d < 3; d++ {
				row := j.RawRowView(3*a + d)
				for c := range row {
					row[c] *= w
				}
			}
		}
	}
	var g mat.SymDense
	g.SymOuterK(1, j.T())
	var ch mat.Cholesky
	if !ch.Factorize(&g) {
		return 0, fmt.Errorf("ic: J^T J is not positive definite (degenerate geometry)")
	}
	return 0.5 * ch.LogDet(), nil
}
