package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// flowSubcommands are the subcommands of `gobg flow`; other files may add
// theirs in an init function.
var flowSubcommands = map[string]func(ctx context.Context, env *cmdEnv, args []string) error{}

func init() {
	register(&command{
		name:    "flow",
		summary: "normalizing flows: `gobg flow check` measures a flow's inversion and log-determinant errors",
		usage: `Usage: gobg flow check --arch NAME --pdb FILE [--mode reduced|full] [--config FILE]
                      [--perturb S] [--samples N] [--method auto|full-jacobian|per-layer]
                      [--seed N] [--backend SPEC] [--json]

Builds a flow of the named architecture (nsf, split-gau, split-mlp) on the
internal coordinates of the structure (the spec is fitted to the PDB's
model(s)), perturbs every weight so that it is far from the identity (a new
flow's couplings are the identity), and reports: the number of trainable
parameters; the largest inversion error in float64 and, for the same weights
converted, in float32 (base samples z against F⁻¹(F(z)) and random domain
points x against F(F⁻¹(x)); angles compared on the circle); and the largest
relative disagreement between the flow's log-determinant and autodiff.

The log-determinant check builds the full D×D Jacobian of the flow with
autodiff (one reverse pass per row) when D ≤ 800, and otherwise checks each
layer on its own: a coupling layer changes its transformed coordinates
elementwise given the others, so its Jacobian is triangular up to a
permutation and its log-det is the sum of the logs of its diagonal, which
one reverse pass gives for all transformed coordinates at once.

Example:
  gobg flow check --arch split-gau --pdb ../shared/data/hp35.pdb --json`,
		run: runFlow,
	})
	flowSubcommands["check"] = runFlowCheck
}

func runFlow(ctx context.Context, env *cmdEnv, args []string) error {
	return runSubcommand(ctx, env, commands["flow"], flowSubcommands, args)
}

type flowCheckSummary struct {
	Arch         string  `json:"arch"`
	PDB          string  `json:"pdb"`
	Mode         string  `json:"mode"`
	Dim          int     `json:"dim"`
	Residues     int     `json:"residues"`
	Params       int     `json:"params"`
	Perturb      float64 `json:"perturb"`
	Samples      int     `json:"samples"`
	InverseErr64 float64 `json:"inverse_err_f64"`
	InverseErr32 float64 `json:"inverse_err_f32"`
	LogDetPair64 float64 `json:"logdet_pair_err_f64"`
	LogDetPair32 float64 `json:"logdet_pair_err_f32"`
	LogDetMethod string  `json:"logdet_method"`
	LogDetErr    float64 `json:"logdet_rel_err"`
	Moved        float64 `json:"moved"`
	MaxAbsLogDet float64 `json:"max_abs_logdet"`
	Seconds      float64 `json:"seconds"`
	Backend      string  `json:"backend"` // GoMLX backend spec
}

func runFlowCheck(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["flow"]
	fs := newFlags(c, env)
	arch := fs.String("arch", "", "architecture: "+strings.Join(model.Architectures(), ", "))
	pdbPath := fs.String("pdb", "", "structure `file` (PDB); its models fit the internal-coordinate spec")
	modeName := fs.String("mode", "reduced", "internal coordinates: reduced or full")
	configPath := fs.String("config", "", "JSON `file` with the flow configuration (defaults of --arch otherwise)")
	perturb := fs.Float64("perturb", 0.2, "standard deviation `S` of the weight perturbation (scaled by 1/√fan-in for matrices); "+
		"larger values make maps with slopes near the splines' minimum, whose inversion error is their conditioning, not arithmetic")
	samples := fs.Int("samples", 4, "number of base samples and of random domain points")
	method := fs.String("method", "auto", "log-det check: auto, full-jacobian or per-layer")
	seed := addSeedFlag(fs, "random seed (perturbation and samples)")
	batch := fs.Int("batch", 64, "batch size of the executors")
	bf := addBackendFlags(fs, true)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *pdbPath == "":
		return fmt.Errorf("%w: --pdb is required", errUsage)
	case *arch == "" && *configPath == "":
		return fmt.Errorf("%w: --arch is required", errUsage)
	case *samples < 1 || *batch < 1:
		return fmt.Errorf("%w: --samples and --batch must be positive", errUsage)
	case !(*perturb >= 0) || math.IsInf(*perturb, 0):
		return fmt.Errorf("%w: --perturb must be non-negative and finite", errUsage)
	}
	if *method == "auto" {
		*method = ""
	} else if *method != model.JacobianFull && *method != model.JacobianPerLayer {
		return fmt.Errorf("%w: --method %q: want auto, %s or %s", errUsage, *method, model.JacobianFull, model.JacobianPerLayer)
	}
	mode, err := ic.ParseMode(*modeName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg := model.DefaultConfig(*arch)
	if *configPath != "" {
		if cfg, err = model.ReadConfig(*configPath, *arch); err != nil {
			return err
		}
		if *arch != "" && cfg.Arch != *arch {
			return fmt.Errorf("%w: --arch %s but %s says %q", errUsage, *arch, *configPath, cfg.Arch)
		}
	} else if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	start := time.Now()
	pdb, err := molecule.ReadPDBFile(*pdbPath)
	if err != nil {
		return err
	}
	z, err := ic.NewZMatrix(pdb.Topology)
	if err != nil {
		return fmt.Errorf("%s: %w", *pdbPath, err)
	}
	spec, err := ic.FitSpec(z, pdb.Models, mode)
	if err != nil {
		return fmt.Errorf("%s: %w", *pdbPath, err)
	}
	layout, err := model.LayoutFromSpec(spec)
	if err != nil {
		return err
	}
	backend, err := bf.newBackend()
	if err != nil {
		return err
	}
	f, err := model.New(backend, cfg, layout, dtypes.Float64)
	if err != nil {
		return err
	}
	if err := f.Perturb(*perturb, *seed); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "flow %s on %s (%s mode): D = %d, %d residues, %d parameters\n",
		cfg.Arch, *pdbPath, mode, f.Dim(), layout.NumResidues(), f.NumParams())
	if err := ctx.Err(); err != nil {
		return err
	}
	r64, r32, err := model.CheckDTypes(f, model.CheckOptions{Samples: *samples, Batch: *batch, Method: *method, Seed: *seed})
	if err != nil {
		return err
	}
	s := flowCheckSummary{
		Arch: cfg.Arch, PDB: *pdbPath, Mode: mode.String(), Dim: f.Dim(), Residues: layout.NumResidues(),
		Params: f.NumParams(), Perturb: *perturb, Samples: *samples,
		InverseErr64: r64.InverseErr, InverseErr32: r32.InverseErr,
		LogDetPair64: r64.LogDetPairErr, LogDetPair32: r32.LogDetPairErr,
		LogDetMethod: r64.LogDetMethod, LogDetErr: r64.LogDetErr,
		Moved: r64.Moved, MaxAbsLogDet: r64.MaxAbsLogDet, Seconds: time.Since(start).Seconds(), Backend: nn.SpecOf(backend),
	}
	w := summaryWriter(env, *asJSON)
	fmt.Fprintf(w, "inversion error: float64 %.3g, float32 %.3g (largest coordinate difference)\n", s.InverseErr64, s.InverseErr32)
	fmt.Fprintf(w, "forward + inverse log-det: float64 %.3g, float32 %.3g\n", s.LogDetPair64, s.LogDetPair32)
	fmt.Fprintf(w, "log-det vs autodiff (%s): %.3g relative\n", s.LogDetMethod, s.LogDetErr)
	fmt.Fprintf(w, "perturbed flow: largest move %.3g, largest |log-det| %.4g (%.1f s)\n", s.Moved, s.MaxAbsLogDet, s.Seconds)
	return maybeJSON(env, *asJSON, s)
}
