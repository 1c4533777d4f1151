package eval

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/energy/molecule"
)

// MDCheck says whether an MD trajectory of a peptide looks like a sample of
// its equilibrium, from the backbone torsions of one residue. A generator
// learns whatever ensemble its training frames hold, so a run that lingered
// in a rare basin, or drifted, teaches it the wrong distribution.
type MDCheck struct {
	Residue int `json:"residue"` // residue index whose phi/psi were used
	Frames  int `json:"frames"`
	// PositivePhi is the fraction of frames with 0 <= phi < 180 degrees (the
	// alpha-L and C7ax basins), over all frames and over each quarter of the
	// run in order.
	PositivePhi         float64    `json:"positive_phi"`
	PositivePhiQuarters [4]float64 `json:"positive_phi_quarters"`
	MaxPositivePhi      float64    `json:"max_positive_phi"`
	HalvesTV            float64    `json:"halves_tv"` // total variation between the two halves' phi/psi histograms
	MaxHalvesTV         float64    `json:"max_halves_tv"`
	Equilibrated        bool       `json:"equilibrated"`
	Notes               []string   `json:"notes,omitempty"`
}

// Limits of CheckMD for alanine dipeptide-like peptides in implicit solvent
// at 300 K. The phi > 0 basins hold about 1-2% of the Boltzmann mass and are
// entered roughly once per 50 ns, so a few-ns run that spends more than 5% of
// its frames there has over-sampled them. Two halves of an equilibrium run
// differ by chance: over 4-ns windows of a 20-ns amber99sbildn/OBC run of
// alanine dipeptide, half-versus-half TV on 12x12 bins of 30 degrees was
// 0.06-0.21, so only a larger difference is taken as drift.
const (
	DefaultMaxPositivePhi = 0.05
	DefaultMaxHalvesTV    = 0.3
)

// CheckMD evaluates frames (in order) on the phi/psi of residue res against
// the limits maxPositivePhi and maxHalvesTV (0: the defaults above).
func CheckMD(top *molecule.Topology, frames [][]molecule.Vec3, res int, maxPositivePhi, maxHalvesTV float64) (*MDCheck, error) {
	phiAtoms, psiAtoms, ok := BackboneTorsions(top, res)
	if !ok {
		return nil, fmt.Errorf("check MD: residue %d has no phi and psi", res)
	}
	if len(frames) < 8 {
		return nil, fmt.Errorf("check MD: %d frames; need at least 8", len(frames))
	}
	if maxPositivePhi == 0 {
		maxPositivePhi = DefaultMaxPositivePhi
	}
	if maxHalvesTV == 0 {
		maxHalvesTV = DefaultMaxHalvesTV
	}
	phi, psi := Dihedrals(frames, phiAtoms), Dihedrals(frames, psiAtoms)
	c := &MDCheck{Residue: res, Frames: len(frames), MaxPositivePhi: maxPositivePhi, MaxHalvesTV: maxHalvesTV}
	c.PositivePhi = BasinFraction(phi, nil, 0, math.Pi)
	n := len(phi)
	for q := range 4 {
		c.PositivePhiQuarters[q] = BasinFraction(phi[q*n/4:(q+1)*n/4], nil, 0, math.Pi)
	}
	c.HalvesTV = histogramTV(phi[:n/2], psi[:n/2], phi[n/2:], psi[n/2:], 12)
	c.Equilibrated = true
	if !(c.PositivePhi <= maxPositivePhi) {
		c.Equilibrated = false
		c.Notes = append(c.Notes, fmt.Sprintf("%.1f%% of frames have phi > 0 (alpha-L/C7ax), more than %.0f%%: the run lingered in a basin that holds about 1-2%% of the equilibrium population",
			100*c.PositivePhi, 100*maxPositivePhi))
	}
	if !(c.HalvesTV <= maxHalvesTV) {
		c.Equilibrated = false
		c.Notes = append(c.Notes, fmt.Sprintf("the two halves' phi/psi distributions differ by TV %.2f (more than %.2f): the run drifted", c.HalvesTV, maxHalvesTV))
	}
	return c, nil
}

// histogramTV is the total-variation distance between the bins x bins
// phi/psi histograms of two sets of angles (non-finite angles left out).
func histogramTV(phiA, psiA, phiB, psiB []float64, bins int) float64 {
	hist := func(phi, psi []float64) []float64 {
		h := make([]float64, bins*bins)
		total := 0.0
		for i := range phi {
			a, b := angleBin(phi[i], bins), angleBin(psi[i], bins)
			if a < 0 || b < 0 {
				continue
			}
			h[a*bins+b]++
			total++
		}
		for i := range h {
			h[i] /= total
		}
		return h
	}
	ha, hb := hist(phiA, psiA), hist(phiB, psiB)
	tv := 0.0
	for i := range ha {
		tv += math.Abs(ha[i] - hb[i])
	}
	return tv / 2
}

// CheckMDFiles is CheckMD of a trajectory file and its topology PDB.
func CheckMDFiles(topPath, trajPath string, res int, maxPositivePhi, maxHalvesTV float64) (*MDCheck, error) {
	p, err := molecule.ReadPDBFile(topPath)
	if err != nil {
		return nil, err
	}
	fr, err := molecule.ReadDCDFile(trajPath)
	if err != nil {
		return nil, err
	}
	frames := make([][]molecule.Vec3, len(fr))
	for i, f := range fr {
		frames[i] = f.Positions
	}
	return CheckMD(p.Topology, frames, res, maxPositivePhi, maxHalvesTV)
}
