package mcmc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
)

// State is what a Chain reads of a state of the dynamics.
type State struct {
	Step        int64
	Positions   []molecule.Vec3 // nm
	PotentialKJ float64         // kJ/mol
}

// Dynamics is the molecular dynamics a Chain drives: an OpenMM worker
// behind a small adapter (the CLI's, over *plugin.MD), or any Go integrator
// that leaves exp(-U/kT) invariant. Energies are in kJ/mol.
type Dynamics interface {
	// Run integrates steps steps and calls fn after every interval of them
	// with the state's step, positions and potential energy; steps is a
	// multiple of interval.
	Run(ctx context.Context, steps, interval int64, fn func(State) error) error
	// State is the current state.
	State(ctx context.Context) (State, error)
	// Checkpoint captures the whole state (positions, velocities, step and
	// the integrator's random state) as bytes Restore takes back.
	Checkpoint(ctx context.Context) ([]byte, error)
	Restore(ctx context.Context, checkpoint []byte) (State, error)
	// SetPositions replaces the positions and returns the new state with
	// its positions and potential energy.
	SetPositions(ctx context.Context, positions []molecule.Vec3) (State, error)
	// SetVelocities draws velocities at temperatureK with the given seed.
	SetVelocities(ctx context.Context, temperatureK float64, seed int32) error
}

// Proposer draws independent proposals with their log-density and gives the
// log-density of any structure; *generator.Generator satisfies it. Positions
// are flat row-major n × atoms × 3 in nm, in the proposer's atom order.
type Proposer interface {
	Sample(n int, seed uint64, pos, logQ []float64) error
	LogProb(n int, pos, logQ []float64) error
}

// ChainConfig says how long a Chain runs, how often it moves and what it
// reports.
type ChainConfig struct {
	Steps       int64   // integrator steps in all
	Every       int64   // integrator steps between moves (0: plain MD)
	FrameEvery  int64   // integrator steps between the frames handed to OnFrame
	Temperature float64 // K: the acceptance's kT and the velocities drawn after an accepted move
	// Seed is the run's seed: the proposals, the decisions and the
	// velocities after accepted moves draw from unrelated streams derived
	// from it (Mix).
	Seed int32
	// Batch is the number of proposals drawn at a time (the sampling
	// graph's cost is per batch).
	Batch int
	// Match pairs the dynamics' atoms (the reference of the pairing's
	// other side) with the proposer's: Match.ToRef puts the dynamics'
	// order into the proposer's. Nil: the same order.
	Match *molecule.AtomMatch
	// OnFrame receives every FrameEvery-th step's positions; at a move's
	// step, those after the move.
	OnFrame func(step int64, x []molecule.Vec3) error
	// OnMove receives each decision (move k, made at step) as soon as it
	// is made, so that a record of them agrees with the counts however the
	// run ends.
	OnMove func(k int, step int64, m Move) error
	// OnReport is called after every frame the dynamics reports (progress).
	OnReport func()
}

// Chain alternates segments of dynamics with Metropolis-Hastings
// independence moves proposed by a Proposer. An accepted move sets the
// proposal's positions and redraws the velocities; a rejected one restores
// the exact state before the move (positions, velocities, the integrator's
// random state), so that the dynamics goes on as if no move had been tried.
type Chain struct {
	md      Dynamics
	prop    Proposer
	cfg     ChainConfig
	natoms  int
	sampler *Sampler
	props   proposals
	step    int64
	sumProb float64
	movesS  float64
	dLogQ   []float64
}

// NewChain returns a chain of md (natoms atoms) with proposals from prop,
// which may be nil for plain MD (Every 0).
func NewChain(md Dynamics, prop Proposer, natoms int, cfg ChainConfig) (*Chain, error) {
	switch {
	case cfg.Steps < 0 || cfg.Every < 0 || cfg.FrameEvery < 1:
		return nil, fmt.Errorf("mcmc: steps %d, every %d, frame every %d: want steps, every >= 0 and frames every >= 1 step",
			cfg.Steps, cfg.Every, cfg.FrameEvery)
	case cfg.Every > 0 && prop == nil:
		return nil, errors.New("mcmc: moves need a proposer")
	case cfg.Every > 0 && cfg.Batch < 1:
		return nil, fmt.Errorf("mcmc: proposal batch %d", cfg.Batch)
	}
	s, err := NewSampler(energy.KT(cfg.Temperature), Mix(uint64(cfg.Seed), 0x6d682d6d6f7665))
	if err != nil {
		return nil, err
	}
	c := &Chain{md: md, prop: prop, cfg: cfg, natoms: natoms, sampler: s}
	c.props = proposals{p: prop, natoms: natoms, batch: cfg.Batch, seed: Mix(uint64(cfg.Seed), 0x666c6f77), match: cfg.Match}
	return c, nil
}

// WarmUp compiles the proposer's graphs, so that the run's wall time is the
// method's cost, not start-up: one throwaway proposal and the log-density
// of the current state.
func (c *Chain) WarmUp(ctx context.Context) error {
	if c.prop == nil {
		return nil
	}
	pos, lq := make([]float64, c.natoms*3), make([]float64, 1)
	if err := c.prop.Sample(1, c.props.seed^(1<<63), pos, lq); err != nil {
		return fmt.Errorf("draw proposals: %w", err)
	}
	s, err := c.md.State(ctx)
	if err != nil {
		return err
	}
	if _, err := c.logQ(s.Positions); err != nil {
		return fmt.Errorf("log q of the starting structure: %w", err)
	}
	return nil
}

// Step is the integrator step the chain has reached.
func (c *Chain) Step() int64 { return c.step }

// Sampler holds the counts of moves and acceptances.
func (c *Chain) Sampler() *Sampler { return c.sampler }

// MeanAcceptanceProbability is the mean of min(1, exp(log a)) over the
// moves (0 before the first).
func (c *Chain) MeanAcceptanceProbability() float64 {
	if c.sampler.Moves() == 0 {
		return 0
	}
	return c.sumProb / float64(c.sampler.Moves())
}

// MovesSeconds is the wall time spent in moves: proposals, log q and the
// dynamics' calls of moves.
func (c *Chain) MovesSeconds() float64 { return c.movesS }

// LogQDrops are log q(x) - log q(x') of each move, for a diagnosis of
// chains that never accept.
func (c *Chain) LogQDrops() []float64 { return c.dLogQ }

// Run runs the chain from its current step to cfg.Steps. After an error
// the callbacks have seen a consistent prefix of the run.
func (c *Chain) Run(ctx context.Context) error {
	K, spf := c.cfg.Every, c.cfg.FrameEvery
	interval := spf
	if K > 0 {
		interval = gcd(K, spf)
	}
	isMove := func(step int64) bool { return K > 0 && step%K == 0 && step < c.cfg.Steps }
	for c.step < c.cfg.Steps {
		end := c.cfg.Steps
		if K > 0 {
			end = min(c.step+K, c.cfg.Steps)
		}
		var last State
		err := c.md.Run(ctx, end-c.step, interval, func(st State) error {
			if st.Step%spf == 0 && !isMove(st.Step) && c.cfg.OnFrame != nil {
				if err := c.cfg.OnFrame(st.Step, st.Positions); err != nil {
					return err
				}
			}
			last = st
			c.step = st.Step
			if c.cfg.OnReport != nil {
				c.cfg.OnReport()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c.step != end {
			return fmt.Errorf("the dynamics is at step %d, want %d", c.step, end)
		}
		if !isMove(end) {
			continue
		}
		after, err := c.move(ctx, last)
		if err != nil {
			return err
		}
		if end%spf == 0 && c.cfg.OnFrame != nil {
			if err := c.cfg.OnFrame(end, after); err != nil {
				return err
			}
		}
	}
	return nil
}

// move makes the Metropolis-Hastings move at the current step from the
// state cur (the last frame of the segment) and returns the positions after
// it.
func (c *Chain) move(ctx context.Context, cur State) ([]molecule.Vec3, error) {
	t0 := time.Now()
	defer func() { c.movesS += time.Since(t0).Seconds() }()
	k, step := c.sampler.Moves(), c.step
	lqCur, err := c.logQ(cur.Positions)
	if err != nil {
		return nil, fmt.Errorf("move %d (step %d): log q of the current structure: %w", k, step, err)
	}
	x, lqProp, err := c.props.next()
	if err != nil {
		return nil, fmt.Errorf("move %d: %w", k, err)
	}
	record := func(m Move) error {
		c.sumProb += AcceptanceProbability(m.LogAcceptance)
		c.dLogQ = append(c.dLogQ, m.LogQCurrent-m.LogQProposal)
		if c.cfg.OnMove != nil {
			return c.cfg.OnMove(k, step, m)
		}
		return nil
	}
	if x == nil || math.IsNaN(lqProp) || math.IsInf(lqProp, 0) {
		// A proposal that the dynamics cannot place (non-finite positions)
		// or whose density is not finite is rejected untouched.
		return cur.Positions, record(c.sampler.Decide(cur.PotentialKJ, math.NaN(), lqCur, lqProp))
	}
	ck, err := c.md.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("move %d: %w", k, err)
	}
	ps, err := c.md.SetPositions(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("move %d: %w", k, err)
	}
	m := c.sampler.Decide(cur.PotentialKJ, ps.PotentialKJ, lqCur, lqProp)
	if err := record(m); err != nil {
		return nil, err
	}
	if m.Accepted {
		if err := c.md.SetVelocities(ctx, c.cfg.Temperature, VelocitySeed(c.cfg.Seed, k)); err != nil {
			return nil, fmt.Errorf("move %d: %w", k, err)
		}
		return ps.Positions, nil
	}
	rs, err := c.md.Restore(ctx, ck)
	if err != nil {
		return nil, fmt.Errorf("move %d: restore the state before the move: %w", k, err)
	}
	if rs.Step != step {
		return nil, fmt.Errorf("move %d: restored step %d, the move was at step %d", k, rs.Step, step)
	}
	return cur.Positions, nil
}

// logQ is the proposer's log q of one structure in the dynamics' atom order.
func (c *Chain) logQ(x []molecule.Vec3) (float64, error) {
	if c.cfg.Match != nil {
		y := make([]molecule.Vec3, len(x))
		c.cfg.Match.ToRef(y, x)
		x = y
	}
	return LogQ(c.prop, x)
}

// LogQ is p's log q of one structure (in p's atom order).
func LogQ(p Proposer, x []molecule.Vec3) (float64, error) {
	flat := make([]float64, 0, 3*len(x))
	for _, v := range x {
		flat = append(flat, v[0], v[1], v[2])
	}
	out := make([]float64, 1)
	if err := p.LogProb(1, flat, out); err != nil {
		return 0, err
	}
	return out[0], nil
}

// proposals hands out structures drawn from a Proposer, a batch at a time.
type proposals struct {
	p      Proposer
	natoms int
	batch  int
	seed   uint64
	drawn  uint64 // structures drawn so far: the next batch's seed offset
	pos    []float64
	logQ   []float64
	used   int // proposals of the current batch handed out
	match  *molecule.AtomMatch
}

// next returns the next proposal, in the dynamics' atom order, and its log
// q; the positions are nil when they are not all finite.
func (p *proposals) next() ([]molecule.Vec3, float64, error) {
	if p.pos == nil {
		p.pos, p.logQ = make([]float64, p.batch*p.natoms*3), make([]float64, p.batch)
		p.used = p.batch
	}
	if p.used == p.batch {
		// The generator seeds its batch with seed + offset, so consecutive
		// batches get distinct seeds.
		if err := p.p.Sample(p.batch, p.seed+p.drawn, p.pos, p.logQ); err != nil {
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

// Mix derives a 64-bit seed for one use (salt) of a run's seed
// (SplitMix64's finaliser), so that the streams of the proposals, the
// decisions and the velocities are unrelated.
func Mix(seed, salt uint64) uint64 {
	z := seed*0x9e3779b97f4a7c15 + salt
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// VelocitySeed is the seed of the velocities drawn after accepted move k:
// positive (OpenMM reads 0 as "pick one") and fixed by the run's seed and k.
func VelocitySeed(seed int32, k int) int32 {
	return int32(Mix(uint64(seed)<<32|uint64(uint32(k)), 0x76656c)&math.MaxInt32) | 1
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
