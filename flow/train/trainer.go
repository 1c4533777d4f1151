package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
)

// File names in the output directory.
const (
	ModelFile      = "model.gobg"
	CheckpointFile = "checkpoint.ckpt"
	DefaultLogFile = "train.jsonl"
)

// Options are the parts of a run that are not in its configuration.
type Options struct {
	// Energy starts the energy of the energy-based stages (KL, FKL,
	// log-variance, ESS terms). New calls it only when a stage still to run
	// needs energies; a run whose stages need none may leave it nil. The
	// caller builds it from the configuration's energy section (see
	// energy/provider) or hands over an energy it already holds (UseEnergy).
	Energy EnergyStarter
	// Progress receives the progress lines (nil: none).
	Progress io.Writer
	// Resume continues from the output directory's checkpoint.
	Resume bool
	// StopAfter ends the run after this global step, with a checkpoint,
	// as if it had been interrupted there (0: run to the end).
	StopAfter int
}

// EnergyStarter starts an energy provider. The energy evaluates structures
// in the atom order of the configured topology (data.topology), which may
// differ from an initial model's: the trainer pairs the atoms. stop, called
// by Trainer.Close, releases the provider.
type EnergyStarter func(ctx context.Context) (e energy.Energy, stop func(), err error)

// UseEnergy is an EnergyStarter for an energy the caller already holds and
// releases itself.
func UseEnergy(e energy.Energy) EnergyStarter {
	return func(context.Context) (energy.Energy, func(), error) { return e, func() {}, nil }
}

// Record is one line of the JSON-lines log. JSON has no NaN: non-finite
// values are written as 0 (or left out), and Skipped says why.
type Record struct {
	Stage      int     `json:"stage"`
	StageName  string  `json:"stage_name"`
	StageStep  int     `json:"stage_step"`
	Step       int     `json:"step"`
	LR         float64 `json:"lr"`
	Loss       float64 `json:"loss"`
	NLL        float64 `json:"nll,omitempty"`
	W2         float64 `json:"w2,omitempty"`
	KL         float64 `json:"kl,omitempty"`
	FKL        float64 `json:"fkl,omitempty"`
	LogVar     float64 `json:"logvar,omitempty"`
	ESS        float64 `json:"ess,omitempty"`
	GradNorm   float64 `json:"grad_norm"`
	Skipped    bool    `json:"skipped"`
	SkipReason string  `json:"skip_reason,omitempty"`
	EnergyFail int     `json:"energy_failed,omitempty"`
	MeanEnergy float64 `json:"mean_energy_kj_mol,omitempty"`
	Wall       float64 `json:"wall_s"`
}

// MarshalJSON keeps non-finite values encodable.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	fix := func(v *float64) {
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			*v = 0
		}
	}
	p := plain(r)
	for _, v := range []*float64{&p.Loss, &p.NLL, &p.W2, &p.KL, &p.FKL, &p.LogVar, &p.ESS, &p.GradNorm, &p.MeanEnergy} {
		fix(v)
	}
	return json.Marshal(p)
}

// StageSummary is what a finished stage reports. Final losses are means
// over the stage's last (up to) 10 applied steps.
type StageSummary struct {
	Name     string  `json:"name"`
	Steps    int     `json:"steps"`
	Skipped  int     `json:"skipped"`
	Loss     float64 `json:"loss"`
	NLL      float64 `json:"nll"`
	W2       float64 `json:"w2"`
	KL       float64 `json:"kl"`
	FKL      float64 `json:"fkl,omitempty"`
	LogVar   float64 `json:"logvar,omitempty"`
	ESS      float64 `json:"ess,omitempty"`
	FirstNLL float64 `json:"first_nll"`
	ValNLL   float64 `json:"val_nll,omitempty"` // 0 without validation frames
	Wall     float64 `json:"wall_s"`
	StepsPS  float64 `json:"steps_per_s"`
}

// Summary is the result of Run.
type Summary struct {
	Backend   string         `json:"backend"` // GoMLX backend spec (nn.SpecOf)
	DType     string         `json:"dtype"`   // the flow's and the training graphs' dtype
	Stages    []StageSummary `json:"stages"`
	Steps     int            `json:"steps"`
	Skipped   int            `json:"skipped"`
	Wall      float64        `json:"wall_s"`
	Model     string         `json:"model,omitempty"`
	Params    int            `json:"params"`
	Dim       int            `json:"dim"`
	Train     int            `json:"train_frames"`
	Val       int            `json:"val_frames"`
	Stopped   bool           `json:"stopped,omitempty"`
	Resumed   int            `json:"resumed_at,omitempty"`
	Losses    []float64      `json:"-"` // total loss of every step run by this process, for tests
	StepFirst int            `json:"-"` // global step of Losses[0]
}

// state is the progress saved in checkpoints.
type state struct {
	Stage     int            `json:"stage"`
	StageStep int            `json:"stage_step"`
	Step      int            `json:"step"`
	Cursor    int64          `json:"cursor"`
	Skipped   int            `json:"skipped"`
	Done      []StageSummary `json:"done"`
	Current   stageAcc       `json:"current"`
	Wall      float64        `json:"wall_s"`
	Config    string         `json:"config_fingerprint"`
	// DType is the training dtype (Config.DType, "float32" or "float64");
	// checkpoints written before it was recorded are float64.
	DType string `json:"dtype,omitempty"`
}

// stageAcc accumulates the current stage's summary.
type stageAcc struct {
	Skipped  int          `json:"skipped"`
	Last     [][7]float64 `json:"last"` // loss, nll, w2, kl, fkl, logvar, ess of the last applied steps
	FirstNLL float64      `json:"first_nll"`
	Wall     float64      `json:"wall_s"`
}

// Trainer runs a configuration.
type Trainer struct {
	cfg    Config
	opts   Options
	data   *Data
	flow   *model.Flow
	tr     *ic.Transform
	en     energy.Energy
	closer func()
	cut    energy.LinLogCut
	kt     float64
	execs  map[string]*gctx.Exec
	sample *gctx.Exec
	dp     *dataParallel // nil on one device
	st     state
	log    *os.File
}

// New loads the data, builds the flow (or restores it from the checkpoint
// with opts.Resume) and starts opts.Energy if a stage still to run needs
// energies.
func New(ctx context.Context, cfg Config, opts Options) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mode, _ := ic.ParseMode(cfg.ICMode)
	backend, err := nn.NewBackendDevices(cfg.Backend, cfg.numDevices())
	if err != nil {
		return nil, err
	}
	var f *model.Flow
	var spec *ic.Spec
	if cfg.InitModel != "" {
		if f, spec, err = initModel(cfg, backend); err != nil {
			return nil, err
		}
	}
	data, err := LoadData(ctx, cfg.Data, mode, cfg.TorsionWindow, spec)
	if err != nil {
		return nil, err
	}
	if f == nil {
		layout, err := model.LayoutFromSpec(data.Spec)
		if err != nil {
			return nil, err
		}
		if f, err = model.New(backend, cfg.Model, layout, cfg.FlowDType()); err != nil {
			return nil, err
		}
		if err := f.InitFromData(data.TrainZ, len(data.Train)); err != nil {
			return nil, err
		}
	}
	tr, err := ic.NewTransform(data.Spec, f.DType())
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, opts: opts, data: data, flow: f, tr: tr, execs: map[string]*gctx.Exec{},
		cut: energy.LinLogCut{Cut: cfg.Energy.Cut, Max: cfg.Energy.Max}, kt: energy.KT(cfg.Energy.Temperature)}
	t.st.Config = fingerprint(cfg)
	t.st.DType = dtypeName(f.DType())
	if n := cfg.numDevices(); n > 1 {
		if t.dp, err = newDataParallel(n); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.Output, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if opts.Resume {
		if err := t.loadCheckpoint(filepath.Join(cfg.Output, CheckpointFile)); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(cfg.Stages, func(s Stage) bool { return termsOf(s).path }) {
		// After any resume, so that the copy equals the weights it follows.
		if err := f.SyncFrozen(); err != nil {
			return nil, err
		}
	}
	needEnergy := slices.ContainsFunc(cfg.Stages[t.st.Stage:], func(s Stage) bool { return s.Weights.energyBased() })
	if needEnergy {
		if err := t.startEnergy(ctx); err != nil {
			t.Close()
			return nil, err
		}
	}
	logPath := cfg.LogFile
	if logPath == "" {
		logPath = DefaultLogFile
	}
	if !filepath.IsAbs(logPath) {
		logPath = filepath.Join(cfg.Output, logPath)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if opts.Resume {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	if t.log, err = os.OpenFile(logPath, flags, 0o644); err != nil {
		t.Close()
		return nil, fmt.Errorf("log: %w", err)
	}
	return t, nil
}

// initModel loads cfg.InitModel for fine-tuning: its flow (converted to
// the configuration's dtype if it was saved in the other) and its
// internal-coordinate spec. Its model settings
// must be the configuration's, so that the file written at the end says
// what was trained, except that the configuration may add coupling layers:
// then the flow is grown (model.Flow.Grow), its new layers starting as the
// identity.
func initModel(cfg Config, backend backends.Backend) (*model.Flow, *ic.Spec, error) {
	f, spec, err := model.Load(cfg.InitModel, backend)
	if err != nil {
		return nil, nil, fmt.Errorf("init_model: %w", err)
	}
	if spec == nil {
		return nil, nil, fmt.Errorf("init_model %s: the model has no internal-coordinate definition", cfg.InitModel)
	}
	have, _ := json.Marshal(f.Config())
	want, _ := json.Marshal(cfg.Model)
	if !bytes.Equal(have, want) {
		g, err := f.Grow(cfg.Model)
		if err != nil {
			return nil, nil, fmt.Errorf("init_model %s: its model settings %s differ from the configuration's %s, which does not only add layers: %w",
				cfg.InitModel, have, want, err)
		}
		f = g
	}
	if dt := cfg.FlowDType(); f.DType() != dt {
		if f, err = f.WithDType(dt); err != nil {
			return nil, nil, fmt.Errorf("init_model %s: %w", cfg.InitModel, err)
		}
	}
	return f, spec, nil
}

// fingerprint identifies the parts of a configuration a checkpoint must
// agree with.
func fingerprint(cfg Config) string {
	b, _ := json.Marshal(struct {
		Data      DataConfig
		ICMode    string
		Window    float64 `json:",omitempty"`
		Model     model.Config
		InitModel string `json:",omitempty"`
		Stages    []Stage
		Seed      uint64
		Clip      float64
	}{cfg.Data, cfg.ICMode, cfg.TorsionWindow, cfg.Model, cfg.InitModel, cfg.Stages, cfg.Seed, cfg.ClipNorm})
	return string(b)
}

// startEnergy starts Options.Energy for the configured topology's atoms and
// pairs them with the model's.
func (t *Trainer) startEnergy(ctx context.Context) error {
	if t.opts.Energy == nil {
		return errors.New("energy: a stage needs energies, and no energy provider was given (train.Options.Energy)")
	}
	en, stop, err := t.opts.Energy(ctx)
	if err != nil {
		return fmt.Errorf("energy: %w", err)
	}
	t.en, t.closer = en, stop
	if t.en.NumAtoms() != len(t.data.Top.Atoms) {
		return fmt.Errorf("energy: the system has %d atoms, the topology %d", t.en.NumAtoms(), len(t.data.Top.Atoms))
	}
	if t.data.Match != nil {
		// Every provider's system is the configured topology's, whose atom
		// order is not the model's.
		t.en = energy.Reordered{E: t.en, Match: t.data.Match}
	}
	return nil
}

// Flow is the flow being trained.
func (t *Trainer) Flow() *model.Flow { return t.flow }

// Data are the run's frames.
func (t *Trainer) Data() *Data { return t.data }

// fileInfo is what the model file records about this training: the
// temperature of energy.temperature, the ensemble the flow is trained to
// sample (for NLL-only schedules, the temperature the configuration says
// its MD data were made at).
func (t *Trainer) fileInfo() model.FileInfo {
	if tk := t.cfg.Energy.Temperature; energy.CheckTemperature(tk) == nil {
		return model.FileInfo{TemperatureK: tk}
	}
	return model.FileInfo{}
}

// Close releases executors, the energy provider and the log.
func (t *Trainer) Close() {
	for _, e := range t.execs {
		e.Finalize()
	}
	t.execs = map[string]*gctx.Exec{}
	if t.sample != nil {
		t.sample.Finalize()
		t.sample = nil
	}
	if t.closer != nil {
		t.closer()
		t.closer = nil
	}
	if t.log != nil {
		_ = t.log.Close()
		t.log = nil
	}
}

// Step runs global step t.st.Step of stage s (stage step k) and advances
// the state.
func (t *Trainer) step(ctx context.Context, s Stage, k int) (Record, error) {
	d := t.flow.Dim()
	b := s.BatchSize
	tm := termsOf(s)
	lr := s.LearningRate(k)
	rec := Record{Stage: t.st.Stage, StageName: s.Name, StageStep: k, Step: t.st.Step, LR: lr}
	args := []any{scalarF64(lr), scalarF64(s.Weights.NLL), scalarF64(s.Weights.W2), scalarF64(s.Weights.KL), scalarF64(s.Weights.FKL), scalarF64(t.cfg.ClipNorm)}
	var ldMean float64
	if tm.nll {
		idx := batchIndices(t.cfg.Seed, t.st.Cursor, len(t.data.Train), b)
		z := make([]float64, 0, b*d)
		for _, i := range idx {
			z = append(z, t.data.TrainZ[i*d:(i+1)*d]...)
			ldMean += t.data.TrainL[i] / float64(b)
		}
		args = append(args, t.tensor(z, b, d))
	}
	var klValue, fklValue, lvValue, essValue float64
	hostBad := ""
	if tm.w2 || tm.forces() || tm.fkl {
		r := rand.New(rand.NewPCG(t.cfg.Seed, uint64(t.st.Step)))
		zb, err := t.flow.SampleBase(r, b)
		if err != nil {
			return rec, err
		}
		if tm.w2 || tm.forces() {
			args = append(args, t.tensor(zb, b, d))
		}
		pos, logQ, xs, err := t.sampleCartesian(zb, b)
		if err != nil {
			return rec, err
		}
		if tm.w2 {
			order, ref := t.w2Inputs(pos, t.st.Cursor, b)
			args = append(args, order, ref)
		}
		if tm.forces() || tm.fkl {
			res, err := t.en.Evaluate(ctx, pos, tm.forces())
			if err != nil {
				return rec, fmt.Errorf("step %d: energy: %w", t.st.Step, err)
			}
			rec.EnergyFail = res.Failed()
			n := len(t.data.Top.Atoms)
			var g []float64
			if tm.forces() {
				g = make([]float64, b*n*3)
			}
			// logW is -f: the log importance weights, up to log Z.
			logW := make([]float64, b)
			var sumF, sumE, sumLQ float64
			for i := range b {
				e := res.Energies[i]
				if i < len(res.Errors) && res.Errors[i] != nil {
					e = math.NaN()
				}
				sumE += e
				fv, df := t.cut.Value(e / t.kt)
				sumF += fv
				sumLQ += logQ[i]
				logW[i] = -fv - logQ[i]
				if tm.forces() {
					for a := range n {
						for c := range 3 {
							g[(i*n+a)*3+c] = -res.Forces[i][a][c] / t.kt * df
						}
					}
				}
			}
			rec.MeanEnergy = sumE / float64(b)
			// A skipped step reports KL, FKL, LogVar and ESS as NaN (below).
			if rec.EnergyFail > 0 || math.IsNaN(sumE) {
				hostBad = fmt.Sprintf("%d samples without a finite energy", max(rec.EnergyFail, 1))
			}
			if tm.kl {
				klValue = (sumF + sumLQ) / float64(b)
			}
			if tm.forces() {
				args = append(args, t.tensor(g, b, n, 3))
			}
			if tm.lv {
				// The log-variance and ESS terms share one surrogate: the
				// host folds their weights into the per-sample factors.
				v := make([]float64, b)
				if w := s.Weights.LogVar; w != 0 {
					var vl []float64
					vl, lvValue = logVarWeights(logW)
					for i := range v {
						v[i] += w * vl[i]
					}
				}
				if w := s.Weights.ESS; w != 0 {
					var ve []float64
					ve, essValue = essWeights(logW)
					for i := range v {
						v[i] += w * ve[i]
					}
				}
				args = append(args, tensorF64(v, b))
			}
			if tm.fkl {
				var wbar []float64
				wbar, fklValue = SelfNormalizedWeights(logW)
				args = append(args, t.tensor(xs, b, d), tensorF64(wbar, b))
			}
		}
	}
	// The data cursor and step advance whether or not the update is applied.
	if tm.nll || tm.w2 {
		t.st.Cursor += int64(b)
	}
	t.st.Step++
	if hostBad != "" {
		rec.Skipped, rec.SkipReason = true, hostBad
		rec.Loss, rec.KL, rec.FKL, rec.LogVar, rec.ESS = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return rec, nil
	}
	exec, err := t.stepExec(tm)
	if err != nil {
		return rec, err
	}
	var out []*tensors.Tensor
	if t.dp != nil {
		out, err = t.dp.exec(exec, tm, args)
	} else {
		out, err = exec.Exec(args...)
	}
	if err != nil {
		return rec, fmt.Errorf("step %d: %w", rec.Step, err)
	}
	vals := make([]float64, numOutputs)
	for i, o := range out {
		vals[i] = floats(o)[0]
	}
	rec.GradNorm = vals[outGradNorm]
	if tm.nll {
		rec.NLL = vals[outNLL] - ldMean
	}
	rec.W2 = vals[outW2]
	rec.KL, rec.FKL, rec.LogVar, rec.ESS = klValue, fklValue, lvValue, essValue
	rec.Loss = s.Weights.NLL*rec.NLL + s.Weights.W2*rec.W2 + s.Weights.KL*rec.KL + s.Weights.FKL*rec.FKL + s.Weights.LogVar*rec.LogVar + s.Weights.ESS*rec.ESS
	if vals[outOK] != 1 {
		rec.Skipped, rec.SkipReason = true, "non-finite loss or gradient"
	}
	return rec, nil
}

func (t *Trainer) stepExec(tm terms) (*gctx.Exec, error) {
	if e, ok := t.execs[tm.key()]; ok {
		return e, nil
	}
	e, err := gctx.NewExecAny(t.flow.Backend(), t.flow.Context(), stepGraph(t.flow, t.tr, t.data.Backbone, tm))
	if err != nil {
		return nil, fmt.Errorf("train: step graph: %w", err)
	}
	if t.dp != nil {
		t.dp.configure(e, tm)
	}
	t.execs[tm.key()] = e
	return e, nil
}

// tensor makes a tensor of the flow's dtype from float64 values.
func (t *Trainer) tensor(vals []float64, dims ...int) *tensors.Tensor {
	return tensorOf(t.flow.DType(), vals, dims...)
}

// sampleCartesian maps base samples to positions, log q(x) and the
// samples' internal coordinates [b·D].
func (t *Trainer) sampleCartesian(zb []float64, b int) ([][]molecule.Vec3, []float64, []float64, error) {
	if t.sample == nil {
		e, err := gctx.NewExecAny(t.flow.Backend(), t.flow.Context(), sampleGraph(t.flow, t.tr))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("train: sample graph: %w", err)
		}
		t.sample = e
	}
	out, err := t.sample.Exec(t.tensor(zb, b, t.flow.Dim()))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("train: sample: %w", err)
	}
	x, lq := floats(out[0]), floats(out[1])
	n := len(t.data.Top.Atoms)
	pos := make([][]molecule.Vec3, b)
	for i := range b {
		pos[i] = make([]molecule.Vec3, n)
		for a := range n {
			copy(pos[i][a][:], x[(i*n+a)*3:(i*n+a)*3+3])
		}
	}
	return pos, lq, floats(out[2]), nil
}

// w2Inputs returns the argsort of the flow samples' distances (flat
// indices p·B + k, per pair in increasing order) and the sorted distances
// of the MD batch at cursor.
func (t *Trainer) w2Inputs(pos [][]molecule.Vec3, cursor int64, b int) (order, ref *tensors.Tensor) {
	bb := t.data.Backbone
	p := len(bb) * (len(bb) - 1) / 2
	flow := make([][]float64, b)
	for i := range b {
		flow[i] = PairDistances(pos[i], bb)
	}
	idx := batchIndices(t.cfg.Seed, cursor, len(t.data.Train), b)
	md := make([][]float64, b)
	for i, j := range idx {
		md[i] = t.data.TrainDist[j*p : (j+1)*p]
	}
	o, r := SortedPairs(flow, md)
	return tensorI32(o, p*b), tensorF64(r, p, b)
}

// SortedPairs returns, for flow distances flow[k][p] and reference
// distances ref[k][p] (B samples each), the flat indices p·B + k of the
// flow samples in increasing order of distance per pair, and the sorted
// reference distances [P, B].
func SortedPairs(flow, ref [][]float64) ([]int32, []float64) {
	b := len(flow)
	p := len(flow[0])
	order := make([]int32, 0, p*b)
	sorted := make([]float64, 0, p*b)
	ks := make([]int, b)
	col := make([]float64, b)
	for q := range p {
		for k := range b {
			ks[k] = k
			col[k] = ref[k][q]
		}
		slices.SortStableFunc(ks, func(i, j int) int { return cmpFloat(flow[i][q], flow[j][q]) })
		for _, k := range ks {
			order = append(order, int32(q*b+k))
		}
		slices.Sort(col)
		sorted = append(sorted, col...)
	}
	return order, sorted
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// valNLL is the validation NLL (Cartesian terms) on up to ValMaxFrames
// held-out frames; 0 without validation frames.
func (t *Trainer) valNLL() (float64, error) {
	n := len(t.data.Val)
	if t.cfg.ValMaxFrames > 0 {
		n = min(n, t.cfg.ValMaxFrames)
	}
	if n == 0 {
		return 0, nil
	}
	r, err := t.flow.NewRunner(min(n, 256))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	d := t.flow.Dim()
	lp, err := r.LogProb(t.data.ValZ[:n*d])
	if err != nil {
		return 0, err
	}
	var s float64
	for i, v := range lp {
		s += v + t.data.ValL[i]
	}
	return -s / float64(n), nil
}

// Run trains through the remaining stages, writing checkpoints, the log,
// and at the end the model file.
func (t *Trainer) Run(ctx context.Context) (*Summary, error) {
	sum := &Summary{Backend: nn.SpecOf(t.flow.Backend()), DType: dtypeName(t.flow.DType()), Params: t.flow.NumParams(), Dim: t.flow.Dim(), Train: len(t.data.Train), Val: len(t.data.Val), StepFirst: t.st.Step}
	if t.opts.Resume {
		sum.Resumed = t.st.Step
		t.writeLog(map[string]any{"event": "resume", "step": t.st.Step})
	}
	total := 0
	for _, s := range t.cfg.Stages {
		total += s.Steps
	}
	wallStart := time.Now()
	wall0 := t.st.Wall
	modelPath := filepath.Join(t.cfg.Output, ModelFile)
	saved := false // whether a stage end has written the model
	for t.st.Stage < len(t.cfg.Stages) {
		s := t.cfg.Stages[t.st.Stage]
		stageStart := time.Now()
		acc0 := t.st.Current.Wall
		runStart, runStep := time.Now(), t.st.StageStep
		for t.st.StageStep < s.Steps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			k := t.st.StageStep
			rec, err := t.step(ctx, s, k)
			if err != nil {
				return nil, err
			}
			t.st.StageStep++
			t.st.Current.Wall = acc0 + time.Since(stageStart).Seconds()
			t.st.Wall = wall0 + time.Since(wallStart).Seconds()
			rec.Wall = t.st.Wall
			sum.Losses = append(sum.Losses, rec.Loss)
			if rec.Skipped {
				t.st.Skipped++
				t.st.Current.Skipped++
			} else {
				if len(t.st.Current.Last) == 0 && k == 0 {
					t.st.Current.FirstNLL = rec.NLL
				}
				t.st.Current.Last = append(t.st.Current.Last, [7]float64{rec.Loss, rec.NLL, rec.W2, rec.KL, rec.FKL, rec.LogVar, rec.ESS})
				if len(t.st.Current.Last) > 10 {
					t.st.Current.Last = t.st.Current.Last[1:]
				}
			}
			t.writeLog(rec)
			if w := t.opts.Progress; w != nil && (t.cfg.LogEvery > 0 && (k+1)%t.cfg.LogEvery == 0 || k+1 == s.Steps || rec.Skipped) {
				el := time.Since(runStart).Seconds()
				rate := float64(k+1-runStep) / el
				left := float64(total-t.st.Step) / rate
				fkl := ""
				if s.Weights.FKL != 0 {
					fkl = fmt.Sprintf(" fkl %.4g", rec.FKL)
				}
				if s.Weights.LogVar != 0 {
					fkl += fmt.Sprintf(" logvar %.4g", rec.LogVar)
				}
				if s.Weights.ESS != 0 {
					fkl += fmt.Sprintf(" ess %.4g (batch ESS %.1f%%)", rec.ESS, 100*math.Exp(-rec.ESS))
				}
				fmt.Fprintf(w, "stage %d %s step %d/%d (%d/%d): loss %.4g nll %.4g w2 %.4g kl %.4g%s |g| %.3g lr %.3g%s  %.1f samples/s  ETA %s\n",
					t.st.Stage, s.Name, k+1, s.Steps, t.st.Step, total, rec.Loss, rec.NLL, rec.W2, rec.KL, fkl, rec.GradNorm, rec.LR,
					skipNote(rec), rate*float64(s.BatchSize), (time.Duration(left) * time.Second).Round(time.Second))
			}
			last := t.st.StageStep == s.Steps
			stop := t.opts.StopAfter > 0 && t.st.Step >= t.opts.StopAfter
			if last {
				v, err := t.valNLL()
				if err != nil {
					return nil, err
				}
				t.st.Done = append(t.st.Done, t.finishStage(s, v))
				// Each finished stage leaves a usable model file, so a long
				// run stopped later still has its last complete stage.
				if err := model.SaveWithInfo(modelPath, t.flow, t.data.Spec, t.fileInfo()); err != nil {
					return nil, err
				}
				saved = true
				t.st.Stage++
				t.st.StageStep = 0
				t.st.Current = stageAcc{}
			}
			if last || stop || t.cfg.CheckpointEvery > 0 && t.st.Step%t.cfg.CheckpointEvery == 0 {
				if err := t.saveCheckpoint(filepath.Join(t.cfg.Output, CheckpointFile)); err != nil {
					return nil, err
				}
			}
			if stop {
				sum.Stopped = true
				t.fill(sum)
				return sum, nil
			}
			if last {
				break
			}
		}
	}
	// The last stage's end wrote the model; a run resumed after its last
	// stage has not written it in this process.
	if !saved {
		if err := model.SaveWithInfo(modelPath, t.flow, t.data.Spec, t.fileInfo()); err != nil {
			return nil, err
		}
	}
	sum.Model = modelPath
	t.fill(sum)
	return sum, nil
}

func skipNote(r Record) string {
	if r.Skipped {
		return " SKIPPED (" + r.SkipReason + ")"
	}
	return ""
}

func (t *Trainer) fill(sum *Summary) {
	sum.Stages = t.st.Done
	sum.Steps = t.st.Step
	sum.Skipped = t.st.Skipped
	sum.Wall = t.st.Wall
}

func (t *Trainer) finishStage(s Stage, val float64) StageSummary {
	a := t.st.Current
	ss := StageSummary{Name: s.Name, Steps: s.Steps, Skipped: a.Skipped, FirstNLL: a.FirstNLL, ValNLL: val, Wall: a.Wall}
	if a.Wall > 0 {
		ss.StepsPS = float64(s.Steps) / a.Wall
	}
	if n := len(a.Last); n > 0 {
		for _, l := range a.Last {
			ss.Loss += l[0] / float64(n)
			ss.NLL += l[1] / float64(n)
			ss.W2 += l[2] / float64(n)
			ss.KL += l[3] / float64(n)
			ss.FKL += l[4] / float64(n)
			ss.LogVar += l[5] / float64(n)
			ss.ESS += l[6] / float64(n)
		}
	}
	return ss
}

func (t *Trainer) writeLog(v any) {
	if t.log == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	_, _ = t.log.Write(append(b, '\n'))
}
