package plugin

// Molecular dynamics in an OpenMM worker (the MD service of energy.proto).
//
// An MD worker is a separate process from the energy workers because what it
// simulates is fixed when it starts: the System's constraints and hydrogen
// masses, and the LangevinMiddleIntegrator's temperature, friction, time step
// and random seed. Its state (positions, velocities, step count, the
// integrator's random state) lives in the worker's Context; Checkpoint and
// Restore move it out and back in as OpenMM checkpoint bytes, which is how a
// caller makes a run survive the death of its process. Unlike a Pool, an MD
// never restarts its worker on its own: a new process would start from the
// PDB again, silently, in the middle of a trajectory.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// MDProtocolVersion is the version of the MD service this host speaks; an MD
// worker must report the same in MDInfo.
const MDProtocolVersion = 1

// Defaults for the zero values of MDConfig.
const (
	DefaultMDConstraints = "HBonds"
	DefaultFrictionPerPS = 1.0
	DefaultTimestepPS    = 0.002
)

// MDConfig says how to start an MD worker.
type MDConfig struct {
	// Config names the interpreter, the worker script, the structure (PDB is
	// required: the simulation starts from its first model's positions), the
	// force field, the platform and threads, the per-call Timeout (not
	// applied to Run, which lasts as long as it needs), StartTimeout and the
	// logger. Constraints default to DefaultMDConstraints here. Workers,
	// MaxRestarts and SystemXML do not apply.
	//
	// On the CPU platform, Threads: 1 makes runs bit-reproducible (same seed
	// and checkpoint, same trajectory); with more threads OpenMM sums forces
	// in an order that varies from run to run.
	Config
	// TemperatureK is the heat bath's temperature (default
	// energy.DefaultTemperature).
	TemperatureK float64
	// FrictionPerPS is the Langevin friction coefficient in 1/ps (default 1;
	// negative values are refused, and zero means the default).
	FrictionPerPS float64
	// TimestepPS is the integration time step in ps (default 0.002).
	TimestepPS float64
	// HydrogenMassAMU repartitions mass onto hydrogens (OpenMM's
	// createSystem hydrogenMass, in amu; 0 keeps the force field's masses).
	// 1.5 or more with HBonds constraints allows 4 fs steps.
	HydrogenMassAMU float64
	// Seed is the integrator's random number seed (0: OpenMM picks one, and
	// runs are not reproducible).
	Seed int32
}

// MDState is the state of a simulation at one step.
type MDState struct {
	Step   int64
	TimePS float64
	// Positions in nm; nil where they were not asked for.
	Positions []molecule.Vec3
	// Velocities in nm/ps; only State with velocities fills them.
	Velocities  []molecule.Vec3
	PotentialKJ float64 // kJ/mol
	KineticKJ   float64 // kJ/mol
	// Checkpoint holds OpenMM's checkpoint bytes at this very step, where
	// asked for (Checkpoint, RunOptions.CheckpointEvery); Restore takes them.
	Checkpoint []byte
}

// RunOptions says how far to run and what to report.
type RunOptions struct {
	// Steps to integrate; a multiple of ReportInterval.
	Steps int64
	// ReportInterval is the number of steps between frames.
	ReportInterval int64
	// CheckpointEvery puts a checkpoint into every CheckpointEvery-th frame
	// (0: none). A frame and its checkpoint are of the same step, so a
	// caller that saves both can continue from exactly that frame.
	CheckpointEvery int64
	// NoPositions leaves positions out of the frames (energies only).
	NoPositions bool
}

// MD is a running simulation in one OpenMM worker. Its methods may be called
// from several goroutines, but the worker serves them one at a time, and a
// Run holds the worker until it returns.
type MD struct {
	cfg    MDConfig
	pool   *Pool // the process launcher shared with energy workers; holds no workers
	pr     *proc
	rpc    energypb.MDClient
	info   *energypb.MDInfoResponse
	closed atomic.Bool
}

// StartMD starts an MD worker and checks that it speaks this host's MD
// protocol. The worker's positions are the PDB's, with the constraints
// applied; its velocities are zero until SetVelocities.
func StartMD(ctx context.Context, cfg MDConfig) (*MD, error) {
	if cfg.SystemXML != "" {
		return nil, errors.New("plugin: MD needs MDConfig.PDB (the starting positions), not SystemXML")
	}
	if cfg.PDB == "" {
		return nil, errors.New("plugin: MD needs MDConfig.PDB")
	}
	if cfg.Constraints == "" {
		cfg.Constraints = DefaultMDConstraints
	}
	if cfg.TemperatureK == 0 {
		cfg.TemperatureK = energy.DefaultTemperature
	}
	if cfg.FrictionPerPS == 0 {
		cfg.FrictionPerPS = DefaultFrictionPerPS
	}
	if cfg.TimestepPS == 0 {
		cfg.TimestepPS = DefaultTimestepPS
	}
	if energy.CheckTemperature(cfg.TemperatureK) != nil || !(cfg.FrictionPerPS > 0) || !(cfg.TimestepPS > 0) || !(cfg.HydrogenMassAMU >= 0) {
		return nil, fmt.Errorf("plugin: MD needs a positive temperature (%v K), friction (%v/ps) and time step (%v ps), and a hydrogen mass >= 0 (%v amu)",
			cfg.TemperatureK, cfg.FrictionPerPS, cfg.TimestepPS, cfg.HydrogenMassAMU)
	}
	cfg.Workers = 1
	base, err := withDefaults(cfg.Config)
	if err != nil {
		return nil, err
	}
	cfg.Config = base
	p := &Pool{cfg: base, python: base.Python, server: base.Server, log: base.Logger, natoms: -1}
	if p.server == "" {
		if p.server, err = ExtractServer(); err != nil {
			return nil, err
		}
	}
	p.args = append(workerArgs(base), "--md",
		"--temperature", fmt.Sprint(cfg.TemperatureK),
		"--friction", fmt.Sprint(cfg.FrictionPerPS),
		"--timestep-ps", fmt.Sprint(cfg.TimestepPS),
		"--hydrogen-mass", fmt.Sprint(cfg.HydrogenMassAMU),
		"--seed", fmt.Sprint(cfg.Seed))
	pr, err := p.spawn(ctx, 0)
	if err != nil {
		return nil, err
	}
	m := &MD{cfg: cfg, pool: p, pr: pr}
	fail := func(err error) (*MD, error) {
		pr.kill(true)
		return nil, fmt.Errorf("plugin: start MD worker (pid %d): %w%s", pr.pid, err, pr.stderr.suffix())
	}
	// spawn dispensed the Energy client; the MD service shares its connection.
	cp, err := pr.client.Client()
	if err != nil {
		return fail(err)
	}
	gc, ok := cp.(*goplugin.GRPCClient)
	if !ok {
		return fail(fmt.Errorf("worker speaks %T, not gRPC", cp))
	}
	m.rpc = energypb.NewMDClient(gc.Conn)
	cctx, cancel := context.WithTimeout(ctx, base.StartTimeout)
	defer cancel()
	info, err := m.rpc.MDInfo(cctx, &energypb.MDInfoRequest{})
	if err != nil {
		return fail(fmt.Errorf("md info: %w", err))
	}
	if info.MdProtocolVersion != MDProtocolVersion {
		return fail(fmt.Errorf("worker speaks MD protocol version %d, this host %d", info.MdProtocolVersion, MDProtocolVersion))
	}
	m.info = info
	p.log.Info("openmm MD worker ready", "pid", info.Pid, "atoms", info.NumAtoms, "platform", info.Platform,
		"openmm", info.OpenmmVersion, "temperature_K", info.TemperatureK, "timestep_ps", info.TimestepPs,
		"constraints", info.Constraints, "hydrogen_mass_amu", info.HydrogenMassAmu, "seed", info.Seed)
	return m, nil
}

// Info describes the worker and its simulation settings as the worker
// applied them (e.g. the seed OpenMM picked for Seed 0).
func (m *MD) Info() *energypb.MDInfoResponse { return m.info }

// NumAtoms is the number of atoms of the simulated System.
func (m *MD) NumAtoms() int { return int(m.info.NumAtoms) }

// PID is the worker's process id.
func (m *MD) PID() int { return m.pr.pid }

// DegreesOfFreedom is what the kinetic energy is shared among: three per
// particle, less the constraints and the removed centre-of-mass motion.
func (m *MD) DegreesOfFreedom() int { return int(m.info.DegreesOfFreedom) }

// Temperature converts a kinetic energy in kJ/mol to the instantaneous
// temperature in K by equipartition: T = 2 K / (f R).
func (m *MD) Temperature(kineticKJ float64) float64 {
	return 2 * kineticKJ / (float64(m.info.DegreesOfFreedom) * energy.MolarGasConstant)
}

// call runs one unary call under the per-call timeout and names the worker
// (and quotes its stderr if it died) in errors.
func (m *MD) call(ctx context.Context, what string, fn func(context.Context) (*energypb.MDFrame, error)) (MDState, error) {
	if m.closed.Load() {
		return MDState{}, fmt.Errorf("plugin: md %s: worker is closed", what)
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	f, err := fn(cctx)
	if err != nil {
		return MDState{}, m.wrap(what, err)
	}
	s, err := m.decode(f)
	if err != nil {
		return MDState{}, m.wrap(what, err)
	}
	return s, nil
}

func (m *MD) wrap(what string, err error) error {
	tail := ""
	if m.pr.client.Exited() {
		tail = m.pr.stderr.suffix()
	}
	return fmt.Errorf("plugin: md worker (pid %d): %s: %w%s", m.pr.pid, what, err, tail)
}

// decode checks a frame's sizes and converts it.
func (m *MD) decode(f *energypb.MDFrame) (MDState, error) {
	s := MDState{Step: f.Step, TimePS: f.TimePs, PotentialKJ: f.PotentialKjMol, KineticKJ: f.KineticKjMol,
		Checkpoint: f.Checkpoint}
	var err error
	if s.Positions, err = decodeVec3(f.Positions, m.NumAtoms(), "positions"); err != nil {
		return s, fmt.Errorf("step %d: %w", f.Step, err)
	}
	if s.Velocities, err = decodeVec3(f.Velocities, m.NumAtoms(), "velocities"); err != nil {
		return s, fmt.Errorf("step %d: %w", f.Step, err)
	}
	return s, nil
}

// decodeVec3 reads n little-endian float64 triples; empty input is nil.
func decodeVec3(b []byte, n int, what string) ([]molecule.Vec3, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) != 24*n {
		return nil, fmt.Errorf("malformed frame: %d bytes of %s for %d atoms", len(b), what, n)
	}
	v := make([]molecule.Vec3, n)
	for i := range v {
		v[i] = molecule.Vec3{float64At(b, 3*i), float64At(b, 3*i+1), float64At(b, 3*i+2)}
	}
	return v, nil
}

// Minimize runs OpenMM's LocalEnergyMinimizer until the root-mean-square
// force is below tolerance kJ/mol/nm (<= 0: OpenMM's default, 10) or after
// maxIterations (0: no limit), and returns the minimised state.
func (m *MD) Minimize(ctx context.Context, tolerance float64, maxIterations int) (MDState, error) {
	return m.call(ctx, "minimize", func(ctx context.Context) (*energypb.MDFrame, error) {
		return m.rpc.Minimize(ctx, &energypb.MinimizeRequest{Tolerance: tolerance, MaxIterations: int32(maxIterations)})
	})
}

// SetPositions replaces the positions (nm) and applies the constraints;
// velocities are kept.
func (m *MD) SetPositions(ctx context.Context, positions []molecule.Vec3) (MDState, error) {
	if len(positions) != m.NumAtoms() {
		return MDState{}, fmt.Errorf("plugin: md set positions: %d positions for %d atoms", len(positions), m.NumAtoms())
	}
	req := &energypb.SetPositionsRequest{Positions: encodePositions([][]molecule.Vec3{positions}, m.NumAtoms())}
	return m.call(ctx, "set positions", func(ctx context.Context) (*energypb.MDFrame, error) {
		return m.rpc.SetPositions(ctx, req)
	})
}

// SetVelocities draws velocities from the Maxwell-Boltzmann distribution at
// temperatureK with the given seed (0: OpenMM picks one) and returns the
// state (without positions) for its kinetic energy.
func (m *MD) SetVelocities(ctx context.Context, temperatureK float64, seed int32) (MDState, error) {
	return m.call(ctx, "set velocities", func(ctx context.Context) (*energypb.MDFrame, error) {
		return m.rpc.SetVelocities(ctx, &energypb.SetVelocitiesRequest{TemperatureK: temperatureK, Seed: seed})
	})
}

// State returns the current state, with velocities if asked.
func (m *MD) State(ctx context.Context, withVelocities bool) (MDState, error) {
	return m.call(ctx, "get state", func(ctx context.Context) (*energypb.MDFrame, error) {
		return m.rpc.GetState(ctx, &energypb.GetStateRequest{WantVelocities: withVelocities})
	})
}

// Checkpoint returns the current step, time, energies and OpenMM checkpoint
// (no positions).
func (m *MD) Checkpoint(ctx context.Context) (MDState, error) {
	return m.call(ctx, "create checkpoint", func(ctx context.Context) (*energypb.MDFrame, error) {
		return m.rpc.CreateCheckpoint(ctx, &energypb.CreateCheckpointRequest{})
	})
}

// Restore loads a checkpoint made by a worker with the same System and
// platform (OpenMM refuses others) and returns the restored state. What
// follows is the very continuation of the checkpointed run (bit for bit on
// the CPU platform with one thread).
func (m *MD) Restore(ctx context.Context, checkpoint []byte) (MDState, error) {
	if len(checkpoint) == 0 {
		return MDState{}, errors.New("plugin: md restore: empty checkpoint")
	}
	return m.call(ctx, "load checkpoint", func(ctx context.Context) (*energypb.MDFrame, error) {
		return m.rpc.LoadCheckpoint(ctx, &energypb.LoadCheckpointRequest{Checkpoint: checkpoint})
	})
}

// Run integrates opt.Steps steps and calls fn with a frame after every
// opt.ReportInterval of them, in order. An error from fn stops the run and is
// returned as is; so is a cancelled ctx (wrapped). After a run that stopped
// early, the worker's state may be up to one report interval past the last
// frame fn saw: Restore that frame's checkpoint to continue exactly from it.
func (m *MD) Run(ctx context.Context, opt RunOptions, fn func(MDState) error) error {
	if m.closed.Load() {
		return errors.New("plugin: md run: worker is closed")
	}
	if opt.Steps <= 0 || opt.ReportInterval <= 0 || opt.Steps%opt.ReportInterval != 0 || opt.CheckpointEvery < 0 {
		return fmt.Errorf("plugin: md run: %d steps reporting every %d: both must be positive and the interval must divide the steps",
			opt.Steps, opt.ReportInterval)
	}
	want := opt.Steps / opt.ReportInterval
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // tells the worker to stop when fn fails
	stream, err := m.rpc.Run(ctx, &energypb.RunRequest{Steps: opt.Steps, ReportInterval: opt.ReportInterval,
		CheckpointEvery: opt.CheckpointEvery, NoPositions: opt.NoPositions})
	if err != nil {
		return m.wrap("run", err)
	}
	var got int64
	for {
		f, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if got != want {
				return m.wrap("run", fmt.Errorf("stream ended after %d of %d frames", got, want))
			}
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("plugin: md run stopped after %d of %d frames: %w", got, want, context.Cause(ctx))
			}
			return m.wrap(fmt.Sprintf("run, frame %d of %d", got+1, want), err)
		}
		// gRPC may still hand over frames it buffered before the cancel;
		// deliver none of them, so a cancel stops at the frame it saw.
		if ctx.Err() != nil {
			return fmt.Errorf("plugin: md run stopped after %d of %d frames: %w", got, want, context.Cause(ctx))
		}
		s, err := m.decode(f)
		if err != nil {
			return m.wrap("run", err)
		}
		got++
		if err := fn(s); err != nil {
			return err
		}
	}
}

// Close stops the worker and waits until its process is gone. It is safe to
// call more than once.
func (m *MD) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.pr.kill(false)
	return nil
}

// SystemXML returns the worker's System serialized by OpenMM's
// XmlSerializer: the masses (after hydrogen mass repartitioning), the
// constraints and the force parameters the simulation runs with.
func (m *MD) SystemXML(ctx context.Context) (string, error) {
	if m.closed.Load() {
		return "", errors.New("plugin: md system xml: worker is closed")
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	r, err := m.pr.rpc.SystemXML(cctx, &energypb.SystemXMLRequest{})
	if err != nil {
		return "", m.wrap("system xml", err)
	}
	return r.Xml, nil
}
