package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
)

// TestBackboneTorsionsMDTraj compares phi/psi atoms and values on the
// alanine-dipeptide trajectory with mdtraj.compute_phi/compute_psi.
func TestBackboneTorsionsMDTraj(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mdtraj")
	}
	d := loadMD(t, "ala2")
	res := TorsionResidues(d.top)
	if len(res) != 1 {
		t.Fatalf("residues with phi and psi: %v, want one", res)
	}
	phiAt, psiAt, _ := BackboneTorsions(d.top, res[0])
	const n = 2000
	out := testenv.RunPython(t, `
import sys, json, mdtraj as md
t = md.load(sys.argv[1], top=sys.argv[2])[:int(sys.argv[3])]
pi, phi = md.compute_phi(t)
si, psi = md.compute_psi(t)
print("RESULT", json.dumps({"phiatoms": pi.tolist(), "psiatoms": si.tolist(),
                            "phi": phi[:, 0].astype(float).tolist(), "psi": psi[:, 0].astype(float).tolist()}))
`, d.dir+"/traj.dcd", d.dir+"/top.pdb", "2000")
	var want struct {
		PhiAtoms, PsiAtoms [][4]int // JSON keys match field names case-insensitively
		Phi, Psi           []float64
	}
	if err := json.Unmarshal(pythonResult(t, out), &want); err != nil {
		t.Fatal(err)
	}
	if len(want.PhiAtoms) != 1 || want.PhiAtoms[0] != phiAt || want.PsiAtoms[0] != psiAt {
		t.Fatalf("atoms: phi %v psi %v, mdtraj %v %v", phiAt, psiAt, want.PhiAtoms, want.PsiAtoms)
	}
	phi, psi := Dihedrals(d.frames[:n], phiAt), Dihedrals(d.frames[:n], psiAt)
	maxDiff := 0.0
	for f := 0; f < n; f++ {
		for _, pair := range [][2]float64{{phi[f], want.Phi[f]}, {psi[f], want.Psi[f]}} {
			diff := math.Abs(math.Remainder(pair[0]-pair[1], 2*math.Pi))
			maxDiff = math.Max(maxDiff, diff)
		}
	}
	t.Logf("phi/psi of %d ala2 frames: max |Go - mdtraj| = %.2g rad", n, maxDiff)
	if maxDiff > 1e-5 { // mdtraj computes in float32
		t.Errorf("dihedrals differ from mdtraj by up to %g rad", maxDiff)
	}
}

// vonMisesBins returns the probability of each of bins equal bins on
// [-pi, pi) under the von Mises density ∝ exp(kappa cos(x - mu)), by
// Simpson's rule on 200 intervals per bin.
func vonMisesBins(kappa, mu float64, bins int) []float64 {
	p := make([]float64, bins)
	width := 2 * math.Pi / float64(bins)
	const m = 200
	h := width / m
	sum := 0.0
	for b := range p {
		lo := -math.Pi + float64(b)*width
		s := 0.0
		for k := 0; k <= m; k++ {
			c := 2.0
			if k == 0 || k == m {
				c = 1
			} else if k%2 == 1 {
				c = 4
			}
			s += c * math.Exp(kappa*math.Cos(lo+float64(k)*h-mu))
		}
		p[b] = s * h / 3
		sum += p[b]
	}
	for b := range p {
		p[b] /= sum
	}
	return p
}

// vonMises draws from exp(kappa cos(x - mu)) on [-pi, pi) by rejection
// from the uniform distribution.
func vonMises(rng *rand.Rand, kappa, mu float64) float64 {
	for {
		x := -math.Pi + 2*math.Pi*rng.Float64()
		if rng.Float64() < math.Exp(kappa*(math.Cos(x-mu)-1)) {
			return x
		}
	}
}

// buildDipeptides builds n alanine dipeptides (ACE-ALA-NME, ideal Amber
// geometry) with the given phi and psi, by flow/ic's Z-matrix builder: an
// independent path from the angles to the coordinates that Dihedrals
// measures.
func buildDipeptides(t *testing.T, phi, psi []float64) (*molecule.Topology, [][]molecule.Vec3) {
	t.Helper()
	var top *molecule.Topology
	frames := make([][]molecule.Vec3, len(phi))
	for i := range phi {
		tp, x, err := ic.Build("A", true, phi[i], psi[i])
		if err != nil {
			t.Fatal(err)
		}
		if top == nil {
			top = tp
		}
		frames[i] = x
	}
	return top, frames
}

const (
	vmKappaPhi, vmMuPhi = 2.0, -1.4 // a von Mises phi, centred near the beta/PII basins
	vmKappaPsi, vmMuPsi = 1.0, 2.5
)

// TestProfileVonMises: dipeptides whose phi and psi are drawn from von
// Mises distributions must give the analytic bin probabilities. The test
// statistic Σ (n_b - N p_b)² / (N p_b) is chi-square with B-1 = 35 degrees
// of freedom (mean 35, sd 8.4); 80 would be exceeded with probability
// below 1e-4.
func TestProfileVonMises(t *testing.T) {
	const n, bins = 12000, 36
	rng := rand.New(rand.NewPCG(11, 12))
	phi, psi := make([]float64, n), make([]float64, n)
	for i := range phi {
		phi[i] = vonMises(rng, vmKappaPhi, vmMuPhi)
		psi[i] = vonMises(rng, vmKappaPsi, vmMuPsi)
	}
	top, frames := buildDipeptides(t, phi, psi)
	r, err := Evaluate(top, frames, nil, nil, nil, nil, 300, Options{Bins: bins})
	if err != nil {
		t.Fatal(err)
	}
	if r.Torsions == nil {
		t.Fatalf("no torsion report: %v", r.Notes)
	}
	for _, c := range []struct {
		name      string
		prof      *Profile
		kappa, mu float64
	}{
		{"phi", r.Torsions.Phi.Samples, vmKappaPhi, vmMuPhi},
		{"psi", r.Torsions.Psi.Samples, vmKappaPsi, vmMuPsi},
	} {
		p := vonMisesBins(c.kappa, c.mu, bins)
		chi2 := 0.0
		var d []float64
		for b := range p {
			e := n * p[b]
			chi2 += (c.prof.Counts[b] - e) * (c.prof.Counts[b] - e) / e
			d = append(d, float64(c.prof.F[b])+math.Log(p[b]))
		}
		rmse := rmseAfterOffset(d)
		t.Logf("%s: chi2 = %.1f (35 dof); F RMSE vs analytic -log p = %.3f kT", c.name, chi2, rmse)
		if chi2 > 80 {
			t.Errorf("%s: chi2 = %.1f, want below 80", c.name, chi2)
		}
		if c.prof.N != n {
			t.Errorf("%s: %d frames in the profile, want %d", c.name, c.prof.N, n)
		}
	}
	// The 2-D histogram's marginals are the 1-D histograms.
	rama := r.Torsions.RamaSamples
	for i := 0; i < bins; i++ {
		s := 0.0
		for j := 0; j < bins; j++ {
			s += rama.P[i][j]
		}
		if math.Abs(s-r.Torsions.Phi.Samples.P[i]) > 1e-12 {
			t.Fatalf("phi bin %d: Ramachandran marginal %g, profile %g", i, s, r.Torsions.Phi.Samples.P[i])
		}
	}
}

// besselI0 is the modified Bessel function I0(x) = Σ (x/2)^2k / (k!)².
func besselI0(x float64) float64 {
	s, term := 1.0, 1.0
	for k := 1; k < 60; k++ {
		term *= (x / 2) * (x / 2) / float64(k*k)
		s += term
	}
	return s
}

// rmseAfterOffset is the RMS of d about its mean.
func rmseAfterOffset(d []float64) float64 {
	m := 0.0
	for _, v := range d {
		m += v / float64(len(d))
	}
	s := 0.0
	for _, v := range d {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(d)))
}

// TestProfileReweighted: proposals uniform in (phi, psi), so log q =
// -2 log(2 pi) on the torus; energies U = -kT (kappa1 cos(phi-mu1) +
// kappa2 cos(psi-mu2)) make p the product of two von Mises densities. The
// raw profiles are flat, the reweighted ones the von Mises profiles. The
// relative error of a reweighted bin is about sqrt(B/N) (the weights are
// nearly constant within a bin), times ~1.2 for the other angle's weight
// spread: 0.065 kT here, so an RMSE below 0.15 kT and no bin off by more
// than 0.35 kT (over 5 sigma).
func TestProfileReweighted(t *testing.T) {
	const n, bins, temp = 12000, 36, 300.0
	rng := rand.New(rand.NewPCG(13, 14))
	phi, psi := make([]float64, n), make([]float64, n)
	e, logq := make([]float64, n), make([]float64, n)
	kt := energy.KT(temp)
	for i := range phi {
		phi[i] = -math.Pi + 2*math.Pi*rng.Float64()
		psi[i] = -math.Pi + 2*math.Pi*rng.Float64()
		e[i] = -kt * (vmKappaPhi*math.Cos(phi[i]-vmMuPhi) + vmKappaPsi*math.Cos(psi[i]-vmMuPsi))
		logq[i] = -2 * math.Log(2*math.Pi)
	}
	top, frames := buildDipeptides(t, phi, psi)
	r, err := Evaluate(top, frames, logq, e, nil, nil, temp, Options{Bins: bins})
	if err != nil {
		t.Fatal(err)
	}
	if r.Weights == nil || r.Torsions == nil || r.Torsions.Phi.Reweighted == nil {
		t.Fatalf("missing sections: %v", r.Notes)
	}
	// ESS/N -> E_q[w]²/E_q[w²]; for a von Mises target on a uniform
	// proposal E_q[w²]/E_q[w]² = I0(2 kappa)/I0(kappa)², one factor per angle.
	ratio := besselI0(2*vmKappaPhi) / (besselI0(vmKappaPhi) * besselI0(vmKappaPhi)) *
		besselI0(2*vmKappaPsi) / (besselI0(vmKappaPsi) * besselI0(vmKappaPsi))
	t.Logf("ESS = %.0f of %d (%.4f; analytic %.4f)", r.Weights.ESS, n, r.Weights.ESSFraction, 1/ratio)
	if math.Abs(r.Weights.ESSFraction*ratio-1) > 0.03 {
		t.Errorf("ESS fraction %.4f, analytic %.4f", r.Weights.ESSFraction, 1/ratio)
	}
	for _, c := range []struct {
		name      string
		raw, rw   *Profile
		kappa, mu float64
	}{
		{"phi", r.Torsions.Phi.Samples, r.Torsions.Phi.Reweighted, vmKappaPhi, vmMuPhi},
		{"psi", r.Torsions.Psi.Samples, r.Torsions.Psi.Reweighted, vmKappaPsi, vmMuPsi},
	} {
		p := vonMisesBins(c.kappa, c.mu, bins)
		var d, flat []float64
		for b := range p {
			d = append(d, float64(c.rw.F[b])+math.Log(p[b]))
			flat = append(flat, float64(c.raw.F[b]))
		}
		rmse, worst := rmseAfterOffset(d), 0.0
		m := 0.0
		for _, v := range d {
			m += v / float64(len(d))
		}
		for _, v := range d {
			worst = math.Max(worst, math.Abs(v-m))
		}
		// The raw profile of uniform proposals: counts ~ N/B = 333, so F
		// within a few 1/sqrt(333) = 0.055 kT of flat.
		rawRMSE := rmseAfterOffset(flat)
		t.Logf("%s: reweighted F RMSE vs analytic %.3f kT (worst bin %.3f); raw RMSE vs flat %.3f kT", c.name, rmse, worst, rawRMSE)
		if rmse > 0.15 || worst > 0.35 {
			t.Errorf("%s: reweighted profile off by RMSE %.3f, worst %.3f kT", c.name, rmse, worst)
		}
		if rawRMSE > 0.15 {
			t.Errorf("%s: raw profile of uniform proposals not flat: RMSE %.3f kT", c.name, rawRMSE)
		}
	}
}

func TestCompareProfiles(t *testing.T) {
	mk := func(counts []float64) *Profile {
		p, err := FreeEnergyProfile(nil, nil, len(counts))
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, c := range counts {
			total += c
		}
		p.Counts = counts
		for b, c := range counts {
			p.P[b] = c / total
		}
		p.F = floats(freeEnergy(p.P))
		return p
	}
	ref := mk([]float64{100, 400, 200, 10, 0, 60})
	// Twice the counts everywhere: F identical -> RMSE 0 over the 4 bins
	// with >= 50 MD frames.
	c, err := CompareProfiles(ref, mk([]float64{200, 800, 400, 20, 0, 120}), 50)
	if err != nil {
		t.Fatal(err)
	}
	if float64(c.RMSE) > 1e-12 || c.Compared != 4 || c.Missing != 0 {
		t.Errorf("same shape: %+v", c)
	}
	// Bin 2 doubled relative to the rest: F there is lower by log 2; the
	// other three bins agree. Differences (0, 0, -log2, 0) about their mean
	// give RMSE = log2 * sqrt(3)/4.
	c, _ = CompareProfiles(ref, mk([]float64{100, 400, 400, 0, 0, 60}), 50)
	if want := math.Log(2) * math.Sqrt(3) / 4; math.Abs(float64(c.RMSE)-want) > 1e-12 || c.Compared != 4 {
		t.Errorf("one bin doubled: %+v, want RMSE %g", c, want)
	}
	// Bin 5 empty in the test profile: missing, not compared.
	c, _ = CompareProfiles(ref, mk([]float64{100, 400, 200, 10, 0, 0}), 50)
	if c.Missing != 1 || c.Compared != 3 || float64(c.RMSE) > 1e-12 {
		t.Errorf("missing bin: %+v", c)
	}
	c, _ = CompareProfiles(ref, mk([]float64{100, 400, 200, 10, 0, 60}), 1000)
	if c.Compared != 0 || !math.IsNaN(float64(c.RMSE)) {
		t.Errorf("no bin compared: %+v", c)
	}
}

func TestFreeEnergyProfileBins(t *testing.T) {
	// Angles at bin edges and outside [-pi, pi): -pi is bin 0, pi wraps to
	// bin 0, 3pi/2 wraps to -pi/2 (bin 1 of 4), NaN is left out.
	p, err := FreeEnergyProfile([]float64{-math.Pi, math.Pi, 1.5 * math.Pi, 0, 0.1, math.NaN()}, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{2, 1, 2, 0}
	for b := range want {
		if p.Counts[b] != want[b] {
			t.Errorf("counts %v, want %v", p.Counts, want)
			break
		}
	}
	if p.N != 5 || float64(p.F[0]) != 0 || math.Abs(float64(p.F[1])-math.Log(2)) > 1e-15 || !math.IsInf(float64(p.F[3]), 1) {
		t.Errorf("profile %+v", p)
	}
	// Weighted: weights 0 leave a frame out.
	p, _ = FreeEnergyProfile([]float64{-3, -1, 1, 3}, []float64{0, 1, 3, 0}, 4)
	if p.N != 2 || p.P[1] != 0.25 || p.P[2] != 0.75 || p.Counts[2] != 1.5 {
		t.Errorf("weighted profile %+v", p)
	}
	if _, err := FreeEnergyProfile([]float64{1}, []float64{-1}, 4); err == nil {
		t.Error("negative weight: no error")
	}
}

func TestBasinFraction(t *testing.T) {
	const lo, hi = 0, 2 * math.Pi / 3
	nan := math.NaN()
	for _, tc := range []struct {
		name   string
		angles []float64
		w      []float64
		want   float64
	}{
		{"unweighted", []float64{-1, 0.5, 1, 3}, nil, 0.5},
		{"lo inclusive, hi exclusive", []float64{0, hi, -0.1, 1}, nil, 0.5},
		{"wrapped", []float64{2*math.Pi + 0.5, -2*math.Pi - 0.5, 0.5 - 4*math.Pi, -3}, nil, 0.5},
		{"weighted", []float64{0.5, -1, -2}, []float64{0.2, 0.3, 0.5}, 0.2},
		{"NaN angles and zero weights left out", []float64{0.5, nan, -1, 1}, []float64{1, 5, 1, 0}, 0.5},
		{"nothing to count", []float64{nan, 1}, []float64{1, 0}, nan},
	} {
		got := BasinFraction(tc.angles, tc.w, lo, hi)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-15) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
