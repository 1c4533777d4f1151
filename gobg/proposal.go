package main

import (
	"flag"
	"fmt"

	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/model"
)

// proposalFlags are the flags shared by gobg sample, eval and mcmc that
// change the generator's proposal density: a defensive mixture and
// symmetrisation over relabellings of identical atoms.
type proposalFlags struct {
	frac, widen *float64
	dims        *string
	symmetrize  *int
}

const proposalUsage = `With --defensive F, a fraction F of the structures comes from the flow
with a widened base (--widen times wider; von Mises concentrations divided
by its square) in the dimensions --widen-dims names: all, torsions (the
periodic ones) or backbone-torsions (phi, psi). Log q(x) is then the
density of that mixture, so importance weights stay exact; the widened
part puts samples where the flow's tails are too thin and bounds the
weights of rare structures, at the price of samples that are mostly
wasted.

With --symmetrize N, the density is averaged over cyclic relabellings of
the hydrogens of methyl and NH3+ groups, as many groups as fit in N
relabellings (alanine dipeptide's three methyls: 27), and each sample is
relabelled at random.
The Boltzmann density is unchanged by these relabellings, so the averaged
proposal is exact and at least as close to it (KL can only fall); each
density costs N passes of the inverse flow. Full-mode models only.`

func addProposalFlags(fs *flag.FlagSet) *proposalFlags {
	return &proposalFlags{
		frac:       fs.Float64("defensive", 0, "draw this `fraction` of structures from the widened flow (defensive mixture; 0: off)"),
		widen:      fs.Float64("widen", 2, "scale `factor` of the defensive mixture's widened base"),
		dims:       fs.String("widen-dims", model.WidenBackboneTorsions, "dimensions the defensive mixture widens: all, torsions or backbone-torsions"),
		symmetrize: fs.Int("symmetrize", 0, "average the density over at most `N` relabellings of symmetric atom groups (0: off)"),
	}
}

// validate checks the values that need no model: the fraction, the
// widening, the name of the widened dimensions and the relabelling budget.
func (d *proposalFlags) validate() error {
	if *d.symmetrize < 0 {
		return fmt.Errorf("%w: --symmetrize %d: want 0 (off) or a number of relabellings", errUsage, *d.symmetrize)
	}
	if *d.frac == 0 {
		return nil
	}
	if err := (model.Defensive{Frac: *d.frac, Widen: *d.widen}).Validate(); err != nil {
		return fmt.Errorf("%w: --defensive %g --widen %g: %v", errUsage, *d.frac, *d.widen, err)
	}
	switch *d.dims {
	case model.WidenAll, model.WidenTorsions, model.WidenBackboneTorsions:
		return nil
	}
	return fmt.Errorf("%w: --widen-dims %q: want %s, %s or %s", errUsage, *d.dims, model.WidenAll, model.WidenTorsions, model.WidenBackboneTorsions)
}

// defensiveSummary records a defensive mixture in a command's JSON summary.
type defensiveSummary struct {
	Fraction float64 `json:"fraction"`
	Widen    float64 `json:"widen"`
	Dims     string  `json:"dims"`
	Widened  int     `json:"widened_dims"`
}

// load loads the generator at path (batch: its sampling batch) on the
// backend of bf, runs check on it if not nil, settles the temperature the
// command works at (modelTemperature: *temperature, given or not as set
// says) and sets the proposal of d on it (apply). The caller closes the
// generator.
func (d *proposalFlags) load(env *cmdEnv, bf *backendFlags, path string, batch int, set map[string]bool, temperature *float64,
	check func(*generator.Generator) error) (*generator.Generator, *defensiveSummary, *generator.Symmetrization, error) {
	if err := bf.apply(); err != nil {
		return nil, nil, nil, err
	}
	g, err := generator.Load(path, bf.spec, batch)
	if err != nil {
		return nil, nil, nil, err
	}
	if check != nil {
		if err := check(g); err != nil {
			g.Close()
			return nil, nil, nil, err
		}
	}
	*temperature = modelTemperature(env, g, set, *temperature)
	def, sym, err := d.apply(g)
	if err != nil {
		g.Close()
		return nil, nil, nil, err
	}
	return g, def, sym, nil
}

// apply sets the proposal on g and returns its summaries (nil when off).
func (d *proposalFlags) apply(g *generator.Generator) (*defensiveSummary, *generator.Symmetrization, error) {
	sym, err := d.applySymmetry(g)
	if err != nil {
		return nil, nil, err
	}
	def, err := d.applyDefensive(g)
	return def, sym, err
}

func (d *proposalFlags) applySymmetry(g *generator.Generator) (*generator.Symmetrization, error) {
	if *d.symmetrize < 0 {
		return nil, fmt.Errorf("%w: --symmetrize %d: want 0 (off) or a number of relabellings", errUsage, *d.symmetrize)
	}
	if *d.symmetrize == 0 {
		return nil, nil
	}
	res, err := g.SetSymmetrize(*d.symmetrize)
	if err != nil {
		return nil, fmt.Errorf("--symmetrize: %w", err)
	}
	return &res, nil
}

func (d *proposalFlags) applyDefensive(g *generator.Generator) (*defensiveSummary, error) {
	if *d.frac == 0 {
		return nil, nil
	}
	l := g.Flow().Layout()
	dims, err := model.WidenDims(l, *d.dims)
	if err != nil {
		return nil, fmt.Errorf("%w: --widen-dims: %v", errUsage, err)
	}
	def := model.Defensive{Frac: *d.frac, Widen: *d.widen, Dims: dims}
	if err := g.SetDefensive(def); err != nil {
		return nil, fmt.Errorf("%w: --defensive %g --widen %g: %v", errUsage, *d.frac, *d.widen, err)
	}
	s := &defensiveSummary{Fraction: *d.frac, Widen: *d.widen, Dims: *d.dims, Widened: def.NumWidened(len(l.Circular))}
	return s, nil
}
