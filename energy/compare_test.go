package energy

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
)

// springs is U = k Σ |x_i|² - c with forces -2k x_i, whose energies and
// forces are exact in float64; a scale s ≠ 1 multiplies both, so its
// relative errors against s = 1 are |s - 1| exactly (for |U| ≥ 1 kJ/mol).
// fail lists the frames it reports without a finite energy.
type springs struct {
	k, c, scale float64
	fail        map[int]bool
}

func (springs) NumAtoms() int { return 2 }

func (s springs) Evaluate(_ context.Context, x [][]molecule.Vec3, wantForces bool) (Result, error) {
	r := Result{Energies: make([]float64, len(x)), Errors: make([]error, len(x))}
	if wantForces {
		r.Forces = make([][]molecule.Vec3, len(x))
	}
	for b, f := range x {
		if s.fail[b] {
			r.Energies[b], r.Errors[b] = math.NaN(), &SampleError{Index: b, Reason: "test"}
			continue
		}
		u := -s.c
		fs := make([]molecule.Vec3, len(f))
		for i, p := range f {
			for a := range 3 {
				u += s.k * p[a] * p[a]
				fs[i][a] = -2 * s.k * p[a] * s.scale
			}
		}
		r.Energies[b] = u * s.scale
		if wantForces {
			r.Forces[b] = fs
		}
	}
	return r, nil
}

func TestCompare(t *testing.T) {
	frames := [][]molecule.Vec3{{{1, 2, 3}, {-1, 0, 2}}, {{0.5, 0, 1}, {4, -2, 1}}, {{2, 2, 2}, {1, 1, 1}}}
	ref := Named{Name: "ref", E: springs{k: 3, c: 100, scale: 1}}
	const eps = 1.0 / 1024 // a power of two: (1+eps) U is exact
	paths := []Named{
		{Name: "same", E: springs{k: 3, c: 100, scale: 1}},
		{Name: "scaled", E: springs{k: 3, c: 100, scale: 1 + eps}},
		{Name: "fails one", E: springs{k: 3, c: 100, scale: 1, fail: map[int]bool{1: true}}},
	}
	var seen []string
	got, err := Compare(context.Background(), frames, ref, paths, func(n string) { seen = append(seen, n) })
	if err != nil {
		t.Fatal(err)
	}
	want := []Agreement{{Path: "ref"}, {Path: "same"}, {Path: "scaled", EnergyError: eps, ForceError: eps}, {Path: "fails one", Failed: 1}}
	if len(got) != len(want) || len(seen) != len(paths) {
		t.Fatalf("%d rows, %d progress calls; want %d, %d", len(got), len(seen), len(want), len(paths))
	}
	for i, w := range want {
		g := got[i]
		if g.Path != w.Path || math.Abs(g.EnergyError-w.EnergyError) > 1e-15 || math.Abs(g.ForceError-w.ForceError) > 1e-15 ||
			g.Failed != w.Failed || g.Seconds < 0 {
			t.Errorf("row %d: %+v, want %+v", i, g, w)
		}
	}

	bad := Named{Name: "bad ref", E: springs{k: 3, c: 100, scale: 1, fail: map[int]bool{2: true}}}
	if _, err := Compare(context.Background(), frames, bad, paths, nil); !errors.Is(err, ErrNonFinite) {
		t.Errorf("a reference without an energy for a frame: %v, want an error wrapping ErrNonFinite", err)
	}
}

func TestShift(t *testing.T) {
	const k = 2.5
	e := springs{k: k, c: 7, scale: 1}
	from := [][]molecule.Vec3{{{1, 0, 0}, {0, 0, 0}}, {{0, 1, 0}, {0, 0, 0}}}
	to := [][]molecule.Vec3{{{2, 0, 0}, {0, 0, 0}}, {{0, 0, 0}, {0, 0, 0}}}
	// ΔU = k(|to|² − |from|²): 3k for the first pair, −k for the second.
	mean, maxAbs, err := Shift(context.Background(), e, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(mean-k) > 1e-12 || math.Abs(maxAbs-3*k) > 1e-12 {
		t.Errorf("shift: mean %g, max %g; want %g, %g", mean, maxAbs, k, 3*k)
	}
	if _, _, err := Shift(context.Background(), e, from, to[:1]); err == nil {
		t.Error("structures of unequal count: no error")
	}
}
