package native

import "math"

// The HCT integral of a sphere that does not overlap the atom (r ≥ ρ + s,
// which holds for all but close neighbours) has a closed form in x = s/r:
//
//	T = (1/r) [x/(1-x²) - atanh(x)] = (s³/r⁴) h(x²),
//	h(y) = Σ_{k≥0} 2(k+1)/(2k+3) yᵏ = 2/3 + 4y/5 + 6y²/7 + ...
//
// and its derivative -(dT/dr)/(2r) = (s³/(2r⁶)) [h(y) + 2/(1-y)²].
//
// OpenMM's formula (and hct) evaluates T as a difference of terms of size
// 1/r, which costs two divisions and a logarithm per direction and loses
// about 3·log10(r/s) digits to cancellation. h is smooth on the range that
// occurs (y ≤ (s/(ρ+s))² < 1), so gobg tabulates it as piecewise Taylor
// polynomials in y: no logarithm, no square root and no division in the far
// pairs of the Born-radius and Born-force passes, and an error (≈1e-16
// relative to h) below that of the direct formula.

// tableDegree is the degree of the polynomial on each interval, tableStep
// the width of an interval in y. The Taylor remainder on an interval is about
// (tableStep/2/(1-y))^(tableDegree+1): below 1e-16 for y ≤ 0.5.
const (
	tableDegree = 8
	tableStep   = 1.0 / 64
)

// polyTable is a piecewise polynomial in y: interval k covers
// [k·tableStep, (k+1)·tableStep) and c[k] holds the Taylor coefficients about
// its centre, then the centre.
type polyTable struct {
	invStep float64
	c       [][tableDegree + 2]float64
}

// newPolyTable tabulates the function whose d-th Taylor coefficient at y0
// is taylor(y0, d) on [0, yMax].
func newPolyTable(yMax float64, taylor func(y0 float64, d int) float64) *polyTable {
	m := int(yMax/tableStep) + 1
	t := &polyTable{invStep: 1 / tableStep, c: make([][tableDegree + 2]float64, m)}
	for k := range t.c {
		y0 := (float64(k) + 0.5) * tableStep
		for d := 0; d <= tableDegree; d++ {
			t.c[k][d] = taylor(y0, d)
		}
		t.c[k][tableDegree+1] = y0
	}
	return t
}

// hTaylor returns the d-th Taylor coefficient of h at y0:
// Σ_{k≥d} c_k·C(k,d)·y0^(k-d) with c_k = 2(k+1)/(2k+3), summed until the
// terms no longer change the sum (for y0 < 1 they fall geometrically).
func hTaylor(y0 float64, d int) float64 {
	// Neumaier's compensated summation: the sum has up to a few hundred
	// terms, and plain summation would leave errors of 1e-15.
	sum, comp := 0.0, 0.0
	binomPow := 1.0 // C(k,d)·y0^(k-d), starting at k = d
	for k := d; k < 100000; k++ {
		term := 2 * float64(k+1) / float64(2*k+3) * binomPow
		t := sum + term
		if math.Abs(sum) >= math.Abs(term) {
			comp += (sum - t) + term
		} else {
			comp += (term - t) + sum
		}
		sum = t
		if k > d+10 && math.Abs(term) < 1e-20*math.Abs(sum) {
			break
		}
		binomPow *= float64(k+1) / float64(k+1-d) * y0
	}
	return sum + comp
}

// dTaylor returns the d-th Taylor coefficient at y0 of the derivative
// factor h(y) + 2/(1-y)²; that of 2/(1-y)² is 2(d+1)/(1-y0)^(d+2).
func dTaylor(y0 float64, d int) float64 {
	return hTaylor(y0, d) + 2*float64(d+1)/math.Pow(1-y0, float64(d+2))
}

// eval evaluates the polynomial of interval k = int(y·invStep), which the
// caller has checked to be inside the table.
func (t *polyTable) eval(k int, y float64) float64 {
	c := &t.c[k]
	u := y - c[tableDegree+1]
	return c[0] + u*(c[1]+u*(c[2]+u*(c[3]+u*(c[4]+u*(c[5]+u*(c[6]+u*(c[7]+u*c[8])))))))
}

// economized returns the coefficients a[0..deg] of a polynomial
// Σ a_k (y-c)^k, c = (lo+hi)/2, close to the best approximation of degree deg
// on [lo, hi] of the function with Taylor coefficients taylor(c, k): its
// Taylor polynomial of degree 30 is rewritten in Chebyshev polynomials on the
// interval, the terms above deg dropped, and the rest written back in powers
// of y-c (Chebyshev economization). Every step works on coefficients that fall
// geometrically, so rounding stays near 1e-17. For h, which is singular only
// at y = 1, degree 9 on [0, 1/16] is more accurate than Taylor degree 10.
func economized(taylor func(y0 float64, d int) float64, lo, hi float64, deg int) []float64 {
	const full = 30
	c, hw := (lo+hi)/2, (hi-lo)/2
	// Powers of t = (y-c)/hw.
	b := make([]float64, full+1)
	scale := 1.0
	for k := range b {
		b[k] = taylor(c, k) * scale
		scale *= hw
	}
	// t^k = 2^(1-k) Σ_j C(k,j) T_{k-2j}, with half weight on T_0.
	cheb := make([]float64, full+1)
	for k := range b {
		binom := 1.0
		for j := 0; 2*j <= k; j++ {
			w := binom * math.Ldexp(1, 1-k)
			if 2*j == k {
				w /= 2
			}
			cheb[k-2*j] += b[k] * w
			binom = binom * float64(k-j) / float64(j+1)
		}
	}
	// Σ_{j≤deg} cheb_j T_j(t) in powers of t, with T_{j+1} = 2t T_j - T_{j-1}.
	m := deg + 1
	mono := make([]float64, m)
	tPrev, tCur := make([]float64, m), make([]float64, m)
	tPrev[0] = 1
	mono[0] = cheb[0]
	if m > 1 {
		tCur[1] = 1
		mono[1] = cheb[1]
	}
	for j := 2; j < m; j++ {
		next := make([]float64, m)
		for p := range m {
			if p > 0 {
				next[p] += 2 * tCur[p-1]
			}
			next[p] -= tPrev[p]
		}
		tPrev, tCur = tCur, next
		for p := range m {
			mono[p] += cheb[j] * next[p]
		}
	}
	// Back to powers of y-c.
	scale = 1.0
	for p := range mono {
		mono[p] /= scale
		scale *= hw
	}
	return mono
}

// hSeries and dSeries evaluate h(y) and h(y) + 2/(1-y)² from their power
// series (accurate to rounding for y < 1).
func hSeries(y float64) float64 { return hTaylor(y, 0) }
func dSeries(y float64) float64 { return dTaylor(y, 0) }
