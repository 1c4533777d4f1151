package model

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// synthetic is a 4-dimensional density with known normalisation, built
// from conditionals: two residues, each with a torsion and an interval
// coordinate (the first residue's are "backbone"):
//
//	t1 ~ vM(1, 2)
//	u1 | t1 ~ TN(0.3 sin t1 - 0.1, 0.25) on [-1, 1]
//	t2 | t1 ~ vM(t1 + 1.5, 4)
//	u2 | u1, t2 ~ TN(0.5 u1 + 0.2 cos t2, 0.2) on [-1, 1]
//
// Each conditional is normalised, so log p is exact.
type synthetic struct{}

func (synthetic) layout() *Layout {
	return &Layout{
		Circular:    []bool{true, false, true, false},
		Backbone:    []bool{true, true, false, false},
		Residue:     []int{0, 0, 1, 1},
		ResidueType: []int{ResidueTypeIndex("ALA"), ResidueTypeIndex("LEU")},
		NumTypes:    NumResidueTypes(),
		Lower:       []float64{-math.Pi, -1, -math.Pi, -1},
		Upper:       []float64{math.Pi, 1, math.Pi, 1},
	}
}

func tnLogPDF(u, m, s float64) float64 {
	return TruncNormalLogPDF((u-m)/s, (-1-m)/s, (1-m)/s) - math.Log(s)
}

func tnSample(r *rand.Rand, m, s float64) float64 {
	return m + s*SampleTruncNormal(r, (-1-m)/s, (1-m)/s)
}

func (synthetic) logProb(x []float64) float64 {
	t1, u1, t2, u2 := x[0], x[1], x[2], x[3]
	return VonMisesLogPDF(t1, 1, 2) +
		tnLogPDF(u1, 0.3*math.Sin(t1)-0.1, 0.25) +
		VonMisesLogPDF(t2, t1+1.5, 4) +
		tnLogPDF(u2, 0.5*u1+0.2*math.Cos(t2), 0.2)
}

func (synthetic) sample(r *rand.Rand, n int) []float64 {
	out := make([]float64, 0, 4*n)
	for range n {
		t1 := SampleVonMises(r, 1, 2)
		u1 := tnSample(r, 0.3*math.Sin(t1)-0.1, 0.25)
		t2 := SampleVonMises(r, t1+1.5, 4)
		u2 := tnSample(r, 0.5*u1+0.2*math.Cos(t2), 0.2)
		out = append(out, t1, u1, t2, u2)
	}
	return out
}

// entropy estimates -E[log p] by Monte Carlo, with its standard error.
func (s synthetic) entropy(r *rand.Rand, n int) (h, se float64) {
	x := s.sample(r, n)
	var sum, sq float64
	for i := range n {
		lp := s.logProb(x[4*i : 4*i+4])
		sum += lp
		sq += lp * lp
	}
	mean := sum / float64(n)
	return -mean, math.Sqrt((sq/float64(n) - mean*mean) / float64(n))
}

// TestMaximumLikelihood trains flows by NLL on fresh samples of the
// synthetic density and requires the held-out NLL to come within 0.05
// nats per dimension of the true entropy (and not below it by more than
// the Monte Carlo error allows: NLL - H is a KL divergence).
func TestMaximumLikelihood(t *testing.T) {
	archs := []string{ArchNSF}
	steps := 450
	if !testing.Short() {
		archs = Architectures()
	}
	var syn synthetic
	r := rand.New(rand.NewPCG(11, 12))
	h, hse := syn.entropy(r, 400000)
	t.Logf("true entropy %.4f ± %.4f nats (%.4f per dimension)", h, hse, h/4)
	test := syn.sample(r, 20000)
	for _, arch := range archs {
		t.Run(arch, func(t *testing.T) {
			start := time.Now()
			cfg := DefaultConfig(arch)
			cfg.Layers = 4
			cfg.BackboneLayers, cfg.SideChainLayers = 2, 2
			cfg.Hidden = []int{32, 32}
			cfg.Bins = 6
			cfg.Embed, cfg.QKDim, cfg.GAULayers, cfg.RelPosClip = 32, 16, 1, 2
			f, err := New(testenv.Backend(t), cfg, syn.layout(), dtypes.Float32)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 256
			if err := f.InitFromData(syn.sample(r, 4096), 4096); err != nil {
				t.Fatal(err)
			}
			run, err := f.NewRunner(2000)
			if err != nil {
				t.Fatal(err)
			}
			nll := func() float64 {
				lp, err := run.LogProb(test)
				if err != nil {
					t.Fatal(err)
				}
				s := 0.0
				for _, v := range lp {
					s -= v
				}
				return s / float64(len(lp))
			}
			t.Logf("initial test NLL %.4f", nll())
			// Two constant learning rates; attention with LayerNorm needs a
			// smaller one than the MLPs (1e-2 left split-gau 0.06 nats per
			// dimension short).
			lr := 1e-2
			if arch == ArchSplitGAU {
				lr = 3e-3
			}
			for _, phase := range []struct {
				lr    float64
				steps int
			}{{lr, steps * 2 / 3}, {lr / 3, steps / 3}} {
				tr, err := f.NewTrainer(batch, phase.lr)
				if err != nil {
					t.Fatal(err)
				}
				for i := range phase.steps {
					if _, err := tr.Step(syn.sample(r, batch)); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				tr.Close()
				t.Logf("after lr %g: test NLL %.4f", phase.lr, nll())
			}
			got := nll()
			gap := (got - h) / 4
			t.Logf("%s: test NLL %.4f, entropy %.4f: gap %.4f nats per dimension (%s, %d params)",
				arch, got, h, gap, time.Since(start).Round(time.Millisecond), f.NumParams())
			if gap > 0.05 {
				t.Errorf("test NLL %.4f exceeds the entropy %.4f by %.4f nats per dimension (> 0.05)", got, h, gap)
			}
			if got < h-5*hse-0.02 {
				t.Errorf("test NLL %.4f is below the entropy %.4f: the flow's density is not normalised", got, h)
			}
		})
	}
}
