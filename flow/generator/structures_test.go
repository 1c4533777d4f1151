package generator

import (
	"context"
	"math"
	"slices"
	"testing"
)

// TestSampleStructures checks that the structures are Sample's, a call per
// batch seeded seed + its first structure's index, and that NLL is minus
// the mean of their log q(x).
func TestSampleStructures(t *testing.T) {
	g, err := Load(savedModel(t), "", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const n = 11
	var calls []int
	xs, lq, err := g.SampleStructures(context.Background(), n, 8, 5, func(done int) { calls = append(calls, done) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{8, 11}) {
		t.Errorf("progress %v, want [8 11]", calls)
	}
	small, lqSmall, err := g.SampleStructures(context.Background(), n, 3, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	na := g.NumAtoms()
	pos, want := make([]float64, n*na*3), make([]float64, n)
	if err := g.Sample(n, 5, pos, want); err != nil {
		t.Fatal(err)
	}
	posSmall, wantSmall := make([]float64, n*na*3), make([]float64, n)
	for k := 0; k < n; k += 3 {
		m := min(3, n-k)
		if err := g.Sample(m, 5+uint64(k), posSmall[k*na*3:(k+m)*na*3], wantSmall[k:k+m]); err != nil {
			t.Fatal(err)
		}
	}
	var mean float64
	for i := range n {
		for a := range na {
			o := (i*na + a) * 3
			p, ps := [3]float64{pos[o], pos[o+1], pos[o+2]}, [3]float64{posSmall[o], posSmall[o+1], posSmall[o+2]}
			if xs[i][a] != p || small[i][a] != ps {
				t.Fatalf("structure %d atom %d: %v (batch 8), %v (batch 3); Sample gives %v, %v", i, a, xs[i][a], small[i][a], p, ps)
			}
		}
		if lq[i] != want[i] || lqSmall[i] != wantSmall[i] {
			t.Errorf("log q of structure %d: %v, %v; Sample gives %v, %v", i, lq[i], lqSmall[i], want[i], wantSmall[i])
		}
		mean += want[i] / n
	}
	nll, err := g.NLL(xs)
	if err != nil {
		t.Fatal(err)
	}
	// LogProb recomputes what Sample reported to 1e-11 nats
	// (TestSampleLogProb).
	if math.Abs(nll+mean) > 1e-11 {
		t.Errorf("NLL %.15g, want %.15g", nll, -mean)
	}
	if _, _, err := g.SampleStructures(context.Background(), 3, 0, 5, nil); err == nil {
		t.Error("a batch of 0 accepted")
	}
}
