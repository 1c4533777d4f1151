package train

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// BenchmarkStep times one step of each stage type on alanine dipeptide
// (the testdata MD) at batch 256 with the configuration of
// examples/ala2/long.json (nsf, 6 layers, hidden 128×128, full mode,
// native energy, the default float32), and of the energy-only terms of
// the refinement stages.
func BenchmarkStep(b *testing.B) {
	cfg, base := longBenchConfig(b, 2000)
	for _, tc := range []struct {
		name string
		w    Weights
		est  string
	}{
		{"nll", Weights{NLL: 1}, ""},
		{"nll+w2", Weights{NLL: 1, W2: 10}, ""},
		{"nll+kl+w2", Weights{NLL: 1, W2: 10, KL: 0.5}, ""},
		{"nll+kl", Weights{NLL: 1, KL: 0.5}, ""},
		{"kl", Weights{KL: 1}, ""},
		{"kl-path", Weights{KL: 1}, KLGradientPath},
		{"logvar", Weights{LogVar: 1}, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := base
			s.Weights, s.KLGradient = tc.w, tc.est
			c := cfg
			c.Stages = []Stage{s}
			tr, err := New(context.Background(), c, Options{Energy: configEnergy(b, c)})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			if _, err := tr.step(context.Background(), s, 0); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for k := 1; k <= b.N; k++ {
				if _, err := tr.step(context.Background(), s, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			b.ReportMetric(float64(runtime.NumCPU()), "cpus")
		})
	}
}

// longBenchConfig is examples/ala2/long.json on the first maxFrames frames
// of the testdata alanine dipeptide MD, writing into a temporary folder, and
// its first stage at a constant learning rate with no end in sight.
func longBenchConfig(b *testing.B, maxFrames int) (Config, Stage) {
	b.Helper()
	cfg, err := ReadConfig(filepath.Join(testenv.Root(), "examples", "ala2", "long.json"))
	if err != nil {
		b.Fatal(err)
	}
	md := filepath.Join(testenv.SharedData(b), "md", "ala2")
	cfg.Data.Topology = filepath.Join(md, "top.pdb")
	cfg.Data.Trajectories = []string{filepath.Join(md, "traj.dcd")}
	cfg.Data.MaxFrames = maxFrames
	cfg.Output = b.TempDir()
	base := cfg.Stages[0]
	base.WarmupSteps, base.Schedule, base.Steps = 0, ScheduleConstant, 1000000
	return cfg, base
}
