package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/md"
	"github.com/gobg/gobg/plugin"
)

// mdFlags are the molecular-dynamics flags that gobg simulate and gobg mcmc
// share: one declaration and one validation, so that the two commands take
// and check them alike.
type mdFlags struct {
	pdb, out, platform, python      string
	ns, temperature, savePS         float64
	timestepFS, friction, hmr       float64
	seed                            int64
	threads                         int
	minimize                        bool
	pdbHelp, nsHelp, timestepFSHelp string // help texts that differ between the commands
	seedHelp, temperatureHelp       string // "" for temperatureHelp: plain "temperature in K"
}

// register declares the flags on fs, with the command-specific help texts
// m holds (--pdb, --ns, --timestep-fs, --seed).
func (m *mdFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.pdb, "pdb", "", m.pdbHelp)
	fs.Float64Var(&m.ns, "ns", 0, m.nsHelp)
	fs.StringVar(&m.out, "out", "", "output `dir`ectory")
	th := m.temperatureHelp
	if th == "" {
		th = "temperature in `K`"
	}
	fs.Float64Var(&m.temperature, "temperature", energy.DefaultTemperature, th)
	fs.Float64Var(&m.timestepFS, "timestep-fs", 2, m.timestepFSHelp)
	fs.Float64Var(&m.friction, "friction", 1, "Langevin friction in `1/ps`")
	fs.Float64Var(&m.hmr, "hmr", 0, "hydrogen `mass` in amu (hydrogen mass repartitioning; 0: off)")
	fs.Float64Var(&m.savePS, "save-ps", 1, "save a frame every `ps`")
	fs.Int64Var(&m.seed, "seed", 0, m.seedHelp)
	fs.BoolVar(&m.minimize, "minimize", false, "minimise the energy before the run")
	fs.StringVar(&m.platform, "platform", "CPU", "OpenMM `platform` (CPU, Reference, CUDA, OpenCL)")
	fs.IntVar(&m.threads, "threads", 1, "CPU platform `threads` (1: reproducible)")
	fs.StringVar(&m.python, "python", "", pythonFlagDoc)
}

// validate checks the parsed flags (set: the flags given on the command
// line), derives the time step in ps, the integrator steps per saved frame
// and the frames of --ns, and fills in the default Python. own, if not nil,
// checks the command's own flags; it runs right after --pdb and --out are
// checked, so that a missing required flag is reported before a bad value.
// Last come the files: --pdb must be a readable file and --out a folder
// that exists or can be made (the commands create it).
func (m *mdFlags) validate(set map[string]bool, own func() error) (timestepPS float64, stepsPerFrame, frames int, err error) {
	switch {
	case m.pdb == "":
		return 0, 0, 0, fmt.Errorf("%w: --pdb is required", errUsage)
	case m.out == "":
		return 0, 0, 0, fmt.Errorf("%w: --out is required", errUsage)
	}
	if own != nil {
		if err := own(); err != nil {
			return 0, 0, 0, err
		}
	}
	if err := firstErr(positiveFloat("ns", m.ns), positiveTemp("temperature", m.temperature), positiveFloat("save-ps", m.savePS),
		positiveFloat("timestep-fs", m.timestepFS), positiveFloat("friction", m.friction)); err != nil {
		return 0, 0, 0, err
	}
	switch {
	case !(m.hmr >= 0) || math.IsInf(m.hmr, 0):
		return 0, 0, 0, fmt.Errorf("%w: --hmr must be 0 (off) or a mass in amu", errUsage)
	case set["seed"] && (m.seed <= 0 || m.seed > math.MaxInt32):
		return 0, 0, 0, fmt.Errorf("%w: --seed must be in 1..%d", errUsage, math.MaxInt32)
	case m.threads < 0:
		return 0, 0, 0, fmt.Errorf("%w: --threads must not be negative", errUsage)
	}
	timestepPS = m.timestepFS / 1000
	stepsPerFrame, ok := md.WholeRatio(m.savePS, timestepPS)
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: --save-ps %g is not a whole number of %g fs time steps", errUsage, m.savePS, m.timestepFS)
	}
	frames, ok = md.WholeRatio(m.ns*1000, m.savePS)
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: --ns %g is not a whole number of %g ps frames", errUsage, m.ns, m.savePS)
	}
	if err := firstErr(inputFile("--pdb", m.pdb), writableDir("--out", m.out)); err != nil {
		return 0, 0, 0, err
	}
	m.python = orDefaultPython(m.python)
	return timestepPS, stepsPerFrame, frames, nil
}

// options are md.Options of the parsed flags (after validate).
func (m *mdFlags) options(constraints string, timestepPS float64, stepsPerFrame, frames int, log io.Writer) md.Options {
	return md.Options{PDB: m.pdb, Out: m.out, Python: m.python, Platform: m.platform, Threads: m.threads,
		Constraints: constraints, TemperatureK: m.temperature, FrictionPerPS: m.friction, TimestepPS: timestepPS,
		HydrogenMassAMU: m.hmr, Minimize: m.minimize, Seed: int32(m.seed), SavePS: m.savePS,
		StepsPerFrame: stepsPerFrame, Frames: frames, Log: log, BeforeCheckpoint: simulateHook}
}

// start starts an OpenMM MD worker with the parsed flags (mcmc: no
// constraints, the run's seed).
func (m *mdFlags) start(ctx context.Context, constraints string, timestepPS float64, seed int32) (*plugin.MD, error) {
	sim, err := plugin.StartMD(ctx, plugin.MDConfig{
		Config: plugin.Config{Python: m.python, PDB: m.pdb, Platform: m.platform, Threads: m.threads,
			ForceField: plugin.DefaultForceField, Constraints: constraints},
		TemperatureK: m.temperature, FrictionPerPS: m.friction, TimestepPS: timestepPS, HydrogenMassAMU: m.hmr, Seed: seed,
	})
	if err != nil {
		return nil, fmt.Errorf("start OpenMM: %w", err)
	}
	return sim, nil
}

// minimizeIfAsked minimises sim's energy if --minimize was given.
func (m *mdFlags) minimizeIfAsked(ctx context.Context, sim *plugin.MD, w io.Writer) error {
	return md.Minimize(ctx, sim, m.minimize, w)
}

// flagsSet is the set of flags given on fs's command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
