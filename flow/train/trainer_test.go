package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/plugin"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

func newTrainer(t *testing.T, cfg Config, opts Options) *Trainer {
	t.Helper()
	if opts.Energy == nil {
		opts.Energy = configEnergy(t, cfg)
	}
	tr, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// snapshot copies every float64 or float32 variable of a context (as
// float64), by scope and name.
func snapshot(t *testing.T, ctx *gctx.Context) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for v := range ctx.IterVariables() {
		if v.DType() != dtypes.Float64 && v.DType() != dtypes.Float32 {
			continue
		}
		tv, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		out[v.ScopeAndName()] = graphops.Float64s(tv)
	}
	return out
}

// maxDiff is the largest absolute difference between the variables of a
// and b under the given scope prefix (and the number compared).
func maxDiff(a, b map[string][]float64, prefix string) (float64, int) {
	worst, n := 0.0, 0
	for k, va := range a {
		if len(k) < len(prefix) || k[:len(prefix)] != prefix {
			continue
		}
		vb, ok := b[k]
		if !ok || len(vb) != len(va) {
			return math.Inf(1), n
		}
		for i := range va {
			worst = max(worst, math.Abs(va[i]-vb[i]))
		}
		n++
	}
	return worst, n
}

// TestAdamMatchesGoMLX runs NLL steps with the trainer's guarded Adam and
// with GoMLX's optimizers.Adam (fed the same clipped gradients) on
// identical flows and batches; the weights must agree to rounding.
func TestAdamMatchesGoMLX(t *testing.T) {
	for _, clip := range []float64{0, 30} {
		cfg := tinyConfig(t, 4, 0)
		cfg.ClipNorm = clip
		tr := newTrainer(t, cfg, Options{})
		f2, err := model.New(tr.flow.Backend(), cfg.Model, tr.flow.Layout(), dtypes.Float64)
		if err != nil {
			t.Fatal(err)
		}
		if err := f2.InitFromData(tr.data.TrainZ, len(tr.data.Train)); err != nil {
			t.Fatal(err)
		}
		opt := optimizers.Adam().LearningRate(cfg.Stages[0].LR).Epsilon(adamEps).Done()
		exec, err := gctx.NewExecAny(f2.Backend(), f2.Context(), func(ctx *gctx.Context, z *Node) []*Node {
			loss := f2.NLL(ctx, z)
			grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
			sq := ScalarZero(z.Graph(), dtypes.Float64)
			for _, g := range grads {
				sq = Add(sq, ReduceAllSum(Square(g)))
			}
			norm := Sqrt(sq)
			if clip > 0 {
				s := Min(ScalarOne(z.Graph(), dtypes.Float64), DivScalar(Reciprocal(norm), 1/clip))
				for i := range grads {
					grads[i] = Mul(grads[i], s)
				}
			}
			opt.(interface {
				UpdateGraphWithGradients(*gctx.Context, []*Node, dtypes.DType)
			}).UpdateGraphWithGradients(ctx, grads, dtypes.Float64)
			return []*Node{loss, norm}
		})
		if err != nil {
			t.Fatal(err)
		}
		d := tr.flow.Dim()
		b := cfg.Stages[0].BatchSize
		clipped := 0
		for k := range 4 {
			idx := batchIndices(cfg.Seed, tr.st.Cursor, len(tr.data.Train), b)
			var z []float64
			for _, i := range idx {
				z = append(z, tr.data.TrainZ[i*d:(i+1)*d]...)
			}
			rec, err := tr.step(context.Background(), cfg.Stages[0], k)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(tensorF64(z, b, d))
			if err != nil {
				t.Fatal(err)
			}
			loss, norm := floats(out[0])[0], floats(out[1])[0]
			if clip > 0 && norm > clip {
				clipped++
			}
			if math.Abs(norm-rec.GradNorm) > 1e-9*norm {
				t.Errorf("clip %g step %d: gradient norm %.15g, GoMLX %.15g", clip, k, rec.GradNorm, norm)
			}
			_ = loss
		}
		diff, n := maxDiff(snapshot(t, tr.flow.Context()), snapshot(t, f2.Context()), model.RootScope)
		t.Logf("clip %g (%d of 4 steps clipped): largest weight difference to GoMLX's Adam after 4 steps: %.3g over %d variables", clip, clipped, diff, n)
		if n == 0 || diff > 1e-12 {
			t.Errorf("clip %g: weights differ from GoMLX's Adam by %.3g (%d variables)", clip, diff, n)
		}
		if clip > 0 && clipped == 0 {
			t.Errorf("clip %g never clipped: the test does not exercise clipping", clip)
		}
	}
}

// faultyEnergy wraps a real energy and breaks chosen calls: "energy" makes
// the first sample's energy NaN (reported as a per-sample error, as
// providers do), "force" makes a force NaN without reporting it (a
// provider bug that only the graph's check can catch).
type faultyEnergy struct {
	energy.Energy
	calls  int
	faults map[int]string
}

func (f *faultyEnergy) Evaluate(ctx context.Context, pos [][]molecule.Vec3, forces bool) (energy.Result, error) {
	r, err := f.Energy.Evaluate(ctx, pos, forces)
	f.calls++
	switch f.faults[f.calls] {
	case "energy":
		r.Energies[0] = math.NaN()
		r.Errors[0] = &energy.SampleError{Index: 0, Reason: "injected NaN"}
	case "force":
		r.Forces[0][0][0] = math.NaN()
	}
	return r, err
}

// TestNonFiniteStepsAreSkipped injects a NaN energy and a NaN force and
// checks that those steps change no variable (weights, Adam moments and
// step), are counted, and that the healthy steps around them do change
// the weights.
func TestNonFiniteStepsAreSkipped(t *testing.T) {
	cfg := tinyConfig(t, 1, 4)
	e, _ := nativeAla2(t)
	fe := &faultyEnergy{Energy: e, faults: map[int]string{2: "energy", 3: "force"}}
	tr := newTrainer(t, cfg, Options{Energy: UseEnergy(fe)})
	s := cfg.Stages[1]
	ctx := context.Background()
	want := []bool{false, true, true, false}
	for k := range 4 {
		before := snapshot(t, tr.flow.Context())
		rec, err := tr.step(ctx, s, k)
		if err != nil {
			t.Fatal(err)
		}
		after := snapshot(t, tr.flow.Context())
		diff, n := maxDiff(before, after, "/")
		t.Logf("step %d: skipped %v (%s), largest variable change %.3g over %d variables, loss %.6g", k, rec.Skipped, rec.SkipReason, diff, n, rec.Loss)
		if rec.Skipped != want[k] {
			t.Errorf("step %d: skipped = %v, want %v", k, rec.Skipped, want[k])
		}
		if want[k] && diff != 0 {
			t.Errorf("step %d was skipped but variables changed by %.3g", k, diff)
		}
		if !want[k] && !(diff > 0) {
			t.Errorf("step %d was applied but no variable changed", k)
		}
	}
}

// TestResumeIsExact trains 3 NLL and 5 NLL+KL steps in one go, and again
// stopping after step 4 and resuming from the checkpoint in a new
// trainer; the losses and the final weights must be identical, with
// either KL gradient estimator, with the forward-KL term, with the
// log-variance term and with the ESS term, in float64 and in float32.
func TestResumeIsExact(t *testing.T) {
	for _, tc := range []struct {
		name             string
		est              string
		fkl, logvar, ess float64
		dtype            string
	}{
		{"total", KLGradientTotal, 0, 0, 0, DTypeFloat64},
		{"path", KLGradientPath, 0, 0, 0, DTypeFloat64},
		{"path+fkl", KLGradientPath, 0.5, 0, 0, DTypeFloat64},
		{"path+logvar", KLGradientPath, 0, 0.5, 0, DTypeFloat64},
		{"path+logvar+ess", KLGradientPath, 0, 0.5, 0.5, DTypeFloat64},
		{"float32/total", KLGradientTotal, 0, 0, 0, DTypeFloat32},
		{"float32/path+fkl+logvar+ess", KLGradientPath, 0.5, 0.5, 0.5, DTypeFloat32},
	} {
		t.Run(tc.name, func(t *testing.T) { testResumeIsExact(t, tc.est, tc.fkl, tc.logvar, tc.ess, tc.dtype) })
	}
}

func testResumeIsExact(t *testing.T, est string, fkl, logvar, ess float64, dtype string) {
	cfg := tinyConfig(t, 3, 5)
	cfg.DType = dtype
	cfg.Stages[1].KLGradient = est
	cfg.Stages[1].Weights.FKL = fkl
	cfg.Stages[1].Weights.LogVar = logvar
	cfg.Stages[1].Weights.ESS = ess
	a := newTrainer(t, cfg, Options{})
	sa, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Output = t.TempDir()
	b1 := newTrainer(t, cfg, Options{StopAfter: 4})
	s1, err := b1.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s1.Stopped || s1.Steps != 4 {
		t.Fatalf("first half: stopped %v after %d steps", s1.Stopped, s1.Steps)
	}
	// The stopped run finished its first stage, whose model file it keeps.
	if _, _, err := model.Load(filepath.Join(cfg.Output, ModelFile), a.flow.Backend()); err != nil {
		t.Errorf("model file of the finished first stage: %v", err)
	}
	b1.Close()
	b2 := newTrainer(t, cfg, Options{Resume: true})
	s2, err := b2.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := append(append([]float64(nil), s1.Losses...), s2.Losses...)
	if len(got) != len(sa.Losses) {
		t.Fatalf("%d losses with resume, %d without", len(got), len(sa.Losses))
	}
	for i := range got {
		if got[i] != sa.Losses[i] {
			t.Errorf("step %d: loss %.17g with resume, %.17g without", i, got[i], sa.Losses[i])
		}
	}
	diff, n := maxDiff(snapshot(t, a.flow.Context()), snapshot(t, b2.flow.Context()), "/")
	if n == 0 || diff != 0 {
		t.Errorf("final variables differ by %.3g (%d variables)", diff, n)
	}
	if got, want := b2.flow.DType(), cfg.FlowDType(); got != want || b2.st.DType != dtype {
		t.Errorf("resumed flow is %s (state %q), the configuration says %s", got, b2.st.DType, dtype)
	}
	t.Logf("losses %v; identical with resume at step 4; final variables identical (%d)", sa.Losses, n)
	if _, _, err := model.Load(filepath.Join(cfg.Output, ModelFile), a.flow.Backend()); err != nil {
		t.Errorf("model file: %v", err)
	}
}

// TestCheckpointRefusesCorruption flips one byte of a checkpoint's data and
// expects resume to refuse it, and checks no temporary file is left.
func TestCheckpointRefusesCorruption(t *testing.T) {
	cfg := tinyConfig(t, 2, 0)
	tr := newTrainer(t, cfg, Options{StopAfter: 1})
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	path := filepath.Join(cfg.Output, CheckpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cfg.Output)
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".ckpt" && filepath.Ext(e.Name()) != ".jsonl" {
			t.Errorf("unexpected file %s in the output directory", e.Name())
		}
	}
	b[len(b)-3] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), cfg, Options{Resume: true, Energy: configEnergy(t, cfg)})
	if err == nil {
		t.Fatal("resume accepted a corrupt checkpoint")
	}
	t.Logf("corrupt checkpoint refused: %v", err)
	cfg2 := cfg
	cfg2.Seed++
	b[len(b)-3] ^= 0x40
	_ = os.WriteFile(path, b, 0o644)
	if _, err := New(context.Background(), cfg2, Options{Resume: true, Energy: configEnergy(t, cfg2)}); err == nil {
		t.Error("resume accepted a checkpoint of another configuration")
	}
}

// TestNLLAgainstRunner checks the step's reported NLL (Cartesian terms,
// before the update) against the flow's own log-density (model.Runner)
// plus log|dz/dx| from the graph transform on the batch's positions, an
// independent code path from the host Spec.ToInternal used in training.
func TestNLLAgainstRunner(t *testing.T) {
	cfg := tinyConfig(t, 1, 0)
	tr := newTrainer(t, cfg, Options{})
	if err := tr.flow.Perturb(0.2, 7); err != nil {
		t.Fatal(err)
	}
	b := cfg.Stages[0].BatchSize
	idx := batchIndices(cfg.Seed, tr.st.Cursor, len(tr.data.Train), b)
	n := len(tr.data.Top.Atoms)
	pos := make([]float64, 0, b*n*3)
	for _, i := range idx {
		for _, p := range tr.data.Train[i] {
			pos = append(pos, p[:]...)
		}
	}
	exec, err := gctx.NewExecAny(tr.flow.Backend(), tr.flow.Context(), func(ctx *gctx.Context, x *Node) []*Node {
		z, ld := tr.tr.ToInternal(x)
		return []*Node{Add(tr.flow.LogProb(ctx, z), ld)}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(tensorF64(pos, b, n, 3))
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range floats(out[0]) {
		want -= v / float64(b)
	}
	rec, err := tr.step(context.Background(), cfg.Stages[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NLL: step %.15g, graph transform + LogProb %.15g", rec.NLL, want)
	if math.Abs(rec.NLL-want) > 1e-9*math.Abs(want) {
		t.Errorf("NLL %.15g, want %.15g", rec.NLL, want)
	}
}

// TestOpenMMProviderMatchesNative trains the same NLL + KL steps with the
// energy from the OpenMM plugin (a worker on OpenMM's double-precision
// Reference platform) and from the native Go energy: the losses of every
// step must agree to rounding, which shows that the openmm provider really
// feeds the KL term (energies and forces) the same way.
func TestOpenMMProviderMatchesNative(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenMM worker")
	}
	run := func(provider, platform string) []float64 {
		cfg := tinyConfig(t, 2, 3)
		cfg.Energy.Provider = provider
		cfg.Energy.Platform = platform
		tr := newTrainer(t, cfg, Options{})
		s, err := tr.Run(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", provider, err)
		}
		if s.Skipped != 0 {
			t.Fatalf("%s: %d steps skipped", provider, s.Skipped)
		}
		return s.Losses
	}
	native := run(ProviderNative, "")
	omm := run(ProviderOpenMM, "Reference")
	if len(native) != 5 || len(omm) != 5 {
		t.Fatalf("losses: native %v, openmm %v", native, omm)
	}
	worst := 0.0
	for i := range native {
		worst = max(worst, math.Abs(native[i]-omm[i])/max(1, math.Abs(native[i])))
	}
	t.Logf("losses native %v; openmm %v; worst relative difference %.2e", native, omm, worst)
	// docs/status.md: 1.3e-16 (one loss differs in its last bit).
	if worst > 1e-14 {
		t.Errorf("openmm and native providers give losses differing by %.3e (relative, limit 1e-14)", worst)
	}
	if native[2] == native[1] {
		t.Errorf("the KL steps did not change the loss: %v", native)
	}
}

// TestSystemXMLProvider trains with the native energy read from a System
// XML file, with a Python that does not exist: no OpenMM is started, and
// the losses equal those of the native provider that asks the plugin.
func TestSystemXMLProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenMM worker")
	}
	run := func(cfg Config) []float64 {
		tr := newTrainer(t, cfg, Options{})
		s, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Losses
	}
	cfg := tinyConfig(t, 1, 2)
	want := run(cfg)

	xml, err := plugin.FetchSystemXML(context.Background(), plugin.Config{Python: testenv.Python(t), PDB: cfg.Data.Topology})
	if err != nil {
		t.Fatal(err)
	}
	cfg = tinyConfig(t, 1, 2)
	cfg.Energy.SystemXML = filepath.Join(t.TempDir(), "system.xml")
	if err := os.WriteFile(cfg.Energy.SystemXML, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Energy.Python = filepath.Join(t.TempDir(), "no-python")
	if got := run(cfg); !slices.Equal(got, want) || len(got) != 3 {
		t.Errorf("losses from the System XML %v, from the plugin %v", got, want)
	}

	cfg.Energy.SystemXML += ".missing"
	if _, err := New(context.Background(), cfg, Options{Energy: configEnergy(t, cfg)}); err == nil || !strings.Contains(err.Error(), "system.xml.missing") {
		t.Errorf("a missing System XML: error %v, want one naming the file", err)
	}
}

// TestInitModel fine-tunes a saved model: the run starts from exactly its
// weights and internal coordinates, trains, grows the model when the
// configuration only adds a layer (every saved weight kept), and refuses a
// model whose other settings or coordinate mode differ from the
// configuration's.
func TestInitModel(t *testing.T) {
	first := tinyConfig(t, 3, 0)
	a := newTrainer(t, first, Options{})
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(first.Output, ModelFile)

	cfg := tinyConfig(t, 2, 1)
	cfg.InitModel = saved
	b := newTrainer(t, cfg, Options{})
	diff, n := maxDiff(snapshot(t, a.flow.Context()), snapshot(t, b.flow.Context()), model.RootScope)
	if n == 0 || diff != 0 {
		t.Errorf("fine-tuning starts %.3g away from the saved weights (%d variables compared)", diff, n)
	}
	if as, bs := a.data.Spec, b.data.Spec; !slices.Equal(as.Ref, bs.Ref) || !slices.Equal(as.Lo, bs.Lo) || !slices.Equal(as.Hi, bs.Hi) {
		t.Errorf("fine-tuning does not use the saved model's internal coordinates")
	}
	s, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps != 3 || s.Skipped != 0 {
		t.Errorf("fine-tuning ran %d steps (%d skipped), want 3", s.Steps, s.Skipped)
	}

	grow := tinyConfig(t, 2, 0)
	grow.InitModel = saved
	grow.Model.Layers++
	c := newTrainer(t, grow, Options{})
	if diff, n := maxDiff(snapshot(t, a.flow.Context()), snapshot(t, c.flow.Context()), model.RootScope); n == 0 || diff != 0 {
		t.Errorf("the grown model starts %.3g away from the saved weights (%d variables compared)", diff, n)
	}
	if c.flow.NumParams() <= a.flow.NumParams() {
		t.Errorf("the grown model has %d parameters, the saved one %d", c.flow.NumParams(), a.flow.NumParams())
	}
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, _, err := model.Load(filepath.Join(grow.Output, ModelFile), c.flow.Backend()); err != nil || m.Config().Layers != grow.Model.Layers {
		t.Errorf("the grown model's file: %v", err)
	}

	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"other settings", func(c *Config) { c.Model.Hidden = []int{8} }, "does not only add layers"},
		{"other mode", func(c *Config) { c.ICMode = "reduced" }, "internal coordinates"},
		{"missing file", func(c *Config) { c.InitModel = filepath.Join(t.TempDir(), "none.gobg") }, "none.gobg"},
	} {
		bad := tinyConfig(t, 1, 0)
		bad.InitModel = saved
		c.edit(&bad)
		_, err := New(context.Background(), bad, Options{Energy: configEnergy(t, bad)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestTorsionWindows trains a few NLL steps with torsion_window = pi: the
// peptide bonds are modelled on intervals, every training frame lies
// inside its windows, and the model file gives back the same windows, the
// same layout and the same density of the validation frames.
func TestTorsionWindows(t *testing.T) {
	cfg := tinyConfig(t, 4, 0)
	cfg.TorsionWindow = math.Pi
	tr := newTrainer(t, cfg, Options{})
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	spec := tr.data.Spec
	n := spec.Windowed()
	if n == 0 {
		t.Fatal("no torsion on a window")
	}
	circ := spec.Circular()
	for j, c := range spec.FreeCoords() {
		if c.Torsion == ic.Omega && circ[j] {
			t.Errorf("%s stayed on the circle", c.Name)
		}
	}
	d := tr.flow.Dim()
	for i := range len(tr.data.Train) {
		for j, v := range tr.data.TrainZ[i*d : (i+1)*d] {
			if !circ[j] && (v < -1 || v > 1) {
				t.Fatalf("training frame %d: %s at %g, outside [-1, 1]", i, spec.FreeCoords()[j].Name, v)
			}
		}
	}
	m, ms, err := model.Load(filepath.Join(cfg.Output, ModelFile), tr.flow.Backend())
	if err != nil {
		t.Fatal(err)
	}
	if ms.Windowed() != n || !slices.Equal(ms.Lo, spec.Lo) || !slices.Equal(ms.Hi, spec.Hi) {
		t.Errorf("model file: %d windows, want %d (or different bounds)", ms.Windowed(), n)
	}
	if !slices.Equal(m.Layout().Circular, circ) {
		t.Errorf("model file layout: circular %v, want %v", m.Layout().Circular, circ)
	}
	want, err := tr.valNLL()
	if err != nil {
		t.Fatal(err)
	}
	tr2 := newTrainer(t, func() Config {
		c := cfg
		c.InitModel = filepath.Join(cfg.Output, ModelFile)
		c.Output = t.TempDir()
		return c
	}(), Options{})
	got, err := tr2.valNLL()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-9*math.Abs(want) {
		t.Errorf("validation NLL %.12g from the model file, %.12g in the trainer", got, want)
	}
	t.Logf("%d of %d free coordinates on torsion windows; validation NLL %.6g", n, d, want)
}

// TestModelFileRecordsTemperature: the model file a run writes records the
// configuration's energy.temperature, which gobg sample, eval and mcmc use
// as their default temperature.
func TestModelFileRecordsTemperature(t *testing.T) {
	cfg := tinyConfig(t, 1, 0)
	cfg.Energy.Temperature = 312.5
	tr := newTrainer(t, cfg, Options{})
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, info, err := model.LoadWithInfo(filepath.Join(cfg.Output, ModelFile), tr.flow.Backend())
	if err != nil {
		t.Fatal(err)
	}
	if info.TemperatureK != 312.5 {
		t.Errorf("model file records %v K, the configuration says 312.5 K", info.TemperatureK)
	}
}

// TestEnergyStartedOnlyWhenNeeded: New starts Options.Energy only when a
// stage needs energies, refuses to run such stages without one, and stops
// what it started when it fails after starting it.
func TestEnergyStartedOnlyWhenNeeded(t *testing.T) {
	e, _ := nativeAla2(t)
	for _, c := range []struct {
		name      string
		klSteps   int
		atoms     int // of the energy handed over (0: the topology's)
		nilEnergy bool
		starts    int
		wantErr   string
	}{
		{name: "NLL only", starts: 0},
		{name: "NLL only, no energy", nilEnergy: true, starts: 0},
		{name: "KL stage", klSteps: 1, starts: 1},
		{name: "KL stage, no energy", klSteps: 1, nilEnergy: true, wantErr: "train.Options.Energy"},
		{name: "KL stage, other system", klSteps: 1, atoms: 5, starts: 1, wantErr: "the system has 5 atoms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, 1, c.klSteps)
			starts, stops := 0, 0
			var opts Options
			if !c.nilEnergy {
				opts.Energy = func(context.Context) (energy.Energy, func(), error) {
					starts++
					var en energy.Energy = e
					if c.atoms != 0 {
						en = atomCount{e, c.atoms}
					}
					return en, func() { stops++ }, nil
				}
			}
			tr, err := New(context.Background(), cfg, opts)
			if err == nil {
				tr.Close()
			}
			if c.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			if starts != c.starts || stops != starts {
				t.Errorf("energy started %d times and stopped %d, want %d and %d", starts, stops, c.starts, c.starts)
			}
		})
	}
}

// atomCount is an energy that claims another number of atoms.
type atomCount struct {
	energy.Energy
	n int
}

func (a atomCount) NumAtoms() int { return a.n }
