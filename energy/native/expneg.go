package native

import "math"

// expNeg returns e^(-d) for d ≥ 0 to within about 5e-16 relative. math.Exp
// is as accurate, but it is an assembly routine that cannot be inlined: a
// call inside the GB pair loop makes the compiler spill every live float
// register around it, which costs more than the exponential itself. expNeg is
// small enough for the inliner.
//
// e^(-d) = 2^(-k/8) e^r with k = round(8d/ln 2) and |r| ≤ ln(2)/16, e^r from
// its Taylor polynomial of degree 7 (truncation error below 4e-16), and
// 2^(-k/8) = 2^(-(k>>3)) · 2^(-(k&7)/8) from the exponent bits and a table.
func expNeg(d float64) float64 {
	// Beyond 700 the exponent bits would overflow; e^-700 ≈ 1e-304 is
	// as good as 0 for every sum it enters. NaN stays NaN.
	d = min(d, 700)
	k := int(d*(8*math.Log2E) + 0.5)
	kf := float64(k)
	r := kf*(ln2Hi/8) - d + kf*(ln2Lo/8)
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * exp2Eighths[k&7] * math.Float64frombits(uint64(1023-(k>>3))<<52)
}

// ln 2 split into a high part with trailing zero bits (so that k·ln2Hi/8 is
// exact for the k that occur) and the rest.
const (
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// exp2Eighths[j] = 2^(-j/8).
var exp2Eighths = func() (t [8]float64) {
	for j := range t {
		t[j] = math.Exp2(-float64(j) / 8)
	}
	return t
}()
