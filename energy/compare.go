package energy

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gobg/gobg/energy/molecule"
)

// RelEnergyError is |a - b| / max(|b|, 1 kJ/mol): the relative error of
// energy a against a reference b, absolute near zero, where a relative
// error means nothing.
func RelEnergyError(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1) }

// RelForceError is ||a - b|| / ||b|| over all atoms (the absolute error
// ||a - b|| when the reference forces b are all zero).
func RelForceError(a, b []molecule.Vec3) float64 {
	var num, den float64
	for i := range b {
		for c := range 3 {
			d := a[i][c] - b[i][c]
			num += d * d
			den += b[i][c] * b[i][c]
		}
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// Named is an energy with the name a comparison reports it by.
type Named struct {
	Name string
	E    Energy
}

// Agreement is one energy's agreement with a reference over a set of
// frames: the largest RelEnergyError and RelForceError over the frames it
// evaluates, the frames it has no finite energy for, and its wall time.
type Agreement struct {
	Path        string  `json:"path"`
	EnergyError float64 `json:"max_energy_rel_error"`
	ForceError  float64 `json:"max_force_rel_error"`
	Seconds     float64 `json:"seconds"`
	Failed      int     `json:"failed_frames"`
}

// Compare evaluates the frames' energies and forces with ref, then with
// each of paths, and returns ref's own row (no error, its time) followed by
// each path's agreement with it. A frame ref has no energy for is an error,
// as nothing could be compared there; a frame a path fails is counted in
// its Failed. before, if not nil, is called with each path's name before
// it runs, for progress.
func Compare(ctx context.Context, frames [][]molecule.Vec3, ref Named, paths []Named, before func(name string)) ([]Agreement, error) {
	start := time.Now()
	want, err := ref.E.Evaluate(ctx, frames, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Name, err)
	}
	out := []Agreement{{Path: ref.Name, Seconds: time.Since(start).Seconds()}}
	for k, e := range want.Errors {
		if e != nil {
			return nil, fmt.Errorf("%s has no energy for frame %d: %w", ref.Name, k, e)
		}
	}
	for _, p := range paths {
		if before != nil {
			before(p.Name)
		}
		start := time.Now()
		res, err := p.E.Evaluate(ctx, frames, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		a := Agreement{Path: p.Name, Seconds: time.Since(start).Seconds()}
		for k := range frames {
			if res.Errors[k] != nil {
				a.Failed++
				continue
			}
			a.EnergyError = max(a.EnergyError, RelEnergyError(res.Energies[k], want.Energies[k]))
			a.ForceError = max(a.ForceError, RelForceError(res.Forces[k], want.Forces[k]))
		}
		out = append(out, a)
	}
	return out, nil
}

// Shift is the energy change from each structure of from to its counterpart
// in to (the same molecule, the same atom order), over the structures: the
// mean of U(to) − U(from) and the largest |U(to) − U(from)|, in kJ/mol. It
// measures what an approximation of the structures (a reconstruction, a
// reduction) costs in energy.
func Shift(ctx context.Context, e Energy, from, to [][]molecule.Vec3) (mean, maxAbs float64, err error) {
	if len(from) != len(to) {
		return 0, 0, fmt.Errorf("energy shift: %d structures against %d", len(from), len(to))
	}
	a, err := e.Evaluate(ctx, from, false)
	if err != nil {
		return 0, 0, err
	}
	b, err := e.Evaluate(ctx, to, false)
	if err != nil {
		return 0, 0, err
	}
	for i := range from {
		d := b.Energies[i] - a.Energies[i]
		mean += d / float64(len(from))
		maxAbs = math.Max(maxAbs, math.Abs(d))
	}
	return mean, maxAbs, nil
}
