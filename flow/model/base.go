package model

import (
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Base distributions: uniform or von Mises on the circle, truncated normal
// on an interval. Host functions (float64) sample and evaluate; graph
// functions evaluate log-densities differentiably (the von Mises
// concentration and the truncated normal's bounds may be trainable).

// log I0 switches from the power series to the asymptotic expansion at
// logI0Switch. Measured against the exactly convergent periodic trapezoid
// rule (see the tests): the series with logI0SeriesTerms terms is within
// 1e-14 relative below 20, the asymptotic series with logI0AsymTerms terms
// within 5e-16 above it (its smallest term, near k = 4κ, is far below
// rounding there).
const (
	logI0Switch      = 20.0
	logI0SeriesTerms = 60
	logI0AsymTerms   = 20
)

// LogI0 is log I0(κ) for κ ≥ 0, the log of the modified Bessel function of
// the first kind of order zero (the von Mises normaliser is 2π I0(κ)):
// below 20 the power series Σ (κ²/4)^k / (k!)², summed as log1p of its
// terms after the first so that small κ keeps full relative precision;
// above, κ - ½ log(2πκ) + log Σ c_k κ^-k with c_k = ((2k-1)!!)² / (k! 8^k).
func LogI0(kappa float64) float64 {
	switch {
	case math.IsNaN(kappa) || kappa < 0:
		return math.NaN()
	case math.IsInf(kappa, 1):
		return math.Inf(1)
	case kappa < logI0Switch:
		q := kappa * kappa / 4
		t, s := 1.0, 0.0
		for k := 1; k < logI0SeriesTerms; k++ {
			t *= q / float64(k*k)
			s += t
		}
		return math.Log1p(s)
	}
	t, s := 1.0, 1.0
	for k := 1; k < logI0AsymTerms; k++ {
		t *= float64((2*k-1)*(2*k-1)) / (8 * float64(k) * kappa)
		s += t
	}
	return kappa - 0.5*math.Log(2*math.Pi*kappa) + math.Log(s)
}

// LogI0Graph is LogI0 elementwise in a graph (κ > 0). Each branch sees its
// input clipped to its own range, so the branch that Where discards has
// finite values and gradients.
func LogI0Graph(kappa *graph.Node) *graph.Node {
	small := graph.MinScalar(kappa, logI0Switch)
	q := graph.MulScalar(graph.Square(small), 0.25)
	t := graph.OnesLike(q)
	s := graph.ZerosLike(q)
	for k := 1; k < logI0SeriesTerms; k++ {
		t = graph.Mul(t, graph.MulScalar(q, 1/float64(k*k)))
		s = graph.Add(s, t)
	}
	series := graph.Log1p(s)

	large := graph.MaxScalar(kappa, logI0Switch)
	inv := graph.Reciprocal(large)
	t = graph.OnesLike(inv)
	s = graph.OnesLike(inv)
	for k := 1; k < logI0AsymTerms; k++ {
		t = graph.Mul(t, graph.MulScalar(inv, float64((2*k-1)*(2*k-1))/(8*float64(k))))
		s = graph.Add(s, t)
	}
	asym := graph.Add(graph.Sub(large, graph.MulScalar(graph.Log(graph.MulScalar(large, 2*math.Pi)), 0.5)), graph.Log(s))
	return graph.Where(graph.LessThan(kappa, graph.Scalar(kappa.Graph(), kappa.DType(), logI0Switch)), series, asym)
}

// VonMisesLogPDF is log p(x) of the von Mises distribution with location mu
// and concentration kappa on [-π, π).
func VonMisesLogPDF(x, mu, kappa float64) float64 {
	return kappa*math.Cos(x-mu) - math.Log(2*math.Pi) - LogI0(kappa)
}

// SampleVonMises draws from the von Mises distribution by Best and Fisher's
// (1979) rejection method (wrapped Cauchy envelope), returning a value in
// [-π, π). Concentrations below 1e-8 are treated as uniform, where the
// method's constants lose precision and the distribution is uniform to
// within 1e-8 anyway.
func SampleVonMises(r *rand.Rand, mu, kappa float64) float64 {
	if kappa < 1e-8 {
		return wrap(mu + math.Pi*(2*r.Float64()-1))
	}
	tau := 1 + math.Sqrt(1+4*kappa*kappa)
	rho := (tau - math.Sqrt(2*tau)) / (2 * kappa)
	s := (1 + rho*rho) / (2 * rho)
	for {
		u1, u2, u3 := r.Float64(), r.Float64(), r.Float64()
		z := math.Cos(math.Pi * u1)
		f := (1 + s*z) / (s + z)
		c := kappa * (s - f)
		if c*(2-c)-u2 > 0 || math.Log(c/u2)+1-c >= 0 {
			theta := math.Acos(max(-1, min(1, f)))
			if u3 < 0.5 {
				theta = -theta
			}
			return wrap(mu + theta)
		}
	}
}

// wrap maps an angle into [-π, π).
func wrap(x float64) float64 {
	y := math.Mod(x+math.Pi, 2*math.Pi)
	if y < 0 {
		y += 2 * math.Pi
	}
	y -= math.Pi
	if y >= math.Pi {
		y -= 2 * math.Pi
	}
	return y
}

// normCDF is Φ(x).
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// TruncNormalLogZ is log(Φ(b) - Φ(a)), the log-normaliser of the standard
// normal truncated to [a, b]. Intervals in the upper tail are mirrored to
// the lower one, where Erfc keeps the difference accurate.
func TruncNormalLogZ(a, b float64) float64 {
	if a > 0 {
		a, b = -b, -a
	}
	return math.Log(normCDF(b) - normCDF(a))
}

// TruncNormalLogPDF is log p(x) of the standard normal truncated to [a, b]
// (x inside the interval).
func TruncNormalLogPDF(x, a, b float64) float64 {
	return -0.5*x*x - 0.5*math.Log(2*math.Pi) - TruncNormalLogZ(a, b)
}

// SampleTruncNormal draws from the standard normal truncated to [a, b] by
// inverting the CDF: u uniform on [Φ(a), Φ(b)], x = Φ⁻¹(u) (mirrored to the
// lower tail as in TruncNormalLogZ). Rounding can put x a few ulps outside
// the interval; it is clamped.
func SampleTruncNormal(r *rand.Rand, a, b float64) float64 {
	sign := 1.0
	if a > 0 {
		a, b, sign = -b, -a, -1
	}
	pa, pb := normCDF(a), normCDF(b)
	u := pa + (pb-pa)*r.Float64()
	x := -math.Sqrt2 * math.Erfcinv(2*u)
	return sign * max(a, min(b, x))
}

// truncNormalLogZGraph is log(Φ(b) - Φ(a)) in a graph. GoMLX has Erf but
// not Erfc, so the difference is computed as erf(b/√2) - erf(a/√2), which
// loses relative precision only when both bounds are far in the same tail
// (|a|, |b| > 5 or so); it is floored at 1e-300 (1e-38 in float32) so that
// the log stays finite. The flow's interval bounds are the images of
// [-1, 1] under act-norm, which contain the bulk of the data, so both
// bounds sit on either side of zero in practice.
func truncNormalLogZGraph(a, b *graph.Node) *graph.Node {
	s := 1 / math.Sqrt2
	d := graph.MulScalar(graph.Sub(graph.Erf(graph.MulScalar(b, s)), graph.Erf(graph.MulScalar(a, s))), 0.5)
	floor := 1e-300
	if a.DType().Size() == 4 {
		floor = 1e-38
	}
	return graph.Log(graph.MaxScalar(d, floor))
}
