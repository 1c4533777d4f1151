package mcmc

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// ar1 returns an AR(1) series x_t = a x_{t-1} + sqrt(1-a²) e_t with unit
// stationary variance, started in equilibrium; its tau_int is (1+a)/(1-a).
func ar1(n int, a float64, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	x := make([]float64, n)
	x[0] = r.NormFloat64()
	s := math.Sqrt(1 - a*a)
	for i := 1; i < n; i++ {
		x[i] = a*x[i-1] + s*r.NormFloat64()
	}
	return x
}

func TestIntegratedTimeAR1(t *testing.T) {
	const n = 1 << 20
	for _, a := range []float64{0, 0.5, 0.9, 0.98} {
		want := (1 + a) / (1 - a)
		tau, err := IntegratedTime(ar1(n, a, 3), 0)
		if err != nil {
			t.Fatal(err)
		}
		// The estimator's relative standard error is about
		// sqrt(2(2M+1)/N): 2.7% for a = 0.98 (M ~ 5 tau ~ 500), less below.
		tol := 3 * math.Sqrt(2*(2*float64(tau.Window)+1)/n)
		t.Logf("a=%.2f: tau %.3f (exact %.3f, %+.2f%%), window %d, N_eff %.0f", a, tau.Tau, want, 100*(tau.Tau/want-1), tau.Window, tau.NEff())
		if !tau.Reliable || math.Abs(tau.Tau/want-1) > tol || tau.N != n || math.Abs(tau.NEff()-n/tau.Tau) > 1e-9 {
			t.Errorf("a=%.2f: %+v, want tau %.3f within %.1f%%", a, tau, want, 100*tol)
		}
		if float64(tau.Window) < DefaultWindowC*tau.Tau {
			t.Errorf("a=%.2f: window %d below c*tau = %.1f", a, tau.Window, DefaultWindowC*tau.Tau)
		}
	}
}

// The FFT autocovariance equals the direct sum.
func TestAutocovariance(t *testing.T) {
	x := ar1(37, 0.7, 1)
	var mean float64
	for _, v := range x {
		mean += v / float64(len(x))
	}
	got := Autocovariance(x)
	for lag := range x {
		var s float64
		for i := 0; i+lag < len(x); i++ {
			s += (x[i] - mean) * (x[i+lag] - mean)
		}
		s /= float64(len(x))
		if math.Abs(got[lag]-s) > 1e-12 {
			t.Fatalf("lag %d: %v, direct %v", lag, got[lag], s)
		}
	}
}

// An angle that wanders around ±pi (where a raw angle series jumps by 2 pi)
// has the autocorrelation time of the small AR(1) excursion driving it, and
// shifting the angle's origin changes nothing.
func TestCircularIntegratedTime(t *testing.T) {
	const n, a = 1 << 18, 0.8
	x := ar1(n, a, 5)
	wrap := func(v float64) float64 { return math.Remainder(v, 2*math.Pi) }
	near, shifted := make([]float64, n), make([]float64, n)
	for i, v := range x {
		near[i] = wrap(math.Pi + 0.1*v)
		shifted[i] = wrap(1 + 0.1*v)
	}
	t1, err := CircularIntegratedTime(near, 0)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := CircularIntegratedTime(shifted, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := (1 + a) / (1 - a)
	t.Logf("circular tau %.3f (across the cut) %.3f (shifted), AR(1) %.3f", t1.Tau, t2.Tau, want)
	if math.Abs(t1.Tau/want-1) > 0.05 || math.Abs(t1.Tau-t2.Tau) > 1e-6*t1.Tau {
		t.Errorf("circular tau %v and %v, want %v within 5%% and equal", t1.Tau, t2.Tau, want)
	}
	// The raw angle sees jumps of 2 pi and is no estimate at all.
	raw, _ := IntegratedTime(near, 0)
	if math.Abs(raw.Tau/want-1) < 0.2 {
		t.Logf("raw angle tau %.3f happens to be close", raw.Tau)
	}
}

func TestIntegratedTimeErrors(t *testing.T) {
	if _, err := IntegratedTime([]float64{2, 2, 2, 2}, 0); !errors.Is(err, ErrConstant) {
		t.Errorf("constant series: %v", err)
	}
	if _, err := IntegratedTime([]float64{1}, 0); err == nil {
		t.Error("one value: no error")
	}
	if _, err := IntegratedTime([]float64{1, math.NaN(), 2}, 0); err == nil {
		t.Error("NaN: no error")
	}
	if _, err := IntegratedTimeJoint([][]float64{{1, 2, 3}, {1, 2}}, 0); err == nil {
		t.Error("ragged components: no error")
	}
	// 40 values of a series with tau_int 1999 cannot show it.
	tau, err := IntegratedTime(ar1(40, 0.999, 2), 0)
	if err != nil {
		t.Fatal(err)
	}
	if tau.Reliable {
		t.Errorf("40 values of a = 0.999: %+v claims to be reliable", tau)
	}
}

// TestIntegratedTimeTooShort: two or three values never meet the window
// criterion; the estimate is refused rather than tau 0 and an infinite
// N_eff (which JSON cannot even encode).
func TestIntegratedTimeTooShort(t *testing.T) {
	for _, x := range [][]float64{{0.1, 0.7}, {0.1, 0.7, 0.3}} {
		tau, err := CircularIntegratedTime(x, 0)
		if !errors.Is(err, ErrTooShort) {
			t.Errorf("%v: tau %+v (N_eff %v), error %v; want ErrTooShort", x, tau, tau.NEff(), err)
		}
	}
}
