package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/train"
	"github.com/gobg/gobg/internal/atomicfile"
)

func init() {
	register(&command{
		name:    "run",
		summary: "the main job on the embedded default (alanine dipeptide): build, simulate, train, sample, evaluate",
		usage: `Usage: gobg run [--out DIR] [--ns T] [--nll-steps N] [--kl-steps N] [--samples N] [--json]

The whole pipeline on alanine dipeptide with no input file: builds ACE-ALA-NME
from ideal Amber geometry, simulates it with OpenMM (amber99sbildn +
amber99_obc, 300 K, no constraints so that the frames sample the same
ensemble as the energy the generator is weighted with; 2 fs with hydrogen
mass repartitioning), trains a
Boltzmann generator on the frames (maximum likelihood, then with the
reverse-KL energy term, exact native energies), samples from it and
evaluates the samples against the MD (ESS, energies, clashes, free-energy
profiles; plots in DIR/plots). Every step resumes: run it again after an
interruption and it continues where it stopped.

Example:
  gobg run --out out/default --json`,
		run: runRun,
	})
}

type runSummary struct {
	Out        string      `json:"out"`
	PDB        string      `json:"pdb"`
	MDFrames   int         `json:"md_frames"`
	NsPerDay   float64     `json:"md_ns_per_day"`
	Model      string      `json:"model"`
	Backend    string      `json:"backend"` // GoMLX backend spec of the evaluation
	TrainSteps int         `json:"train_steps"`
	Skipped    int         `json:"train_skipped_steps"`
	Eval       evalSummary `json:"eval"`
	Plots      string      `json:"plots"`
	WallSecond float64     `json:"wall_s"`
}

func runRun(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["run"]
	fs := newFlags(c, env)
	out := fs.String("out", filepath.Join("out", "default"), "output `dir`ectory")
	ns := fs.Float64("ns", 4, "MD length in `ns`")
	nllSteps := fs.Int("nll-steps", 600, "maximum-likelihood training steps")
	klSteps := fs.Int("kl-steps", 200, "training steps with the reverse-KL energy term")
	samples := fs.Int("samples", 5000, "structures to generate for the evaluation")
	python := fs.String("python", "", "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)")
	bf := addBackendFlags(fs, true)
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
	if err := parseFlags(fs, args); err != nil {
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
	if *python == "" {
		*python = defaultPython()
	}
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(env.stderr, "\n== [%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	s := runSummary{Out: *out, PDB: filepath.Join(*out, "ala2.pdb")}

	step("1/5 build alanine dipeptide (ACE-ALA-NME) from ideal amber99sb-ildn geometry")
	top, pos, err := ic.Build("A", true, -80*math.Pi/180, 80*math.Pi/180)
	if err != nil {
		return err
	}
	if err := molecule.WritePDBFile(s.PDB, top, [][]molecule.Vec3{pos}, nil); err != nil {
		return err
	}

	step("2/5 simulate %.3g ns with OpenMM", *ns)
	mdDir := filepath.Join(*out, "md")
	var sim simSummary
	if err := callJSON(ctx, env, "simulate", []string{"--pdb", s.PDB, "--ns", strconv.FormatFloat(*ns, 'g', -1, 64),
		"--out", mdDir, "--constraints", "None", "--timestep-fs", "2", "--hmr", "3", "--save-ps", "1", "--minimize", "--seed", "1",
		"--python", *python}, &sim); err != nil {
		return err
	}
	s.MDFrames, s.NsPerDay = sim.Frames, sim.NsPerDay

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
	if err := callJSON(ctx, env, "eval", append([]string{"--model", s.Model, "--data", sim.Traj, "--n", strconv.Itoa(*samples),
		"--plots", s.Plots, "--out", filepath.Join(*out, "eval.json"), "--python", *python}, gomlx...), &s.Eval); err != nil {
		return err
	}
	s.Backend = s.Eval.Backend
	s.WallSecond = time.Since(start).Seconds()

	fmt.Fprintf(env.stderr, "\n== summary (%.0f s; everything is in %s)\n", s.WallSecond, *out)
	fmt.Fprintf(env.stderr, "MD: %d frames at %.0f ns/day; model %s after %d steps (%d skipped)\n",
		s.MDFrames, s.NsPerDay, s.Model, s.TrainSteps, s.Skipped)
	printEvalSummary(env.stderr, &s.Eval)
	if *asJSON {
		return printJSON(env, s)
	}
	return nil
}

// writeDefaultTrainConfig writes the embedded default's training
// configuration beside the run, so that it can be read, changed and rerun
// with `gobg train --config`.
func writeDefaultTrainConfig(out string, sim simSummary, nllSteps, klSteps int, python string) (string, error) {
	cfg := train.DefaultConfig()
	cfg.Data.Topology, _ = filepath.Abs(sim.Top)
	traj, _ := filepath.Abs(sim.Traj)
	cfg.Data.Trajectories = []string{traj}
	cfg.ICMode = "full"
	cfg.Model = model.DefaultConfig(model.ArchNSF)
	cfg.Model.Layers, cfg.Model.Hidden, cfg.Model.Bins = 6, []int{128, 128}, 8
	cfg.Energy.Python = python
	cfg.Stages = []train.Stage{
		{Name: "nll", Steps: nllSteps, BatchSize: 128, LR: 2e-3, Schedule: train.ScheduleCosine, WarmupSteps: 20, MinLR: 2e-4, Weights: train.Weights{NLL: 1}},
		{Name: "nll+kl", Steps: klSteps, BatchSize: 128, LR: 2e-4, Schedule: train.ScheduleConstant, Weights: train.Weights{NLL: 1, KL: 0.1}},
	}
	cfg.Output, _ = filepath.Abs(filepath.Join(out, "train"))
	cfg.CheckpointEvery = 100
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, "train.json")
	return path, atomicfile.WriteFile(path, append(b, '\n'))
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
