package model

import (
	"math"
	"testing"

	"github.com/gobg/gobg/flow/ic"
)

// TestStructureSampler: the sampled structures equal ic's CPU reference
// reconstruction of the sampled free vectors, their log-dets agree, and
// LogQ equals the flow's LogProb of the free vectors.
func TestStructureSampler(t *testing.T) {
	for _, c := range []struct {
		sys  string
		mode ic.Mode
	}{{"ala2", ic.Full}, {"hp35", ic.Reduced}} {
		s := loadSystem(t, c.sys, c.mode)
		l, err := LayoutFromSpec(s.spec)
		if err != nil {
			t.Fatal(err)
		}
		f := perturbedFlow(t, smallConfig(ArchSplitGAU), l, perturbScale)
		ss, err := NewStructureSampler(f, s.spec, 8)
		if err != nil {
			t.Fatal(err)
		}
		const n = 10
		st, err := ss.Sample(n, 17)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := f.NewRunner(8)
		lp, err := r.LogProb(st.Z)
		if err != nil {
			t.Fatal(err)
		}
		d := f.Dim()
		var worstPos, worstLD, worstLQ float64
		for i := range n {
			x, ld, err := s.spec.ToCartesian(st.Z[i*d : (i+1)*d])
			if err != nil {
				t.Fatal(err)
			}
			for a := range x {
				worstPos = math.Max(worstPos, ic.Distance(x[a], st.Positions[i][a]))
			}
			worstLD = math.Max(worstLD, math.Abs(ld-st.LogDetCart[i]))
			worstLQ = math.Max(worstLQ, math.Abs(lp[i]-st.LogQ[i]))
		}
		t.Logf("%s: max position difference %.2e nm, log-det %.2e, log q %.2e", c.sys, worstPos, worstLD, worstLQ)
		if worstPos > 1e-9 || worstLD > 1e-9 || worstLQ > 1e-9 {
			t.Errorf("%s: sampler disagrees with the references: positions %.3e nm, log-det %.3e, log q %.3e", c.sys, worstPos, worstLD, worstLQ)
		}
		ss.Close()
	}
}
