package eval

import (
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
)

// TestAla2HalfVsHalf evaluates the second half of the alanine-dipeptide MD
// against the first half: two samples of the same distribution, so the
// free-energy profiles, ΔD and RMSF must agree up to sampling noise, and
// neither half has clashes. The bounds are loose sanity bounds: for a bin
// with n >= 50 frames in each half the counting error of the F difference
// is sqrt(2/n) <= 0.2 kT, which time correlation inflates.
func TestAla2HalfVsHalf(t *testing.T) {
	d := loadMD(t, "ala2")
	h := len(d.frames) / 2
	r, err := Evaluate(d.top, d.frames[h:], nil, d.energies[h:], d.frames[:h], d.energies[:h], 300, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, st := r.Torsions, r.Structure
	if tr == nil || st == nil || r.SampleEnergy == nil || r.MDEnergy == nil {
		t.Fatalf("missing sections; notes %v", r.Notes)
	}
	if r.Weights != nil {
		t.Error("weights without log q")
	}
	for _, a := range []struct {
		name string
		rep  AngleReport
	}{{"phi", tr.Phi}, {"psi", tr.Psi}} {
		c := a.rep.SamplesVsMD
		t.Logf("%s: half-vs-half F RMSE %.3f kT over %d bins (>= %d frames), %d missing", a.name, float64(c.RMSE), c.Compared, tr.MinCount, c.Missing)
		if !(float64(c.RMSE) < 0.5) || c.Compared < 10 || c.Missing != 0 {
			t.Errorf("%s: %+v", a.name, c)
		}
	}
	t.Logf("selection %s (%d atoms): ΔD %.5f nm; RMSF mean |diff| %.5f nm", st.Selection, len(st.Atoms), st.DeltaD, st.RMSFMeanAbsDiff)
	if st.Selection != SelectionBackbone || len(st.Atoms) != 5 {
		t.Errorf("selection %s %v, want N, CA, C backbone of 3 residues (ACE C, ALA N CA C, NME N)", st.Selection, st.Atoms)
	}
	if st.DeltaD > 0.005 || st.RMSFMeanAbsDiff > 0.005 {
		t.Errorf("halves differ: ΔD %g nm, RMSF %g nm", st.DeltaD, st.RMSFMeanAbsDiff)
	}
	t.Logf("clashes: first half %v; second half %v", r.MDClashes, r.SampleClashes)
	if r.MDClashes.Clashing != 0 || r.SampleClashes.Clashing != 0 {
		t.Errorf("MD frames clash")
	}
	q := func(s *EnergyStats) (out []float64) {
		for _, v := range s.Quantiles {
			out = append(out, float64(v.Value))
		}
		return out
	}
	t.Logf("energy quantiles (kJ/mol): first half %.1f, second %.1f; lower-half mean %.2f / %.2f", q(r.MDEnergy), q(r.SampleEnergy), float64(r.MDEnergy.LowerHalfMean), float64(r.SampleEnergy.LowerHalfMean))
	if math.Abs(float64(r.MDEnergy.Mean-r.SampleEnergy.Mean)) > 2 {
		t.Errorf("mean energies of the halves differ: %v, %v", r.MDEnergy.Mean, r.SampleEnergy.Mean)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

// TestHP35HalfVsHalf: a protein has many phi/psi pairs, so profiles are
// skipped (with a note) and the C-alpha selection is used.
func TestHP35HalfVsHalf(t *testing.T) {
	d := loadMD(t, "hp35")
	h := len(d.frames) / 2
	r, err := Evaluate(d.top, d.frames[h:], nil, d.energies[h:], d.frames[:h], d.energies[:h], 300, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Torsions != nil || !strings.Contains(strings.Join(r.Notes, "\n"), "free-energy profiles skipped") {
		t.Errorf("torsions %v, notes %v", r.Torsions, r.Notes)
	}
	st := r.Structure
	if st == nil || st.Selection != SelectionCA || len(st.Atoms) != 35 {
		t.Fatalf("structure %+v", st)
	}
	t.Logf("HP35 halves: ΔD %.4f nm, RMSF mean |diff| %.4f nm, clashes %v / %v", st.DeltaD, st.RMSFMeanAbsDiff, r.MDClashes, r.SampleClashes)
	if st.DeltaD > 0.05 {
		t.Errorf("ΔD between halves %g nm", st.DeltaD)
	}
	// Choosing a residue gives its profiles.
	r, err = Evaluate(d.top, d.frames[h:], nil, nil, d.frames[:h], nil, 300, Options{FESResidue: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Torsions == nil || r.Torsions.ResidueIndex != 10 {
		t.Errorf("FESResidue 10: %+v", r.Torsions)
	}
	if _, err := Evaluate(d.top, d.frames[h:], nil, nil, d.frames[:h], nil, 300, Options{FESResidue: 0 + len(d.top.Residues)}); err == nil {
		t.Error("FES residue out of range: no error")
	}
}

// brokenSamples returns ala2 frames, some with NaN positions, with
// energies and log q, some non-finite.
func brokenSamples(t *testing.T, d *mdData, n int) (samples [][]molecule.Vec3, e, logq []float64) {
	rng := rand.New(rand.NewPCG(21, 22))
	kt := energy.KT(300)
	for i := 0; i < n; i++ {
		x := append([]molecule.Vec3(nil), d.frames[10000+i]...)
		ei := d.energies[10000+i]
		lq := -ei/kt + 0.5*rng.NormFloat64()
		switch i % 10 {
		case 3:
			x[5][0] = math.NaN()
			ei = math.NaN()
		case 6:
			ei = math.Inf(1)
		case 8:
			lq = math.Inf(-1)
		}
		samples, e, logq = append(samples, x), append(e, ei), append(logq, lq)
	}
	return samples, e, logq
}

func TestEvaluateBrokenSamples(t *testing.T) {
	d := loadMD(t, "ala2")
	samples, e, logq := brokenSamples(t, d, 1000)
	r, err := Evaluate(d.top, samples, logq, e, d.frames[:5000], d.energies[:5000], 300, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Weights.NonFinite != 300 || r.SampleEnergy.NonFinite != 200 || r.SampleClashes.NonFinite != 100 {
		t.Errorf("non-finite counts: weights %d, energies %d, positions %d; want 300, 200, 100",
			r.Weights.NonFinite, r.SampleEnergy.NonFinite, r.SampleClashes.NonFinite)
	}
	if r.SampleClashes.Fraction != 0.1 {
		t.Errorf("clash fraction %g, want 0.1 (the NaN samples)", r.SampleClashes.Fraction)
	}
	if r.Structure == nil || r.Structure.SamplesUsed != 900 || r.Structure.RMSFReweighted == nil {
		t.Errorf("structure %+v; notes %v", r.Structure, r.Notes)
	}
	if r.Torsions.Phi.Samples.N != 900 {
		t.Errorf("phi profile of %d samples, want 900", r.Torsions.Phi.Samples.N)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.SampleEnergy.Quantiles[4].Value != r.SampleEnergy.Quantiles[4].Value || !math.IsInf(float64(back.SampleEnergy.Quantiles[4].Value), 1) {
		t.Errorf("q95 %v after a JSON round trip, want +Inf", back.SampleEnergy.Quantiles[4].Value)
	}

	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"short sample", func() error {
			_, err := Evaluate(d.top, [][]molecule.Vec3{samples[0][:3]}, nil, nil, nil, nil, 300, Options{})
			return err
		}},
		{"energies mismatch", func() error {
			_, err := Evaluate(d.top, samples, nil, e[:5], nil, nil, 300, Options{})
			return err
		}},
		{"NaN in MD", func() error {
			_, err := Evaluate(d.top, samples[:2], nil, nil, samples[3:4], nil, 300, Options{})
			return err
		}},
		{"no samples", func() error {
			_, err := Evaluate(d.top, nil, nil, nil, nil, nil, 300, Options{})
			return err
		}},
		{"negative temperature", func() error {
			_, err := Evaluate(d.top, samples, logq, e, nil, nil, -1, Options{})
			return err
		}},
	} {
		if err := c.run(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestWritePlots draws every figure of a full report and decodes the PNGs.
func TestWritePlots(t *testing.T) {
	d := loadMD(t, "ala2")
	samples, e, logq := brokenSamples(t, d, 2000)
	r, err := Evaluate(d.top, samples, logq, e, d.frames[:10000], d.energies[:10000], 300, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WritePlots(dir, r); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(filepath.Join(dir, "report.json")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{PlotEnergy, PlotRMSF, PlotDistanceDiff, PlotRamachandran, PlotFES} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s: %v", name, b)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 6 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files %v, want the 5 plots and report.json (no temporary files)", names)
	}
	var back Report
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Torsions == nil {
		t.Errorf("report.json: %v", err)
	}
	if os.Getenv("GOBG_EVAL_PLOTS") != "" { // keep the figures to look at
		out := os.Getenv("GOBG_EVAL_PLOTS")
		if err := WritePlots(out, r); err != nil {
			t.Fatal(err)
		}
	}

	// A report with nothing to draw writes nothing; one that cannot be
	// drawn (degenerate energy range) returns an error instead of a panic.
	if err := WritePlots(t.TempDir(), &Report{}); err != nil {
		t.Errorf("empty report: %v", err)
	}
	bad := &Report{EnergyHistogram: &EnergyHistogram{Lo: 1, Hi: 1, Bins: 3, MD: []float64{math.NaN(), 0, 0}}}
	if err := WritePlots(t.TempDir(), bad); err == nil {
		t.Error("degenerate histogram: no error")
	}
}
