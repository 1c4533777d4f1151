package eval

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
)

// Options tune Evaluate. The zero value gives the defaults.
type Options struct {
	// ClashFactor: fraction of the sum of vdW radii below which two heavy
	// atoms clash (0: DefaultClashFactor, 0.7).
	ClashFactor float64
	// Bins of the 1-D free-energy profiles on [-pi, pi) (0: 36, 10 degrees)
	// and of each axis of the Ramachandran histograms (0: 36).
	Bins, Bins2D int
	// MinCount: profiles are compared over the bins where MD has at least
	// this many frames (0: 50).
	MinCount int
	// FESResidue is the index (in Topology.Residues) of the residue whose
	// phi/psi are profiled. 0 picks the only residue that has both (the
	// alanine of a capped dipeptide) and skips the profiles, with a note,
	// when there is not exactly one; residue 0 never has a phi, so 0 is
	// never a real choice. -1 skips the profiles.
	FESResidue int
	// AlignIterations for RMSF (0: DefaultAlignIterations).
	AlignIterations int
	// EnergyBins of the energy histogram (0: 60) and its range in kJ/mol
	// (both 0: from the MD energies, see EnergyHistogram).
	EnergyBins  int
	EnergyRange [2]float64
}

func (o Options) withDefaults() Options {
	if o.ClashFactor == 0 {
		o.ClashFactor = DefaultClashFactor
	}
	if o.Bins == 0 {
		o.Bins = 36
	}
	if o.Bins2D == 0 {
		o.Bins2D = 36
	}
	if o.MinCount == 0 {
		o.MinCount = 50
	}
	if o.AlignIterations == 0 {
		o.AlignIterations = DefaultAlignIterations
	}
	if o.EnergyBins == 0 {
		o.EnergyBins = 60
	}
	return o
}

// Report gathers every metric of one evaluation. Sections that could not
// be computed (no log q, no MD, not a dipeptide) are nil and Notes says
// why. Scalars of type Float are null in JSON when not computed or not
// defined.
type Report struct {
	TemperatureK float64 `json:"temperature_k"`
	NumSamples   int     `json:"num_samples"`
	NumMD        int     `json:"num_md"`

	// Weights are the importance weights of the samples (needs log q and
	// sample energies).
	Weights *Weights `json:"weights,omitempty"`

	SampleEnergy *EnergyStats `json:"sample_energy,omitempty"`
	MDEnergy     *EnergyStats `json:"md_energy,omitempty"`
	// ReweightedMeanEnergy is Σ w_i U_i (kJ/mol), the importance-sampling
	// estimate of the Boltzmann mean energy: compare with MDEnergy.Mean.
	ReweightedMeanEnergy Float            `json:"reweighted_mean_energy"`
	EnergyHistogram      *EnergyHistogram `json:"energy_histogram,omitempty"`

	SampleClashes *ClashStats `json:"sample_clashes,omitempty"`
	MDClashes     *ClashStats `json:"md_clashes,omitempty"`

	Structure *StructureReport `json:"structure,omitempty"`
	Torsions  *TorsionReport   `json:"torsions,omitempty"`

	Notes []string `json:"notes,omitempty"`
}

// StructureReport compares backbone geometry of samples and MD.
type StructureReport struct {
	// Selection is SelectionCA or SelectionBackbone (see BackboneAtoms);
	// Atoms names the selected atoms in order.
	Selection string   `json:"selection"`
	Atoms     []string `json:"atoms"`
	// SamplesUsed counts the samples with finite positions (the others are
	// left out of every structural metric).
	SamplesUsed int `json:"samples_used"`

	// DeltaD is ΔD between samples and MD (nm); DeltaDReweighted uses the
	// importance-weighted mean distance matrix of the samples.
	DeltaD                 float64     `json:"delta_d_nm"`
	DeltaDReweighted       Float       `json:"delta_d_reweighted_nm"`
	MeanDistanceMD         [][]float64 `json:"mean_distance_md_nm"`
	MeanDistanceSamples    [][]float64 `json:"mean_distance_samples_nm"`
	MeanDistanceReweighted [][]float64 `json:"mean_distance_reweighted_nm,omitempty"`

	// RMSF of each selected atom (nm), and RMSFDiff = samples - MD.
	RMSFMD         []float64 `json:"rmsf_md_nm"`
	RMSFSamples    []float64 `json:"rmsf_samples_nm"`
	RMSFReweighted []float64 `json:"rmsf_reweighted_nm,omitempty"`
	RMSFDiff       []float64 `json:"rmsf_diff_nm"`
	// Mean |RMSF difference| over the atoms, raw and reweighted.
	RMSFMeanAbsDiff           float64 `json:"rmsf_mean_abs_diff_nm"`
	RMSFMeanAbsDiffReweighted Float   `json:"rmsf_mean_abs_diff_reweighted_nm"`
}

// AngleReport holds the free-energy profiles along one backbone angle.
type AngleReport struct {
	Atoms          [4]string          `json:"atoms"`
	MD             *Profile           `json:"md,omitempty"`
	Samples        *Profile           `json:"samples"`
	Reweighted     *Profile           `json:"reweighted,omitempty"`
	SamplesVsMD    *ProfileComparison `json:"samples_vs_md,omitempty"`
	ReweightedVsMD *ProfileComparison `json:"reweighted_vs_md,omitempty"`
}

// TorsionReport holds phi/psi free-energy profiles and Ramachandran
// histograms of one residue.
type TorsionReport struct {
	Residue      string `json:"residue"`
	ResidueIndex int    `json:"residue_index"`
	Bins         int    `json:"bins"`
	Bins2D       int    `json:"bins_2d"`
	MinCount     int    `json:"min_count"`

	Phi AngleReport `json:"phi"`
	Psi AngleReport `json:"psi"`

	// PositivePhi is the population of 0 <= phi < 2pi/3 (the alpha-L and
	// C7ax basins), in MD, in the samples and reweighted. The reweighted
	// value is the Boltzmann population if the flow covers the basin; MD
	// started elsewhere may never reach it, so it is reported apart from the
	// profile RMSE, which only compares bins MD has sampled.
	PositivePhi *BasinPopulation `json:"positive_phi,omitempty"`

	RamaMD         *Ramachandran `json:"rama_md,omitempty"`
	RamaSamples    *Ramachandran `json:"rama_samples"`
	RamaReweighted *Ramachandran `json:"rama_reweighted,omitempty"`
}

// EnergyHistogram bins energies (kJ/mol) on [Lo, Hi) for the energy plot.
// Unless Options.EnergyRange sets it, the range is the MD range widened by
// half its width below and its full width above (samples of a poor flow
// reach 1e6..1e10 kJ/mol; a linear axis to there would hide everything),
// or without MD energies the samples' 1..99 % quantile range widened by 10 %
// each way. Energies outside are counted, not binned.
type EnergyHistogram struct {
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	Bins int     `json:"bins"`
	// Fractions of each set in each bin (of all its frames, so the mass
	// outside the range shows as a deficit); Reweighted sums the
	// normalised importance weights.
	MD         []float64 `json:"md,omitempty"`
	Samples    []float64 `json:"samples,omitempty"`
	Reweighted []float64 `json:"reweighted,omitempty"`

	// Frames below Lo, at or above Hi, and with no finite energy.
	MDBelow          int `json:"md_below"`
	MDAbove          int `json:"md_above"`
	MDNonFinite      int `json:"md_non_finite"`
	SamplesBelow     int `json:"samples_below"`
	SamplesAbove     int `json:"samples_above"`
	SamplesNonFinite int `json:"samples_non_finite"`
}

// histogramEnergies fills counts (fractions) and returns below, above,
// non-finite.
func histogramEnergies(e, w []float64, lo, hi float64, bins int) (frac []float64, below, above, bad int) {
	frac = make([]float64, bins)
	width := (hi - lo) / float64(bins)
	for i, v := range e {
		wi := 1 / float64(len(e))
		if w != nil {
			wi = w[i]
		}
		switch {
		case !finite(v):
			bad++
		case v < lo:
			below++
		case v >= hi:
			above++
		default:
			b := min(int((v-lo)/width), bins-1)
			frac[b] += wi
		}
	}
	return frac, below, above, bad
}

func newEnergyHistogram(sampleE, mdE, w []float64, opts Options) (*EnergyHistogram, error) {
	lo, hi := opts.EnergyRange[0], opts.EnergyRange[1]
	if lo == 0 && hi == 0 {
		if st := SummarizeEnergies(mdE); len(mdE) > 0 && finite(float64(st.Min)) {
			mn, mx := float64(st.Min), float64(st.Max)
			width := mx - mn
			if width == 0 {
				width = 10
			}
			lo, hi = mn-0.5*width, mx+width
		} else {
			var fin []float64
			for _, v := range sampleE {
				if finite(v) {
					fin = append(fin, v)
				}
			}
			if len(fin) == 0 {
				return nil, fmt.Errorf("no finite energies to histogram")
			}
			q := Quantiles(fin, []float64{0.01, 0.99})
			width := q[1] - q[0]
			if width == 0 {
				width = 10
			}
			lo, hi = q[0]-0.1*width, q[1]+0.1*width
		}
	}
	if !(lo < hi) || !finite(lo) || !finite(hi) {
		return nil, fmt.Errorf("energy range [%g, %g) is empty", lo, hi)
	}
	if opts.EnergyBins < 1 {
		return nil, fmt.Errorf("%d energy bins", opts.EnergyBins)
	}
	h := &EnergyHistogram{Lo: lo, Hi: hi, Bins: opts.EnergyBins}
	if len(mdE) > 0 {
		h.MD, h.MDBelow, h.MDAbove, h.MDNonFinite = histogramEnergies(mdE, nil, lo, hi, opts.EnergyBins)
	}
	if len(sampleE) > 0 {
		h.Samples, h.SamplesBelow, h.SamplesAbove, h.SamplesNonFinite = histogramEnergies(sampleE, nil, lo, hi, opts.EnergyBins)
		if w != nil {
			h.Reweighted, _, _, _ = histogramEnergies(sampleE, w, lo, hi, opts.EnergyBins)
		}
	}
	return h, nil
}

// Evaluate computes every metric of a set of flow samples against MD.
//
//   - top: the system's topology, bonds set (molecule.ReadPDBFile sets them).
//   - samples: flow samples, positions in nm, one per topology atom.
//   - logq: log q(x) of each sample under the flow, on the space described
//     at LogWeights; nil skips the importance weights and every reweighted
//     metric.
//   - sampleEnergies: potential energies of the samples (kJ/mol); nil skips
//     energy statistics and weights.
//   - md, mdEnergies: reference MD frames and their energies; either may be
//     nil (comparisons then are skipped).
//   - temperatureK: the temperature of the Boltzmann distribution.
//
// It returns an error for inconsistent input (lengths, atom counts, a
// non-finite MD position, bad options); broken samples (non-finite
// positions or energies) are counted, never an error.
func Evaluate(top *molecule.Topology, samples [][]molecule.Vec3, logq []float64, sampleEnergies []float64, md [][]molecule.Vec3, mdEnergies []float64, temperatureK float64, opts Options) (*Report, error) {
	if top == nil {
		return nil, fmt.Errorf("eval: no topology")
	}
	opts = opts.withDefaults()
	natoms := top.NumAtoms()
	for f, x := range samples {
		if len(x) != natoms {
			return nil, fmt.Errorf("eval: sample %d has %d positions, the topology has %d atoms", f, len(x), natoms)
		}
	}
	if err := checkFrames(md, natoms, nil); err != nil {
		return nil, fmt.Errorf("eval: MD: %w", err)
	}
	for f, x := range md {
		if k := firstNonFinite(x); k >= 0 {
			return nil, fmt.Errorf("eval: MD frame %d: atom %d has non-finite position %v", f, k, x[k])
		}
	}
	if sampleEnergies != nil && len(sampleEnergies) != len(samples) {
		return nil, fmt.Errorf("eval: %d sample energies for %d samples", len(sampleEnergies), len(samples))
	}
	if logq != nil && len(logq) != len(samples) {
		return nil, fmt.Errorf("eval: %d log q values for %d samples", len(logq), len(samples))
	}
	if mdEnergies != nil && md != nil && len(mdEnergies) != len(md) {
		return nil, fmt.Errorf("eval: %d MD energies for %d MD frames", len(mdEnergies), len(md))
	}
	if err := energy.CheckTemperature(temperatureK); err != nil {
		return nil, fmt.Errorf("eval: temperature %w", err)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("eval: no samples")
	}
	r := &Report{TemperatureK: temperatureK, NumSamples: len(samples), NumMD: len(md), ReweightedMeanEnergy: Float(math.NaN())}
	note := func(format string, args ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, args...)) }

	// Importance weights.
	var w []float64
	switch {
	case logq == nil:
		note("no log q: importance weights and reweighted metrics skipped")
	case sampleEnergies == nil:
		note("no sample energies: importance weights and reweighted metrics skipped")
	default:
		ws, err := ImportanceWeights(sampleEnergies, logq, temperatureK)
		if err != nil {
			return nil, err
		}
		r.Weights = ws
		if ws.ESS > 0 {
			w = ws.W
			r.ReweightedMeanEnergy = Float(WeightedMean(sampleEnergies, w))
		} else {
			note("no sample has a finite weight: reweighted metrics skipped")
		}
	}

	// Energies.
	if sampleEnergies != nil {
		r.SampleEnergy = SummarizeEnergies(sampleEnergies)
	}
	if len(mdEnergies) > 0 {
		r.MDEnergy = SummarizeEnergies(mdEnergies)
	}
	if sampleEnergies != nil || len(mdEnergies) > 0 {
		h, err := newEnergyHistogram(sampleEnergies, mdEnergies, w, opts)
		if err != nil {
			note("energy histogram skipped: %v", err)
		} else {
			r.EnergyHistogram = h
		}
	}

	// Clashes.
	cc, err := NewClashChecker(top, opts.ClashFactor)
	if err != nil {
		return nil, err
	}
	if r.SampleClashes, err = cc.Stats(samples); err != nil {
		return nil, fmt.Errorf("eval: samples: %w", err)
	}
	if len(md) > 0 {
		if r.MDClashes, err = cc.Stats(md); err != nil {
			return nil, fmt.Errorf("eval: MD: %w", err)
		}
	}

	// Finite samples (and their weights) for the structural metrics.
	var good [][]molecule.Vec3
	var goodW []float64
	for f, x := range samples {
		if firstNonFinite(x) >= 0 {
			continue
		}
		good = append(good, x)
		if w != nil {
			goodW = append(goodW, w[f])
		}
	}
	if goodW != nil {
		s := 0.0
		for _, v := range goodW {
			s += v
		}
		if !(s > 0) {
			goodW = nil
			note("no sample with finite positions has a positive weight: reweighted structural metrics skipped")
		}
	}

	if len(md) == 0 {
		note("no MD frames: structural comparison skipped")
	} else if len(good) == 0 {
		note("no sample has finite positions: structural comparison skipped")
	} else {
		sr, err := compareStructure(top, good, goodW, md, opts)
		if err != nil {
			note("structural comparison skipped: %v", err)
		} else {
			r.Structure = sr
		}
	}

	// Torsions.
	tr, msg, err := torsionReport(top, samples, w, md, opts)
	if err != nil {
		return nil, err
	}
	if msg != "" {
		note("%s", msg)
	}
	r.Torsions = tr
	return r, nil
}

func compareStructure(top *molecule.Topology, samples [][]molecule.Vec3, w []float64, md [][]molecule.Vec3, opts Options) (*StructureReport, error) {
	atoms, sel, err := BackboneAtoms(top)
	if err != nil {
		return nil, err
	}
	sr := &StructureReport{Selection: sel, SamplesUsed: len(samples), DeltaDReweighted: Float(math.NaN()), RMSFMeanAbsDiffReweighted: Float(math.NaN())}
	for _, k := range atoms {
		sr.Atoms = append(sr.Atoms, atomLabel(top.Atoms[k]))
	}
	if sr.MeanDistanceMD, err = MeanDistanceMatrix(md, atoms, nil); err != nil {
		return nil, fmt.Errorf("MD: %w", err)
	}
	if sr.MeanDistanceSamples, err = MeanDistanceMatrix(samples, atoms, nil); err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	if sr.DeltaD, err = DistanceDistortion(sr.MeanDistanceSamples, sr.MeanDistanceMD); err != nil {
		return nil, err
	}
	if sr.RMSFMD, _, err = RMSF(md, atoms, nil, opts.AlignIterations); err != nil {
		return nil, fmt.Errorf("MD: %w", err)
	}
	if sr.RMSFSamples, _, err = RMSF(samples, atoms, nil, opts.AlignIterations); err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	sr.RMSFDiff = make([]float64, len(atoms))
	for i := range atoms {
		sr.RMSFDiff[i] = sr.RMSFSamples[i] - sr.RMSFMD[i]
		sr.RMSFMeanAbsDiff += math.Abs(sr.RMSFDiff[i]) / float64(len(atoms))
	}
	if w != nil {
		if sr.MeanDistanceReweighted, err = MeanDistanceMatrix(samples, atoms, w); err != nil {
			return nil, fmt.Errorf("reweighted samples: %w", err)
		}
		dd, err := DistanceDistortion(sr.MeanDistanceReweighted, sr.MeanDistanceMD)
		if err != nil {
			return nil, err
		}
		sr.DeltaDReweighted = Float(dd)
		if sr.RMSFReweighted, _, err = RMSF(samples, atoms, w, opts.AlignIterations); err != nil {
			return nil, fmt.Errorf("reweighted samples: %w", err)
		}
		m := 0.0
		for i := range atoms {
			m += math.Abs(sr.RMSFReweighted[i]-sr.RMSFMD[i]) / float64(len(atoms))
		}
		sr.RMSFMeanAbsDiffReweighted = Float(m)
	}
	return sr, nil
}

// torsionReport returns the phi/psi report, or nil and a note saying why
// there is none; an error only for an explicitly chosen residue that has
// no phi/psi.
func torsionReport(top *molecule.Topology, samples [][]molecule.Vec3, w []float64, md [][]molecule.Vec3, opts Options) (*TorsionReport, string, error) {
	res := opts.FESResidue
	switch {
	case res < 0:
		return nil, "", nil
	case res == 0:
		cand := TorsionResidues(top)
		if len(cand) != 1 {
			return nil, fmt.Sprintf("%d residues have phi and psi: free-energy profiles skipped (set Options.FESResidue)", len(cand)), nil
		}
		res = cand[0]
	case res >= len(top.Residues):
		return nil, "", fmt.Errorf("eval: FES residue %d of %d", res, len(top.Residues))
	}
	phiAt, psiAt, ok := BackboneTorsions(top, res)
	if !ok {
		return nil, "", fmt.Errorf("eval: residue %d (%s) has no phi and psi", res, top.Residues[res])
	}
	tr := &TorsionReport{Residue: top.Residues[res].String(), ResidueIndex: res, Bins: opts.Bins, Bins2D: opts.Bins2D, MinCount: opts.MinCount}
	names := func(at [4]int) (out [4]string) {
		for i, k := range at {
			out[i] = atomLabel(top.Atoms[k])
		}
		return out
	}
	tr.Phi.Atoms, tr.Psi.Atoms = names(phiAt), names(psiAt)

	sPhi, sPsi := Dihedrals(samples, phiAt), Dihedrals(samples, psiAt)
	for f, x := range samples { // a broken sample is no structure, even where its phi is finite
		if firstNonFinite(x) >= 0 {
			sPhi[f], sPsi[f] = math.NaN(), math.NaN()
		}
	}
	var mPhi, mPsi []float64
	if len(md) > 0 {
		mPhi, mPsi = Dihedrals(md, phiAt), Dihedrals(md, psiAt)
	}
	for _, a := range []struct {
		rep     *AngleReport
		sAngles []float64
		mAngles []float64
	}{{&tr.Phi, sPhi, mPhi}, {&tr.Psi, sPsi, mPsi}} {
		var err error
		if a.rep.Samples, err = FreeEnergyProfile(a.sAngles, nil, opts.Bins); err != nil {
			return nil, "", err
		}
		if w != nil {
			if a.rep.Reweighted, err = FreeEnergyProfile(a.sAngles, w, opts.Bins); err != nil {
				return nil, "", err
			}
		}
		if a.mAngles == nil {
			continue
		}
		if a.rep.MD, err = FreeEnergyProfile(a.mAngles, nil, opts.Bins); err != nil {
			return nil, "", err
		}
		c, err := CompareProfiles(a.rep.MD, a.rep.Samples, float64(opts.MinCount))
		if err != nil {
			return nil, "", err
		}
		a.rep.SamplesVsMD = &c
		if a.rep.Reweighted != nil {
			c, err := CompareProfiles(a.rep.MD, a.rep.Reweighted, float64(opts.MinCount))
			if err != nil {
				return nil, "", err
			}
			a.rep.ReweightedVsMD = &c
		}
	}
	tr.PositivePhi = &BasinPopulation{Lo: 0, Hi: 2 * math.Pi / 3, Samples: BasinFraction(sPhi, nil, 0, 2*math.Pi/3)}
	if w != nil {
		tr.PositivePhi.Reweighted = Float(BasinFraction(sPhi, w, 0, 2*math.Pi/3))
	} else {
		tr.PositivePhi.Reweighted = Float(math.NaN())
	}
	tr.PositivePhi.MD = Float(math.NaN())
	if mPhi != nil {
		tr.PositivePhi.MD = Float(BasinFraction(mPhi, nil, 0, 2*math.Pi/3))
	}
	var err error
	if tr.RamaSamples, err = NewRamachandran(sPhi, sPsi, nil, opts.Bins2D); err != nil {
		return nil, "", err
	}
	if w != nil {
		if tr.RamaReweighted, err = NewRamachandran(sPhi, sPsi, w, opts.Bins2D); err != nil {
			return nil, "", err
		}
	}
	if mPhi != nil {
		if tr.RamaMD, err = NewRamachandran(mPhi, mPsi, nil, opts.Bins2D); err != nil {
			return nil, "", err
		}
	}
	return tr, "", nil
}

// WriteJSON writes the report as indented JSON to path, atomically.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return fmt.Errorf("eval: encode report: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}
