package eval

import (
	"fmt"
	"math"
)

// Headline is the handful of numbers a report is judged by, NaN where the
// report could not compute one (no energies, no dipeptide torsions ...).
type Headline struct {
	ESS            Float    `json:"ess"`
	ESSFraction    Float    `json:"ess_fraction"`
	ESSFractionCI  [2]Float `json:"ess_fraction_ci95"`
	KL             Float    `json:"kl_q_p"`
	VarLogW        Float    `json:"var_log_w"`
	MaxWeight      Float    `json:"max_weight"`
	LowerHalfMean  Float    `json:"sample_energy_lower_half_mean_kj_mol"`
	MDLowerHalf    Float    `json:"md_energy_lower_half_mean_kj_mol"`
	ClashFraction  Float    `json:"clash_fraction"`
	DeltaD         Float    `json:"delta_d_nm"`
	PhiRMSERaw     Float    `json:"phi_rmse_raw_kt"`
	PhiRMSEReweigh Float    `json:"phi_rmse_reweighted_kt"`
	PsiRMSERaw     Float    `json:"psi_rmse_raw_kt"`
	PsiRMSEReweigh Float    `json:"psi_rmse_reweighted_kt"`
	// Population of 0 <= phi < 120 degrees (alpha-L, C7ax): MD, samples,
	// reweighted samples.
	PhiPositive [3]Float `json:"phi_positive_md_samples_reweighted"`
}

// Headline picks the report's headline numbers.
func (r *Report) Headline() Headline {
	nan := Float(math.NaN())
	h := Headline{ESS: nan, ESSFraction: nan, ESSFractionCI: [2]Float{nan, nan}, KL: nan, VarLogW: nan, MaxWeight: nan,
		LowerHalfMean: nan, MDLowerHalf: nan, DeltaD: nan, PhiRMSERaw: nan, PhiRMSEReweigh: nan, PsiRMSERaw: nan,
		PsiRMSEReweigh: nan, PhiPositive: [3]Float{nan, nan, nan}}
	if ws := r.Weights; ws != nil {
		h.ESS, h.ESSFraction = Float(ws.ESS), Float(ws.ESSFraction)
		h.ESSFractionCI = [2]Float{Float(ws.ESSFractionCI[0]), Float(ws.ESSFractionCI[1])}
		h.KL, h.VarLogW, h.MaxWeight = ws.KL, ws.VarLogW, Float(ws.MaxWeight)
	}
	if r.SampleEnergy != nil {
		h.LowerHalfMean = r.SampleEnergy.LowerHalfMean
	}
	if r.MDEnergy != nil {
		h.MDLowerHalf = r.MDEnergy.LowerHalfMean
	}
	if r.SampleClashes != nil {
		h.ClashFraction = Float(r.SampleClashes.Fraction)
	}
	if r.Structure != nil {
		h.DeltaD = Float(r.Structure.DeltaD)
	}
	if t := r.Torsions; t != nil {
		if p := t.PositivePhi; p != nil {
			h.PhiPositive = [3]Float{p.MD, Float(p.Samples), p.Reweighted}
		}
		h.PhiRMSERaw, h.PhiRMSEReweigh = comparisonRMSE(t.Phi.SamplesVsMD), comparisonRMSE(t.Phi.ReweightedVsMD)
		h.PsiRMSERaw, h.PsiRMSEReweigh = comparisonRMSE(t.Psi.SamplesVsMD), comparisonRMSE(t.Psi.ReweightedVsMD)
	}
	return h
}

func comparisonRMSE(c *ProfileComparison) Float {
	if c == nil {
		return Float(math.NaN())
	}
	return c.RMSE
}

// SetsESS is the Kish ESS fraction and KL(q‖p) estimate of several
// independent sample sets of the same size: the ESS of heavy-tailed
// weights varies from set to set, and their mean and minimum say by how
// much.
type SetsESS struct {
	Seeds    []uint64 `json:"seeds"`
	Fraction []Float  `json:"ess_fraction"`
	KL       []Float  `json:"kl_q_p"`
	Mean     Float    `json:"ess_fraction_mean"`
	Min      Float    `json:"ess_fraction_min"`
}

// Add adds the set drawn with seed, of sample energies (kJ/mol) and log
// q(x), weighted at temperatureK.
func (s *SetsESS) Add(seed uint64, energies, logQ []float64, temperatureK float64) error {
	w, err := ImportanceWeights(energies, logQ, temperatureK)
	if err != nil {
		return fmt.Errorf("sample set %d (seed %d): %w", len(s.Seeds)+1, seed, err)
	}
	s.Seeds = append(s.Seeds, seed)
	s.Fraction = append(s.Fraction, Float(w.ESSFraction))
	s.KL = append(s.KL, w.KL)
	sum, minF := 0.0, math.Inf(1)
	for _, f := range s.Fraction {
		sum += float64(f)
		minF = math.Min(minF, float64(f))
	}
	s.Mean, s.Min = Float(sum/float64(len(s.Fraction))), Float(minF)
	return nil
}
