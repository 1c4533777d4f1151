package mcmc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/atomicfile"
)

// Files of a chain's directory (gobg mcmc).
const (
	TrajFile    = "traj.dcd"
	TopFile     = "top.pdb"
	MovesFile   = "moves.csv"
	SummaryFile = "summary.json"
)

// Paths are the files of a chain's directory.
type Paths struct{ Traj, Top, Moves, Summary string }

// DirPaths names the files of the chain's directory dir.
func DirPaths(dir string) Paths {
	return Paths{Traj: filepath.Join(dir, TrajFile), Top: filepath.Join(dir, TopFile),
		Moves: filepath.Join(dir, MovesFile), Summary: filepath.Join(dir, SummaryFile)}
}

// DirConfig says what RunDir runs and where it writes.
type DirConfig struct {
	Dir string
	// Top is the dynamics' topology: the frames' atoms and the backbone
	// angles whose autocorrelation the Record reports.
	Top        *molecule.Topology
	TimestepPS float64
	SavePS     float64 // ps between frames: Chain.FrameEvery integrator steps
	Title      string  // of the DCD (at most 80 characters)
	// Chain configures the chain; RunDir sets its OnFrame and OnMove.
	Chain ChainConfig
	// Started, if set, receives the chain once it is warmed up, just before
	// it runs: the start of the Record's wall time.
	Started func(*Chain)
}

// Record is what a RunDir chain did.
type Record struct {
	Complete           bool // the chain ran all its steps
	Steps              int64
	Frames             int
	Moves, Accepted    int
	AcceptanceRate     float64
	MeanAcceptanceProb float64 // mean of min(1, exp(log a))
	WallS              float64 // the run after Started
	MovesS             float64 // of WallS: the moves
	Torsions           []TorsionTau
	// Warning is StuckWarning's diagnosis of a chain that accepts nothing
	// ("" if none).
	Warning string
}

// RunDir runs a chain of dyn with proposals from prop (nil for plain MD)
// and writes its frames (TrajFile) and moves (MovesFile, MovesCSVHeader)
// into cfg.Dir, which must exist. Both are hidden temporary files until
// the run ends, when they are renamed into place whether it completed or
// not, so that a path never holds a torn file and an interrupted run
// leaves a consistent prefix. A nil Record means that the run did not
// start, and nothing was written; otherwise the error is the run's or the
// files'.
func RunDir(ctx context.Context, dyn Dynamics, prop Proposer, cfg DirConfig) (*Record, error) {
	paths := DirPaths(cfg.Dir)
	natoms := len(cfg.Top.Atoms)
	csv, err := atomicfile.NewStream(paths.Moves)
	if err != nil {
		return nil, err
	}
	csv.WriteString(MovesCSVHeader + "\n") // into the buffer: errors surface at commit
	spf := cfg.Chain.FrameEvery
	dcd, err := molecule.CreateDCD(paths.Traj, natoms, molecule.DCDOptions{
		FirstStep: int(spf), Interval: int(spf), Timestep: cfg.TimestepPS, Title: cfg.Title})
	if err != nil {
		csv.Abort()
		return nil, err
	}
	rec := &Record{}
	angles := NewBackboneAngles(cfg.Top)
	line := make([]byte, 0, 160)
	cc := cfg.Chain
	cc.OnFrame = func(_ int64, x []molecule.Vec3) error {
		rec.Frames++
		angles.Add(x)
		return dcd.Write(x, nil)
	}
	cc.OnMove = func(k int, step int64, m Move) error {
		line = m.AppendCSV(line[:0], k, step)
		if _, err := csv.Write(line); err != nil {
			return fmt.Errorf("write %s: %w", paths.Moves, err)
		}
		return nil
	}
	ch, err := NewChain(dyn, prop, natoms, cc)
	if err == nil {
		err = ch.WarmUp(ctx)
	}
	if err != nil {
		csv.Abort()
		dcd.Close()
		return nil, err
	}
	if cfg.Started != nil {
		cfg.Started(ch)
	}
	start := time.Now()
	runErr := ch.Run(ctx)
	rec.WallS = time.Since(start).Seconds()

	sm := ch.Sampler()
	rec.Complete, rec.Steps = runErr == nil, ch.Step()
	rec.Moves, rec.Accepted, rec.AcceptanceRate = sm.Moves(), sm.Accepted(), sm.Rate()
	rec.MeanAcceptanceProb, rec.MovesS = ch.MeanAcceptanceProbability(), ch.MovesSeconds()
	rec.Torsions = angles.Autocorrelation(cfg.SavePS, rec.WallS)
	rec.Warning = StuckWarning(ch.LogQDrops(), rec.Accepted)
	return rec, errors.Join(runErr, dcd.Close(), csv.Commit())
}
