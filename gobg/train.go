package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gobg/gobg/flow/train"
	"github.com/gobg/gobg/plugin"
)

func init() {
	register(&command{
		name:    "train",
		summary: "train a Boltzmann generator with the staged NLL → W2 → KL schedule",
		usage: `Usage: gobg train --config FILE [--dtype float32|float64] [--devices N] [--resume] [--stop-after N]
                  [--output DIR] [--python PATH] [--json]
       gobg train --print-config

Trains a normalizing flow on the internal coordinates of MD frames, stage by
stage as the configuration says (each stage: steps, batch size, learning rate
and schedule, and the weights of the NLL, W2 and reverse-KL terms; see
package flow/train for the losses). Progress goes to stderr, one JSON object
per step to the log file in the output directory (created if missing; its
default is the configuration's output), checkpoints to
DIR/checkpoint.ckpt (atomically: every checkpoint_every steps and at each
stage end), and the trained flow to DIR/model.gobg. --resume continues from
the checkpoint exactly as if the run had not stopped (in the checkpoint's
dtype only).

The flow trains in float32 unless the configuration's dtype or --dtype says
float64; energies, importance weights and the logged losses are float64
either way, and the model file records the dtype it was trained in.

--devices N (or devices in the configuration) runs every step data-parallel
on N devices of the backend: each stage's batch is split evenly among them
(it must divide by N) and each holds the whole model; the results equal one
device's to rounding, and a checkpoint resumes on any number of devices. The
PJRT CPU plugin makes 1 to 8 devices, a CUDA plugin has the machine's GPUs
(docs/backends.md, "Several devices").

The configuration is JSON; lines may carry // comments, fields left out keep
their defaults, and relative paths are relative to the configuration file.
--print-config prints the complete default configuration on stdout and the
description of every field on stderr.

Example:
  gobg train --print-config > my.json 2> fields.txt
  gobg train --config examples/ala2/long.json --json
  gobg train --config examples/ala2/long.json --dtype float64 --output out/ala2-f64
  gobg train --config examples/ala2/long.json --devices 2 --output long-2dev`,
		run: runTrain,
	})
}

type trainSummary struct {
	Config  string `json:"config"`
	Devices int    `json:"devices"`
	*train.Summary
}

func runTrain(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["train"]
	fs := newFlags(c, env)
	configPath := fs.String("config", "", "training configuration `file` (JSON)")
	resume := fs.Bool("resume", false, "continue from the checkpoint in the output directory")
	output := fs.String("output", "", "output `dir`ectory (overrides the configuration's)")
	python := addPythonFlag(fs)
	dtype := fs.String("dtype", "", "training precision, float32 or float64 (overrides the configuration's dtype, whose default is float32)")
	stopAfter := fs.Int("stop-after", 0, "stop after global step `N` with a checkpoint (continue later with --resume; 0: run to the end)")
	bf := addBackendFlags(fs, true)
	devices := fs.Int("devices", 0, "`N` devices each step runs on, data-parallel (0: the configuration's devices, default 1)")
	rf := addRemoteFlags(fs)
	printConfig := fs.Bool("print-config", false, "print the default configuration (stdout) and its field descriptions (stderr)")
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *printConfig {
		b, err := json.MarshalIndent(train.DefaultConfig(), "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, string(b))
		fmt.Fprintln(env.stderr, "Fields (paths relative to the configuration file; // comments allowed):")
		for _, d := range train.FieldDocs {
			fmt.Fprintf(env.stderr, "  %-24s %s\n", d.Field, d.Doc)
		}
		return nil
	}
	if *configPath == "" {
		return fmt.Errorf("%w: --config is required", errUsage)
	}
	if _, err := train.ParseDType(*dtype); err != nil {
		return fmt.Errorf("%w: --%w", errUsage, err)
	}
	if *stopAfter < 0 {
		return fmt.Errorf("%w: --stop-after must not be negative", errUsage)
	}
	if *devices < 0 {
		return fmt.Errorf("%w: --devices must not be negative", errUsage)
	}
	if err := inputFile("--config", *configPath); err != nil {
		return err
	}
	cfg, err := train.ReadConfig(*configPath)
	if err != nil {
		return err
	}
	if *output != "" {
		cfg.Output = *output
	}
	if err := applyRemoteFlags(&cfg.Energy, rf); err != nil {
		return err
	}
	if *dtype != "" {
		cfg.DType = *dtype
	}
	if bf.spec != "" {
		cfg.Backend = bf.spec
	}
	if *devices > 0 {
		cfg.Devices = *devices
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%w: --devices %d: %v", errUsage, *devices, err)
		}
	}
	if err := bf.apply(); err != nil {
		return err
	}
	outWhat := "--output"
	if *output == "" {
		outWhat = "output of the configuration"
	}
	if err := firstErr(writableDir(outWhat, cfg.Output), trainInputs(cfg)); err != nil {
		return err
	}
	py := *python
	if py == "" {
		py = defaultPython()
	}
	tr, err := train.New(ctx, cfg, train.Options{Energy: trainEnergy(cfg, py), Progress: env.stderr, Resume: *resume, StopAfter: *stopAfter})
	if err != nil {
		return err
	}
	defer tr.Close()
	fmt.Fprintf(env.stderr, "training %s (%s mode, %s): D = %d (%d torsions on windows), %d parameters, %d training and %d validation frames\n",
		cfg.Model.Arch, cfg.ICMode, strings.ToLower(tr.Flow().DType().String()), tr.Flow().Dim(), tr.Data().Spec.Windowed(), tr.Flow().NumParams(), len(tr.Data().Train), len(tr.Data().Val))
	sum, err := tr.Run(ctx)
	if err != nil {
		return err
	}
	w := summaryWriter(env, *asJSON)
	for _, s := range sum.Stages {
		fmt.Fprintf(w, "stage %-12s %6d steps  loss %.5g  nll %.5g (first %.5g, validation %.5g)  w2 %.4g  kl %.5g  fkl %.4g  logvar %.4g  skipped %d  %.1f s (%.2f steps/s)\n",
			s.Name, s.Steps, s.Loss, s.NLL, s.FirstNLL, s.ValNLL, s.W2, s.KL, s.FKL, s.LogVar, s.Skipped, s.Wall, s.StepsPS)
	}
	if sum.Stopped {
		fmt.Fprintf(w, "stopped after step %d (%d skipped, %.1f s); continue with --resume\n", sum.Steps, sum.Skipped, sum.Wall)
	} else {
		fmt.Fprintf(w, "%d steps, %d skipped, %.1f s; model %s\n", sum.Steps, sum.Skipped, sum.Wall, filepath.Clean(sum.Model))
	}
	return maybeJSON(env, *asJSON, trainSummary{Config: *configPath, Devices: max(cfg.Devices, 1), Summary: sum})
}

// applyRemoteFlags lets --energy-workers and the TLS flags replace the
// configuration's energy servers and files; servers, from either, mean the
// openmm provider. The addresses and files are checked here, before
// anything starts.
func applyRemoteFlags(e *train.EnergyConfig, rf *remoteFlags) error {
	if err := rf.tls.validate(); err != nil {
		return err
	}
	if rf.set() {
		e.EnergyWorkers = rf.addrs
		e.Provider = train.ProviderOpenMM
		e.SystemXML = ""
	} else if rf.tls.files().Enabled() && len(e.EnergyWorkers) == 0 {
		return fmt.Errorf("%w: --tls-cert, --tls-key and --tls-ca go with energy servers (--energy-workers or energy.energy_workers)", errUsage)
	}
	if f := rf.tls.files(); f.Enabled() {
		e.TLSCert, e.TLSKey, e.TLSCA = f.Cert, f.Key, f.CA
	}
	if len(e.EnergyWorkers) == 0 {
		return nil
	}
	if e.Provider != train.ProviderOpenMM {
		return fmt.Errorf("energy.energy_workers evaluate with OpenMM: set energy.provider to %q", train.ProviderOpenMM)
	}
	return checkRemote(e.EnergyWorkers, plugin.TLSFiles{Cert: e.TLSCert, Key: e.TLSKey, CA: e.TLSCA})
}
