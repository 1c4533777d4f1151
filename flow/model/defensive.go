package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Defensive is a defensive mixture proposal (Hesterberg 1995) in base
// space: each base sample comes with probability Frac from a widened base
// (truncated normals Widen times wider on the same interval, von Mises
// concentrations divided by Widen²) and otherwise from the flow's own base.
// Pushed through the same couplings, the mixture's density is the flow's
// density times the ratio of the two base densities at z, so it costs no
// extra network evaluation. The widened component puts mass where the
// flow's tails are too thin, which bounds the importance weights of rare
// structures at the price of a fraction Frac of samples that are mostly
// wasted.
type Defensive struct {
	Frac  float64 // probability of the widened component, in [0, 1)
	Widen float64 // scale factor of the widened base, >= 1
	// Dims selects the widened dimensions (layout order); nil widens all.
	// The others keep the flow's base in both components.
	Dims []bool
}

// Active says whether d changes the proposal; the zero value does not.
func (d Defensive) Active() bool { return d.Frac > 0 && d.Widen > 1 }

// Validate checks the mixture's parameters.
func (d Defensive) Validate() error {
	if !(d.Frac >= 0 && d.Frac < 1) {
		return fmt.Errorf("flow: defensive fraction %g is outside [0, 1)", d.Frac)
	}
	if d.Frac > 0 && (!(d.Widen >= 1) || math.IsInf(d.Widen, 0)) {
		return fmt.Errorf("flow: defensive widening %g is not a finite number >= 1", d.Widen)
	}
	return nil
}

func (d Defensive) widens(i int) bool { return d.Dims == nil || d.Dims[i] }

// NumWidened is the number of dimensions d widens in a flow of dimension
// dim.
func (d Defensive) NumWidened(dim int) int {
	if d.Dims == nil {
		return dim
	}
	n := 0
	for _, on := range d.Dims {
		if on {
			n++
		}
	}
	return n
}

// SampleBaseDefensive draws n base samples from the defensive mixture d and
// returns them with, per sample, log m(z) - log p(z): the log ratio of the
// mixture's base density to the flow's own, to be added to the flow's
// log q of the sample. With an inactive d it is SampleBase with zero ratios.
func (f *Flow) SampleBaseDefensive(r *rand.Rand, n int, d Defensive) (z, logRatio []float64, err error) {
	if err := f.checkDefensive(d); err != nil {
		return nil, nil, err
	}
	if !d.Active() {
		z, err = f.SampleBase(r, n)
		return z, make([]float64, n), err
	}
	p, err := f.BaseParams()
	if err != nil {
		return nil, nil, err
	}
	dim := f.Dim()
	z = make([]float64, n*dim)
	for s := range n {
		var wide func(int) bool
		if r.Float64() < d.Frac {
			wide = d.widens
		}
		f.sampleBaseRow(r, z[s*dim:(s+1)*dim], p, wide, d.Widen)
	}
	return z, f.defensiveLogRatio(z, d, p), nil
}

// DefensiveLogRatio is log m(z) - log p(z) for each row of z ([n, D]
// row-major base vectors): what turns the flow's log-density of a sample
// into the density of the defensive mixture d (zeros when d is inactive).
func (f *Flow) DefensiveLogRatio(z []float64, d Defensive) ([]float64, error) {
	if err := f.checkDefensive(d); err != nil {
		return nil, err
	}
	if len(z)%f.Dim() != 0 {
		return nil, fmt.Errorf("flow: %d values is not a whole number of rows of %d", len(z), f.Dim())
	}
	if !d.Active() {
		return make([]float64, len(z)/f.Dim()), nil
	}
	p, err := f.BaseParams()
	if err != nil {
		return nil, err
	}
	return f.defensiveLogRatio(z, d, p), nil
}

// checkDefensive validates d and its dimension selection against f.
func (f *Flow) checkDefensive(d Defensive) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Dims != nil && len(d.Dims) != f.Dim() {
		return fmt.Errorf("flow: defensive mixture selects among %d dimensions, the flow has %d", len(d.Dims), f.Dim())
	}
	return nil
}

// defensiveLogRatio is DefensiveLogRatio with the base parameters read.
// Like the flow's own base density, the truncated normals' formula is used
// as is for coordinates a rounding error outside their interval.
func (f *Flow) defensiveLogRatio(z []float64, d Defensive, p BaseParams) []float64 {
	dim := f.Dim()
	vm := f.cfg.TorsionBase == BaseVonMises
	tau := d.Widen
	out := make([]float64, len(z)/dim)
	for s := range out {
		row := z[s*dim : (s+1)*dim]
		// Log densities of the widened dimensions under the own and the
		// widened base; the other dimensions' factors cancel in the ratio.
		var lp, lw float64
		for _, i := range f.intIdx {
			if !d.widens(i) {
				continue
			}
			a, b := p.interval(i)
			lp += TruncNormalLogPDF(row[i], a, b)
			lw += TruncNormalLogPDF(row[i]/tau, a/tau, b/tau) - math.Log(tau)
		}
		if vm {
			for _, i := range f.circIdx {
				if !d.widens(i) {
					continue
				}
				lp += VonMisesLogPDF(row[i], p.Loc[i], p.Scale[i])
				lw += VonMisesLogPDF(row[i], p.Loc[i], p.Scale[i]/(tau*tau))
			}
		}
		// log((1-ε) p + ε w) - log p, as a log-sum-exp around the larger term.
		x, y := math.Log1p(-d.Frac), math.Log(d.Frac)+lw-lp
		m := max(x, y)
		out[s] = m + math.Log(math.Exp(x-m)+math.Exp(y-m))
	}
	return out
}

// Dimension sets a defensive mixture can widen, by name.
const (
	WidenAll              = "all"               // every dimension
	WidenTorsions         = "torsions"          // the periodic dimensions
	WidenBackboneTorsions = "backbone-torsions" // periodic dimensions of the backbone channel (phi, psi)
)

// WidenDims is the selection Defensive.Dims for a named set of dimensions
// of layout l: nil for WidenAll. A set that selects no dimension is an
// error, since the mixture would then be the flow itself.
func WidenDims(l *Layout, which string) ([]bool, error) {
	if which == WidenAll {
		return nil, nil
	}
	dims := make([]bool, len(l.Circular))
	any := false
	for i := range dims {
		switch which {
		case WidenTorsions:
			dims[i] = l.Circular[i]
		case WidenBackboneTorsions:
			dims[i] = l.Circular[i] && l.Backbone[i]
		default:
			return nil, fmt.Errorf("flow: widened dimensions %q: want %s, %s or %s", which, WidenAll, WidenTorsions, WidenBackboneTorsions)
		}
		any = any || dims[i]
	}
	if !any {
		return nil, fmt.Errorf("flow: the flow has no %s to widen", which)
	}
	return dims, nil
}
