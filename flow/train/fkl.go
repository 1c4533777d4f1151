package train

import "math"

// SelfNormalizedWeights returns the self-normalised importance weights
// wbar = softmax(logW) (computed stably) and log N - H(wbar), the
// self-normalised estimate of the forward KL divergence KL(p‖q) from
// samples of q with log-weights logW = log p̃ - log q: it is 0 when all
// weights are equal and log N when one weight carries everything. Non-finite
// log-weights give NaN.
func SelfNormalizedWeights(logW []float64) (wbar []float64, kl float64) {
	wbar = make([]float64, len(logW))
	m := math.Inf(-1)
	for _, v := range logW {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return wbar, math.NaN()
		}
		m = max(m, v)
	}
	var sum float64
	for i, v := range logW {
		wbar[i] = math.Exp(v - m)
		sum += wbar[i]
	}
	var h float64
	for i := range wbar {
		wbar[i] /= sum
		if wbar[i] > 0 {
			h -= wbar[i] * math.Log(wbar[i])
		}
	}
	return wbar, math.Log(float64(len(logW))) - h
}

// logVarWeights returns the host half of the log-variance term for
// log-weights logW: the batch variance of logW and the per-sample factors
// v_b = 2(f_b - mean f)/B with f = -logW, so that Σ_b v_b ∇f_b is the
// gradient of that variance.
func logVarWeights(logW []float64) (v []float64, variance float64) {
	n := float64(len(logW))
	var mean float64
	for _, w := range logW {
		mean += w / n
	}
	v = make([]float64, len(logW))
	for i, w := range logW {
		d := w - mean
		variance += d * d / n
		v[i] = -2 * d / n
	}
	return v, variance
}
