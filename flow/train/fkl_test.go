package train

import (
	"context"
	"math"
	"testing"
)

func TestSelfNormalizedWeights(t *testing.T) {
	for _, tc := range []struct {
		name string
		logW []float64
		want []float64
		kl   float64
	}{
		{"equal", []float64{-3, -3, -3, -3}, []float64{0.25, 0.25, 0.25, 0.25}, 0},
		{"shifted by a huge constant", []float64{1e300 - 1e300, 0, math.Log(2)}, []float64{0.25, 0.25, 0.5}, math.Log(3) - 1.5*math.Log(2)},
		{"far apart", []float64{-1000, 0, -1000}, []float64{0, 1, 0}, math.Log(3)},
		{"large magnitudes", []float64{-190.5, -189.5}, []float64{1 / (1 + math.E), math.E / (1 + math.E)}, math.Log(2) + (1/(1+math.E))*math.Log(1/(1+math.E)) + (math.E/(1+math.E))*math.Log(math.E/(1+math.E))},
		{"NaN", []float64{0, math.NaN()}, nil, math.NaN()},
		{"+Inf", []float64{0, math.Inf(1)}, nil, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, kl := SelfNormalizedWeights(tc.logW)
			if math.IsNaN(tc.kl) {
				if !math.IsNaN(kl) {
					t.Errorf("kl %g, want NaN", kl)
				}
				return
			}
			if math.Abs(kl-tc.kl) > 1e-14 {
				t.Errorf("kl %.17g, want %.17g", kl, tc.kl)
			}
			sum := 0.0
			for i := range w {
				sum += w[i]
				if math.Abs(w[i]-tc.want[i]) > 1e-15 {
					t.Errorf("w[%d] = %.17g, want %.17g", i, w[i], tc.want[i])
				}
			}
			if math.Abs(sum-1) > 1e-15 {
				t.Errorf("weights sum to %.17g", sum)
			}
		})
	}
}

// TestFKLStage trains with the importance-weighted forward KL alone (no
// KL, no NLL in the stage) and checks that every step is applied, that its
// logged value is the self-normalised KL estimate (between 0 and log B),
// and that the weights moved.
func TestFKLStage(t *testing.T) {
	cfg := tinyConfig(t, 1, 0)
	cfg.Stages = append(cfg.Stages, Stage{Name: "fkl", Steps: 3, BatchSize: 32, LR: 1e-3, Schedule: ScheduleConstant, Weights: Weights{FKL: 1}})
	tr := newTrainer(t, cfg, Options{})
	if err := tr.flow.Perturb(0.05, 2); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tr.flow.Context())
	s, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Skipped != 0 {
		t.Fatalf("%d steps skipped", s.Skipped)
	}
	for i, l := range s.Losses[1:] {
		if !(l >= 0 && l <= math.Log(32)) {
			t.Errorf("fkl step %d: loss %g outside [0, log 32]", i, l)
		}
	}
	if d, n := maxDiff(before, snapshot(t, tr.flow.Context()), "/flow/"); n == 0 || d == 0 {
		t.Errorf("weights did not change (%d variables compared)", n)
	}
	if st := s.Stages[1]; !(st.FKL > 0) || st.KL != 0 {
		t.Errorf("stage summary: fkl %g, kl %g", st.FKL, st.KL)
	}
	t.Logf("losses %v", s.Losses)
}
