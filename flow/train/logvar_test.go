package train

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
)

// TestLogVarGradientThroughFlow checks the log-variance and ESS terms end
// to end: the gradient of LogVarSurrogate (with the host factors of
// logVarWeights or essWeights) with respect to a batch of base samples,
// through the perturbed flow and the internal-to-Cartesian map, against
// central finite differences of the term's host value (the batch variance
// of log w, or minus the log of the batch's ESS fraction) with log w =
// -f(U(x(z))/kT) + log|det ∂x/∂z| evaluated with the native energy. Each
// sample's gradient is scaled by its own factor, so a wrong factor or sign
// fails.
func TestLogVarGradientThroughFlow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		factors func([]float64) ([]float64, float64)
	}{
		{"logvar", logVarWeights},
		{"ess", essWeights},
	} {
		t.Run(tc.name, func(t *testing.T) { testFactorGradient(t, tc.factors) })
	}
}

func testFactorGradient(t *testing.T, factors func([]float64) ([]float64, float64)) {
	p := newFlowProbe(t)
	const b = 3
	d, n := p.d, p.n
	grad := p.exec(t, func(ctx *gctx.Context, z, g, v *Node) *Node {
		pos, ld := p.forward(ctx, z)
		return Gradient(LogVarSurrogate(pos, g, ld, v), z)[0]
	})
	// Training frames in base space of a near-identity flow are plausible
	// (finite-energy) base samples; frames 0, 100, 200 differ enough that
	// their f values spread.
	z0 := make([]float64, 0, b*d)
	for _, i := range []int{0, 100, 200} {
		z0 = append(z0, p.tr.data.TrainZ[i*d:(i+1)*d]...)
	}
	// logW returns the log-weights -f_b and the energy gradients g_b of the batch.
	logW := func(z []float64) ([]float64, []float64) {
		f, g := p.at(t, z, b)
		for k := range f {
			f[k] = -f[k]
		}
		return f, g
	}
	variance := func(z []float64) float64 {
		lw, _ := logW(z)
		_, v := factors(lw)
		return v
	}
	logW0, g0 := logW(z0)
	v0, var0 := factors(logW0)
	if _, spread := logVarWeights(logW0); !(spread > 0.1) {
		t.Fatalf("batch variance %.3g: the samples are too alike for this test", spread)
	}
	out, err := grad.Exec(tensorF64(z0, b, d), tensorF64(g0, b, n, 3), tensorF64(v0, b))
	if err != nil {
		t.Fatal(err)
	}
	got := floats(out[0])
	const eps = 1e-6
	worst := 0.0
	for i := 0; i < b*d; i += 7 {
		zp := append([]float64(nil), z0...)
		zm := append([]float64(nil), z0...)
		zp[i] += eps
		zm[i] -= eps
		fd := (variance(zp) - variance(zm)) / (2 * eps)
		rel := math.Abs(got[i]-fd) / (math.Abs(fd) + 1)
		worst = max(worst, rel)
		if rel > 1e-5 { // measured 4.4e-7 (logvar) and 1.3e-8 (ess)
			t.Errorf("sample %d z[%d]: surrogate gradient %.8g, finite difference of the term %.8g (relative difference %.3g, limit 1e-5)", i/d, i%d, got[i], fd, rel)
		}
	}
	t.Logf("term value %.4g; worst relative difference %.3g over %d of %d coordinates", var0, worst, (b*d+6)/7, b*d)
}

// TestLogVarWeights checks the host factors against their definition on
// a small table, and that the variance is the biased (1/B) batch variance.
func TestLogVarWeights(t *testing.T) {
	for _, tc := range []struct {
		logW     []float64
		variance float64
		v        []float64
	}{
		{[]float64{1, 1, 1}, 0, []float64{0, 0, 0}},
		{[]float64{0, 2}, 1, []float64{1, -1}},        // f = 0, -2: mean -1
		{[]float64{-3, 0, 3}, 6, []float64{2, 0, -2}}, // f = 3, 0, -3
	} {
		v, variance := logVarWeights(tc.logW)
		if math.Abs(variance-tc.variance) > 1e-12 {
			t.Errorf("%v: variance %g, want %g", tc.logW, variance, tc.variance)
		}
		for i := range v {
			if math.Abs(v[i]-tc.v[i]) > 1e-12 {
				t.Errorf("%v: v = %v, want %v", tc.logW, v, tc.v)
				break
			}
		}
	}
	if _, variance := logVarWeights([]float64{0, math.NaN()}); !math.IsNaN(variance) {
		t.Errorf("a NaN log-weight gives variance %g, want NaN", variance)
	}
}

// TestESSWeights checks the ESS term's host half: its value against the
// Kish ESS computed from the weights directly, on a table, and its factors
// against central finite differences of the value.
func TestESSWeights(t *testing.T) {
	for _, tc := range []struct {
		name string
		logW []float64
	}{
		{"equal", []float64{-2, -2, -2, -2}},
		{"spread", []float64{0.3, -1.2, 2.0, 0.1, -0.4}},
		{"one dominant", []float64{0, -40, -40}},
		{"large offset", []float64{-700, -701.5, -699}}, // exp underflows without the shift
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, loss := essWeights(tc.logW)
			m := tc.logW[0]
			for _, l := range tc.logW {
				m = max(m, l)
			}
			var s, s2 float64
			for _, l := range tc.logW {
				w := math.Exp(l - m)
				s += w
				s2 += w * w
			}
			frac := s * s / s2 / float64(len(tc.logW))
			if want := -math.Log(frac); math.Abs(loss-want) > 1e-12 {
				t.Errorf("loss %.15g, want -log(ESS/B) = %.15g", loss, want)
			}
			// v_b = d loss / d f_b with f = -log w.
			const eps = 1e-6
			for i := range tc.logW {
				up := append([]float64(nil), tc.logW...)
				dn := append([]float64(nil), tc.logW...)
				up[i] -= eps // f up
				dn[i] += eps
				_, lu := essWeights(up)
				_, ld := essWeights(dn)
				if fd := (lu - ld) / (2 * eps); math.Abs(v[i]-fd) > 1e-7 {
					t.Errorf("v[%d] = %.10g, finite difference %.10g", i, v[i], fd)
				}
			}
		})
	}
	if _, loss := essWeights([]float64{0, math.NaN()}); !math.IsNaN(loss) {
		t.Errorf("a NaN log-weight gives loss %g, want NaN", loss)
	}
	if _, loss := essWeights([]float64{0, -50, -50, -50}); math.Abs(loss-math.Log(4)) > 1e-12 {
		t.Errorf("one weight carrying everything: loss %g, want log 4", loss)
	}
}
