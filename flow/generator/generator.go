// Package generator is a trained Boltzmann generator seen from outside the
// flow: a sampler of Cartesian structures and a density over them. It joins a
// model file's flow with its internal-coordinate definition, so that callers
// (gobg sample, gobg mcmc, the Python module) handle positions in nm and
// log-densities of structures, never free vectors.
//
// Densities are those of the structure's internal coordinates, expressed per
// Cartesian volume of the non-rigid degrees of freedom: log q(x) = log q(z) +
// log|dz/dx|. The six rigid-body degrees of freedom are not modelled (the
// flow places structures in the canonical frame of its Z-matrix), so q(x) is
// invariant under rotations and translations of x, like exp(-U(x)/kT). That
// makes q(x') / q(x) the right ratio for Metropolis-Hastings moves between
// structures, and exp(-u(x)) / q(x) the right importance weight.
package generator

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/nn"
)

// Generator samples structures from a trained flow and evaluates their
// log-densities. It is not safe for concurrent use.
type Generator struct {
	path    string
	backend string // the backend's spec (nn.SpecOf)
	flow    *model.Flow
	spec    *ic.Spec
	info    model.FileInfo // what the model file records (training temperature)
	batch   int
	sampler *model.StructureSampler
	// runners by batch size: a compiled graph for one structure (the
	// current state of an MCMC chain, evaluated once per move) and one for
	// full batches; padding one structure to 256 would cost 256 times more.
	runners map[int]*model.Runner
	// defensive is the proposal mixture of Sample (inactive: the flow).
	defensive model.Defensive
	// sym, when not nil, averages the density over relabellings of
	// symmetric atom groups (SetSymmetrize).
	sym *symmetry
}

// SetDefensive makes the generator a defensive mixture of the flow and a
// widened copy of it (model.Defensive): Sample draws from the mixture and
// both Sample and LogProb give the mixture's log-density, so importance
// weights and Metropolis-Hastings ratios stay exact. The zero Defensive
// restores the flow.
func (g *Generator) SetDefensive(d model.Defensive) error {
	if err := d.Validate(); err != nil {
		return err
	}
	g.defensive = d
	if g.sampler != nil {
		g.sampler.Defensive = d
	}
	return nil
}

// DefaultBatch is the batch size of the compiled sampling and density graphs:
// calls with fewer rows pad to it (each new size would compile a new graph).
const DefaultBatch = 256

// Load reads a model file written by gobg train. backendSpec selects the GoMLX
// backend as flow/nn.NewBackend does (empty: the default, see nn.Select).
// batch is the size of the compiled graphs (0: DefaultBatch).
func Load(path, backendSpec string, batch int) (*Generator, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	backend, err := nn.NewBackend(backendSpec)
	if err != nil {
		return nil, err
	}
	f, spec, info, err := model.LoadWithInfo(path, backend)
	if err != nil {
		return nil, err
	}
	if spec == nil {
		return nil, fmt.Errorf("%s: the model has no internal-coordinate definition, so it cannot make structures", path)
	}
	return &Generator{path: path, backend: nn.SpecOf(backend), flow: f, spec: spec, info: info, batch: batch}, nil
}

// Temperature is the temperature in K the model was trained at, as its file
// records it (recorded true), or energy.DefaultTemperature for a file that
// does not (recorded false).
func (g *Generator) Temperature() (kelvin float64, recorded bool) {
	if g.info.TemperatureK > 0 {
		return g.info.TemperatureK, true
	}
	return energy.DefaultTemperature, false
}

// TemperatureWarning is "" when the caller works at the model's training
// temperature, and otherwise one line saying why kelvin deserves a look:
// the model was trained at another temperature (its samples are meant for
// that ensemble: reweighting to another is exact but loses effective
// sample size), or its file does not record one, so
// energy.DefaultTemperature stands in for it.
func (g *Generator) TemperatureWarning(kelvin float64) string {
	t, recorded := g.Temperature()
	switch {
	case !recorded && kelvin == t:
		return fmt.Sprintf("model %s does not record the temperature it was trained at (a file from an older gobg): assuming %g K", g.path, t)
	case !recorded:
		return fmt.Sprintf("working at %g K; model %s does not record the temperature it was trained at (a file from an older gobg; %g K assumed)", kelvin, g.path, t)
	case kelvin != t:
		return fmt.Sprintf("working at %g K, but model %s was trained at %g K: its samples are meant for %g K", kelvin, g.path, t, t)
	}
	return ""
}

// Backend is the spec of the GoMLX backend the generator computes on, e.g.
// "xla:/abs/path/xla_cpu_pjrt.so" or "go:ops_sequential".
func (g *Generator) Backend() string { return g.backend }

// Path is the model file the generator was loaded from.
func (g *Generator) Path() string { return g.path }

// Flow is the underlying flow over free internal coordinates.
func (g *Generator) Flow() *model.Flow { return g.flow }

// Spec is the internal-coordinate definition (Z-matrix, free and fixed
// coordinates, normalisation).
func (g *Generator) Spec() *ic.Spec { return g.spec }

// Topology is the molecule the generator makes.
func (g *Generator) Topology() *molecule.Topology { return g.spec.Z.Top }

// NumAtoms is the number of atoms of each structure.
func (g *Generator) NumAtoms() int { return g.spec.Z.NumAtoms() }

// Mode says whether bond lengths and side-chain angles are free (Full) or
// fixed (Reduced).
func (g *Generator) Mode() ic.Mode { return g.spec.Mode }

// Close releases the compiled graphs.
func (g *Generator) Close() {
	if g.sampler != nil {
		g.sampler.Close()
		g.sampler = nil
	}
	for k, r := range g.runners {
		r.Close()
		delete(g.runners, k)
	}
}

// Sample draws n structures into pos (n*atoms*3 values, nm, row-major) and
// their log-densities log q(x) into logQ (n values). The same seed gives the
// same structures whatever n is split into across calls of the same size.
func (g *Generator) Sample(n int, seed uint64, pos, logQ []float64) error {
	na := g.NumAtoms()
	if len(pos) != n*na*3 || len(logQ) != n {
		return fmt.Errorf("generator: sample %d structures of %d atoms needs %d positions and %d log-densities, got %d and %d",
			n, na, n*na*3, n, len(pos), len(logQ))
	}
	if g.sampler == nil {
		s, err := model.NewStructureSampler(g.flow, g.spec, g.batch)
		if err != nil {
			return err
		}
		s.Defensive = g.defensive
		g.sampler = s
	}
	for done := 0; done < n; done += g.batch {
		k := min(g.batch, n-done)
		// Per-batch seeds derived from the caller's keep batches independent.
		st, err := g.sampler.Sample(k, seed+uint64(done))
		if err != nil {
			return err
		}
		for i := range k {
			o := (done + i) * na * 3
			for a, p := range st.Positions[i] {
				pos[o+3*a], pos[o+3*a+1], pos[o+3*a+2] = p[0], p[1], p[2]
			}
			logQ[done+i] = st.LogQ[i] - st.LogDetCart[i]
		}
		if g.sym != nil {
			g.sym.relabel(pos[done*na*3:(done+k)*na*3], k, na, seed+uint64(done))
		}
	}
	if g.sym != nil {
		return g.logProbSym(n, pos, logQ)
	}
	return nil
}

// LogProb writes log q(x) of n structures pos (n*atoms*3 values, nm) into
// out. A structure that the internal coordinates cannot represent (atoms on
// top of each other, non-finite positions) is an error naming it. In reduced
// mode the fixed coordinates of x are ignored: the value is the density of
// its free coordinates.
func (g *Generator) LogProb(n int, pos, out []float64) error {
	na := g.NumAtoms()
	if len(pos) != n*na*3 || len(out) != n {
		return fmt.Errorf("generator: log_prob of %d structures of %d atoms needs %d positions and %d outputs, got %d and %d",
			n, na, n*na*3, n, len(pos), len(out))
	}
	if g.sym != nil {
		return g.logProbSym(n, pos, out)
	}
	size := g.batch
	if n == 1 {
		size = 1
	}
	return g.logProb(n, pos, out, size, func(i int) int { return i })
}

// logProb is LogProb without symmetrisation, with graphs of batch size;
// structure i is called structure index(i) in errors.
func (g *Generator) logProb(n int, pos, out []float64, size int, index func(int) int) error {
	na := g.NumAtoms()
	run, ok := g.runners[size]
	if !ok {
		r, err := g.flow.NewRunner(size)
		if err != nil {
			return err
		}
		if g.runners == nil {
			g.runners = map[int]*model.Runner{}
		}
		g.runners[size], run = r, r
	}
	d := g.spec.NumFree()
	zs := make([]float64, 0, n*d)
	lds := make([]float64, n)
	x := make([]molecule.Vec3, na)
	for i := range n {
		for a := range x {
			o := (i*na + a) * 3
			x[a] = molecule.Vec3{pos[o], pos[o+1], pos[o+2]}
			if !finite(x[a][0]) || !finite(x[a][1]) || !finite(x[a][2]) {
				return fmt.Errorf("generator: structure %d: atom %d has non-finite position %v", index(i), a, x[a])
			}
		}
		z, ld, err := g.spec.ToInternal(x)
		if err != nil {
			return fmt.Errorf("generator: structure %d: %w", index(i), err)
		}
		zs = append(zs, z...)
		lds[i] = ld
	}
	lq, err := run.LogProbDefensive(zs, g.defensive)
	if err != nil {
		return err
	}
	for i := range n {
		out[i] = lq[i] + lds[i]
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
