package eval

import (
	"math"
	"slices"
)

// DefaultQuantiles are the energy quantiles a report gives.
var DefaultQuantiles = []float64{0.05, 0.25, 0.50, 0.75, 0.95}

// Quantile is one quantile of a set of energies.
type Quantile struct {
	P     float64 `json:"p"`     // in [0, 1]
	Value Float   `json:"value"` // kJ/mol; "+Inf" when it falls among non-finite energies
}

// EnergyStats summarises a set of potential energies (kJ/mol).
//
// Non-finite energies (NaN, ±Inf: a sample that has no finite energy) rank
// above every finite one, as +Inf: they are the worst samples, and leaving
// them out would make a generator that breaks half its samples look as good
// as one that breaks none. So a quantile above the finite fraction is +Inf,
// and so is the lower-half mean when more than half are non-finite.
type EnergyStats struct {
	N                 int        `json:"n"`
	NonFinite         int        `json:"non_finite"`
	NonFiniteFraction float64    `json:"non_finite_fraction"`
	Quantiles         []Quantile `json:"quantiles"`
	// Min, Max and Mean are over the finite energies (NaN when none is).
	Min  Float `json:"min"`
	Max  Float `json:"max"`
	Mean Float `json:"mean"`
	// LowerHalfMean is the mean of the lowest floor(N/2) energies (the
	// lowest one when N = 1): the metric of Kim et al., which ignores the
	// high-energy tail.
	LowerHalfMean Float `json:"lower_half_mean"`
}

// rankEnergies returns a sorted copy of e with every non-finite value
// replaced by +Inf, and how many there were.
func rankEnergies(e []float64) (sorted []float64, nonFinite int) {
	sorted = make([]float64, len(e))
	for i, v := range e {
		if !finite(v) {
			v = math.Inf(1)
			nonFinite++
		}
		sorted[i] = v
	}
	slices.Sort(sorted)
	return sorted, nonFinite
}

// quantileSorted is the linearly interpolated quantile of sorted data
// (numpy's default, "type 7": position p*(n-1)); NaN for no data.
func quantileSorted(s []float64, p float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	h := p * float64(n-1)
	lo := int(math.Floor(h))
	if lo < 0 {
		return s[0]
	}
	if lo >= n-1 {
		return s[n-1]
	}
	a, b := s[lo], s[lo+1]
	frac := h - float64(lo)
	if frac == 0 || a == b { // also keeps Inf - Inf out
		return a
	}
	return a + frac*(b-a)
}

// Quantiles returns the quantiles ps (each in [0, 1]) of x, linearly
// interpolated between order statistics as numpy.percentile does by default,
// with non-finite values ranked as +Inf (see EnergyStats).
func Quantiles(x []float64, ps []float64) []float64 {
	s, _ := rankEnergies(x)
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = quantileSorted(s, p)
	}
	return out
}

// LowerHalfMean is the mean of the lowest floor(N/2) values of x (the lowest
// value when N = 1; NaN when N = 0), non-finite values ranked as +Inf.
func LowerHalfMean(x []float64) float64 {
	s, _ := rankEnergies(x)
	return lowerHalfMeanSorted(s)
}

func lowerHalfMeanSorted(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	k := max(len(s)/2, 1)
	sum := 0.0
	for _, v := range s[:k] {
		sum += v
	}
	return sum / float64(k)
}

// SummarizeEnergies computes EnergyStats of energies in kJ/mol.
func SummarizeEnergies(e []float64) *EnergyStats {
	s, bad := rankEnergies(e)
	st := &EnergyStats{
		N:             len(e),
		NonFinite:     bad,
		Min:           Float(math.NaN()),
		Max:           Float(math.NaN()),
		Mean:          Float(math.NaN()),
		LowerHalfMean: Float(lowerHalfMeanSorted(s)),
	}
	if len(e) > 0 {
		st.NonFiniteFraction = float64(bad) / float64(len(e))
	}
	for _, p := range DefaultQuantiles {
		st.Quantiles = append(st.Quantiles, Quantile{P: p, Value: Float(quantileSorted(s, p))})
	}
	if fin := s[:len(s)-bad]; len(fin) > 0 {
		sum := 0.0
		for _, v := range fin {
			sum += v
		}
		st.Min, st.Max, st.Mean = Float(fin[0]), Float(fin[len(fin)-1]), Float(sum/float64(len(fin)))
	}
	return st
}

// WeightedMean is Σ w_i x_i / Σ w_i over the entries with w_i > 0; NaN when
// no weight is positive or a weighted value is not finite.
func WeightedMean(x, w []float64) float64 {
	var s, sw float64
	for i, v := range x {
		if i >= len(w) || w[i] <= 0 {
			continue
		}
		s += w[i] * v
		sw += w[i]
	}
	if sw == 0 {
		return math.NaN()
	}
	return s / sw
}
