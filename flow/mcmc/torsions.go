package mcmc

import (
	"fmt"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/eval"
	"github.com/gobg/gobg/flow/ic"
)

// TorsionObservable says what BackboneAngles.Autocorrelation measures.
const TorsionObservable = "unit vector (cos, sin) of the angle: circular autocorrelation; Sokal window c=5; N_eff = frames / tau_int"

// TorsionTau is the autocorrelation of one backbone angle over a chain's
// frames.
type TorsionTau struct {
	Residue      string  `json:"residue"` // name and number, e.g. ALA2
	ResidueIndex int     `json:"residue_index"`
	Angle        string  `json:"angle"` // phi or psi
	TauFrames    float64 `json:"tau_int_frames"`
	TauPS        float64 `json:"tau_int_ps"`
	Window       int     `json:"window_frames"`
	Reliable     bool    `json:"reliable"`
	NEff         float64 `json:"n_eff"`
	NEffPerS     float64 `json:"n_eff_per_s"`
	Error        string  `json:"error,omitempty"` // why there is no estimate
}

// BackboneAngles records phi and psi of every residue that has both, frame
// by frame.
type BackboneAngles struct {
	top    *molecule.Topology
	angles []backboneAngle
	series [][]float64
}

type backboneAngle struct {
	index int
	name  string // phi or psi
	atoms [4]int
}

// NewBackboneAngles finds the backbone angles of top.
func NewBackboneAngles(top *molecule.Topology) *BackboneAngles {
	b := &BackboneAngles{top: top}
	for _, r := range eval.TorsionResidues(top) {
		phi, psi, _ := eval.BackboneTorsions(top, r)
		b.angles = append(b.angles, backboneAngle{r, "phi", phi}, backboneAngle{r, "psi", psi})
	}
	b.series = make([][]float64, len(b.angles))
	return b
}

// Add records the angles of one frame.
func (b *BackboneAngles) Add(x []molecule.Vec3) {
	for i, a := range b.angles {
		b.series[i] = append(b.series[i], ic.Dihedral(x[a.atoms[0]], x[a.atoms[1]], x[a.atoms[2]], x[a.atoms[3]]))
	}
}

// Autocorrelation estimates each angle's integrated autocorrelation time
// over the frames (TorsionObservable), with frames framePS apart and N_eff
// per second of wallS.
func (b *BackboneAngles) Autocorrelation(framePS, wallS float64) []TorsionTau {
	out := make([]TorsionTau, 0, len(b.angles))
	for i, a := range b.angles {
		r := b.top.Residues[a.index]
		t := TorsionTau{Residue: fmt.Sprintf("%s%d", r.Name, r.Number), ResidueIndex: a.index, Angle: a.name}
		tau, err := CircularIntegratedTime(b.series[i], DefaultWindowC)
		if err != nil {
			t.Error = err.Error()
		} else {
			t.TauFrames, t.TauPS, t.Window, t.Reliable = tau.Tau, tau.Tau*framePS, tau.Window, tau.Reliable
			t.NEff = tau.NEff()
			if wallS > 0 {
				t.NEffPerS = t.NEff / wallS
			}
		}
		out = append(out, t)
	}
	return out
}
