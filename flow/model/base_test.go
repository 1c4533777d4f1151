package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// circleMean returns the mean of g(θ) under exp(κ(cos θ - 1)) on the circle
// and log I0(κ), by the trapezoid rule on n equispaced points, which
// converges geometrically for periodic analytic integrands (the error is
// about I_n(κ)/I_0(κ), negligible for n ≫ √(2κ·37)).
func circleMean(kappa float64, g func(float64) float64) (mean, logI0 float64) {
	const n = 8192
	var s, w float64
	for j := range n {
		th := 2 * math.Pi * float64(j) / n
		e := math.Exp(kappa * (math.Cos(th) - 1))
		w += e
		s += e * g(th)
	}
	return s / w, kappa + math.Log(w/n)
}

var kappaGrid = []float64{1e-8, 1e-4, 0.01, 0.1, 0.5, 1, 2, 5, 10, 19.99, 20, 20.01, 35, 50, 100, 1e3, 1e4, 1e5}

// TestLogI0 compares LogI0 with the trapezoid rule, with the Taylor
// expansion at small κ (relative precision there) and with numpy's i0
// (Cephes' Chebyshev expansions, an independent implementation).
func TestLogI0(t *testing.T) {
	worst := 0.0
	for _, k := range kappaGrid {
		_, want := circleMean(k, func(float64) float64 { return 1 })
		got := LogI0(k)
		e := math.Abs(got-want) / math.Max(1, math.Abs(want))
		worst = math.Max(worst, e)
		if e > 1e-13 {
			t.Errorf("LogI0(%g) = %.17g, trapezoid rule %.17g (rel. error %.2e)", k, got, want, e)
		}
	}
	t.Logf("max relative error against the trapezoid rule: %.2e", worst)
	for _, k := range []float64{1e-8, 1e-5, 1e-3} {
		want := k*k/4 - k*k*k*k/64 + k*k*k*k*k*k/576
		if e := math.Abs(LogI0(k)-want) / want; e > 1e-14 {
			t.Errorf("LogI0(%g) = %.17g, Taylor %.17g (rel. error %.2e)", k, LogI0(k), want, e)
		}
	}
	for _, bad := range []float64{-1, math.NaN()} {
		if v := LogI0(bad); !math.IsNaN(v) {
			t.Errorf("LogI0(%v) = %v, want NaN", bad, v)
		}
	}

	ks := []float64{1e-3, 0.1, 1, 2, 5, 10, 19.99, 20, 25, 50, 100, 300, 700}
	arg, _ := json.Marshal(ks)
	out := testenv.RunPython(t, "import json, sys, numpy as np\nks = json.loads(sys.argv[1])\n"+
		"print(json.dumps([float(np.log(np.i0(k))) for k in ks]))", string(arg))
	var ref []float64
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("numpy output %q: %v", out, err)
	}
	worst = 0
	for i, k := range ks {
		e := math.Abs(LogI0(k)-ref[i]) / math.Max(1, math.Abs(ref[i]))
		worst = math.Max(worst, e)
		if e > 1e-13 {
			t.Errorf("LogI0(%g) = %.17g, numpy %.17g (rel. error %.2e)", k, LogI0(k), ref[i], e)
		}
	}
	t.Logf("max relative error against numpy.i0: %.2e", worst)
}

// TestLogI0Graph checks the graph version and its gradient, d log I0/dκ =
// I1(κ)/I0(κ) = E[cos θ] under the von Mises density (trapezoid rule).
func TestLogI0Graph(t *testing.T) {
	b := testenv.Backend(t)
	for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		exec, err := graph.NewExec(b, func(k *graph.Node) (*graph.Node, *graph.Node) {
			v := LogI0Graph(k)
			return v, graph.Gradient(graph.ReduceAllSum(v), k)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		ks := kappaGrid[1:] // float32 cannot hold 1e-8 squared usefully
		out, err := exec.Exec(tensorOf(dt, ks, len(ks)))
		if err != nil {
			t.Fatal(err)
		}
		vals, grads := graphops.Float64s(out[0]), graphops.Float64s(out[1])
		tolV, tolG := 1e-14, 1e-12
		if dt == dtypes.Float32 {
			tolV, tolG = 2e-6, 2e-5
		}
		var worstV, worstG float64
		for i, k := range ks {
			kk := k
			if dt == dtypes.Float32 {
				kk = float64(float32(k))
			}
			a1, _ := circleMean(kk, math.Cos)
			ev := math.Abs(vals[i]-LogI0(kk)) / math.Max(1, math.Abs(LogI0(kk)))
			eg := math.Abs(grads[i]-a1) / math.Max(1e-3, a1)
			worstV, worstG = math.Max(worstV, ev), math.Max(worstG, eg)
			if ev > tolV || eg > tolG {
				t.Errorf("%s κ=%g: graph log I0 %.17g (host %.17g), gradient %.17g (I1/I0 %.17g)", dt, k, vals[i], LogI0(kk), grads[i], a1)
			}
		}
		t.Logf("%s: max rel. error of value %.2e, of gradient %.2e", dt, worstV, worstG)
	}
}

// TestVonMises checks that the density integrates to one and that the
// sampler reproduces E[cos(θ-μ)] = I1/I0, E[cos 2(θ-μ)] = I2/I0 and
// E[sin(θ-μ)] = 0 within 5 standard errors.
func TestVonMises(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const n = 100000
	for _, c := range []struct{ mu, kappa float64 }{{0.3, 1e-9}, {-2, 0.5}, {3, 2}, {1, 20}, {-3.1, 300}} {
		const m = 4096
		var integral float64
		for j := range m {
			integral += math.Exp(VonMisesLogPDF(-math.Pi+2*math.Pi*float64(j)/m, c.mu, c.kappa))
		}
		integral *= 2 * math.Pi / m
		if math.Abs(integral-1) > 1e-12 {
			t.Errorf("von Mises(%g, %g) integrates to %.15f", c.mu, c.kappa, integral)
		}
		a1, _ := circleMean(c.kappa, math.Cos)
		a2, _ := circleMean(c.kappa, func(x float64) float64 { return math.Cos(2 * x) })
		var s1, s2, sn, q1, q2, qn float64
		for range n {
			th := SampleVonMises(r, c.mu, c.kappa)
			if th < -math.Pi || th >= math.Pi {
				t.Fatalf("sample %v outside [-π, π)", th)
			}
			c1, c2, sn1 := math.Cos(th-c.mu), math.Cos(2*(th-c.mu)), math.Sin(th-c.mu)
			s1, s2, sn = s1+c1, s2+c2, sn+sn1
			q1, q2, qn = q1+c1*c1, q2+c2*c2, qn+sn1*sn1
		}
		for _, mom := range []struct {
			name            string
			sum, sq, expect float64
		}{{"cos", s1, q1, a1}, {"cos2", s2, q2, a2}, {"sin", sn, qn, 0}} {
			mean := mom.sum / n
			se := math.Sqrt(math.Max(mom.sq/n-mean*mean, 1e-300) / n)
			z := (mean - mom.expect) / se
			t.Logf("vM(%g, %g): E[%s] = %.5f, expected %.5f (%.1f SE)", c.mu, c.kappa, mom.name, mean, mom.expect, z)
			if math.Abs(z) > 5 && math.Abs(mean-mom.expect) > 1e-12 {
				t.Errorf("vM(%g, %g): E[%s] = %.6f, expected %.6f (%.1f standard errors)", c.mu, c.kappa, mom.name, mean, mom.expect, z)
			}
		}
	}
}

// TestTruncNormal checks the log-normaliser against Simpson's rule, the
// graph version against the host one, and the sampler's support, mean and
// variance against the closed forms.
func TestTruncNormal(t *testing.T) {
	phi := func(x float64) float64 { return math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) }
	cases := [][2]float64{{-1, 1}, {-3, 0.5}, {-0.2, 0.1}, {2, 4}, {4, 6}, {-6, -4}, {-8, 8}}
	for _, c := range cases {
		a, b := c[0], c[1]
		const m = 20000
		h := (b - a) / m
		s := phi(a) + phi(b)
		for j := 1; j < m; j++ {
			w := 2.0
			if j%2 == 1 {
				w = 4
			}
			s += w * phi(a+float64(j)*h)
		}
		want := math.Log(s * h / 3)
		if got := TruncNormalLogZ(a, b); math.Abs(got-want) > 1e-10 {
			t.Errorf("TruncNormalLogZ(%g, %g) = %.15g, Simpson %.15g", a, b, got, want)
		}
	}
	r := rand.New(rand.NewPCG(31, 32))
	const n = 100000
	for _, c := range cases {
		a, b := c[0], c[1]
		z := math.Exp(TruncNormalLogZ(a, b))
		mean := (phi(a) - phi(b)) / z
		variance := 1 + (a*phi(a)-b*phi(b))/z - mean*mean
		var s, q float64
		for range n {
			x := SampleTruncNormal(r, a, b)
			if x < a || x > b {
				t.Fatalf("TN(%g, %g) sample %v outside the interval", a, b, x)
			}
			s += x
			q += x * x
		}
		m := s / n
		v := q/n - m*m
		se := math.Sqrt(variance / n)
		if math.Abs(m-mean) > 5*se {
			t.Errorf("TN(%g, %g): sample mean %.5f, expected %.5f (SE %.1e)", a, b, m, mean, se)
		}
		// The variance of the sample variance is below 2 var² / n + μ4/n;
		// 6 var/√n is a loose 5σ bound for these light-tailed laws.
		if math.Abs(v-variance) > 6*variance/math.Sqrt(n) {
			t.Errorf("TN(%g, %g): sample variance %.5f, expected %.5f", a, b, v, variance)
		}
	}
	exec, err := graph.NewExec(testenv.Backend(t), truncNormalLogZGraph)
	if err != nil {
		t.Fatal(err)
	}
	var as, bs []float64
	for _, c := range cases[:4] {
		as, bs = append(as, c[0]), append(bs, c[1])
	}
	out, err := exec.Exec(tensorOf(dtypes.Float64, as, len(as)), tensorOf(dtypes.Float64, bs, len(bs)))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range graphops.Float64s(out[0]) {
		if want := TruncNormalLogZ(as[i], bs[i]); math.Abs(v-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("graph log Z(%g, %g) = %.15g, host %.15g", as[i], bs[i], v, want)
		}
	}
}
