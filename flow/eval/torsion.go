package eval

import (
	"fmt"
	"math"
	"slices"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
)

// BackboneTorsions returns the atoms of the backbone dihedrals of residue
// index res: phi = C(i-1)-N(i)-CA(i)-C(i) and psi = N(i)-CA(i)-C(i)-N(i+1),
// found by atom name. The neighbouring residues must be bonded to it
// (C(i-1)-N(i) and C(i)-N(i+1)); ok is false when the residue has no phi
// or no psi (a chain end, a cap, a missing atom).
func BackboneTorsions(top *molecule.Topology, res int) (phi, psi [4]int, ok bool) {
	if top == nil || res <= 0 || res >= len(top.Residues)-1 {
		return phi, psi, false
	}
	prev, r, next := top.Residues[res-1], top.Residues[res], top.Residues[res+1]
	if prev.Chain != r.Chain || next.Chain != r.Chain {
		return phi, psi, false
	}
	cPrev, n, ca, c, nNext := prev.AtomByName("C"), r.AtomByName("N"), r.AtomByName("CA"), r.AtomByName("C"), next.AtomByName("N")
	if cPrev == nil || n == nil || ca == nil || c == nil || nNext == nil {
		return phi, psi, false
	}
	bonded := func(i, j int) bool {
		if i > j {
			i, j = j, i
		}
		return slices.Contains(top.Bonds, molecule.Bond{I: i, J: j})
	}
	if !bonded(cPrev.Index, n.Index) || !bonded(c.Index, nNext.Index) {
		return phi, psi, false
	}
	phi = [4]int{cPrev.Index, n.Index, ca.Index, c.Index}
	psi = [4]int{n.Index, ca.Index, c.Index, nNext.Index}
	return phi, psi, true
}

// TorsionResidues lists the residues that have both phi and psi.
func TorsionResidues(top *molecule.Topology) []int {
	var out []int
	for r := range top.Residues {
		if _, _, ok := BackboneTorsions(top, r); ok {
			out = append(out, r)
		}
	}
	return out
}

// Dihedrals returns the dihedral (radians, [-pi, pi)) of the four atoms in
// every frame; NaN for a frame with a non-finite position among them.
func Dihedrals(frames [][]molecule.Vec3, atoms [4]int) []float64 {
	out := make([]float64, len(frames))
	for f, x := range frames {
		p := [4]molecule.Vec3{x[atoms[0]], x[atoms[1]], x[atoms[2]], x[atoms[3]]}
		if firstNonFinite(p[:]) >= 0 {
			out[f] = math.NaN()
			continue
		}
		out[f] = ic.Dihedral(p[0], p[1], p[2], p[3])
	}
	return out
}

// shiftedAngle returns a + pi wrapped to [0, 2pi).
func shiftedAngle(a float64) float64 {
	a = math.Mod(a+math.Pi, 2*math.Pi)
	if a < 0 {
		a += 2 * math.Pi
	}
	return a
}

// angleBin maps an angle to one of bins equal bins on [-pi, pi); angles
// outside are wrapped; -1 for NaN.
func angleBin(a float64, bins int) int {
	if !finite(a) {
		return -1
	}
	b := int(shiftedAngle(a) / (2 * math.Pi) * float64(bins))
	return min(max(b, 0), bins-1)
}

// BasinPopulation is the fraction of frames with Lo <= angle < Hi
// (radians), in MD, in the samples and in the reweighted samples (NaN where
// there is no such set).
type BasinPopulation struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	MD         Float   `json:"md"`
	Samples    float64 `json:"samples"`
	Reweighted Float   `json:"reweighted"`
}

// BasinFraction returns the weighted fraction of angles (radians, wrapped
// to [-pi, pi)) with lo <= angle < hi, over the finite angles of positive
// weight (w nil: all weigh 1); NaN when there are none.
func BasinFraction(angles, w []float64, lo, hi float64) float64 {
	var in, all float64
	for i, a := range angles {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		if !finite(a) || !(wi > 0) {
			continue
		}
		a = shiftedAngle(a) - math.Pi
		all += wi
		if a >= lo && a < hi {
			in += wi
		}
	}
	if all == 0 {
		return math.NaN()
	}
	return in / all
}

// Profile is a free-energy profile along one angle: a histogram of B equal
// bins on [-pi, pi) and F = -log p in kT, shifted so that its minimum is 0
// (+Inf in empty bins).
type Profile struct {
	Centers []float64 `json:"centers"` // bin centres, radians
	// Counts are the frames in each bin (unweighted) or the sum of the
	// normalised weights in it times the number of frames used
	// (reweighted); N is that number of frames (finite angles with
	// positive weight).
	Counts []float64 `json:"counts"`
	N      int       `json:"n"`
	P      []float64 `json:"p"` // probability of each bin, Σ = 1
	F      []Float   `json:"f_kt"`
}

// FreeEnergyProfile histograms angles (radians) into bins equal bins on
// [-pi, pi), weighted by w (nil: unweighted), and returns the profile.
// NaN angles and frames of weight 0 are left out.
func FreeEnergyProfile(angles, w []float64, bins int) (*Profile, error) {
	if bins < 2 {
		return nil, fmt.Errorf("eval: free-energy profile with %d bins", bins)
	}
	if w != nil && len(w) != len(angles) {
		return nil, fmt.Errorf("eval: %d weights for %d angles", len(w), len(angles))
	}
	p := &Profile{Centers: make([]float64, bins), Counts: make([]float64, bins), P: make([]float64, bins)}
	width := 2 * math.Pi / float64(bins)
	for b := range p.Centers {
		p.Centers[b] = -math.Pi + (float64(b)+0.5)*width
	}
	total := 0.0
	for f, a := range angles {
		b := angleBin(a, bins)
		wf := 1.0
		if w != nil {
			wf = w[f]
			if !(wf >= 0) || math.IsInf(wf, 0) {
				return nil, fmt.Errorf("eval: weight %d is %g", f, wf)
			}
		}
		if b < 0 || wf == 0 {
			continue
		}
		p.Counts[b] += wf
		total += wf
		p.N++
	}
	if total > 0 {
		for b := range p.P {
			p.P[b] = p.Counts[b] / total
			if w != nil {
				p.Counts[b] = p.P[b] * float64(p.N)
			}
		}
	}
	p.F = floats(freeEnergy(p.P))
	return p, nil
}

// freeEnergy returns -log p shifted to a minimum of 0, +Inf where p = 0 (all
// +Inf when p is all 0).
func freeEnergy(p []float64) []float64 {
	f := make([]float64, len(p))
	fmin := math.Inf(1)
	for i, v := range p {
		f[i] = math.Inf(1)
		if v > 0 {
			f[i] = -math.Log(v)
			fmin = math.Min(fmin, f[i])
		}
	}
	if !math.IsInf(fmin, 1) {
		for i := range f {
			f[i] -= fmin
		}
	}
	return f
}

// ProfileComparison compares a profile with a reference (MD) profile.
type ProfileComparison struct {
	// RMSE is the root-mean-square difference of F (kT) over the compared
	// bins, after removing the mean difference: free energies are defined
	// up to a constant, and anchoring both at their own minimum would let
	// the noise of one bin shift every other. NaN when no bin is compared.
	RMSE Float `json:"rmse_kt"`
	// Compared counts the bins where the reference has at least MinCount
	// frames and the profile is finite; Missing those of the reference's
	// well-sampled bins where the profile has nothing (left out of RMSE:
	// report them, a profile that misses a basin is not 'accurate').
	Compared int `json:"compared"`
	Missing  int `json:"missing"`
}

// CompareProfiles compares test with ref over the bins where ref has at
// least minCount frames.
func CompareProfiles(ref, test *Profile, minCount float64) (ProfileComparison, error) {
	if len(ref.F) != len(test.F) {
		return ProfileComparison{}, fmt.Errorf("eval: compare profiles of %d and %d bins", len(ref.F), len(test.F))
	}
	var d []float64
	c := ProfileComparison{RMSE: Float(math.NaN())}
	for b := range ref.F {
		if ref.Counts[b] < minCount || !finite(float64(ref.F[b])) {
			continue
		}
		if !finite(float64(test.F[b])) {
			c.Missing++
			continue
		}
		d = append(d, float64(test.F[b]-ref.F[b]))
	}
	c.Compared = len(d)
	if len(d) == 0 {
		return c, nil
	}
	mean := 0.0
	for _, v := range d {
		mean += v
	}
	mean /= float64(len(d))
	ss := 0.0
	for _, v := range d {
		ss += (v - mean) * (v - mean)
	}
	c.RMSE = Float(math.Sqrt(ss / float64(len(d))))
	return c, nil
}

// Ramachandran is a 2-D free-energy surface over (phi, psi): B x B equal
// bins on [-pi, pi)²; F[i][j] is the bin of phi bin i and psi bin j, in kT,
// minimum 0, +Inf where empty.
type Ramachandran struct {
	Centers []float64   `json:"centers"`
	N       int         `json:"n"`
	F       [][]Float   `json:"f_kt"`
	P       [][]float64 `json:"-"`
}

// NewRamachandran histograms (phi, psi) pairs weighted by w (nil:
// unweighted) into bins x bins bins.
func NewRamachandran(phi, psi, w []float64, bins int) (*Ramachandran, error) {
	if bins < 2 {
		return nil, fmt.Errorf("eval: Ramachandran histogram with %d bins", bins)
	}
	if len(phi) != len(psi) || w != nil && len(w) != len(phi) {
		return nil, fmt.Errorf("eval: Ramachandran histogram of %d phi, %d psi, %d weights", len(phi), len(psi), len(w))
	}
	r := &Ramachandran{Centers: make([]float64, bins), P: make([][]float64, bins), F: make([][]Float, bins)}
	width := 2 * math.Pi / float64(bins)
	for b := range r.Centers {
		r.Centers[b] = -math.Pi + (float64(b)+0.5)*width
	}
	flat := make([]float64, bins*bins)
	total := 0.0
	for f := range phi {
		i, j := angleBin(phi[f], bins), angleBin(psi[f], bins)
		wf := 1.0
		if w != nil {
			wf = w[f]
			if !(wf >= 0) || math.IsInf(wf, 0) {
				return nil, fmt.Errorf("eval: weight %d is %g", f, wf)
			}
		}
		if i < 0 || j < 0 || wf == 0 {
			continue
		}
		flat[i*bins+j] += wf
		total += wf
		r.N++
	}
	if total > 0 {
		for k := range flat {
			flat[k] /= total
		}
	}
	fe := freeEnergy(flat)
	for i := 0; i < bins; i++ {
		r.P[i] = flat[i*bins : (i+1)*bins]
		r.F[i] = floats(fe[i*bins : (i+1)*bins])
	}
	return r, nil
}
