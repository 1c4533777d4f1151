package mcmc

// Integrated autocorrelation times with Sokal's automatic windowing.
//
// For a stationary series with normalised autocorrelation rho(t), the
// integrated autocorrelation time is tau_int = 1 + 2 sum_{t>=1} rho(t), in the
// convention where N correlated samples are worth N_eff = N / tau_int
// independent ones (tau_int = 1 for independent samples; an AR(1) series
// x_t = a x_{t-1} + noise has tau_int = (1+a)/(1-a)). The sum is cut at the
// smallest window M with M >= c * tau(M), tau(M) = 1 + 2 sum_{t=1..M} rho(t)
// (Sokal 1997, "Monte Carlo methods in statistical mechanics"; c = 5 is his
// advice for roughly exponential decay): a longer window adds noise, a shorter
// one bias. The estimate is trustworthy only when the series is much longer
// than tau_int: Sokal asks for N >= 1000 tau, emcee's rule of thumb is
// N >= 50 tau, which Tau.Reliable checks. (A short series nearly always
// meets the window criterion somewhere, because the mean-subtracted
// autocovariances of a finite series sum to zero, so meeting it proves
// nothing; one of a few values that meets it only at its last lag, where
// tau is 0 up to rounding, gives ErrTooShort.)
//
// Autocovariances are computed with an FFT (O(N log N)), mean-subtracted and
// normalised by N (the usual biased estimator, which keeps the estimated
// autocovariance positive semi-definite).

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// DefaultWindowC is Sokal's window constant c.
const DefaultWindowC = 5.0

// Tau is an integrated autocorrelation time estimate.
type Tau struct {
	// Tau is tau_int in units of the series' spacing (below 1 for an
	// anticorrelated series).
	Tau float64
	// Window is the Sokal window M the sum was cut at.
	Window int
	// N is the length of the series.
	N int
	// Reliable is true when a window met the criterion and N >= MinLength
	// * Tau. Otherwise the series is too short for its correlations and Tau
	// is at best a lower bound.
	Reliable bool
}

// MinLength is the series length, in units of tau_int, below which an
// estimate is flagged unreliable (emcee's rule of thumb).
const MinLength = 50

// NEff is the effective number of independent samples, N / tau_int.
func (t Tau) NEff() float64 { return float64(t.N) / t.Tau }

// ErrConstant is returned for a series without variance, whose
// autocorrelation is undefined.
var ErrConstant = errors.New("mcmc: the series is constant (no variance), so its autocorrelation time is undefined")

// Autocovariance returns the mean-subtracted autocovariances of x at lags
// 0..len(x)-1, each normalised by len(x).
func Autocovariance(x []float64) []float64 {
	n := len(x)
	if n == 0 {
		return nil
	}
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(n)
	// Zero-padding to at least 2n turns the FFT's circular correlation into
	// the linear one; a power of two keeps the transform fast.
	m := 1
	for m < 2*n {
		m <<= 1
	}
	seq := make([]float64, m)
	for i, v := range x {
		seq[i] = v - mean
	}
	fft := fourier.NewFFT(m)
	c := fft.Coefficients(nil, seq)
	for i, v := range c {
		c[i] = complex(real(v)*real(v)+imag(v)*imag(v), 0)
	}
	acf := fft.Sequence(seq, c)
	out := make([]float64, n)
	// The unnormalised transform pair multiplies by m.
	scale := 1 / (float64(m) * float64(n))
	for i := range out {
		out[i] = acf[i] * scale
	}
	return out
}

// IntegratedTime estimates tau_int of one scalar series with Sokal's window
// constant c (<= 0: DefaultWindowC).
func IntegratedTime(x []float64, c float64) (Tau, error) {
	return IntegratedTimeJoint([][]float64{x}, c)
}

// IntegratedTimeJoint estimates one tau_int for a vector-valued series given
// as its components (all of the same length): the autocovariances of the
// components are summed before normalising, rho(t) = sum_k C_k(t) / sum_k
// C_k(0), so each component weighs by its variance. For the unit vector
// (cos theta, sin theta) of an angle this is the circular autocorrelation
// <cos(theta_s+t - theta_s)> (less the mean vector's part), which does not
// depend on where the angle's origin or its ±pi cut lies.
func IntegratedTimeJoint(components [][]float64, c float64) (Tau, error) {
	if c <= 0 {
		c = DefaultWindowC
	}
	if len(components) == 0 {
		return Tau{}, errors.New("mcmc: no series")
	}
	n := len(components[0])
	if n < 2 {
		return Tau{}, fmt.Errorf("mcmc: a series of %d values has no autocorrelation", n)
	}
	sum := make([]float64, n)
	for k, x := range components {
		if len(x) != n {
			return Tau{}, fmt.Errorf("mcmc: component %d has %d values, component 0 has %d", k, len(x), n)
		}
		for i, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Tau{}, fmt.Errorf("mcmc: component %d, value %d is %v", k, i, v)
			}
		}
		for t, v := range Autocovariance(x) {
			sum[t] += v
		}
	}
	// Relative to the values' size: a series constant up to rounding has
	// no meaningful autocorrelation either.
	var scale float64
	for _, x := range components {
		for _, v := range x {
			scale = max(scale, math.Abs(v))
		}
	}
	if !(sum[0] > 1e-24*scale*scale) {
		return Tau{}, ErrConstant
	}
	tau := 1.0
	// Not the last lag: summed over every lag, the mean-subtracted
	// autocovariances cancel, so tau there is 0 up to rounding and would
	// meet the criterion with a meaningless estimate.
	for m := 1; m < n-1; m++ {
		tau += 2 * sum[m] / sum[0]
		// tau > 0: the partial sums of an anticorrelated series swing
		// below zero, where the criterion means nothing.
		if tau > 0 && float64(m) >= c*tau {
			return Tau{Tau: tau, Window: m, N: n, Reliable: float64(n) >= MinLength*tau}, nil
		}
	}
	// Seen in series of a few values: tau then tends to 0, and N / tau to
	// infinity.
	return Tau{}, fmt.Errorf("%w: no window of %d values meets the criterion", ErrTooShort, n)
}

// ErrTooShort is returned for a series too short to show a window where
// Sokal's criterion holds (a few values).
var ErrTooShort = errors.New("mcmc: the series is too short to estimate its autocorrelation time")

// CircularIntegratedTime estimates tau_int of an angle series (radians) from
// its unit vector (cos, sin): see IntegratedTimeJoint.
func CircularIntegratedTime(angles []float64, c float64) (Tau, error) {
	cs, sn := make([]float64, len(angles)), make([]float64, len(angles))
	for i, a := range angles {
		cs[i], sn[i] = math.Cos(a), math.Sin(a)
	}
	return IntegratedTimeJoint([][]float64{cs, sn}, c)
}
