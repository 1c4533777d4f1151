package mcmc

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLogAcceptance(t *testing.T) {
	const kT = 2.5
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name              string
		u, up, lq, lqp    float64
		want              float64 // NaN: want NaN
		accept, rejectAll bool    // accepted whatever u / rejected whatever u
	}{
		{"equal", -10, -10, 3, 3, 0, true, false},
		{"one kT uphill", 0, kT, 0, 0, -1, false, false},
		{"downhill", 0, -2 * kT, 0, 0, 2, true, false},
		{"q ratio", 0, 0, -4, -1, -3, false, false},
		{"energy and q cancel", 0, 3 * kT, 1, -2, 0, true, false},
		// kJ/mol of a clashing proposal: exp would overflow; the log does not.
		{"huge proposal energy", -50, 1e10, -30, -40, -50/kT - 1e10/kT + 10, false, true},
		{"huge energies of both signs", -1e308, 1e308, 0, 0, math.Inf(-1), false, true},
		{"huge downhill", 1e308, -1e308, 0, 0, inf, true, false},
		{"infinite proposal energy", 0, inf, 0, 0, math.Inf(-1), false, true},
		{"infinite energy, infinite q ratio", 0, inf, 0, math.Inf(-1), nan, false, true},
		{"NaN proposal energy", 0, nan, 0, 0, nan, false, true},
		{"NaN current energy", nan, 0, 0, 0, nan, false, true},
		{"NaN log q", 0, 0, nan, 0, nan, false, true},
		{"NaN proposal log q", 0, 0, 0, nan, nan, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := LogAcceptance(c.u, c.up, c.lq, c.lqp, kT)
			if math.IsNaN(c.want) {
				if !math.IsNaN(got) {
					t.Fatalf("log acceptance %v, want NaN", got)
				}
			} else if got != c.want && math.Abs(got-c.want) > 1e-12*math.Max(1, math.Abs(c.want)) {
				t.Fatalf("log acceptance %v, want %v", got, c.want)
			}
			p := AcceptanceProbability(got)
			if math.IsNaN(p) || p < 0 || p > 1 {
				t.Errorf("acceptance probability %v", p)
			}
			for _, u := range []float64{1e-300, 0.3, 0.999999, 1} {
				a := Accept(got, u)
				if c.accept && !a {
					t.Errorf("u=%v: rejected, want accepted", u)
				}
				if c.rejectAll && a {
					t.Errorf("u=%v: accepted, want rejected", u)
				}
			}
		})
	}
	for _, kt := range []float64{0, -1, math.Inf(1), math.NaN()} {
		if got := LogAcceptance(0, 0, 0, 0, kt); !math.IsNaN(got) {
			t.Errorf("kT=%v: log acceptance %v, want NaN", kt, got)
		}
	}
}

// The sampler accepts with the probability min(1, exp(log a)).
func TestSamplerRate(t *testing.T) {
	const kT = 2.494
	if _, err := NewSampler(0, 1); err == nil {
		t.Error("kT=0 accepted")
	}
	for _, la := range []float64{-3, -1, -0.1, 0.5} {
		s, err := NewSampler(kT, 42)
		if err != nil {
			t.Fatal(err)
		}
		const n = 200000
		for range n {
			// -(u'-u)/kT = la with equal log q's.
			m := s.Decide(0, -la*kT, 0, 0)
			if math.Abs(m.LogAcceptance-la) > 1e-12 {
				t.Fatalf("log acceptance %v, want %v", m.LogAcceptance, la)
			}
		}
		want := math.Min(1, math.Exp(la))
		sd := math.Sqrt(want * (1 - want) / n)
		if s.Moves() != n || math.Abs(s.Rate()-want) > 5*sd+1e-12 || float64(s.Accepted())/n != s.Rate() {
			t.Errorf("log a = %v: %d of %d accepted (rate %.5f), want %.5f ± %.5f", la, s.Accepted(), s.Moves(), s.Rate(), want, 5*sd)
		}
	}
	// One variate per move: the same seed gives the same decisions.
	a, _ := NewSampler(kT, 7)
	b, _ := NewSampler(kT, 7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		up := r.NormFloat64() * kT
		if a.Decide(0, up, 0, 0).Accepted != b.Decide(0, up, 0, 0).Accepted {
			t.Fatalf("move %d: same seed, different decision", i)
		}
	}
}
