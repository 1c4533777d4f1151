package energy

import (
	"math"

	"github.com/gobg/gobg/energy/molecule"
)

// RelEnergyError is |a - b| / max(|b|, 1 kJ/mol): the relative error of
// energy a against a reference b, absolute near zero, where a relative
// error means nothing.
func RelEnergyError(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1) }

// RelForceError is ||a - b|| / ||b|| over all atoms (the absolute error
// ||a - b|| when the reference forces b are all zero).
func RelForceError(a, b []molecule.Vec3) float64 {
	var num, den float64
	for i := range b {
		for c := range 3 {
			d := a[i][c] - b[i][c]
			num += d * d
			den += b[i][c] * b[i][c]
		}
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
