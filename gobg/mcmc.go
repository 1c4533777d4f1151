package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gobg/gobg/energy/md"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/mcmc"
	"github.com/gobg/gobg/plugin"
)

func init() {
	register(&command{
		name:    "mcmc",
		summary: "MD with Metropolis-Hastings moves proposed by a trained generator (flow-augmented MD)",
		usage: `Usage: gobg mcmc --model M --pdb FILE --ns T --every K --out DIR [--temperature K]
       [--timestep-fs 2] [--friction 1] [--hmr 0] [--save-ps 1] [--seed S] [--batch 256]
       [--minimize] [--platform CPU] [--threads 1] [--python PY] [--backend B]
       [--defensive F [--widen W] [--widen-dims D]] [--symmetrize N] [--json]

Runs Langevin dynamics (OpenMM's LangevinMiddleIntegrator, amber99sbildn +
amber99_obc, no cutoff, NO constraints) of the structure in FILE and, every K
integrator steps, makes a Metropolis-Hastings independence move: x' is drawn
from the generator M (pre-sampled in batches of --batch), U(x') is evaluated
in the simulation's own OpenMM Context, and x' is accepted with probability
  min(1, exp(-(U(x') - U(x))/kT) * q(x)/q(x'))
(q: the generator's density, kT with the molar gas constant; with
--defensive or --symmetrize, the proposal density below). An accepted
move sets the positions to x' and redraws the velocities at --temperature
(seeded by --seed and the move index); a rejected one restores the exact
state before the move (positions, velocities, the integrator's random
state), so the dynamics goes on as if no move had been tried. --every 0 is
plain MD with the same settings: the baseline (--model is then optional).

The MD runs unconstrained because a full-mode generator proposes every bond
length: both must describe the same configuration space. A reduced-mode
generator (fixed bond lengths) is refused: its proposals lie on a manifold
that unconstrained MD leaves, and moves between the two would break detailed
balance. FILE's atoms are paired with the generator's by identity (chain,
residue by position, atom name across the PDB, Amber and CHARMM
conventions, hydrogen groups by handedness; see gobg eval --help), and
structures are reordered between the two atom orders; a FILE whose atoms do
not all pair with the generator's is refused. Unconstrained bonds to hydrogen need 2 fs steps; --hmr M (hydrogen
mass repartitioning) changes the dynamics, not the configurations sampled.
Train the generator on unconstrained frames (gobg simulate --constraints
None): one trained on MD with bonds to hydrogen constrained gives the
fluctuating bonds of this MD vanishing density, and no move is accepted (a
warning says so at the end).

--temperature defaults to the temperature the model was trained at, which
its file records (300 K for older files, and without --model); a warning
says when another is given.

Files in DIR (created if missing; it must not hold an earlier run's files):
  traj.dcd      a frame every --save-ps ps (frame k at step (k+1)*interval);
                a frame at a move's step shows the state after the move
  top.pdb       the topology (and starting structure)
  moves.csv     move,step,accepted,u_current_kj_mol,u_proposal_kj_mol,
                logq_current,logq_proposal,log_acceptance
                (log_acceptance = -(u_proposal-u_current)/kT + logq_current
                - logq_proposal; a proposal OpenMM cannot place has NaN)
  summary.json  the summary below
traj.dcd and moves.csv are written to hidden temporary files in DIR and
renamed into place at the end, so a path never holds a torn file. The run is
NOT resumable: an interrupted run (Ctrl-C) still writes its files, with
"complete": false in summary.json; a killed one leaves only the temporary
files.

` + proposalUsage + `

Summary: ns, steps, moves, accepted, acceptance rate, wall seconds (the MD
and moves, after start-up) and ns/day; and, for each residue with backbone
phi and psi, the integrated autocorrelation time of each angle over the saved
frames (in frames and ps) with N_eff = frames / tau_int and N_eff per wall
second. The observable is the angle's unit vector (cos, sin): its summed
autocovariance is the circular autocorrelation, indifferent to where the
±180° cut lies; tau_int = 1 + 2 sum rho(t) with Sokal's automatic window
(c = 5). "reliable": false marks a series shorter than 50 tau_int.

Progress (ns, moves, acceptance, ns/day, ETA) goes to stderr; --json prints
the summary as the last line of stdout.

Example:
  gobg mcmc --model out/ala2/model.gobg --pdb ../shared/data/ala2.pdb --ns 1 --every 500 --out out/ala2-mcmc --seed 1 --json
  gobg mcmc --pdb ../shared/data/ala2.pdb --ns 1 --every 0 --out out/ala2-md0 --seed 1 --json`,
		run: runMCMC,
	})
}

type mcmcSummaryT struct {
	Out                string            `json:"out"`
	Model              string            `json:"model,omitempty"`
	Backend            string            `json:"backend,omitempty"` // GoMLX backend spec (with a model)
	PDB                string            `json:"pdb"`
	Complete           bool              `json:"complete"`
	NS                 float64           `json:"ns"`
	Steps              int64             `json:"steps"`
	Every              int64             `json:"every"`
	Moves              int               `json:"moves"`
	Accepted           int               `json:"accepted"`
	AcceptanceRate     float64           `json:"acceptance_rate"`
	MeanAcceptanceProb float64           `json:"mean_acceptance_probability"` // mean of min(1, exp(log a))
	Frames             int               `json:"frames"`
	SavePS             float64           `json:"save_ps"`
	WallS              float64           `json:"wall_s"`  // MD and moves, after start-up
	MovesS             float64           `json:"moves_s"` // of wall_s: proposals, log q, OpenMM calls of moves
	SetupS             float64           `json:"setup_s"` // start-up: OpenMM worker, model, compiled graphs
	NsPerDay           float64           `json:"ns_per_day"`
	Seed               int32             `json:"seed"`
	TemperatureK       float64           `json:"temperature_K"`
	TimestepPS         float64           `json:"timestep_ps"`
	FrictionPerPS      float64           `json:"friction_per_ps"`
	HydrogenMassAMU    float64           `json:"hydrogen_mass_amu"` // 0: the force field's masses
	Constraints        string            `json:"constraints"`
	Platform           string            `json:"platform"`
	OpenMM             string            `json:"openmm"`
	Observable         string            `json:"observable"`
	Torsions           []mcmc.TorsionTau `json:"torsions"`
	Traj               string            `json:"traj"`
	Top                string            `json:"top"`
	MovesCSV           string            `json:"moves_csv"`
	Summary            string            `json:"summary"`
	// Defensive is the proposal mixture (nil: the generator's flow).
	Defensive *defensiveSummary `json:"defensive,omitempty"`
	// Symmetrized is the relabelling average of the density (nil: none).
	Symmetrized *generator.Symmetrization `json:"symmetrized,omitempty"`
}

func runMCMC(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["mcmc"]
	fs := newFlags(c, env)
	modelPath := fs.String("model", "", "generator `file` written by gobg train (full mode; optional with --every 0)")
	mdf := &mdFlags{
		pdbHelp:        "starting structure `file` (PDB); the model's molecule, atoms in any order and naming convention",
		nsHelp:         "simulated time in `ns`",
		timestepFSHelp: "time step in `fs` (bonds to hydrogen are not constrained)",
		seedHelp:       "random `seed` of velocities, integrator, proposals and decisions (default: random, recorded)",
		temperatureHelp: "temperature in `K` (default: the one the model was trained at, which the model file records " +
			"(300 for older files); 300 without a model)",
	}
	mdf.register(fs)
	every := fs.Int64("every", -1, "integrator `steps` between moves (0: plain MD, no moves)")
	batch := fs.Int("batch", generator.DefaultBatch, "proposals drawn from the generator per `batch`")
	bf := addBackendFlags(fs, false)
	propFlags := addProposalFlags(fs)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := flagsSet(fs)
	timestepPS, spf, planned, err := mdf.validate(set, func() error {
		switch {
		case !set["every"] || *every < 0:
			return fmt.Errorf("%w: --every is required: integrator steps between moves, or 0 for plain MD", errUsage)
		case *every > 0 && *modelPath == "":
			return fmt.Errorf("%w: --model is required for moves (--every %d)", errUsage, *every)
		}
		return firstErr(positiveInt("batch", *batch), propFlags.validate())
	})
	if err != nil {
		return err
	}
	if *modelPath != "" {
		if err := inputFile("--model", *modelPath); err != nil {
			return err
		}
	}
	runSeed := int32(mdf.seed)
	if runSeed == 0 {
		runSeed = md.RandomSeed()
	}
	start := time.Now()

	pdb, err := molecule.ReadPDBFile(mdf.pdb)
	if err != nil {
		return fmt.Errorf("read %s: %w", mdf.pdb, err)
	}
	top := pdb.Topology
	natoms := len(top.Atoms)
	s := mcmcSummaryT{Out: mdf.out, Model: *modelPath, PDB: mdf.pdb, Every: *every, SavePS: mdf.savePS, Seed: runSeed,
		TimestepPS: timestepPS, FrictionPerPS: mdf.friction, HydrogenMassAMU: mdf.hmr,
		Constraints: "None", Observable: mcmc.TorsionObservable}

	// The model is checked before anything is started or written.
	var g *generator.Generator
	var match *molecule.AtomMatch
	if *modelPath != "" {
		// Proposals and the current state's density both come from g, so
		// a defensive mixture enters both sides of the acceptance ratio.
		g, s.Defensive, s.Symmetrized, err = propFlags.load(env, bf, *modelPath, *batch, set, &mdf.temperature,
			func(g *generator.Generator) (err error) {
				match, err = mcmcCheckModel(env, g, pdb, mdf.pdb)
				return err
			})
		if err != nil {
			return err
		}
		defer g.Close()
		s.Backend = g.Backend()
	}
	s.TemperatureK = mdf.temperature

	paths := mcmc.DirPaths(mdf.out)
	s.Traj, s.Top, s.MovesCSV, s.Summary = paths.Traj, paths.Top, paths.Moves, paths.Summary
	if err := os.MkdirAll(mdf.out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	for _, p := range []string{paths.Traj, paths.Moves, paths.Summary} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: %s holds an earlier run (gobg mcmc does not resume or overwrite); use another --out", p, mdf.out)
		}
	}
	sim, err := mdf.start(ctx, "None", timestepPS, runSeed)
	if err != nil {
		return err
	}
	defer sim.Close()
	if sim.NumAtoms() != natoms {
		return fmt.Errorf("OpenMM's system has %d atoms, %s %d", sim.NumAtoms(), mdf.pdb, natoms)
	}
	if n := sim.Info().NumConstraints; n != 0 {
		return fmt.Errorf("OpenMM's system has %d constraints; moves need unconstrained MD", n)
	}
	s.Platform, s.OpenMM = sim.Info().Platform, sim.Info().OpenmmVersion
	if err := molecule.WritePDBFile(paths.Top, top, pdb.Models[:1], pdb.Box); err != nil {
		return err
	}
	if err := mdf.minimizeIfAsked(ctx, sim, env.stderr); err != nil {
		return err
	}
	if _, err := sim.SetVelocities(ctx, mdf.temperature, runSeed); err != nil {
		return err
	}

	totalSteps := int64(planned) * int64(spf)
	var prog *progress
	var ch *mcmc.Chain
	var prop mcmc.Proposer
	if g != nil {
		prop = g
	}
	rec, err := mcmc.RunDir(ctx, mcmcDynamics{sim}, prop, mcmc.DirConfig{Dir: mdf.out, Top: top, TimestepPS: timestepPS,
		SavePS: mdf.savePS, Title: dcdTitle("gobg mcmc " + filepath.Base(mdf.pdb)),
		Chain: mcmc.ChainConfig{Steps: totalSteps, Every: *every, FrameEvery: int64(spf), Temperature: mdf.temperature,
			Seed: runSeed, Batch: *batch, Match: match, OnReport: func() { prog.report(false, ch) }},
		Started: func(c *mcmc.Chain) {
			ch = c
			s.SetupS = time.Since(start).Seconds()
			prog = &progress{w: env.stderr, start: time.Now(), timestepPS: timestepPS, total: totalSteps}
			prog.last = prog.start
		}})
	if rec == nil {
		return err
	}
	prog.report(true, ch)

	// Whatever happened, the files hold a consistent prefix of the run.
	s.Complete, s.Steps, s.Frames = rec.Complete, rec.Steps, rec.Frames
	s.NS = float64(s.Steps) * timestepPS / 1000
	s.Moves, s.Accepted, s.AcceptanceRate = rec.Moves, rec.Accepted, rec.AcceptanceRate
	s.MeanAcceptanceProb, s.MovesS, s.WallS = rec.MeanAcceptanceProb, rec.MovesS, rec.WallS
	if s.WallS > 0 {
		s.NsPerDay = s.NS / s.WallS * 86400
	}
	s.Torsions = rec.Torsions
	if rec.Warning != "" {
		fmt.Fprintf(env.stderr, "warning: %s\n", rec.Warning)
	}
	if err = errors.Join(err, writeJSONFile(paths.Summary, s)); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(env.stderr, "interrupted at step %d of %d; %s holds the run so far (not resumable)\n", s.Steps, totalSteps, mdf.out)
		}
		return fmt.Errorf("mcmc %s: stopped at step %d of %d: %w", mdf.out, s.Steps, totalSteps, err)
	}

	w := summaryWriter(env, *asJSON)
	fmt.Fprintf(w, "mcmc: %.4g ns (%d steps) in %s: %d moves, %d accepted (%.2f%%), %d frames, %.1f s, %.1f ns/day\n",
		s.NS, s.Steps, mdf.out, s.Moves, s.Accepted, 100*s.AcceptanceRate, s.Frames, s.WallS, s.NsPerDay)
	for _, t := range s.Torsions {
		if t.Error != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", t.Residue, t.Angle, t.Error)
			continue
		}
		note := ""
		if !t.Reliable {
			note = " (unreliable: series shorter than 50 tau_int)"
		}
		fmt.Fprintf(w, "  %s %-3s tau_int %.3g frames (%.3g ps), N_eff %.1f, %.3g per s%s\n",
			t.Residue, t.Angle, t.TauFrames, t.TauPS, t.NEff, t.NEffPerS, note)
	}
	return maybeJSON(env, *asJSON, s)
}

// progress prints the chain's progress on stderr every 10 s.
type progress struct {
	w           io.Writer
	start, last time.Time
	timestepPS  float64
	total       int64
}

func (p *progress) report(final bool, ch *mcmc.Chain) {
	if p == nil || (!final && time.Since(p.last) < 10*time.Second) {
		return
	}
	p.last = time.Now()
	step := ch.Step()
	done := float64(step) * p.timestepPS / 1000
	rate := 0.0
	if el := time.Since(p.start); el > 0 {
		rate = done / el.Hours() * 24
	}
	eta := "-"
	if rate > 0 && step < p.total {
		eta = time.Duration(float64(p.total-step) * p.timestepPS / 1000 / rate * 24 * float64(time.Hour)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "mcmc: %.4f / %.4f ns, %d moves, acceptance %.2f%%, %.1f ns/day, ETA %s\n",
		done, float64(p.total)*p.timestepPS/1000, ch.Sampler().Moves(), 100*ch.Sampler().Rate(), rate, eta)
}

// mcmcCheckModel refuses generators whose proposals cannot enter
// unconstrained MD of the PDB's molecule and pairs the PDB's atoms with the
// model's (generator.MatchAtoms); nil for the identity.
func mcmcCheckModel(env *cmdEnv, g *generator.Generator, pdb *molecule.PDB, pdbPath string) (*molecule.AtomMatch, error) {
	if g.Mode() == ic.Reduced {
		return nil, fmt.Errorf("%s is a reduced-mode generator (bond lengths and side-chain angles fixed): its proposals lie on a "+
			"manifold of fixed lengths that the unconstrained MD of gobg mcmc leaves at once, so moves between the two "+
			"would break detailed balance; train a full-mode model (ic mode \"full\") for gobg mcmc", g.Path())
	}
	match, err := pairWithModel(env.stderr, g, pdbPath, pdb, "; structures are reordered between the two")
	if err != nil || match.IsIdentity() {
		return nil, err
	}
	return match, nil
}

// mcmcDynamics lets an OpenMM MD worker drive an mcmc.Chain, whose
// Dynamics interface speaks its own small types so that flow/mcmc needs
// nothing of the plugin.
type mcmcDynamics struct{ *plugin.MD }

func chainState(s plugin.MDState) mcmc.State {
	return mcmc.State{Step: s.Step, Positions: s.Positions, PotentialKJ: s.PotentialKJ}
}

func (d mcmcDynamics) Run(ctx context.Context, steps, interval int64, fn func(mcmc.State) error) error {
	return d.MD.Run(ctx, plugin.RunOptions{Steps: steps, ReportInterval: interval},
		func(s plugin.MDState) error { return fn(chainState(s)) })
}

func (d mcmcDynamics) State(ctx context.Context) (mcmc.State, error) {
	s, err := d.MD.State(ctx, false)
	return chainState(s), err
}

func (d mcmcDynamics) Checkpoint(ctx context.Context) ([]byte, error) {
	s, err := d.MD.Checkpoint(ctx)
	return s.Checkpoint, err
}

func (d mcmcDynamics) Restore(ctx context.Context, checkpoint []byte) (mcmc.State, error) {
	s, err := d.MD.Restore(ctx, checkpoint)
	return chainState(s), err
}

func (d mcmcDynamics) SetPositions(ctx context.Context, x []molecule.Vec3) (mcmc.State, error) {
	s, err := d.MD.SetPositions(ctx, x)
	return chainState(s), err
}

func (d mcmcDynamics) SetVelocities(ctx context.Context, temperatureK float64, seed int32) error {
	_, err := d.MD.SetVelocities(ctx, temperatureK, seed)
	return err
}
