package eval

import (
	"math"
	"testing"

	"github.com/gobg/gobg/energy"
)

// TestSetsESS: with log q = -U/kT + c every weight is equal (ESS fraction
// 1, KL 0); with every other sample's log q raised, each set's numbers are
// ImportanceWeights', and the mean and minimum are over the sets.
func TestSetsESS(t *testing.T) {
	const T = 300.0
	kT := energy.KT(T)
	u := []float64{-10, -4, 3, 7, 12, 20}
	exact, skewed := make([]float64, len(u)), make([]float64, len(u))
	for i, e := range u {
		exact[i] = -e/kT + 2
		skewed[i] = exact[i] + float64(i%2)*1.5
	}
	var s SetsESS
	for k, lq := range [][]float64{exact, skewed} {
		if err := s.Add(uint64(10+k), u, lq, T); err != nil {
			t.Fatal(err)
		}
	}
	w, err := ImportanceWeights(u, skewed, T)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Seeds) != 2 || s.Seeds[0] != 10 || s.Seeds[1] != 11 {
		t.Fatalf("seeds %v, want [10 11]", s.Seeds)
	}
	if math.Abs(float64(s.Fraction[0])-1) > 1e-12 || math.Abs(float64(s.KL[0])) > 1e-12 {
		t.Errorf("exact proposal: ESS fraction %v, KL %v; want 1, 0", s.Fraction[0], s.KL[0])
	}
	if float64(s.Fraction[1]) != w.ESSFraction || s.KL[1] != w.KL || !(w.ESSFraction < 1) {
		t.Errorf("skewed proposal: ESS fraction %v, KL %v; ImportanceWeights gives %v, %v", s.Fraction[1], s.KL[1], w.ESSFraction, w.KL)
	}
	if want := (1 + w.ESSFraction) / 2; math.Abs(float64(s.Mean)-want) > 1e-15 || float64(s.Min) != w.ESSFraction {
		t.Errorf("mean %v, min %v; want %v, %v", s.Mean, s.Min, want, w.ESSFraction)
	}
	if err := s.Add(12, nil, nil, T); err == nil {
		t.Error("an empty set accepted")
	}
}

// TestHeadline: a report without weights, energies or torsions has NaN
// headlines (no clash count: 0), and one with weights carries them over.
func TestHeadline(t *testing.T) {
	h := (&Report{}).Headline()
	for name, v := range map[string]Float{"ess": h.ESS, "kl": h.KL, "lower half": h.LowerHalfMean, "delta d": h.DeltaD,
		"phi rmse": h.PhiRMSERaw, "phi positive": h.PhiPositive[1], "ci": h.ESSFractionCI[0]} {
		if !math.IsNaN(float64(v)) {
			t.Errorf("%s of an empty report: %v, want NaN", name, v)
		}
	}
	if h.ClashFraction != 0 {
		t.Errorf("clash fraction of an empty report %v, want 0", h.ClashFraction)
	}
	w := &Weights{ESS: 3, ESSFraction: 0.5, ESSFractionCI: [2]float64{0.25, 0.75}, KL: 0.125, VarLogW: 0.25, MaxWeight: 0.5}
	h = (&Report{Weights: w, SampleEnergy: &EnergyStats{LowerHalfMean: -7}, Structure: &StructureReport{DeltaD: 0.01}}).Headline()
	if h.ESS != 3 || h.ESSFraction != 0.5 || h.ESSFractionCI != [2]Float{0.25, 0.75} || h.KL != 0.125 || h.VarLogW != 0.25 ||
		h.MaxWeight != 0.5 || h.LowerHalfMean != -7 || h.DeltaD != 0.01 || !math.IsNaN(float64(h.MDLowerHalf)) {
		t.Errorf("headline %+v does not carry the report's numbers", h)
	}
}
