package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/internal/atomicfile"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Config is a training run. It is read from JSON (ReadConfig), where lines
// may carry "//" comments; relative paths are relative to the file's
// directory. FieldDocs documents every field.
type Config struct {
	Data   DataConfig `json:"data"`
	ICMode string     `json:"ic_mode"`
	// TorsionWindow, when positive, puts each free torsion whose fitted
	// window is at most this wide (radians) on that interval instead of
	// the circle (ic.Spec.FitTorsionWindows). Ignored with InitModel,
	// whose internal coordinates come from its file.
	TorsionWindow float64      `json:"torsion_window"`
	Model         model.Config `json:"model"`
	// DType is the precision of the flow's weights and of the training
	// graphs: DTypeFloat32 (the default; empty means it) or DTypeFloat64.
	// Energies, log-weights and the reported losses stay float64 on the
	// host, and the step graph reduces its losses in float64.
	DType string `json:"dtype"`
	// InitModel, if set, is a model file whose weights and internal
	// coordinates start the run instead of a fresh initialisation: the
	// way to fine-tune a trained generator (for example with more KL).
	InitModel string       `json:"init_model"`
	Energy    EnergyConfig `json:"energy"`
	Stages    []Stage      `json:"stages"`
	// Seed drives the data order and the base samples (see the package doc).
	Seed            uint64  `json:"seed"`
	Output          string  `json:"output"`
	CheckpointEvery int     `json:"checkpoint_every"`
	LogFile         string  `json:"log_file"`
	LogEvery        int     `json:"log_every"`
	ClipNorm        float64 `json:"clip_norm"`
	ValMaxFrames    int     `json:"val_max_frames"`
	Backend         string  `json:"backend"`
	// Devices is the number of devices each training step is split over,
	// data-parallel: every stage's batch is divided evenly among them, and
	// each holds the whole model (0 means 1).
	Devices int `json:"devices"`
}

// DataConfig says which MD frames to train on.
type DataConfig struct {
	Topology     string   `json:"topology"`
	Trajectories []string `json:"trajectories"`
	Stride       int      `json:"stride"`
	MaxFrames    int      `json:"max_frames"`
	ValFraction  float64  `json:"val_fraction"`
	ValBlocks    int      `json:"val_blocks"`
}

// EnergyConfig says how energies are computed for the KL term.
type EnergyConfig struct {
	Provider    string  `json:"provider"`
	Temperature float64 `json:"temperature"`
	Cut         float64 `json:"cut"`
	Max         float64 `json:"max"`
	Python      string  `json:"python"`
	Workers     int     `json:"workers"`
	Platform    string  `json:"platform"`
	SystemXML   string  `json:"system_xml"`
	// EnergyWorkers are energy servers (gobg energy serve) of the openmm
	// provider, with the client's mutual-TLS files.
	EnergyWorkers []string `json:"energy_workers,omitempty"`
	TLSCert       string   `json:"tls_cert,omitempty"`
	TLSKey        string   `json:"tls_key,omitempty"`
	TLSCA         string   `json:"tls_ca,omitempty"`
}

// Stage is one phase of the schedule.
type Stage struct {
	Name        string  `json:"name"`
	Steps       int     `json:"steps"`
	BatchSize   int     `json:"batch_size"`
	LR          float64 `json:"lr"`
	Schedule    string  `json:"schedule"`
	WarmupSteps int     `json:"warmup_steps"`
	MinLR       float64 `json:"min_lr"`
	Weights     Weights `json:"weights"`
	// KLGradient is the reverse-KL gradient estimator: KLGradientTotal
	// (the default) or KLGradientPath.
	KLGradient string `json:"kl_gradient,omitempty"`
}

// Reverse-KL gradient estimators. Both are unbiased. The total gradient
// differentiates E_z[f(u(x)) - log|det ∂x/∂z|] through the samples x =
// T(z). The path gradient differentiates E_z[f(u(x)) + log q(x)] through x
// only, with log q evaluated by a frozen copy of the weights (Vaitl et al.
// 2022, "Gradients should stay on path"): the term it drops, the weights'
// score ∇ log q at fixed x, has mean zero but a variance that does not
// vanish as q approaches p, and it dominates the noise near convergence.
// The path gradient costs an extra inverse pass.
const (
	KLGradientTotal = "total"
	KLGradientPath  = "path"
)

// Weights of the loss terms: total = NLL·nll + W2·w2 + KL·kl + FKL·fkl +
// LogVar·logvar + ESS·ess.
type Weights struct {
	NLL float64 `json:"nll"`
	W2  float64 `json:"w2"`
	KL  float64 `json:"kl"`
	// FKL weighs the forward KL estimated on the flow's own samples with
	// self-normalised importance weights (see the package doc).
	FKL float64 `json:"fkl,omitempty"`
	// LogVar weighs the variance of the log importance weights of the
	// flow's own samples (see the package doc).
	LogVar float64 `json:"logvar,omitempty"`
	// ESS weighs minus the log of the batch's Kish effective sample size
	// fraction, the α = 2 divergence of the flow's own samples (see the
	// package doc).
	ESS float64 `json:"ess,omitempty"`
}

// energyBased says whether the weights need energies of flow samples.
func (w Weights) energyBased() bool { return w.KL != 0 || w.FKL != 0 || w.LogVar != 0 || w.ESS != 0 }

// Learning-rate schedules.
const (
	ScheduleConstant = "constant"
	ScheduleCosine   = "cosine"
	ScheduleWarmup   = "warmup"
)

// Training precisions (Config.DType).
const (
	DTypeFloat32 = "float32"
	DTypeFloat64 = "float64"
)

// ParseDType returns the dtype a Config.DType names; empty is the default,
// float32.
func ParseDType(name string) (dtypes.DType, error) {
	switch name {
	case "", DTypeFloat32:
		return dtypes.Float32, nil
	case DTypeFloat64:
		return dtypes.Float64, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("dtype %q: want %q or %q", name, DTypeFloat32, DTypeFloat64)
}

// dtypeName is the Config.DType name of a float dtype.
func dtypeName(dt dtypes.DType) string {
	if dt == dtypes.Float32 {
		return DTypeFloat32
	}
	return DTypeFloat64
}

// FlowDType is the dtype the configuration trains in (Validate has
// checked it).
func (c *Config) FlowDType() dtypes.DType {
	dt, _ := ParseDType(c.DType)
	return dt
}

// Energy providers.
const (
	ProviderNative = "native"
	ProviderOpenMM = "openmm"
)

// FieldDocs describes every configuration field, in the order of
// DefaultConfig's JSON (printed by `gobg train --print-config`).
var FieldDocs = []struct{ Field, Doc string }{
	{"data.topology", "PDB of the system (topology and atom order of the trajectories)"},
	{"data.trajectories", "DCD files of MD frames, read in order; each is strided and split into training and validation frames on its own"},
	{"data.stride", "keep every stride-th frame of each trajectory, starting with its first (1: all)"},
	{"data.max_frames", "keep at most this many frames after striding (0: all)"},
	{"data.val_fraction", "fraction of frames held out for validation NLL, taken as the end of each of val_blocks contiguous blocks of every trajectory (0: none)"},
	{"data.val_blocks", "number of contiguous blocks the frames are cut into for the split"},
	{"ic_mode", "internal coordinates: \"full\" (every coordinate free; densities on Cartesian space) or \"reduced\" (bonds and side-chain angles fixed)"},
	{"torsion_window", "radians; 0 (default): every torsion on the circle. Otherwise each torsion whose training frames stay near its circular mean (observed range widened by half on each side at most this wide; pi suits peptide bonds and impropers) is modelled on that interval, so the flow's spline is not spread over a circle the torsion never crosses"},
	{"model", "flow configuration (flow/model.Config): arch (nsf, split-gau, split-mlp), bins, layers, backbone_layers, sidechain_layers, hidden, embed, expansion, qk_dim, gau_layers, relpos_clip, spline minimums, torsion_base, kappa, learn_base, act_norm, interval_scale, seed"},
	{"dtype", "precision of the flow's weights, Adam's moments and the training graphs: \"float32\" (default; faster) or \"float64\"; energies, importance weights and the logged losses stay float64, and a checkpoint resumes only in its own dtype (gobg train --dtype overrides it)"},
	{"init_model", "model file (from an earlier run) whose weights and internal coordinates start this run instead of a fresh initialisation, to fine-tune it; its model settings must equal model's, except that model may have more coupling layers (layers, backbone_layers, sidechain_layers), which are added after the old ones as the identity (empty: start fresh)"},
	{"energy.provider", "\"native\" (the OpenMM plugin serialises the System once, then gobg's Go energy evaluates it) or \"openmm\" (a pool of OpenMM workers)"},
	{"energy.temperature", "temperature in K (u = U/kT): the ensemble the model is trained for, which should be the MD data's; the model file records it, and gobg sample, eval and mcmc default to it"},
	{"energy.cut, energy.max", "lin-log cut of the reduced energy u (kT): linear up to cut, logarithmic above, clipped at max"},
	{"energy.python", "Python with OpenMM (empty: the command's default)"},
	{"energy.workers", "OpenMM worker processes (openmm provider; with energy_workers, 0 means none on this host) or goroutines (native; 0: all CPUs)"},
	{"energy.energy_workers", "energy servers of the openmm provider, [\"host:port\", ...] (from `gobg energy serve`, which must serve data.topology's System); each takes a share of every batch beside the local workers"},
	{"energy.tls_cert, energy.tls_key, energy.tls_ca", "this client's certificate and key, and the CA of the servers' certificates (PEM): mutual TLS, required for energy_workers off loopback"},
	{"energy.platform", "OpenMM platform of the openmm provider (CPU, Reference, CUDA, OpenCL)"},
	{"energy.system_xml", "OpenMM System XML (from `gobg energy system`) that the native provider evaluates instead of asking the OpenMM plugin for it, so that training needs no OpenMM (relative to the config file; empty: ask the plugin)"},
	{"stages[].name", "label of the stage in logs and the summary"},
	{"stages[].steps", "optimizer steps of the stage"},
	{"stages[].batch_size", "MD frames per NLL batch and flow samples per W2/KL batch"},
	{"stages[].lr", "peak Adam learning rate"},
	{"stages[].schedule", "\"constant\", \"cosine\" (from lr to min_lr over the stage, after warmup_steps of linear warm-up) or \"warmup\" (linear warm-up, then constant)"},
	{"stages[].warmup_steps", "linear warm-up steps at the start of the stage"},
	{"stages[].min_lr", "final learning rate of the cosine schedule"},
	{"stages[].weights", "loss weights {nll, w2, kl, fkl, logvar, ess}; a zero weight leaves the term out of the graph. fkl is the forward KL estimated on the flow's own samples with self-normalised importance weights (mass-covering, unlike kl); logvar is the variance of the log importance weights of the flow's samples (it sets the effective sample size); ess is minus the log of the batch's Kish effective sample size fraction (the alpha=2 divergence: it weighs the largest importance weights most)"},
	{"stages[].kl_gradient", "reverse-KL gradient estimator: \"total\" (default; through the samples and the log-det) or \"path\" (through the samples only, log q from a frozen copy of the weights: lower variance near convergence, one more inverse pass per step)"},
	{"seed", "random seed of the data order and the base samples"},
	{"output", "output directory: model.gobg (rewritten at the end of each stage), checkpoint.ckpt, the log"},
	{"checkpoint_every", "write a checkpoint every this many steps (and at each stage end; 0: stage ends only)"},
	{"log_file", "JSON-lines log, one object per step (relative to output; empty: train.jsonl)"},
	{"log_every", "progress line on stderr every this many steps"},
	{"clip_norm", "global gradient-norm clip (0: none)"},
	{"val_max_frames", "validation frames evaluated at each stage end (0: all)"},
	{"backend", "GoMLX backend spec (empty: $GOMLX_BACKEND, else a PJRT plugin found as docs/backends.md says, else go:ops_sequential)"},
	{"devices", "devices each training step runs on, data-parallel: every stage's batch_size is split evenly among them (it must divide by devices), the model is copied to each; results equal one device's to rounding. The PJRT CPU plugin makes 1 to 8 devices, a CUDA plugin has the machine's GPUs, the pure-Go backend 1 (docs/backends.md, \"Several devices\")"},
}

// DefaultConfig is the alanine-dipeptide schedule with the nsf flow.
func DefaultConfig() Config {
	m := model.DefaultConfig(model.ArchNSF)
	return Config{
		Data: DataConfig{
			Topology: "top.pdb", Trajectories: []string{"traj.dcd"},
			Stride: 1, ValFraction: 0.1, ValBlocks: 4,
		},
		ICMode: "full",
		Model:  m,
		DType:  DTypeFloat32,
		Energy: EnergyConfig{Provider: ProviderNative, Temperature: energy.DefaultTemperature, Cut: energy.DefaultLinLogCut.Cut, Max: energy.DefaultLinLogCut.Max, Workers: 0, Platform: "CPU"},
		Stages: []Stage{
			{Name: "nll", Steps: 2000, BatchSize: 256, LR: 1e-3, Schedule: ScheduleCosine, WarmupSteps: 50, MinLR: 1e-4, Weights: Weights{NLL: 1}},
			{Name: "nll+w2", Steps: 500, BatchSize: 256, LR: 3e-4, Schedule: ScheduleConstant, Weights: Weights{NLL: 1, W2: 10}},
			{Name: "nll+kl+w2", Steps: 500, BatchSize: 256, LR: 1e-4, Schedule: ScheduleConstant, Weights: Weights{NLL: 1, W2: 10, KL: 0.1}},
			{Name: "nll+kl", Steps: 1000, BatchSize: 256, LR: 1e-4, Schedule: ScheduleCosine, MinLR: 1e-5, Weights: Weights{NLL: 1, KL: 0.1}},
		},
		Seed: 1, Output: "train-out", CheckpointEvery: 200, LogEvery: 10, ClipNorm: 100, ValMaxFrames: 2048, Devices: 1,
	}
}

// AlanineRunConfig is the configuration gobg run trains with: the full-mode
// nsf flow of 6 layers on the frames of top and traj, nllSteps of maximum
// likelihood and then klSteps with the reverse KL added at a tenth of the
// learning rate, written to out. The paths are taken as given; callers that
// write the configuration into a file make them absolute, so that it can be
// rerun from anywhere.
func AlanineRunConfig(top, traj, out string, nllSteps, klSteps int) Config {
	cfg := DefaultConfig()
	cfg.Data.Topology, cfg.Data.Trajectories = top, []string{traj}
	cfg.ICMode = "full"
	cfg.Model = model.DefaultConfig(model.ArchNSF)
	cfg.Model.Layers, cfg.Model.Hidden, cfg.Model.Bins = 6, []int{128, 128}, 8
	cfg.Stages = []Stage{
		{Name: "nll", Steps: nllSteps, BatchSize: 256, LR: 2e-3, Schedule: ScheduleCosine, WarmupSteps: 20, MinLR: 2e-4, Weights: Weights{NLL: 1}},
		{Name: "nll+kl", Steps: klSteps, BatchSize: 256, LR: 2e-4, Schedule: ScheduleConstant, Weights: Weights{NLL: 1, KL: 1}},
	}
	cfg.Output = out
	cfg.CheckpointEvery = 100
	return cfg
}

// WriteConfig writes cfg as indented JSON that ReadConfig reads back.
func WriteConfig(path string, cfg Config) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// stripComments removes "//" comments outside JSON strings.
func stripComments(b []byte) []byte {
	var out bytes.Buffer
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out.WriteByte(c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		} else if c == '/' && i+1 < len(b) && b[i+1] == '/' {
			for i < len(b) && b[i] != '\n' {
				i++
			}
			if i < len(b) {
				out.WriteByte('\n')
			}
			continue
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// ReadConfig reads a configuration: fields left out keep DefaultConfig's
// values (the model block starts from the defaults of its arch), unknown
// fields are errors, and relative paths become relative to the file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	b = stripComments(b)
	// Read the arch first so the model block starts from its defaults.
	var probe struct {
		Model struct {
			Arch string `json:"arch"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	cfg := DefaultConfig()
	if probe.Model.Arch != "" {
		cfg.Model = model.DefaultConfig(probe.Model.Arch)
	}
	var raw struct {
		Stages json.RawMessage `json:"stages"`
	}
	_ = json.Unmarshal(b, &raw)
	if raw.Stages != nil {
		cfg.Stages = nil // a given schedule replaces the default one
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cfg.Data.Topology = abs(cfg.Data.Topology)
	for i, t := range cfg.Data.Trajectories {
		cfg.Data.Trajectories[i] = abs(t)
	}
	cfg.Output = abs(cfg.Output)
	cfg.InitModel = abs(cfg.InitModel)
	cfg.Energy.SystemXML = abs(cfg.Energy.SystemXML)
	cfg.Energy.TLSCert, cfg.Energy.TLSKey, cfg.Energy.TLSCA = abs(cfg.Energy.TLSCert), abs(cfg.Energy.TLSKey), abs(cfg.Energy.TLSCA)
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Data.Topology == "" {
		return fmt.Errorf("data.topology is required")
	}
	if len(c.Data.Trajectories) == 0 {
		return fmt.Errorf("data.trajectories is empty")
	}
	if c.Data.Stride < 1 {
		return fmt.Errorf("data.stride %d must be at least 1", c.Data.Stride)
	}
	if c.Data.MaxFrames < 0 {
		return fmt.Errorf("data.max_frames %d is negative", c.Data.MaxFrames)
	}
	if !(c.Data.ValFraction >= 0 && c.Data.ValFraction < 1) {
		return fmt.Errorf("data.val_fraction %g must be in [0, 1)", c.Data.ValFraction)
	}
	if c.Data.ValFraction > 0 && c.Data.ValBlocks < 1 {
		return fmt.Errorf("data.val_blocks %d must be at least 1", c.Data.ValBlocks)
	}
	if _, err := ic.ParseMode(c.ICMode); err != nil {
		return fmt.Errorf("ic_mode: %w", err)
	}
	if !(c.TorsionWindow >= 0 && c.TorsionWindow < 2*math.Pi) {
		return fmt.Errorf("torsion_window %g: want 0 (off) or a width in radians below 2 pi", c.TorsionWindow)
	}
	if err := c.Model.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if _, err := ParseDType(c.DType); err != nil {
		return err
	}
	if len(c.Stages) == 0 {
		return fmt.Errorf("no stages")
	}
	if c.Devices < 0 {
		return fmt.Errorf("devices %d is negative", c.Devices)
	}
	needEnergy := false
	for i, s := range c.Stages {
		if err := s.validate(); err != nil {
			return fmt.Errorf("stages[%d] (%s): %w", i, s.Name, err)
		}
		if n := c.numDevices(); s.BatchSize%n != 0 {
			return fmt.Errorf("stages[%d] (%s): batch_size %d does not divide by devices %d: each device takes an equal share of the batch",
				i, s.Name, s.BatchSize, n)
		}
		needEnergy = needEnergy || s.Weights.energyBased()
	}
	if needEnergy {
		switch c.Energy.Provider {
		case ProviderNative, ProviderOpenMM:
		default:
			return fmt.Errorf("energy.provider %q: want %q or %q", c.Energy.Provider, ProviderNative, ProviderOpenMM)
		}
		if c.Energy.SystemXML != "" && c.Energy.Provider != ProviderNative {
			return fmt.Errorf("energy.system_xml is read by the %q provider only, not %q", ProviderNative, c.Energy.Provider)
		}
		if len(c.Energy.EnergyWorkers) > 0 && c.Energy.Provider != ProviderOpenMM {
			return fmt.Errorf("energy.energy_workers evaluate with OpenMM: set energy.provider to %q", ProviderOpenMM)
		}
		if err := energy.CheckTemperature(c.Energy.Temperature); err != nil {
			return fmt.Errorf("energy.temperature %w", err)
		}
		if !(c.Energy.Max > c.Energy.Cut) {
			return fmt.Errorf("energy.max %g must exceed energy.cut %g", c.Energy.Max, c.Energy.Cut)
		}
	}
	if c.Output == "" {
		return fmt.Errorf("output is required")
	}
	if c.CheckpointEvery < 0 || c.LogEvery < 0 || c.ValMaxFrames < 0 {
		return fmt.Errorf("checkpoint_every, log_every and val_max_frames must not be negative")
	}
	if !(c.ClipNorm >= 0) {
		return fmt.Errorf("clip_norm %g must not be negative", c.ClipNorm)
	}
	return nil
}

func (s Stage) validate() error {
	if s.Steps < 1 || s.BatchSize < 2 {
		return fmt.Errorf("steps %d and batch_size %d must be at least 1 and 2", s.Steps, s.BatchSize)
	}
	if !(s.LR > 0) || !(s.MinLR >= 0) {
		return fmt.Errorf("lr %g must be positive and min_lr %g not negative", s.LR, s.MinLR)
	}
	switch s.Schedule {
	case ScheduleConstant, ScheduleCosine, ScheduleWarmup, "":
	default:
		return fmt.Errorf("schedule %q: want constant, cosine or warmup", s.Schedule)
	}
	if s.WarmupSteps < 0 {
		return fmt.Errorf("warmup_steps %d is negative", s.WarmupSteps)
	}
	w := s.Weights
	for _, v := range []float64{w.NLL, w.W2, w.KL, w.FKL, w.LogVar, w.ESS} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("weights must be finite and not negative, got %+v", w)
		}
	}
	if w.NLL == 0 && w.W2 == 0 && w.KL == 0 && w.FKL == 0 && w.LogVar == 0 && w.ESS == 0 {
		return fmt.Errorf("all loss weights are zero")
	}
	switch s.KLGradient {
	case "", KLGradientTotal, KLGradientPath:
	default:
		return fmt.Errorf("kl_gradient %q: want total or path", s.KLGradient)
	}
	return nil
}

// LearningRate is the stage's learning rate at step k (0-based).
func (s Stage) LearningRate(k int) float64 {
	if s.WarmupSteps > 0 && k < s.WarmupSteps {
		return s.LR * float64(k+1) / float64(s.WarmupSteps)
	}
	if s.Schedule != ScheduleCosine {
		return s.LR
	}
	n := s.Steps - s.WarmupSteps
	if n <= 1 {
		return s.LR
	}
	t := float64(k-s.WarmupSteps) / float64(n-1)
	return s.MinLR + 0.5*(s.LR-s.MinLR)*(1+math.Cos(math.Pi*t))
}
