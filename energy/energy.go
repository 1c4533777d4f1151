// Package energy defines how gobg asks for potential energies: the Energy
// interface on batches of conformations, which every provider implements (the
// OpenMM plugin in package plugin, native Go code), and the conversions that
// training needs on top of raw energies: reduced energies (in units of kT) and
// a regularised energy that keeps the gradients of clashing samples bounded.
//
// Units follow OpenMM: positions in nm, energies in kJ/mol, forces in
// kJ/mol/nm, temperatures in K.
package energy

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gobg/gobg/energy/molecule"
)

// Energy evaluates potential energies of a batch of conformations of one
// system.
type Energy interface {
	// NumAtoms is the number of atoms every conformation must have.
	NumAtoms() int
	// Evaluate returns the potential energy of each conformation
	// positions[b] (NumAtoms positions in nm) and, if wantForces, the forces
	// on its atoms. A conformation that has no finite energy (non-finite
	// input or output) is reported in Result.Errors and does not fail the
	// batch; the returned error is for failures of the whole call (bad shape,
	// a provider that cannot answer, a cancelled context).
	Evaluate(ctx context.Context, positions [][]molecule.Vec3, wantForces bool) (Result, error)
}

// Result holds one batch's answers, indexed like the positions.
type Result struct {
	// Energies in kJ/mol. For a sample with an error the value is not
	// meaningful: NaN when no energy was computed, else the non-finite value
	// found.
	Energies []float64
	// Forces in kJ/mol/nm (the negative gradient of the energy), nil unless
	// asked for. Zero for samples with an error.
	Forces [][]molecule.Vec3
	// Errors[b] is nil when sample b has a finite energy (and finite forces
	// if asked), else why it has none; such errors wrap ErrNonFinite.
	Errors []error
}

// ErrNonFinite is wrapped by every per-sample error in Result.Errors.
var ErrNonFinite = errors.New("no finite energy")

// SampleError says why one sample of a batch has no finite energy.
type SampleError struct {
	Index  int    // the sample's index in the batch
	Reason string // e.g. "non-finite position (atom 3: [NaN, 0, 0])"
}

func (e *SampleError) Error() string { return fmt.Sprintf("sample %d: %s", e.Index, e.Reason) }

// Unwrap makes errors.Is(err, ErrNonFinite) true.
func (e *SampleError) Unwrap() error { return ErrNonFinite }

// Failed counts the samples of r that have an error.
func (r Result) Failed() int {
	n := 0
	for _, err := range r.Errors {
		if err != nil {
			n++
		}
	}
	return n
}

// CheckPositions returns an error unless positions is a batch of
// conformations with n atoms each; providers call it before any work.
func CheckPositions(positions [][]molecule.Vec3, n int) error {
	for b, x := range positions {
		if len(x) != n {
			return fmt.Errorf("energy: sample %d has %d atoms, the system has %d", b, len(x), n)
		}
	}
	return nil
}

// LinLogCut regularises energies for training. Boltzmann-generator samples
// early in training often have clashing atoms with energies of 1e10 kT and
// more; their gradients would swamp every other sample's. The cut keeps the
// energy unchanged up to Cut, grows only logarithmically above it, and stops
// at Max:
//
//	f(u) = u                       for u <= Cut
//	f(u) = Cut + log(1 + u - Cut)  for u >  Cut
//	f(u) = min(f(u), Max)
//
// f is continuous with a continuous first derivative at Cut:
//
//	f'(u) = 1                  for u <= Cut
//	f'(u) = 1 / (1 + u - Cut)  for u >  Cut, while f(u) < Max
//	f'(u) = 0                  where f is clipped at Max
//
// Forces regularise with the same factor: the gradient of f(u(x)) is
// f'(u) * grad u, so regularised forces are f'(u) times the forces.
// Cut and Max are in the units of u; gobg applies the cut to reduced
// energies (units of kT), see DefaultLinLogCut.
type LinLogCut struct {
	Cut float64
	Max float64
}

// DefaultLinLogCut cuts reduced energies at 1000 kT and clips them at
// 1e9 kT. The cut acts on absolute reduced energies: HP35's MD samples at 300 K
// sit near -1250 kT (about -3100 kJ/mol), so the cut is over 2000 kT above
// them; a system whose energies are offset further should choose its own.
var DefaultLinLogCut = LinLogCut{Cut: 1e3, Max: 1e9}

// Value returns f(u) and f'(u). A NaN or +Inf u maps to Max with derivative
// 0, so one broken sample cannot poison a loss; -Inf stays -Inf with
// derivative 1 (it is below Cut), which a caller should treat as an error.
func (c LinLogCut) Value(u float64) (f, df float64) {
	switch {
	case math.IsNaN(u) || math.IsInf(u, 1):
		return c.Max, 0
	case u <= c.Cut:
		f, df = u, 1
	default:
		d := u - c.Cut
		f, df = c.Cut+math.Log1p(d), 1/(1+d)
	}
	if f > c.Max {
		return c.Max, 0
	}
	return f, df
}

// Apply regularises a batch: it returns f(u) and, when forces is not nil,
// f'(u) times each sample's forces (u and forces in consistent units, e.g.
// reduced energies and forces divided by kT). The inputs are not modified.
func (c LinLogCut) Apply(u []float64, forces [][]molecule.Vec3) ([]float64, [][]molecule.Vec3) {
	out := make([]float64, len(u))
	var fout [][]molecule.Vec3
	if forces != nil {
		fout = make([][]molecule.Vec3, len(forces))
	}
	for i, v := range u {
		f, df := c.Value(v)
		out[i] = f
		if forces == nil || i >= len(forces) {
			continue
		}
		fi := make([]molecule.Vec3, len(forces[i]))
		if df == 0 {
			fout[i] = fi // zero, even where the raw forces are not finite
			continue
		}
		for a, x := range forces[i] {
			fi[a] = molecule.Vec3{df * x[0], df * x[1], df * x[2]}
		}
		fout[i] = fi
	}
	return out, fout
}
