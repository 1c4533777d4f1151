package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gobg/gobg/energy/md"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/eval"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/train"
)

func init() {
	register(&command{
		name:    "run",
		summary: "the main job on the embedded default (alanine dipeptide): build, simulate, train, sample, evaluate",
		usage: `Usage: gobg run [--out DIR] [--ns T] [--nll-steps N] [--kl-steps N] [--samples N] [--symmetrize N]
                [--seed S] [--json]

The whole pipeline on alanine dipeptide with no input file: builds ACE-ALA-NME
from ideal Amber geometry in the beta basin, simulates it with OpenMM (amber99sbildn +
amber99_obc, 300 K, no constraints so that the frames sample the same
ensemble as the energy the generator is weighted with; 2 fs with hydrogen
mass repartitioning) and checks that the MD looks like a sample of the
equilibrium (phi > 0 at most 5% of frames, the halves alike), trains a
Boltzmann generator on the frames (maximum likelihood, then with the
reverse-KL energy term, exact native energies), samples from it and
evaluates the samples against the MD (ESS, energies, clashes, free-energy
profiles; plots in DIR/plots; DIR is created if missing). The evaluation
averages the generator's density over relabellings of the three methyl
groups' hydrogens (gobg eval --symmetrize): exact, and it lifts the ESS.
Every step resumes: run it again after an interruption and it continues
where it stopped.

Example:
  gobg run --out out/default --json`,
		run: runRun,
	})
}

type runSummary struct {
	Out      string  `json:"out"`
	PDB      string  `json:"pdb"`
	MDFrames int     `json:"md_frames"`
	NsPerDay float64 `json:"md_ns_per_day"`
	// MDCheck says whether the MD looks like a sample of the equilibrium.
	MDCheck    *eval.MDCheck `json:"md_check"`
	Model      string        `json:"model"`
	Backend    string        `json:"backend"` // GoMLX backend spec of the evaluation
	TrainSteps int           `json:"train_steps"`
	Skipped    int           `json:"train_skipped_steps"`
	Eval       evalSummary   `json:"eval"`
	Plots      string        `json:"plots"`
	WallSecond float64       `json:"wall_s"`
}

func runRun(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["run"]
	fs := newFlags(c, env)
	out := fs.String("out", filepath.Join("out", "default"), "output `dir`ectory")
	ns := fs.Float64("ns", 4, "MD length in `ns`")
	nllSteps := fs.Int("nll-steps", 1500, "maximum-likelihood training steps")
	klSteps := fs.Int("kl-steps", 800, "training steps with the reverse-KL energy term")
	samples := fs.Int("samples", 5000, "structures to generate for the evaluation")
	symmetrize := fs.Int("symmetrize", 27, "average the generator's density over at most `N` relabellings of its methyl hydrogens (0: off)")
	seed := addSeedFlag(fs, "random seed of the MD")
	python := addPythonFlag(fs)
	bf := addBackendFlags(fs, true)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := firstErr(positiveFloat("ns", *ns), positiveInt("nll-steps", *nllSteps), positiveInt("kl-steps", *klSteps),
		positiveInt("samples", *samples)); err != nil {
		return err
	}
	if *symmetrize < 0 {
		return fmt.Errorf("%w: --symmetrize must be 0 (off) or positive, not %d", errUsage, *symmetrize)
	}
	frames, ok := md.WholeRatio(*ns*1000, 0.25)
	switch {
	case !ok:
		return fmt.Errorf("%w: --ns %g is not a whole number of 0.25 ps frames", errUsage, *ns)
	case *seed < 1 || *seed > math.MaxInt32:
		return fmt.Errorf("%w: --seed must be in 1..%d", errUsage, math.MaxInt32)
	}
	if err := writableDir("--out", *out); err != nil {
		return err
	}
	if err := bf.apply(); err != nil {
		return err
	}
	// The sub-commands take the backend and threads as flags.
	gomlx := []string{"--threads", strconv.Itoa(bf.threads)}
	if bf.spec != "" {
		gomlx = append(gomlx, "--backend", bf.spec)
	}
	*python = orDefaultPython(*python)
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(env.stderr, "\n== [%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	s := runSummary{Out: *out, PDB: filepath.Join(*out, "ala2.pdb")}

	step("1/5 build alanine dipeptide (ACE-ALA-NME) from ideal amber99sb-ildn geometry, in the beta basin")
	// The beta basin, where most of the equilibrium population is; a run
	// started at phi > 0 (alpha-L) can stay there for much of a few-ns run.
	top, pos, err := ic.Build("A", true, -150*math.Pi/180, 150*math.Pi/180)
	if err != nil {
		return err
	}
	if err := molecule.WritePDBFile(s.PDB, top, [][]molecule.Vec3{pos}, nil); err != nil {
		return err
	}

	step("2/5 simulate %.3g ns with OpenMM", *ns)
	mdDir := filepath.Join(*out, "md")
	// A frame every 0.25 ps: bond lengths and angles, most of the 60
	// coordinates, decorrelate well within that, so the same MD gives the
	// flow four times the independent data; with a frame per ps it over-fits.
	const savePS, timestepPS = 0.25, 0.002
	sim, err := md.Run(ctx, md.Options{PDB: s.PDB, Out: mdDir, Python: *python, Platform: "CPU", Threads: 1,
		Constraints: "None", TemperatureK: 300, FrictionPerPS: 1, TimestepPS: timestepPS, HydrogenMassAMU: 3,
		Minimize: true, Seed: int32(*seed), SavePS: savePS, StepsPerFrame: 125, Frames: frames, Log: env.stderr})
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	reportSimulation(env, sim, frames, *ns)
	s.MDFrames, s.NsPerDay = sim.Frames, sim.NsPerDay
	if s.MDCheck, err = eval.CheckMDFiles(sim.Top, sim.Traj, 1, 0, 0); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "MD check: %.2f%% of frames at phi > 0 (quarters %.1f%%, %.1f%%, %.1f%%, %.1f%%), halves' phi/psi TV %.3f: ",
		100*s.MDCheck.PositivePhi, 100*s.MDCheck.PositivePhiQuarters[0], 100*s.MDCheck.PositivePhiQuarters[1],
		100*s.MDCheck.PositivePhiQuarters[2], 100*s.MDCheck.PositivePhiQuarters[3], s.MDCheck.HalvesTV)
	if s.MDCheck.Equilibrated {
		fmt.Fprintln(env.stderr, "looks equilibrated")
	} else {
		fmt.Fprintln(env.stderr, "NOT equilibrated; the generator will learn this run's ensemble, not the equilibrium:")
		for _, n := range s.MDCheck.Notes {
			fmt.Fprintf(env.stderr, "  %s\n", n)
		}
	}

	step("3/5 train a Boltzmann generator: %d NLL steps, then %d NLL+KL steps", *nllSteps, *klSteps)
	cfgPath, err := writeDefaultTrainConfig(*out, sim, *nllSteps, *klSteps, *python)
	if err != nil {
		return err
	}
	trainArgs := append([]string{"--config", cfgPath}, gomlx...)
	if ck := filepath.Join(*out, "train", train.CheckpointFile); fileExists(ck) {
		fmt.Fprintf(env.stderr, "resuming training from %s\n", ck)
		trainArgs = append(trainArgs, "--resume")
	}
	var tr trainSummary
	if err := callJSON(ctx, env, "train", trainArgs, &tr); err != nil {
		return err
	}
	if tr.Summary != nil {
		s.Model, s.TrainSteps, s.Skipped = tr.Model, tr.Steps, tr.Skipped
	}
	if s.Model == "" {
		s.Model = filepath.Join(*out, "train", train.ModelFile)
	}

	step("4/5 and 5/5: sample %d structures and evaluate them against the MD", *samples)
	s.Plots = filepath.Join(*out, "plots")
	evalArgs := []string{"--model", s.Model, "--data", sim.Traj, "--n", strconv.Itoa(*samples),
		"--plots", s.Plots, "--out", filepath.Join(*out, "eval.json"), "--python", *python}
	if *symmetrize > 0 {
		evalArgs = append(evalArgs, "--symmetrize", strconv.Itoa(*symmetrize))
	}
	if err := callJSON(ctx, env, "eval", append(evalArgs, gomlx...), &s.Eval); err != nil {
		return err
	}
	s.Backend = s.Eval.Backend
	s.WallSecond = time.Since(start).Seconds()

	fmt.Fprintf(env.stderr, "\n== summary (%.0f s; everything is in %s)\n", s.WallSecond, *out)
	fmt.Fprintf(env.stderr, "MD: %d frames at %.0f ns/day; model %s after %d steps (%d skipped)\n",
		s.MDFrames, s.NsPerDay, s.Model, s.TrainSteps, s.Skipped)
	printEvalSummary(env.stderr, &s.Eval)
	explainRun(env.stderr, &s)
	return maybeJSON(env, *asJSON, s)
}

// explainRun says what the main job's headline numbers mean to a user.
func explainRun(w io.Writer, s *runSummary) {
	e := &s.Eval
	fmt.Fprintln(w, "\nwhat this means:")
	fmt.Fprintf(w, "- effective sample size: reweighted to the exact Boltzmann distribution, the %d generated structures are worth %.0f independent\n"+
		"  ones (%.1f%%); each costs one pass of the flow, against a whole MD decorrelation time for an MD frame.\n",
		e.Samples, e.ESS, 100*float64(e.ESSFraction))
	if sym := e.Symmetrized; sym != nil {
		fmt.Fprintf(w, "  The generator's density is averaged over the %d relabellings of the methyl hydrogens (%s), which are\n"+
			"  identical atoms: still an exact density of the same structures, closer to Boltzmann's, at %d flow passes per density.\n",
			sym.Images, strings.Join(sym.Centres, ", "), sym.Images)
	}
	if !math.IsNaN(float64(e.PhiRMSEReweigh)) {
		fmt.Fprintf(w, "- phi free-energy profile: after reweighting, the generator's differs from the MD's by %.2f kT (RMSE over bins both\n"+
			"  populate; the main job aims at 0.5 kT or less; two 10-ns halves of one long MD run differ by 0.09 kT).\n", e.PhiRMSEReweigh)
	}
	fmt.Fprintf(w, "- energies: the lower half of the samples' energies averages %.1f kJ/mol, the MD's %.1f kJ/mol; clashes in %.2f%% of samples.\n",
		e.LowerHalfMean, e.MDLowerHalf, 100*float64(e.ClashFraction))
	if s.MDCheck != nil && !s.MDCheck.Equilibrated {
		fmt.Fprintln(w, "- the MD did not pass its equilibrium check (above): the generator learnt that run's ensemble; rerun with another --seed or a longer --ns.")
	}
}

// writeDefaultTrainConfig writes the training configuration of the run
// beside it, with absolute paths, so that it can be read, changed and rerun
// with `gobg train --config`.
func writeDefaultTrainConfig(out string, sim *md.Summary, nllSteps, klSteps int, python string) (string, error) {
	top, _ := filepath.Abs(sim.Top)
	traj, _ := filepath.Abs(sim.Traj)
	trainOut, _ := filepath.Abs(filepath.Join(out, "train"))
	cfg := train.AlanineRunConfig(top, traj, trainOut, nllSteps, klSteps)
	cfg.Energy.Python = python
	path := filepath.Join(out, "train.json")
	return path, train.WriteConfig(path, cfg)
}

// callJSON runs another gobg command in-process with --json: its progress
// goes to stderr, and its summary (the last line of its stdout) into v.
func callJSON(ctx context.Context, env *cmdEnv, name string, args []string, v any) error {
	var stdout bytes.Buffer
	sub := &cmdEnv{stdout: &stdout, stderr: env.stderr}
	if err := commands[name].run(ctx, sub, append(args, "--json")); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	if err := json.Unmarshal(lines[len(lines)-1], v); err != nil {
		return fmt.Errorf("%s: read its summary: %w", name, err)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
