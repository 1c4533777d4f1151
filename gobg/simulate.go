package main

import (
	"context"
	"fmt"

	"github.com/gobg/gobg/energy/md"
)

func init() {
	register(&command{
		name:    "simulate",
		summary: "molecular dynamics in OpenMM (Langevin, implicit solvent), resumable",
		usage: `Usage: gobg simulate --pdb FILE --ns T --out DIR [--temperature 300] [--save-ps 1]
       [--timestep-fs 2] [--friction 1] [--hmr 0] [--minimize] [--seed S]
       [--platform CPU] [--threads 1] [--python PY] [--json]

Runs Langevin dynamics (OpenMM's LangevinMiddleIntegrator) of the structure
in FILE with amber99sbildn + amber99_obc (implicit solvent, no cutoff) and
bonds to hydrogen constrained, starting from FILE's positions (minimised with
--minimize) and velocities drawn at --temperature. A frame is saved every
--save-ps picoseconds into DIR (created if missing):
  DIR/traj.dcd       positions of the saved frames (frame k at step (k+1)*interval)
  DIR/energies.csv   frame,potential_kj_mol
  DIR/top.pdb        the topology (and starting structure)
  DIR/meta.json      the settings and progress
  DIR/checkpoint     OpenMM's full state at the last saved frame
The checkpoint is replaced (atomically) after every saved frame. Running the
same command again with the same DIR continues from it: after an interruption
(Ctrl-C, a kill, a crash) the frames already saved are kept and frames saved
after the checkpoint are dropped, so the run continues exactly from its last
checkpoint; with a larger --ns it extends a finished run. A DIR whose
meta.json holds other settings is refused.

--hmr M gives hydrogens a mass of M amu, taken from the atoms they are bonded
to (hydrogen mass repartitioning: M=1.5 allows --timestep-fs 4). --seed
seeds both the velocities and the integrator's random forces (default: a
random seed, recorded in meta.json). With one CPU thread (the default) the
trajectory is bit-reproducible: same seed, same frames, and a resumed run
equals an uninterrupted one; more threads are faster for big systems, but
OpenMM then adds forces in a varying order and runs are not reproducible.

Progress (ns done, ns/day, ETA) goes to stderr; --json prints a summary as
the last line of stdout.

Example:
  gobg simulate --pdb ../shared/data/ala2.pdb --ns 1 --save-ps 1 --out out/ala2-md --seed 1 --json
  gobg simulate --pdb ../shared/data/hp35.pdb --ns 0.1 --hmr 1.5 --timestep-fs 4 --minimize --out out/hp35-md`,
		run: runSimulate,
	})
}

// simSummary is gobg simulate's JSON summary.
type simSummary = md.Summary

// simulateHook, when set (by tests), runs after frame k is in traj.dcd and
// energies.csv and before its checkpoint is written; an error from it stops
// the run there, as a crash at that point would.
var simulateHook func(frame int) error

func runSimulate(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["simulate"]
	fs := newFlags(c, env)
	mdf := &mdFlags{
		pdbHelp:        "starting structure `file` (PDB)",
		nsHelp:         "simulated time in `ns` (in all, counting frames already in DIR)",
		timestepFSHelp: "time step in `fs`",
		seedHelp:       "random `seed` of velocities and integrator (default: random, recorded)",
	}
	mdf.register(fs)
	constraints := fs.String("constraints", "HBonds", "OpenMM `constraints`: HBonds or None (None samples the same ensemble as the unconstrained energy a flow is weighted with)")
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	timestepPS, spf, planned, err := mdf.validate(flagsSet(fs), func() error {
		switch *constraints {
		case "None", "HBonds", "AllBonds", "HAngles":
			return nil
		}
		return fmt.Errorf("%w: --constraints %q: want HBonds or None (or OpenMM's AllBonds, HAngles)", errUsage, *constraints)
	})
	if err != nil {
		return err
	}
	s, err := md.Run(ctx, mdf.options(*constraints, timestepPS, spf, planned, env.stderr))
	if err != nil {
		if s != nil && ctx.Err() != nil {
			fmt.Fprintf(env.stderr, "interrupted after frame %d of %d; run the same command again to continue\n", s.Frames, planned)
		}
		return err
	}
	reportSimulation(env, s, planned, mdf.ns)
	return maybeJSON(env, *asJSON, s)
}

// reportSimulation says on stderr what a simulation of planned frames (--ns
// ns) did.
func reportSimulation(env *cmdEnv, s *md.Summary, planned int, ns float64) {
	if s.NewFrames == 0 && s.ResumedFrom >= planned {
		fmt.Fprintf(env.stderr, "%s already holds %d frames (%.4g ns); --ns %g asks for %d: nothing to run\n",
			s.Out, s.Frames, s.NS, ns, planned)
		return
	}
	fmt.Fprintf(env.stderr, "done: %d frames (%.4g ns) in %s, %.1f ns/day, mean U %.4f kJ/mol\n",
		s.Frames, s.NS, s.Out, s.NsPerDay, s.MeanPotentialKJ)
}
