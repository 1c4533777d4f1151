package generator

import (
	"math"
	"testing"

	"github.com/gobg/gobg/flow/model"
)

// TestDefensive checks the mixture's density against its samples through
// the whole Cartesian path: LogProb of the sampled structures (inverting
// them) gives the density Sample reported; for x drawn from the mixture m,
// q(x)/m(x) has mean 1 (q the flow's own density), and it never exceeds
// 1/(1-F).
func TestDefensive(t *testing.T) {
	g, err := Load(savedModel(t), "", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dims, err := model.WidenDims(g.Flow().Layout(), model.WidenBackboneTorsions)
	if err != nil {
		t.Fatal(err)
	}
	d := model.Defensive{Frac: 0.3, Widen: 2, Dims: dims}
	if err := g.SetDefensive(d); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	na := g.NumAtoms()
	pos, lm := make([]float64, n*na*3), make([]float64, n)
	if err := g.Sample(n, 11, pos, lm); err != nil {
		t.Fatal(err)
	}
	lm2 := make([]float64, n)
	if err := g.LogProb(n, pos, lm2); err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range n {
		worst = math.Max(worst, math.Abs(lm2[i]-lm[i]))
	}
	t.Logf("mixture log-density: LogProb against Sample %.2e nats", worst)
	if worst > 5e-11 { // measured 1.7e-12
		t.Errorf("mixture log-density: LogProb and Sample differ by up to %.3e (absolute limit 5e-11)", worst)
	}
	if err := g.SetDefensive(model.Defensive{}); err != nil {
		t.Fatal(err)
	}
	lq := make([]float64, n)
	if err := g.LogProb(n, pos, lq); err != nil {
		t.Fatal(err)
	}
	var sum, sum2 float64
	var raised int // samples whose mixture density exceeds the flow's
	bound := -math.Log1p(-d.Frac) + 1e-9
	for i := range n {
		lr := lq[i] - lm[i]
		if lr > bound {
			t.Fatalf("sample %d: log q/m = %.6g above log 1/(1-F) = %.6g", i, lr, bound)
		}
		if lr < 0 {
			raised++
		}
		r := math.Exp(lr)
		sum += r
		sum2 += r * r
	}
	mean := sum / n
	se := math.Sqrt((sum2/n - mean*mean) / n)
	t.Logf("E_m[q/m] = %.4f ± %.4f; %d of %d samples have m > q", mean, se, raised, n)
	if math.Abs(mean-1) > 4*se+1e-3 {
		t.Errorf("E_m[q/m] = %.4f ± %.4f, want 1", mean, se)
	}
	if raised == 0 || raised == n {
		t.Errorf("%d of %d samples have a mixture density above the flow's", raised, n)
	}
	if err := g.SetDefensive(model.Defensive{Frac: 1, Widen: 2}); err == nil {
		t.Errorf("SetDefensive accepted a fraction of 1")
	}
}
