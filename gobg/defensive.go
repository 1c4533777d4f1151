package main

import (
	"flag"
	"fmt"

	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/model"
)

// defensiveFlags are the proposal-mixture flags shared by gobg sample and
// gobg eval.
type defensiveFlags struct {
	frac, widen *float64
	dims        *string
}

const defensiveUsage = `With --defensive F, a fraction F of the structures comes from the flow
with a widened base (--widen times wider; von Mises concentrations divided
by its square) in the dimensions --widen-dims names: all, torsions (the
periodic ones) or backbone-torsions (phi, psi). Log q(x) is then the
density of that mixture, so importance weights stay exact; the widened
part puts samples where the flow's tails are too thin and bounds the
weights of rare structures, at the price of samples that are mostly
wasted.`

func addDefensiveFlags(fs *flag.FlagSet) *defensiveFlags {
	return &defensiveFlags{
		frac:  fs.Float64("defensive", 0, "draw this `fraction` of structures from the widened flow (defensive mixture; 0: off)"),
		widen: fs.Float64("widen", 2, "scale `factor` of the defensive mixture's widened base"),
		dims:  fs.String("widen-dims", model.WidenBackboneTorsions, "dimensions the defensive mixture widens: all, torsions or backbone-torsions"),
	}
}

// defensiveSummary records a defensive mixture in a command's JSON summary.
type defensiveSummary struct {
	Fraction float64 `json:"fraction"`
	Widen    float64 `json:"widen"`
	Dims     string  `json:"dims"`
	Widened  int     `json:"widened_dims"`
}

// apply sets the mixture on g and returns its summary (nil when off).
func (d *defensiveFlags) apply(g *generator.Generator) (*defensiveSummary, error) {
	if *d.frac == 0 {
		return nil, nil
	}
	l := g.Flow().Layout()
	dims, err := model.WidenDims(l, *d.dims)
	if err != nil {
		return nil, fmt.Errorf("%w: --widen-dims: %v", errUsage, err)
	}
	if err := g.SetDefensive(model.Defensive{Frac: *d.frac, Widen: *d.widen, Dims: dims}); err != nil {
		return nil, fmt.Errorf("%w: --defensive %g --widen %g: %v", errUsage, *d.frac, *d.widen, err)
	}
	s := &defensiveSummary{Fraction: *d.frac, Widen: *d.widen, Dims: *d.dims, Widened: len(l.Circular)}
	if dims != nil {
		s.Widened = 0
		for _, on := range dims {
			if on {
				s.Widened++
			}
		}
	}
	return s, nil
}
