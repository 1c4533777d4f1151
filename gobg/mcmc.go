package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/md"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/eval"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/mcmc"
	"github.com/gobg/gobg/internal/atomicfile"
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

// Files of an mcmc directory.
const (
	mcmcTraj       = "traj.dcd"
	mcmcTop        = "top.pdb"
	mcmcMoves      = "moves.csv"
	mcmcSummary    = "summary.json"
	mcmcCSVHeader  = "move,step,accepted,u_current_kj_mol,u_proposal_kj_mol,logq_current,logq_proposal,log_acceptance"
	mcmcObservable = "unit vector (cos, sin) of the angle: circular autocorrelation; Sokal window c=5; N_eff = frames / tau_int"
)

// mcmcTorsion is the autocorrelation of one backbone angle.
type mcmcTorsion struct {
	Residue      string  `json:"residue"` // name and number, e.g. ALA2
	ResidueIndex int     `json:"residue_index"`
	Angle        string  `json:"angle"` // phi or psi
	TauFrames    float64 `json:"tau_int_frames"`
	TauPS        float64 `json:"tau_int_ps"`
	Window       int     `json:"window_frames"`
	Reliable     bool    `json:"reliable"`
	NEff         float64 `json:"n_eff"`
	NEffPerS     float64 `json:"n_eff_per_s"`
	Error        string  `json:"error,omitempty"` // why there is no estimate
}

type mcmcSummaryT struct {
	Out                string        `json:"out"`
	Model              string        `json:"model,omitempty"`
	Backend            string        `json:"backend,omitempty"` // GoMLX backend spec (with a model)
	PDB                string        `json:"pdb"`
	Complete           bool          `json:"complete"`
	NS                 float64       `json:"ns"`
	Steps              int64         `json:"steps"`
	Every              int64         `json:"every"`
	Moves              int           `json:"moves"`
	Accepted           int           `json:"accepted"`
	AcceptanceRate     float64       `json:"acceptance_rate"`
	MeanAcceptanceProb float64       `json:"mean_acceptance_probability"` // mean of min(1, exp(log a))
	Frames             int           `json:"frames"`
	SavePS             float64       `json:"save_ps"`
	WallS              float64       `json:"wall_s"`  // MD and moves, after start-up
	MovesS             float64       `json:"moves_s"` // of wall_s: proposals, log q, OpenMM calls of moves
	SetupS             float64       `json:"setup_s"` // start-up: OpenMM worker, model, compiled graphs
	NsPerDay           float64       `json:"ns_per_day"`
	Seed               int32         `json:"seed"`
	TemperatureK       float64       `json:"temperature_K"`
	TimestepPS         float64       `json:"timestep_ps"`
	FrictionPerPS      float64       `json:"friction_per_ps"`
	HydrogenMassAMU    float64       `json:"hydrogen_mass_amu"` // 0: the force field's masses
	Constraints        string        `json:"constraints"`
	Platform           string        `json:"platform"`
	OpenMM             string        `json:"openmm"`
	Observable         string        `json:"observable"`
	Torsions           []mcmcTorsion `json:"torsions"`
	Traj               string        `json:"traj"`
	Top                string        `json:"top"`
	MovesCSV           string        `json:"moves_csv"`
	Summary            string        `json:"summary"`
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
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
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

	// The model is checked before anything is started or written.
	var prop *mcmcProposals
	var density *generator.Generator // log q of the current state (a batch-1 graph inside)
	var def *defensiveSummary
	var sym *generator.Symmetrization
	// toModel puts a structure of the PDB's atom order into the model's.
	toModel := func(x []molecule.Vec3) []molecule.Vec3 { return x }
	if *modelPath != "" {
		if err := bf.apply(); err != nil {
			return err
		}
		g, err := generator.Load(*modelPath, bf.spec, *batch)
		if err != nil {
			return err
		}
		defer g.Close()
		match, err := mcmcCheckModel(g, pdb, mdf.pdb)
		if err != nil {
			return err
		}
		for _, r := range match.Reoriented {
			fmt.Fprintf(env.stderr, "hydrogens of %s paired with the model's by their geometry, not their names: %s\n", mdf.pdb, r)
		}
		if match.IsIdentity() {
			match = nil
		} else {
			fmt.Fprintf(env.stderr, "atoms of %s paired with the model's by name; structures are reordered between the two\n", mdf.pdb)
			toModel = func(x []molecule.Vec3) []molecule.Vec3 {
				y := make([]molecule.Vec3, len(x))
				match.ToRef(y, x)
				return y
			}
		}
		mdf.temperature = modelTemperature(env, g, set, mdf.temperature)
		// Proposals and the current state's density both come from g, so
		// a defensive mixture enters both sides of the acceptance ratio.
		if def, sym, err = propFlags.apply(g); err != nil {
			return err
		}
		density = g
		prop = &mcmcProposals{g: g, natoms: natoms, batch: *batch, seed: mcmcMix(uint64(runSeed), 0x666c6f77), match: match}
	}

	paths := mcmcPaths(mdf.out)
	if err := os.MkdirAll(mdf.out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	for _, p := range []string{paths.traj, paths.moves, paths.summary} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: %s holds an earlier run (gobg mcmc does not resume or overwrite); use another --out", p, mdf.out)
		}
	}

	md, err := plugin.StartMD(ctx, plugin.MDConfig{
		Config: plugin.Config{Python: mdf.python, PDB: mdf.pdb, Platform: mdf.platform, Threads: mdf.threads,
			ForceField: plugin.DefaultForceField, Constraints: "None"},
		TemperatureK: mdf.temperature, FrictionPerPS: mdf.friction, TimestepPS: timestepPS,
		HydrogenMassAMU: mdf.hmr, Seed: runSeed,
	})
	if err != nil {
		return fmt.Errorf("start OpenMM: %w", err)
	}
	defer md.Close()
	if md.NumAtoms() != natoms {
		return fmt.Errorf("OpenMM's system has %d atoms, %s %d", md.NumAtoms(), mdf.pdb, natoms)
	}
	if n := md.Info().NumConstraints; n != 0 {
		return fmt.Errorf("OpenMM's system has %d constraints; moves need unconstrained MD", n)
	}
	info := md.Info()
	if err := molecule.WritePDBFile(paths.top, top, pdb.Models[:1], pdb.Box); err != nil {
		return err
	}
	if err := mdf.minimizeIfAsked(ctx, md, env.stderr); err != nil {
		return err
	}
	if _, err := md.SetVelocities(ctx, mdf.temperature, runSeed); err != nil {
		return err
	}
	if prop != nil {
		// Compile the graphs now, so that the run's wall time is the
		// method's cost, not start-up: one throwaway proposal batch and the
		// log-density of the starting structure.
		if err := prop.warmUp(); err != nil {
			return err
		}
		s, err := md.State(ctx, false)
		if err != nil {
			return err
		}
		if _, err := mcmcLogQ(density, toModel(s.Positions)); err != nil {
			return fmt.Errorf("log q of the starting structure: %w", err)
		}
	}

	sampler, err := mcmc.NewSampler(energy.KT(mdf.temperature), mcmcMix(uint64(runSeed), 0x6d682d6d6f7665))
	if err != nil {
		return err
	}
	title := "gobg mcmc " + filepath.Base(mdf.pdb)
	if len(title) > 80 {
		title = title[:80]
	}
	// Both files stay hidden temporaries until the run ends (see the help).
	csv, err := newMCMCPartial(paths.moves)
	if err != nil {
		return err
	}
	csv.w.WriteString(mcmcCSVHeader + "\n") // into the buffer: errors surface at commit
	dcd, err := molecule.CreateDCD(paths.traj, natoms, molecule.DCDOptions{
		FirstStep: spf, Interval: spf, Timestep: timestepPS, Title: title})
	if err != nil {
		csv.abort()
		return err
	}

	totalSteps := int64(planned) * int64(spf)
	K := *every
	interval := int64(spf)
	if K > 0 {
		interval = mcmcGCD(K, int64(spf))
	}
	isMove := func(step int64) bool { return K > 0 && step%K == 0 && step < totalSteps }

	torsions := mcmcTorsionAtoms(top)
	angles := make([][]float64, len(torsions))
	frames := 0
	saveFrame := func(pos []molecule.Vec3) error {
		if err := dcd.Write(pos, nil); err != nil {
			return err
		}
		for i, tr := range torsions {
			p := [4]molecule.Vec3{pos[tr.atoms[0]], pos[tr.atoms[1]], pos[tr.atoms[2]], pos[tr.atoms[3]]}
			angles[i] = append(angles[i], ic.Dihedral(p[0], p[1], p[2], p[3]))
		}
		frames++
		return nil
	}

	s := mcmcSummaryT{Out: mdf.out, Model: *modelPath, PDB: mdf.pdb, Every: K, SavePS: mdf.savePS, Seed: runSeed,
		TemperatureK: mdf.temperature, TimestepPS: timestepPS, FrictionPerPS: mdf.friction, HydrogenMassAMU: mdf.hmr,
		Constraints: "None", Platform: info.Platform, OpenMM: info.OpenmmVersion, Observable: mcmcObservable,
		Traj: paths.traj, Top: paths.top, MovesCSV: paths.moves, Summary: paths.summary, Defensive: def, Symmetrized: sym}
	if density != nil {
		s.Backend = density.Backend()
	}
	s.SetupS = time.Since(start).Seconds()

	var step int64
	var sumProb, movesTime float64
	var dLogQ []float64 // log q(x) - log q(x') of each move, for a diagnosis
	line := make([]byte, 0, 160)
	loopStart := time.Now()
	lastReport := loopStart
	progress := func(final bool) {
		if !final && time.Since(lastReport) < 10*time.Second {
			return
		}
		lastReport = time.Now()
		el := time.Since(loopStart)
		done := float64(step) * timestepPS / 1000
		rate := 0.0
		if el > 0 {
			rate = done / el.Hours() * 24
		}
		eta := "-"
		if rate > 0 && step < totalSteps {
			eta = time.Duration(float64(totalSteps-step) * timestepPS / 1000 / rate * 24 * float64(time.Hour)).Round(time.Second).String()
		}
		fmt.Fprintf(env.stderr, "mcmc: %.4f / %.4f ns, %d moves, acceptance %.2f%%, %.1f ns/day, ETA %s\n",
			done, float64(totalSteps)*timestepPS/1000, sampler.Moves(), 100*sampler.Rate(), rate, eta)
	}

	// move makes the Metropolis-Hastings move at the current step from
	// the state cur (the last frame of the MD segment) and returns the
	// positions after it.
	move := func(cur plugin.MDState) ([]molecule.Vec3, error) {
		t0 := time.Now()
		defer func() { movesTime += time.Since(t0).Seconds() }()
		k := sampler.Moves()
		lqCur, err := mcmcLogQ(density, toModel(cur.Positions))
		if err != nil {
			return nil, fmt.Errorf("move %d (step %d): log q of the current structure: %w", k, step, err)
		}
		x, lqProp, err := prop.next()
		if err != nil {
			return nil, fmt.Errorf("move %d: %w", k, err)
		}
		// record writes the decision to moves.csv as soon as it is made,
		// so that the file and the counts agree however the run ends.
		record := func(m mcmc.Move) error {
			sumProb += mcmc.AcceptanceProbability(m.LogAcceptance)
			dLogQ = append(dLogQ, m.LogQCurrent-m.LogQProposal)
			acc := int64(0)
			if m.Accepted {
				acc = 1
			}
			line = strconv.AppendInt(line[:0], int64(k), 10)
			line = strconv.AppendInt(append(line, ','), step, 10)
			line = strconv.AppendInt(append(line, ','), acc, 10)
			for _, v := range []float64{m.UCurrent, m.UProposal, m.LogQCurrent, m.LogQProposal, m.LogAcceptance} {
				line = strconv.AppendFloat(append(line, ','), v, 'g', 17, 64)
			}
			if _, err := csv.w.Write(append(line, '\n')); err != nil {
				return fmt.Errorf("write %s: %w", paths.moves, err)
			}
			return nil
		}
		if x == nil || math.IsNaN(lqProp) || math.IsInf(lqProp, 0) {
			// A proposal that OpenMM cannot place (non-finite positions)
			// or whose density is not finite is rejected untouched.
			return cur.Positions, record(sampler.Decide(cur.PotentialKJ, math.NaN(), lqCur, lqProp))
		}
		ck, err := md.Checkpoint(ctx)
		if err != nil {
			return nil, fmt.Errorf("move %d: %w", k, err)
		}
		ps, err := md.SetPositions(ctx, x)
		if err != nil {
			return nil, fmt.Errorf("move %d: %w", k, err)
		}
		m := sampler.Decide(cur.PotentialKJ, ps.PotentialKJ, lqCur, lqProp)
		if err := record(m); err != nil {
			return nil, err
		}
		if m.Accepted {
			if _, err := md.SetVelocities(ctx, mdf.temperature, mcmcVelocitySeed(runSeed, k)); err != nil {
				return nil, fmt.Errorf("move %d: %w", k, err)
			}
			return ps.Positions, nil
		}
		rs, err := md.Restore(ctx, ck.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("move %d: restore the state before the move: %w", k, err)
		}
		if rs.Step != step {
			return nil, fmt.Errorf("move %d: restored step %d, the move was at step %d", k, rs.Step, step)
		}
		return cur.Positions, nil
	}

	var runErr error
	for step < totalSteps && runErr == nil {
		end := totalSteps
		if K > 0 {
			end = min(step+K, totalSteps)
		}
		var last plugin.MDState
		runErr = md.Run(ctx, plugin.RunOptions{Steps: end - step, ReportInterval: interval}, func(st plugin.MDState) error {
			if st.Step%int64(spf) == 0 && !isMove(st.Step) {
				if err := saveFrame(st.Positions); err != nil {
					return err
				}
			}
			last = st
			step = st.Step
			progress(false)
			return nil
		})
		if runErr != nil {
			break
		}
		if step != end {
			runErr = fmt.Errorf("OpenMM is at step %d, want %d", step, end)
			break
		}
		if isMove(end) {
			after, err := move(last)
			if err != nil {
				runErr = err
				break
			}
			if end%int64(spf) == 0 {
				if err := saveFrame(after); err != nil {
					runErr = err
					break
				}
			}
		}
	}
	s.WallS = time.Since(loopStart).Seconds()
	progress(true)

	// Whatever happened, the files hold a consistent prefix of the run.
	s.Complete = runErr == nil
	s.Steps = step
	s.NS = float64(step) * timestepPS / 1000
	s.Moves, s.Accepted, s.AcceptanceRate = sampler.Moves(), sampler.Accepted(), sampler.Rate()
	if s.Moves > 0 {
		s.MeanAcceptanceProb = sumProb / float64(s.Moves)
	}
	s.Frames = frames
	s.MovesS = movesTime
	if s.WallS > 0 {
		s.NsPerDay = s.NS / s.WallS * 86400
	}
	s.Torsions = mcmcAutocorrelation(top, torsions, angles, mdf.savePS, s.WallS)
	mcmcDiagnose(env, dLogQ, s.Accepted)
	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	if err := dcd.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := csv.commit(); err != nil {
		errs = append(errs, err)
	}
	if err := mcmcWriteSummary(paths.summary, s); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(env.stderr, "interrupted at step %d of %d; %s holds the run so far (not resumable)\n", step, totalSteps, mdf.out)
		}
		return fmt.Errorf("mcmc %s: stopped at step %d of %d: %w", mdf.out, step, totalSteps, err)
	}

	w := env.stdout
	if *asJSON {
		w = env.stderr
	}
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
	if *asJSON {
		return printJSON(env, s)
	}
	return nil
}

// mcmcDiagnose warns when the MD's states have far less density under the
// generator than its own samples: the usual cause is a generator trained on
// constrained MD (bonds to hydrogen at fixed lengths), whose density of the
// unconstrained MD's fluctuating bonds is vanishingly small, so that no move
// is ever accepted.
func mcmcDiagnose(env *cmdEnv, dLogQ []float64, accepted int) {
	if len(dLogQ) < 10 || accepted > 0 {
		return
	}
	d := slices.Clone(dLogQ)
	slices.Sort(d)
	if med := d[len(d)/2]; med < -50 {
		fmt.Fprintf(env.stderr, "warning: no move accepted, and the median of log q(x) - log q(x') is %.4g: the generator gives the MD's "+
			"states far less density than its own samples. Was it trained on constrained MD (bonds to hydrogen fixed)? "+
			"Moves in unconstrained MD need a full-mode generator trained on unconstrained frames (gobg simulate --constraints None).\n", med)
	}
}

type mcmcDirPaths struct{ traj, top, moves, summary string }

func mcmcPaths(dir string) mcmcDirPaths {
	return mcmcDirPaths{traj: filepath.Join(dir, mcmcTraj), top: filepath.Join(dir, mcmcTop),
		moves: filepath.Join(dir, mcmcMoves), summary: filepath.Join(dir, mcmcSummary)}
}

// mcmcCheckModel refuses generators whose proposals cannot enter
// unconstrained MD of the PDB's molecule and pairs the PDB's atoms with the
// model's (generator.MatchAtoms).
func mcmcCheckModel(g *generator.Generator, pdb *molecule.PDB, pdbPath string) (*molecule.AtomMatch, error) {
	if g.Mode() == ic.Reduced {
		return nil, fmt.Errorf("%s is a reduced-mode generator (bond lengths and side-chain angles fixed): its proposals lie on a "+
			"manifold of fixed lengths that the unconstrained MD of gobg mcmc leaves at once, so moves between the two "+
			"would break detailed balance; train a full-mode model (ic mode \"full\") for gobg mcmc", g.Path())
	}
	return g.MatchAtoms(molecule.AtomSource{File: pdbPath, Top: pdb.Topology, Positions: pdb.Models[0]})
}

// mcmcProposals hands out structures drawn from the generator, a batch at a
// time (the sampling graph's cost is per batch).
type mcmcProposals struct {
	g      *generator.Generator
	natoms int
	batch  int
	seed   uint64
	drawn  uint64 // structures drawn so far: the next batch's seed offset
	pos    []float64
	logQ   []float64
	used   int // proposals of the current batch handed out
	// match puts the model's structures into the PDB's atom order (nil:
	// the same order).
	match *molecule.AtomMatch
}

// warmUp compiles the sampling graph with a throwaway batch, drawn with a
// seed far from the run's batches'.
func (p *mcmcProposals) warmUp() error {
	pos, lq := make([]float64, p.natoms*3), make([]float64, 1)
	if err := p.g.Sample(1, p.seed^(1<<63), pos, lq); err != nil {
		return fmt.Errorf("draw proposals: %w", err)
	}
	return nil
}

// next returns the next proposal and its log q; the positions are nil when
// they are not all finite.
func (p *mcmcProposals) next() ([]molecule.Vec3, float64, error) {
	if p.pos == nil {
		p.pos, p.logQ = make([]float64, p.batch*p.natoms*3), make([]float64, p.batch)
		p.used = p.batch
	}
	if p.used == p.batch {
		// Sample seeds its batch with seed + offset, so consecutive batches
		// of the run get distinct seeds.
		if err := p.g.Sample(p.batch, p.seed+p.drawn, p.pos, p.logQ); err != nil {
			return nil, 0, fmt.Errorf("draw proposals %d..%d: %w", p.drawn, p.drawn+uint64(p.batch)-1, err)
		}
		p.drawn += uint64(p.batch)
		p.used = 0
	}
	i := p.used
	p.used++
	x := make([]molecule.Vec3, p.natoms)
	o := i * p.natoms * 3
	for a := range x {
		x[a] = molecule.Vec3{p.pos[o+3*a], p.pos[o+3*a+1], p.pos[o+3*a+2]}
		for _, v := range x[a] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, p.logQ[i], nil
			}
		}
	}
	if p.match != nil {
		y := make([]molecule.Vec3, len(x))
		p.match.FromRef(y, x)
		x = y
	}
	return x, p.logQ[i], nil
}

// mcmcLogQ is the generator's log q of one structure.
func mcmcLogQ(g *generator.Generator, x []molecule.Vec3) (float64, error) {
	flat := make([]float64, 0, 3*len(x))
	for _, p := range x {
		flat = append(flat, p[0], p[1], p[2])
	}
	out := make([]float64, 1)
	if err := g.LogProb(1, flat, out); err != nil {
		return 0, err
	}
	return out[0], nil
}

// mcmcMix derives a 64-bit seed for one use (salt) of the run's seed
// (SplitMix64's finaliser), so that the streams of the proposals, the
// decisions and the velocities are unrelated.
func mcmcMix(seed, salt uint64) uint64 {
	z := seed*0x9e3779b97f4a7c15 + salt
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// mcmcVelocitySeed is OpenMM's seed for the velocities drawn after accepted
// move k: positive (OpenMM reads 0 as "pick one") and fixed by the run's
// seed and k.
func mcmcVelocitySeed(seed int32, k int) int32 {
	return int32(mcmcMix(uint64(seed)<<32|uint64(uint32(k)), 0x76656c)&math.MaxInt32) | 1
}

func mcmcGCD(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// mcmcAngle names the four atoms of one backbone angle.
type mcmcAngle struct {
	residue, index int
	name           string // phi or psi
	atoms          [4]int
}

// mcmcTorsionAtoms lists phi and psi of every residue that has both.
func mcmcTorsionAtoms(top *molecule.Topology) []mcmcAngle {
	var out []mcmcAngle
	for _, r := range eval.TorsionResidues(top) {
		phi, psi, _ := eval.BackboneTorsions(top, r)
		out = append(out, mcmcAngle{residue: top.Residues[r].Number, index: r, name: "phi", atoms: phi},
			mcmcAngle{residue: top.Residues[r].Number, index: r, name: "psi", atoms: psi})
	}
	return out
}

// mcmcAutocorrelation estimates each angle's integrated autocorrelation time
// over the saved frames (see the command's help for the observable).
func mcmcAutocorrelation(top *molecule.Topology, angles []mcmcAngle, series [][]float64, savePS, wallS float64) []mcmcTorsion {
	out := make([]mcmcTorsion, 0, len(angles))
	for i, a := range angles {
		t := mcmcTorsion{Residue: fmt.Sprintf("%s%d", top.Residues[a.index].Name, a.residue), ResidueIndex: a.index, Angle: a.name}
		tau, err := mcmc.CircularIntegratedTime(series[i], mcmc.DefaultWindowC)
		if err != nil {
			t.Error = err.Error()
		} else {
			t.TauFrames, t.TauPS, t.Window, t.Reliable = tau.Tau, tau.Tau*savePS, tau.Window, tau.Reliable
			t.NEff = tau.NEff()
			if wallS > 0 {
				t.NEffPerS = t.NEff / wallS
			}
		}
		out = append(out, t)
	}
	return out
}

func mcmcWriteSummary(path string, s mcmcSummaryT) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// mcmcPartial is a file written as a stream into a hidden temporary file
// beside its path and renamed into place when complete (as CreateDCD does),
// so that the path never holds a torn file, even after a kill.
type mcmcPartial struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

func newMCMCPartial(path string) (*mcmcPartial, error) {
	f, err := atomicfile.CreatePartial(path)
	if err != nil {
		return nil, err
	}
	return &mcmcPartial{path: path, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

// commit flushes, syncs and renames the file into place.
func (p *mcmcPartial) commit() error {
	if err := p.w.Flush(); err != nil {
		p.abort()
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return atomicfile.Commit(p.f, p.path)
}

// abort removes the temporary file.
func (p *mcmcPartial) abort() {
	p.f.Close()
	os.Remove(p.f.Name())
}
