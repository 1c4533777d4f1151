package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gobg/gobg/energy"
)

func TestKishESSSimple(t *testing.T) {
	const n = 1000
	equal := make([]float64, n)
	dominant := make([]float64, n)
	for i := range equal {
		equal[i] = 3.7
		dominant[i] = 1e-9
	}
	dominant[17] = 1
	half := make([]float64, n) // half the weights 0, the rest equal: ESS = n/2
	for i := 0; i < n; i += 2 {
		half[i] = 2
	}
	for _, c := range []struct {
		name string
		w    []float64
		want float64
		tol  float64
	}{
		{"all equal", equal, n, 1e-9},
		{"one dominant", dominant, (1 + 999e-9) * (1 + 999e-9) / (1 + 999e-18), 1e-12},
		{"half zero", half, n / 2, 1e-9},
		{"all zero", make([]float64, n), 0, 0},
		{"huge", []float64{1e300, 1e300}, 2, 1e-12},
	} {
		if got := KishESS(c.w); math.Abs(got-c.want) > c.tol*math.Max(1, c.want) {
			t.Errorf("%s: ESS = %.12g, want %g", c.name, got, c.want)
		}
	}
}

func TestImportanceWeightsNonFinite(t *testing.T) {
	kt := energy.KT(300)
	// Log weights of 1e5: exp would overflow without log-sum-exp.
	e := []float64{-1e5 * kt, -1e5 * kt, math.NaN(), math.Inf(1), -1e5 * kt, -1e5 * kt}
	logq := []float64{0, 0, 0, 0, math.Inf(-1), math.NaN()}
	w, err := ImportanceWeights(e, logq, 300)
	if err != nil {
		t.Fatal(err)
	}
	if w.NonFinite != 4 {
		t.Errorf("NonFinite = %d, want 4", w.NonFinite)
	}
	want := []float64{0.5, 0.5, 0, 0, 0, 0}
	for i := range want {
		if math.Abs(w.W[i]-want[i]) > 1e-15 {
			t.Errorf("W[%d] = %g, want %g", i, w.W[i], want[i])
		}
	}
	if math.Abs(w.ESS-2) > 1e-12 || math.Abs(w.ESSFraction-2.0/6) > 1e-12 {
		t.Errorf("ESS = %g (fraction %g), want 2 (1/3)", w.ESS, w.ESSFraction)
	}
	// log Z = log(1/6 * 2 e^{1e5})
	if wantZ := 1e5 + math.Log(2.0/6); math.Abs(float64(w.LogZ)-wantZ) > 1e-9 {
		t.Errorf("LogZ = %.12g, want %.12g", float64(w.LogZ), wantZ)
	}

	allBad, err := ImportanceWeights([]float64{math.NaN(), math.NaN()}, []float64{0, 0}, 300)
	if err != nil {
		t.Fatal(err)
	}
	if allBad.ESS != 0 || allBad.NonFinite != 2 || !math.IsInf(float64(allBad.LogZ), -1) {
		t.Errorf("all non-finite: %+v", allBad)
	}

	for _, c := range []struct {
		name string
		e, q []float64
		temp float64
	}{
		{"length mismatch", []float64{1}, []float64{1, 2}, 300},
		{"zero temperature", []float64{1}, []float64{1}, 0},
		{"NaN temperature", []float64{1}, []float64{1}, math.NaN()},
		{"no samples", nil, nil, 300},
	} {
		if _, err := ImportanceWeights(c.e, c.q, c.temp); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestESSGaussian draws from q = N(0, s²) and weights towards p = N(0, 1).
// With w = p/q, E_q[w] = 1 and E_q[w²] = ∫p²/q = s²/sqrt(2s²-1) (for
// s² > 1/2), so ESS/N → (E_q w)²/E_q[w²] = sqrt(2s²-1)/s². The unnormalised
// target exp(-x²/2) has log Z = log sqrt(2 pi).
func TestESSGaussian(t *testing.T) {
	const n = 200000
	const temp = 300.0
	kt := energy.KT(temp)
	for _, c := range []struct {
		s   float64
		tol float64 // relative; several times the Monte-Carlo error of E[w²] at this n
	}{
		{0.9, 0.01},
		{1.5, 0.01},
		{3, 0.02},
	} {
		rng := rand.New(rand.NewPCG(1, uint64(c.s*1000)))
		e := make([]float64, n)
		logq := make([]float64, n)
		for i := range e {
			x := c.s * rng.NormFloat64()
			e[i] = kt * x * x / 2
			logq[i] = -x*x/(2*c.s*c.s) - math.Log(c.s*math.Sqrt(2*math.Pi))
		}
		w, err := ImportanceWeights(e, logq, temp)
		if err != nil {
			t.Fatal(err)
		}
		s2 := c.s * c.s
		want := math.Sqrt(2*s2-1) / s2
		t.Logf("s = %g: ESS/N = %.5f, analytic %.5f; log Z = %.5f, analytic %.5f", c.s, w.ESSFraction, want, float64(w.LogZ), math.Log(math.Sqrt(2*math.Pi)))
		if math.Abs(w.ESSFraction-want) > c.tol*want {
			t.Errorf("s = %g: ESS/N = %.5f, want %.5f", c.s, w.ESSFraction, want)
		}
		if math.Abs(float64(w.LogZ)-math.Log(math.Sqrt(2*math.Pi))) > 0.01 {
			t.Errorf("s = %g: log Z = %.5f, want %.5f", c.s, float64(w.LogZ), math.Log(math.Sqrt(2*math.Pi)))
		}
		// KL(N(0,s²)‖N(0,1)) and the variance of log w = x²(1/s² - 1)/2 + log s + const
		// with x = s·z: (1 - s²)²/2.
		wantKL := (s2-1)/2 - math.Log(c.s)
		wantVar := (1 - s2) * (1 - s2) / 2
		if math.Abs(float64(w.KL)-wantKL) > 0.01+c.tol*wantKL {
			t.Errorf("s = %g: KL = %.5f, want %.5f", c.s, float64(w.KL), wantKL)
		}
		if math.Abs(float64(w.VarLogW)-wantVar) > 3*c.tol*wantVar {
			t.Errorf("s = %g: var(log w) = %.5f, want %.5f", c.s, float64(w.VarLogW), wantVar)
		}
		if ci := w.ESSFractionCI; !(ci[0] <= w.ESSFraction && w.ESSFraction <= ci[1] && ci[0] < ci[1]) {
			t.Errorf("s = %g: bootstrap interval %v does not bracket ESS/N %.5f", c.s, ci, w.ESSFraction)
		}
	}
}

// TestBootstrapESS checks the bootstrap interval of the ESS against its
// spread over independent sample sets: for s = 1.2 Gaussian weights, the
// ESS fractions of 100 fresh sets of 2,000 samples fall inside the
// interval computed from one set about 95% of the time (here: at least
// 80 of 100), and equal weights give a zero-width interval at 1.
func TestBootstrapESS(t *testing.T) {
	const n, sets, s = 2000, 100, 1.2
	kt := energy.KT(300)
	gen := func(seed uint64) *Weights {
		rng := rand.New(rand.NewPCG(7, seed))
		e, logq := make([]float64, n), make([]float64, n)
		for i := range e {
			x := s * rng.NormFloat64()
			e[i] = kt * x * x / 2
			logq[i] = -x*x/(2*s*s) - math.Log(s*math.Sqrt(2*math.Pi))
		}
		w, err := ImportanceWeights(e, logq, 300)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	ci := gen(0).ESSFractionCI
	in := 0
	for k := 1; k <= sets; k++ {
		if f := gen(uint64(k)).ESSFraction; ci[0] <= f && f <= ci[1] {
			in++
		}
	}
	t.Logf("interval %.4f–%.4f holds %d of %d fresh sets", ci[0], ci[1], in, sets)
	if in < 80 {
		t.Errorf("bootstrap interval %.4f–%.4f holds only %d of %d independent ESS fractions", ci[0], ci[1], in, sets)
	}
	eq := BootstrapESS([]float64{0.25, 0.25, 0.25, 0.25}, 50, 1)
	if eq != [2]float64{1, 1} {
		t.Errorf("equal weights: interval %v, want [1 1]", eq)
	}
}
