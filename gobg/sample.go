package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/internal/atomicfile"
)

func init() {
	register(&command{
		name:    "sample",
		summary: "draw structures from a trained Boltzmann generator",
		usage: `Usage: gobg sample --model M --n N --out FILE.dcd [--seed S] [--energy native|openmm|none]
                   [--temperature K] [--batch B] [--defensive F [--widen W] [--widen-dims D]] [--symmetrize N] [--json]

Draws N structures from the model file M and writes them to FILE.dcd (nm in
OpenMM's convention), the topology to FILE.pdb, and per sample to FILE.csv:
log q(x) (the generator's log-density of the structure), and with --energy
the potential energy (amber99sbildn + amber99_obc) and the log importance
weight log w = -U/kT - log q(x) at --temperature (default: the temperature
the model was trained at; a warning says when another is given). The folder
of FILE.dcd must exist.

The same seed and batch size give the same structures. Batch k is drawn
with seed S + k*B, so seeds that differ by a multiple of B share batches:
for independent sets, use seeds that differ by less than B (gobg eval
--sets uses S, S+1, ...).

` + proposalUsage + `

Example:
  gobg sample --model examples/ala2/model.gobg --n 1000 --out out/samples.dcd --seed 1 --json`,
		run: runSample,
	})
}

type sampleSummary struct {
	Model       string  `json:"model"`
	Backend     string  `json:"backend"` // GoMLX backend spec
	Out         string  `json:"out"`
	CSV         string  `json:"csv"`
	PDB         string  `json:"pdb"`
	N           int     `json:"n"`
	Seed        uint64  `json:"seed"`
	Energy      string  `json:"energy"`
	Temperature float64 `json:"temperature_K"`
	NonFinite   int     `json:"non_finite"`
	MeanLogQ    float64 `json:"mean_log_q"`
	Seconds     float64 `json:"wall_s"`
	PerSecond   float64 `json:"samples_per_s"`
	// Defensive is the proposal mixture the samples came from (nil: the flow).
	Defensive *defensiveSummary `json:"defensive,omitempty"`
	// Symmetrized is the relabelling average of the density (nil: none).
	Symmetrized *generator.Symmetrization `json:"symmetrized,omitempty"`
}

// generated holds samples with their log-densities and (optionally) energies.
type generated struct {
	positions [][]molecule.Vec3
	logQ      []float64 // log q(x) of each structure
	energies  []float64 // kJ/mol; nil without an energy
}

// drawSamples draws n structures from a loaded model, in batches of batch,
// and evaluates their energies when e is not nil.
func drawSamples(ctx context.Context, env *cmdEnv, g *generator.Generator, n, batch int, seed uint64, e energy.Energy) (*generated, error) {
	start := time.Now()
	xs, logQ, err := g.SampleStructures(ctx, n, batch, seed, func(done int) {
		fmt.Fprintf(env.stderr, "\rsampling: %d/%d (%.0f/s)", done, n, float64(done)/time.Since(start).Seconds())
	})
	if err != nil {
		return nil, err
	}
	out := &generated{positions: xs, logQ: logQ}
	fmt.Fprintln(env.stderr)
	if e != nil {
		res, err := e.Evaluate(ctx, out.positions, false)
		if err != nil {
			return nil, fmt.Errorf("energies of samples: %w", err)
		}
		out.energies = res.Energies
		for i, err := range res.Errors {
			if err != nil {
				out.energies[i] = math.NaN()
			}
		}
	}
	return out, nil
}

func runSample(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["sample"]
	fs := newFlags(c, env)
	modelPath := fs.String("model", "", "model `file` written by gobg train")
	n := fs.Int("n", 1000, "number of structures")
	out := fs.String("out", "", "output DCD `file`")
	seed := addSeedFlag(fs, "random seed")
	energyName := fs.String("energy", "native", "energy provider for log weights: native, openmm or none")
	temperature := addTemperatureFlag(fs, "log weights at this "+temperatureHelp)
	batch := fs.Int("batch", 256, "batch size of the sampling graph")
	python := addPythonFlag(fs)
	bf := addBackendFlags(fs, true)
	propFlags := addProposalFlags(fs)
	rf := addRemoteFlags(fs)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelPath == "" || *out == "" {
		return fmt.Errorf("%w: --model and --out are required", errUsage)
	}
	set := flagsSet(fs)
	if err := firstErr(positiveInt("n", *n), positiveInt("batch", *batch), checkEnergyName(*energyName, true),
		optionalTemp(set, *temperature), propFlags.validate(), sampleOutName(*out), rf.validate(set["energy"], *energyName)); err != nil {
		return err
	}
	if rf.set() {
		*energyName = "openmm"
	}
	if err := firstErr(inputFile("--model", *modelPath), writableOut("--out", *out)); err != nil {
		return err
	}
	g, def, sym, err := propFlags.load(env, bf, *modelPath, *batch, set, temperature, nil)
	if err != nil {
		return err
	}
	defer g.Close()
	top := g.Topology()
	var e energy.Energy
	if strings.ToLower(*energyName) != "none" {
		ref, _, err := g.Spec().ToCartesian(make([]float64, g.Spec().NumFree()))
		if err != nil {
			return err
		}
		var stop func()
		e, stop, err = startEnergy(ctx, *energyName, top, ref, *python, rf)
		if err != nil {
			return err
		}
		defer stop()
	}
	start := time.Now()
	gen, err := drawSamples(ctx, env, g, *n, *batch, *seed, e)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(*out, filepath.Ext(*out))
	s := sampleSummary{Model: *modelPath, Backend: g.Backend(), Out: *out, CSV: base + ".csv", PDB: base + ".pdb", N: *n, Seed: *seed,
		Energy: *energyName, Temperature: *temperature, Defensive: def, Symmetrized: sym}
	if err := writeSamples(*out, s.PDB, s.CSV, top, gen, *temperature); err != nil {
		return err
	}
	for i := range gen.logQ {
		s.MeanLogQ += gen.logQ[i] / float64(len(gen.logQ))
		if gen.energies != nil && (math.IsNaN(gen.energies[i]) || math.IsInf(gen.energies[i], 0)) {
			s.NonFinite++
		}
	}
	s.Seconds = time.Since(start).Seconds()
	s.PerSecond = float64(*n) / s.Seconds
	w := summaryWriter(env, *asJSON)
	fmt.Fprintf(w, "wrote %d structures to %s (%s, %s) in %.1f s; mean log q %.2f", *n, s.Out, s.PDB, s.CSV, s.Seconds, s.MeanLogQ)
	if e != nil {
		fmt.Fprintf(w, "; %d non-finite energies", s.NonFinite)
	}
	fmt.Fprintln(w)
	return maybeJSON(env, *asJSON, s)
}

// writeSamples writes the structures (DCD), the topology (PDB) and the
// per-sample table (CSV: index, log_q, and with energies energy_kj_mol and
// log_w), the CSV atomically.
func writeSamples(dcdPath, pdbPath, csvPath string, top *molecule.Topology, g *generated, temperature float64) error {
	if err := molecule.WritePDBFile(pdbPath, top, g.positions[:1], nil); err != nil {
		return err
	}
	w, err := molecule.CreateDCD(dcdPath, len(top.Atoms), molecule.DCDOptions{Title: "gobg samples"})
	if err != nil {
		return err
	}
	for _, p := range g.positions {
		if err := w.Write(p, nil); err != nil {
			w.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	header := []string{"sample", "log_q"}
	if g.energies != nil {
		header = append(header, "energy_kj_mol", "log_w")
	}
	cw.Write(header)
	kT := energy.KT(temperature)
	for i, lq := range g.logQ {
		row := []string{strconv.Itoa(i), strconv.FormatFloat(lq, 'g', 17, 64)}
		if g.energies != nil {
			row = append(row, strconv.FormatFloat(g.energies[i], 'g', 17, 64),
				strconv.FormatFloat(-g.energies[i]/kT-lq, 'g', 17, 64))
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return atomicfile.WriteFile(csvPath, buf.Bytes())
}
