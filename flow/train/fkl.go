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

// essWeights returns the host half of the ESS term for log-weights logW:
// loss = log B + log Σ w² - 2 log Σ w, minus the log of the batch's Kish
// effective sample size fraction (0 when every weight is equal, log B when
// one carries everything), and the per-sample factors v_b = 2(s1_b - s2_b)
// with s1 = softmax(logW) and s2 = softmax(2 logW), so that Σ_b v_b ∇f_b
// (f = -logW) is the gradient of loss. s2 - s1 is positive only on the
// largest weights, which is where the ESS is lost.
func essWeights(logW []float64) (v []float64, loss float64) {
	s1, kl := SelfNormalizedWeights(logW)
	v = make([]float64, len(logW))
	if math.IsNaN(kl) {
		return v, math.NaN()
	}
	twice := make([]float64, len(logW))
	for i, l := range logW {
		twice[i] = 2 * l
	}
	s2, _ := SelfNormalizedWeights(twice)
	var sumSq float64
	for i := range v {
		v[i] = 2 * (s1[i] - s2[i])
		sumSq += s1[i] * s1[i]
	}
	// With normalised weights s1, the Kish ESS is 1/Σ s1².
	return v, math.Log(float64(len(logW))) + math.Log(sumSq)
}
