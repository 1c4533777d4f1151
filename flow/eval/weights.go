package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gobg/gobg/energy"
)

// Weights are the importance weights of a set of flow samples with respect
// to the Boltzmann distribution p(x) ∝ exp(-u(x)), u = U/kT.
type Weights struct {
	// N is the number of samples, NonFinite how many of them got weight 0
	// because their energy or log q(x) was not finite (see LogWeights).
	N         int `json:"n"`
	NonFinite int `json:"non_finite"`
	// ESS is Kish's effective sample size (Σw)²/Σw², ESSFraction = ESS/N.
	// N counts every sample drawn, the non-finite ones included: they cost
	// as much to draw as the others.
	ESS         float64 `json:"ess"`
	ESSFraction float64 `json:"ess_fraction"`
	// ESSFractionCI is a 95% bootstrap percentile interval of ESSFraction
	// (resampling the samples with replacement). The ESS of a few thousand
	// samples is ruled by its largest weights and changes from sample set
	// to sample set; the interval says by how much. It cannot see weights
	// larger than any drawn, so for heavy-tailed weights it is too narrow
	// on the low side.
	ESSFractionCI [2]float64 `json:"ess_fraction_ci95"`
	// KL is the estimate log Z - mean(log w) of KL(q‖p) in nats over the
	// samples with a finite weight (0 when q = p; biased low when the
	// ESS is small), and VarLogW the variance of their log weights: for
	// log-normal weights ESS/N ≈ exp(-VarLogW) and KL ≈ VarLogW/2.
	KL      Float `json:"kl_q_p"`
	VarLogW Float `json:"var_log_w"`
	// MaxWeight is the largest normalised weight (1 when one sample carries
	// everything, 1/N when all are equal); 0 when no sample has a weight.
	MaxWeight float64 `json:"max_weight"`
	// LogZ is log(1/N Σ w), the importance-sampling estimate of
	// log ∫exp(-u(x))dx over the space on which q is a density (-Inf when
	// no sample has a weight).
	LogZ Float `json:"log_z"`
	// W are the normalised weights (Σ W = 1, 0 for non-finite samples; all
	// 0 when no sample has a weight), indexed like the samples.
	W []float64 `json:"-"`
}

// LogWeights returns log w_i = -U_i/kT - log q(x_i) for energies U in kJ/mol
// at temperature T in K, and how many samples are not finite. A sample whose
// energy or log q is NaN or infinite gets log w = -Inf (weight 0): an
// infinite energy has zero Boltzmann weight, and a NaN energy or a
// non-finite log q means the sample is broken (log q = -Inf would claim the
// flow drew a point it gives no density to), so no finite weight would be
// right for it; the count says how often this happened.
//
// q must be a density on the same space, with respect to the same measure,
// as exp(-u): for a flow whose internal coordinates are all free (full
// mode), q(x) is a density in Cartesian space up to rigid motion, and
// log q must include the log-Jacobian of the internal-to-Cartesian map; for
// a reduced flow (bond lengths and side-chain angles fixed), q is a density
// on the reduced coordinates and the weights target the marginal of
// exp(-u) on that constrained manifold, with the metric factor of the
// constraints either included in log q or shown negligible. Mixing the two
// gives weights that look fine and are wrong.
func LogWeights(energies, logq []float64, temperatureK float64) (logw []float64, nonFinite int, err error) {
	if len(energies) != len(logq) {
		return nil, 0, fmt.Errorf("eval: %d energies and %d log q values", len(energies), len(logq))
	}
	if err := energy.CheckTemperature(temperatureK); err != nil {
		return nil, 0, fmt.Errorf("eval: temperature %w", err)
	}
	kt := energy.KT(temperatureK)
	logw = make([]float64, len(energies))
	for i, e := range energies {
		v := -e/kt - logq[i]
		if !finite(e) || !finite(logq[i]) || !finite(v) {
			logw[i] = math.Inf(-1)
			nonFinite++
			continue
		}
		logw[i] = v
	}
	return logw, nonFinite, nil
}

// NormalizeLogWeights turns log weights into weights that sum to 1 by
// log-sum-exp (so that log weights of -1e4 or +1e4 do not underflow or
// overflow). Entries of -Inf get weight 0; NaN and +Inf entries are treated
// like -Inf. It returns the weights and log Σ exp(logw), which is -Inf (and
// all weights 0) when no entry is finite.
func NormalizeLogWeights(logw []float64) (w []float64, logSum float64) {
	w = make([]float64, len(logw))
	mx := math.Inf(-1)
	for _, v := range logw {
		if finite(v) && v > mx {
			mx = v
		}
	}
	if math.IsInf(mx, -1) {
		return w, math.Inf(-1)
	}
	sum := 0.0
	for i, v := range logw {
		if finite(v) {
			w[i] = math.Exp(v - mx)
			sum += w[i]
		}
	}
	for i := range w {
		w[i] /= sum
	}
	return w, mx + math.Log(sum)
}

// KishESS is Kish's effective sample size (Σw)²/Σw² of non-negative weights
// (normalised or not); 0 when all are 0. Weights are scaled by their maximum
// first, so huge weights do not overflow the squares.
func KishESS(w []float64) float64 {
	mx := 0.0
	for _, v := range w {
		if v > mx {
			mx = v
		}
	}
	if mx == 0 || math.IsInf(mx, 0) {
		return 0
	}
	var s, s2 float64
	for _, v := range w {
		if v > 0 {
			r := v / mx
			s += r
			s2 += r * r
		}
	}
	return s * s / s2
}

// ImportanceWeights computes the normalised importance weights of samples
// with energies U (kJ/mol) and flow log-densities log q at temperature T
// (K), and their effective sample size. See LogWeights for what q must be.
func ImportanceWeights(energies, logq []float64, temperatureK float64) (*Weights, error) {
	if len(energies) == 0 {
		return nil, fmt.Errorf("eval: importance weights of no samples")
	}
	logw, bad, err := LogWeights(energies, logq, temperatureK)
	if err != nil {
		return nil, err
	}
	w, logSum := NormalizeLogWeights(logw)
	n := len(w)
	ess := KishESS(w)
	mx := 0.0
	for _, v := range w {
		mx = math.Max(mx, v)
	}
	logZ := logSum - math.Log(float64(n))
	var mean, m2 float64
	k := 0
	for _, v := range logw {
		if finite(v) {
			// Welford: log weights can be large with a small spread.
			k++
			d := v - mean
			mean += d / float64(k)
			m2 += d * (v - mean)
		}
	}
	kl, variance := math.NaN(), math.NaN()
	if k > 0 {
		kl, variance = logZ-mean, m2/float64(k)
	}
	return &Weights{
		N:             n,
		NonFinite:     bad,
		ESS:           ess,
		ESSFraction:   ess / float64(n),
		ESSFractionCI: BootstrapESS(w, 200, 1),
		MaxWeight:     mx,
		LogZ:          Float(logZ),
		KL:            Float(kl),
		VarLogW:       Float(variance),
		W:             w,
	}, nil
}

// BootstrapESS returns the 2.5% and 97.5% percentiles of the Kish ESS
// fraction over b resamples (with replacement, seeded) of the weights w.
func BootstrapESS(w []float64, b int, seed uint64) [2]float64 {
	n := len(w)
	if n == 0 || b < 2 {
		return [2]float64{math.NaN(), math.NaN()}
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	fr := make([]float64, b)
	rs := make([]float64, n)
	for k := range fr {
		for i := range rs {
			rs[i] = w[r.IntN(n)]
		}
		fr[k] = KishESS(rs) / float64(n)
	}
	sort.Float64s(fr)
	at := func(q float64) float64 { return fr[min(b-1, int(q*float64(b)))] }
	return [2]float64{at(0.025), at(0.975)}
}
