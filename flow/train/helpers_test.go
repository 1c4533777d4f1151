package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/provider"
	"github.com/gobg/gobg/internal/testenv"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
)

// tinyConfig is alanine dipeptide with a small float64 nsf flow: a few
// NLL steps, then NLL+KL with the native energy.
func tinyConfig(t testing.TB, nllSteps, klSteps int) Config {
	t.Helper()
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	cfg := DefaultConfig()
	cfg.Data.Topology = filepath.Join(dir, "top.pdb")
	cfg.Data.Trajectories = []string{filepath.Join(dir, "traj.dcd")}
	cfg.Data.MaxFrames = 400
	cfg.Data.ValFraction = 0.2
	cfg.Model.Layers = 2
	cfg.Model.Hidden = []int{16}
	cfg.Model.Bins = 4
	cfg.Stages = []Stage{
		{Name: "nll", Steps: nllSteps, BatchSize: 32, LR: 5e-3, Schedule: ScheduleConstant, Weights: Weights{NLL: 1}},
	}
	if klSteps > 0 {
		cfg.Stages = append(cfg.Stages, Stage{Name: "nll+kl", Steps: klSteps, BatchSize: 32, LR: 1e-3, Schedule: ScheduleConstant, Weights: Weights{NLL: 1, KL: 0.1}})
	}
	cfg.Output = t.TempDir()
	cfg.CheckpointEvery = 0
	cfg.LogEvery = 0
	cfg.Energy.Workers = 1
	// The tests built on it check float64 figures (gradients against
	// finite differences, Adam against GoMLX's to 1e-12, exact resume);
	// the float32 default has its own tests (dtype_test.go).
	cfg.DType = DTypeFloat64
	return cfg
}

// flowProbe is a trainer of tinyConfig whose flow is perturbed away from
// the identity, for finite-difference checks of the energy-based
// surrogates through the flow and the internal-to-Cartesian map.
type flowProbe struct {
	tr   *Trainer
	d, n int // flow dimension, atoms
	eval *gctx.Exec
}

func newFlowProbe(t *testing.T) *flowProbe {
	t.Helper()
	cfg := tinyConfig(t, 1, 1)
	tr, err := New(context.Background(), cfg, Options{Energy: configEnergy(t, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	if err := tr.flow.Perturb(0.1, 3); err != nil {
		t.Fatal(err)
	}
	p := &flowProbe{tr: tr, d: tr.flow.Dim(), n: len(tr.data.Top.Atoms)}
	p.eval, err = gctx.NewExecAny(tr.flow.Backend(), tr.flow.Context(), func(ctx *gctx.Context, z *Node) []*Node {
		pos, ld := p.forward(ctx, z)
		return []*Node{pos, ld}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.eval.Finalize)
	return p
}

// forward maps base samples z [B, D] to positions [B, N, 3] and the log-det
// of the whole map.
func (p *flowProbe) forward(ctx *gctx.Context, z *Node) (pos, logDet *Node) {
	x, ldF := p.tr.flow.Forward(ctx, z)
	pos, ldT := p.tr.tr.ToCartesian(x)
	return pos, Add(ldF, ldT)
}

// exec compiles a graph of the probe's flow (for the surrogate gradients).
func (p *flowProbe) exec(t *testing.T, fn any) *gctx.Exec {
	t.Helper()
	e, err := gctx.NewExecAny(p.tr.flow.Backend(), p.tr.flow.Context(), fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Finalize)
	return e
}

// at evaluates b base samples z (row-major [b, D]) on the host with the
// native energy: f_k = f(U_k/kT) - log|det ∂x/∂z| (minus the log weight,
// up to the base density) and the energy gradients g [b, N, 3] of f(u).
func (p *flowProbe) at(t *testing.T, z []float64, b int) (f, g []float64) {
	t.Helper()
	out, err := p.eval.Exec(tensorF64(z, b, p.d))
	if err != nil {
		t.Fatal(err)
	}
	x, ld := floats(out[0]), floats(out[1])
	pos := make([][]molecule.Vec3, b)
	for k := range b {
		pos[k] = make([]molecule.Vec3, p.n)
		for a := range p.n {
			copy(pos[k][a][:], x[(k*p.n+a)*3:])
		}
	}
	r, err := p.tr.en.Evaluate(context.Background(), pos, true)
	if err != nil {
		t.Fatal(err)
	}
	f, g = make([]float64, b), make([]float64, b*p.n*3)
	for k := range b {
		if r.Errors[k] != nil {
			t.Fatal(r.Errors[k])
		}
		fu, df := p.tr.cut.Value(r.Energies[k] / p.tr.kt)
		f[k] = fu - ld[k]
		for a := range p.n {
			for c := range 3 {
				g[(k*p.n+a)*3+c] = -r.Forces[k][a][c] / p.tr.kt * df
			}
		}
	}
	return f, g
}

// configEnergy starts the provider of cfg's energy section as the commands
// do (energy/provider), with the project's Python unless cfg names one.
func configEnergy(t testing.TB, cfg Config) EnergyStarter {
	e := cfg.Energy
	python := e.Python
	if python == "" {
		python = testenv.Python(t)
	}
	return func(ctx context.Context) (energy.Energy, func(), error) {
		return provider.Start(ctx, provider.Spec{Name: e.Provider, PDB: cfg.Data.Topology, SystemXML: e.SystemXML,
			Python: python, Workers: e.Workers, Platform: e.Platform})
	}
}
