package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/eval"
	"github.com/gobg/gobg/flow/generator"
)

func init() {
	register(&command{
		name:    "eval",
		summary: "evaluate a trained Boltzmann generator against MD: NLL, ESS, energies, clashes, ΔD, RMSF, free energies",
		usage: `Usage: gobg eval --model M --data DCD ... [--data-top PDB ...] [--n N] [--seed S] [--sets K] [--temperature K]
                 [--energy native|openmm] [--md-frames F] [--plots DIR] [--out REPORT.json]
                 [--defensive F [--widen W] [--widen-dims D]] [--symmetrize N] [--json]

Compares the model with MD frames: the test NLL of the frames under the
model (nats per structure and per free coordinate; a density of Cartesian
structures up to rigid motion in full mode, of the free coordinates'
marginal in reduced mode); for N generated
structures the Kish effective sample size of the importance weights against
the Boltzmann distribution at K (default: the temperature the model was
trained at; a warning says when another is given), energy quantiles
against MD and the mean of the lower half, the fraction with clashes, the
backbone distance distortion ΔD, per-residue C-alpha RMSF, and for
dipeptides the phi/psi free-energy profiles from MD, raw samples and
reweighted samples (RMSE in kT over bins with at least 50 MD frames) and
the population of 0 <= phi < 120° (alpha-L, C7ax), which MD started
elsewhere may never visit. The ESS line also gives the largest normalised weight: near 1, one
sample carries the estimate. The ESS of one set of heavy-tailed weights
varies from set to set: --sets K draws K-1 more sets of N (seeds S+1, ...)
and reports each set's ESS, their mean and their minimum (the other metrics
use the first set). With --plots, PNG figures in DIR (created if missing).
The folder of --out must exist. A DCD that ends inside a frame is refused.

The MD's atoms are paired with the model's by identity, not by their place
in the file: chain, residue by position in its chain, atom by name across
the PDB v3, Amber and CHARMM conventions (HH31 or H1, HN or H, OT1 or O,
HIE or HIS ...), hydrogen groups by their handedness; frames are reordered
into the model's atom order. A DCD holds no atom names, so each needs the
topology it was written with: --data-top, by default FILE.pdb beside
FILE.dcd (gobg sample) or else top.pdb in its folder (gobg simulate). A
trajectory whose atoms do not all pair is refused with the first atom that
does not, and the atoms missing and extra.

` + proposalUsage + `

Example:
  gobg eval --model examples/ala2/model.gobg --data ../shared/data/md/ala2/traj.dcd --n 10000 --plots out/plots --json`,
		run: runEval,
	})
}

type evalSummary struct {
	Model       string     `json:"model"`
	Backend     string     `json:"backend"` // GoMLX backend spec
	MDFrames    int        `json:"md_frames"`
	Samples     int        `json:"samples"`
	Temperature float64    `json:"temperature_K"`
	NLL         eval.Float `json:"test_nll"`
	NLLPerDim   eval.Float `json:"test_nll_per_dim"`
	eval.Headline
	// Sets is the ESS of --sets independent sample sets (nil for one).
	Sets *eval.SetsESS `json:"ess_sets,omitempty"`
	// Defensive is the proposal mixture the samples came from (nil: the flow).
	Defensive *defensiveSummary `json:"defensive,omitempty"`
	// Symmetrized is the relabelling average of the density (nil: none).
	Symmetrized *generator.Symmetrization `json:"symmetrized,omitempty"`
	Report      string                    `json:"report"`
	Plots       string                    `json:"plots,omitempty"`
	Notes       []string                  `json:"notes,omitempty"`
}

func runEval(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["eval"]
	fs := newFlags(c, env)
	modelPath := fs.String("model", "", "model `file` written by gobg train")
	var data stringList
	fs.Var(&data, "data", "MD trajectory `DCD` of the model's molecule (repeatable)")
	var dataTop stringList
	fs.Var(&dataTop, "data-top", "topology `PDB` of the --data trajectories: one for all or one per --data (default: FILE.pdb beside FILE.dcd, else top.pdb in its folder)")
	n := fs.Int("n", 10000, "number of generated structures")
	seed := addSeedFlag(fs, "random seed")
	sets := fs.Int("sets", 1, "independent sample sets of N for the ESS (seeds S, S+1, ...)")
	temperature := addTemperatureFlag(fs, temperatureHelp)
	energyName := fs.String("energy", "native", "energy provider: native or openmm")
	mdFrames := fs.Int("md-frames", 5000, "use at most `F` MD frames, spread evenly over the trajectories")
	plots := fs.String("plots", "", "write PNG plots to `dir`")
	reportPath := fs.String("out", "", "write the full report as JSON to `file` (default: beside the model)")
	batch := fs.Int("batch", 256, "batch size of the flow graphs")
	python := addPythonFlag(fs)
	bf := addBackendFlags(fs, true)
	propFlags := addProposalFlags(fs)
	rf := addRemoteFlags(fs)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelPath == "" || len(data) == 0 {
		return fmt.Errorf("%w: --model and --data are required", errUsage)
	}
	if *sets < 1 || *sets > 255 {
		// Sample batches are seeded seed + offset (offsets are multiples of
		// the batch size), so more than 255 consecutive seeds could share a
		// batch with batch 256.
		return fmt.Errorf("%w: --sets %d: want 1 to 255", errUsage, *sets)
	}
	set := flagsSet(fs)
	if err := firstErr(positiveInt("n", *n), optionalTemp(set, *temperature), checkEnergyName(*energyName, false),
		positiveInt("md-frames", *mdFrames), positiveInt("batch", *batch), propFlags.validate(),
		rf.validate(set["energy"], *energyName)); err != nil {
		return err
	}
	if rf.set() {
		*energyName = "openmm (" + rf.addrs.String() + ")"
	}
	if err := evalFiles(*modelPath, data, *reportPath, *plots); err != nil {
		return err
	}
	// After the files' own checks, so that a missing or torn DCD is reported
	// as such rather than as a DCD without a topology beside it.
	tops, err := dataTopologies(data, dataTop)
	if err != nil {
		return err
	}
	gm, def, sym, err := propFlags.load(env, bf, *modelPath, *batch, set, temperature, nil)
	if err != nil {
		return err
	}
	defer gm.Close()
	spec := gm.Spec()
	top := gm.Topology()
	src := make([]molecule.SpreadSource, len(data))
	for i, d := range data {
		m, p, err := matchToModel(env.stderr, gm, tops[i])
		if err != nil {
			return fmt.Errorf("--data %s: %w", d, err)
		}
		src[i] = molecule.SpreadSource{DCD: d, Top: tops[i], Atoms: len(p.Topology.Atoms), Match: m}
	}
	md, err := molecule.ReadSpreadFrom(ctx, src, *mdFrames)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "eval: %d MD frames, %d samples, %s energy at %g K\n", len(md), *n, *energyName, *temperature)

	nll, err := gm.NLL(md)
	if err != nil {
		return fmt.Errorf("MD frames: %w", err)
	}
	e, stop, err := startEnergy(ctx, *energyName, top, md[0], *python, rf)
	if err != nil {
		return err
	}
	defer stop()
	g, err := drawSamples(ctx, env, gm, *n, *batch, *seed, e)
	if err != nil {
		return err
	}
	mdRes, err := e.Evaluate(ctx, md, false)
	if err != nil {
		return fmt.Errorf("energies of MD frames: %w", err)
	}
	for i, err := range mdRes.Errors {
		if err != nil {
			return fmt.Errorf("MD frame %d: %w", i, err)
		}
	}
	rep, err := eval.Evaluate(top, g.positions, g.logQ, g.energies, md, mdRes.Energies, *temperature, eval.Options{})
	if err != nil {
		return err
	}
	s := evalSummary{Model: *modelPath, Backend: gm.Backend(), MDFrames: len(md), Samples: *n, Temperature: *temperature,
		NLL: eval.Float(nll), NLLPerDim: eval.Float(nll / float64(spec.NumFree())), Headline: rep.Headline(), Notes: rep.Notes,
		Defensive: def, Symmetrized: sym}
	if *sets > 1 {
		if s.Sets, err = moreSets(ctx, env, gm, e, g, *n, *batch, *seed, *sets, *temperature); err != nil {
			return err
		}
	}
	s.Report = *reportPath
	if s.Report == "" {
		s.Report = trimExt(*modelPath) + ".eval.json"
	}
	if err := rep.WriteJSON(s.Report); err != nil {
		return err
	}
	if *plots != "" {
		if err := eval.WritePlots(*plots, rep); err != nil {
			return err
		}
		s.Plots = *plots
	}
	w := summaryWriter(env, *asJSON)
	printEvalSummary(w, &s)
	return maybeJSON(env, *asJSON, s)
}

// moreSets draws sets-1 more sample sets after first (seed) and returns
// the ESS of every set.
func moreSets(ctx context.Context, env *cmdEnv, gm *generator.Generator, e energy.Energy, first *generated,
	n, batch int, seed uint64, sets int, temperature float64) (*eval.SetsESS, error) {
	out := &eval.SetsESS{}
	for k := range sets {
		g := first
		if k > 0 {
			fmt.Fprintf(env.stderr, "eval: sample set %d of %d (seed %d)\n", k+1, sets, seed+uint64(k))
			var err error
			if g, err = drawSamples(ctx, env, gm, n, batch, seed+uint64(k), e); err != nil {
				return nil, fmt.Errorf("sample set %d: %w", k+1, err)
			}
		}
		if err := out.Add(seed+uint64(k), g.energies, g.logQ, temperature); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func printEvalSummary(w interface{ Write([]byte) (int, error) }, s *evalSummary) {
	fmt.Fprintf(w, "test NLL: %.3f nats per structure (%.4f per free coordinate) on %d MD frames\n", s.NLL, s.NLLPerDim, s.MDFrames)
	if y := s.Symmetrized; y != nil {
		fmt.Fprintf(w, "density averaged over %d relabellings of %d symmetric groups (%d left out)\n", y.Images, len(y.Centres), y.Skipped)
	}
	if d := s.Defensive; d != nil {
		fmt.Fprintf(w, "samples from a defensive mixture: %.0f%% from the flow widened %g times in %d dimensions (%s)\n",
			100*d.Fraction, d.Widen, d.Widened, d.Dims)
	}
	fmt.Fprintf(w, "Kish ESS: %.1f of %d samples (%.2f%%; bootstrap 95%% interval %.2f–%.2f%%); KL(q‖p) %.3f nats, var(log w) %.3f, largest weight %.3f\n",
		s.ESS, s.Samples, 100*float64(s.ESSFraction), 100*float64(s.ESSFractionCI[0]), 100*float64(s.ESSFractionCI[1]), s.KL, s.VarLogW, s.MaxWeight)
	if st := s.Sets; st != nil {
		fmt.Fprintf(w, "Kish ESS of %d sets of %d (seeds %d-%d): mean %.2f%%, min %.2f%%; each:", len(st.Fraction), s.Samples,
			st.Seeds[0], st.Seeds[len(st.Seeds)-1], 100*float64(st.Mean), 100*float64(st.Min))
		for _, f := range st.Fraction {
			fmt.Fprintf(w, " %.1f", 100*float64(f))
		}
		fmt.Fprintln(w, "%")
	}
	fmt.Fprintf(w, "energy, mean of the lower half: samples %.2f kJ/mol, MD %.2f kJ/mol\n", s.LowerHalfMean, s.MDLowerHalf)
	fmt.Fprintf(w, "clashes: %.2f%% of samples; backbone ΔD %.4f nm\n", 100*float64(s.ClashFraction), s.DeltaD)
	if p := s.PhiPositive; !math.IsNaN(float64(p[1])) {
		fmt.Fprintf(w, "population of 0 <= phi < 120° (alpha-L, C7ax): MD %.2f%%, samples %.2f%%, reweighted %.2f%%\n",
			100*float64(p[0]), 100*float64(p[1]), 100*float64(p[2]))
	}
	if !math.IsNaN(float64(s.PhiRMSERaw)) {
		fmt.Fprintf(w, "free energy RMSE vs MD (kT): phi raw %.3f, reweighted %.3f; psi raw %.3f, reweighted %.3f\n",
			s.PhiRMSERaw, s.PhiRMSEReweigh, s.PsiRMSERaw, s.PsiRMSEReweigh)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "report: %s\n", s.Report)
	if s.Plots != "" {
		fmt.Fprintf(w, "plots: %s\n", s.Plots)
	}
}

func trimExt(p string) string { return p[:len(p)-len(filepath.Ext(p))] }
