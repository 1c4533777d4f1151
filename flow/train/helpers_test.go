package train

import (
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// tinyConfig is alanine dipeptide with a small nsf flow: a few NLL steps,
// then NLL+KL with the native energy.
func tinyConfig(t testing.TB, nllSteps, klSteps int) Config {
	t.Helper()
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	cfg := DefaultConfig()
	cfg.Data.Topology = filepath.Join(dir, "top.pdb")
	cfg.Data.Trajectories = []string{filepath.Join(dir, "traj.dcd")}
	cfg.Data.MaxFrames = 400
	cfg.Data.ValFraction = 0.2
	cfg.Model.Layers = 2
	cfg.Model.Hidden = []int{16}
	cfg.Model.Bins = 4
	cfg.Stages = []Stage{
		{Name: "nll", Steps: nllSteps, BatchSize: 32, LR: 5e-3, Schedule: ScheduleConstant, Weights: Weights{NLL: 1}},
	}
	if klSteps > 0 {
		cfg.Stages = append(cfg.Stages, Stage{Name: "nll+kl", Steps: klSteps, BatchSize: 32, LR: 1e-3, Schedule: ScheduleConstant, Weights: Weights{NLL: 1, KL: 0.1}})
	}
	cfg.Output = t.TempDir()
	cfg.CheckpointEvery = 0
	cfg.LogEvery = 0
	cfg.Energy.Workers = 1
	return cfg
}
