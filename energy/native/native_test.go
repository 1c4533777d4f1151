package native

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/reftest"
)

// reference runs testdata/reference.py for the MD data of one system: one
// force group per Term, then the total.
func reference(t testing.TB, system string, frames int, extra ...string) *reftest.Data {
	t.Helper()
	return reftest.Reference(t, filepath.Join("testdata", "reference.py"), system, frames, int(NumTerms)+1, extra...)
}

// maxEnergyErr and maxForceErr bound the relative energy error and the
// relative RMS force error against OpenMM's Reference platform, for every
// term and the total. docs/status.md reports 1.4e-13 and 3.4e-15 (worst of
// 50 frames of ala2, HP35 and protein G, both kernels); the limits leave
// about 15x and 30x for other x86-64 machines and summation orders and fail
// a regression of a few digits.
const maxEnergyErr, maxForceErr = 2e-12, 1e-13

func TestAgainstOpenMMReference(t *testing.T) {
	frames := 50
	if testing.Short() {
		frames = 5
	}
	cases := []struct {
		name, system string
		extra        []string
	}{
		{"ala2", "ala2", nil},
		{"ala2-random-torsion-phases", "ala2", []string{"random-phases"}},
		{"hp35", "hp35", nil},
		{"protein_g", "protein_g", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := reference(t, c.system, frames, c.extra...)
			for _, v := range variants(t) {
				t.Run(v.name, func(t *testing.T) { compareWithReference(t, ref, v.opts, v.name, maxEnergyErr, maxForceErr) })
			}
		})
	}
}

// variants are the kernels of the pair loops: the AVX-512 ones where this
// machine and build run them, and always the portable ones. A kernel that
// cannot run here is named in the test output (not skipped: CI fails on
// skips, and the other kernel is still tested).
func variants(t testing.TB) []variantType {
	t.Helper()
	v := []variantType{{"scalar", Options{Scalar: true}}}
	if why := KernelNotRun(); why != "" {
		t.Logf("kernel avx512 not run: %s", why)
		return v
	}
	return append([]variantType{{"avx512", Options{}}}, v...)
}

// variantType is one code path to test.
type variantType struct {
	name string
	opts Options
}

func compareWithReference(t *testing.T, ref *reftest.Data, opts Options, kernel string, maxEnergyErr, maxForceErr float64) {
	e, err := New(ref.Sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kernel() != kernel {
		t.Fatalf("Energy runs kernel %s, want %s", e.Kernel(), kernel)
	}
	res, err := e.Evaluate(context.Background(), ref.Pos, true)
	if err != nil {
		t.Fatal(err)
	}
	var worstE, worstF [NumTerms + 1]float64
	for k := range ref.Pos {
		if res.Errors[k] != nil {
			t.Fatalf("frame %d: %v", k, res.Errors[k])
		}
		worstE[NumTerms] = max(worstE[NumTerms], energy.RelEnergyError(res.Energies[k], ref.Energies[k][NumTerms]))
		worstF[NumTerms] = max(worstF[NumTerms], energy.RelForceError(res.Forces[k], ref.Forces[k][NumTerms]))
		terms, err := e.EvaluateTerms(ref.Pos[k], true)
		if err != nil {
			t.Fatal(err)
		}
		for term := range NumTerms {
			worstE[term] = max(worstE[term], energy.RelEnergyError(terms.Energies[term], ref.Energies[k][term]))
			worstF[term] = max(worstF[term], energy.RelForceError(terms.Forces[term], ref.Forces[k][term]))
		}
		if k == 0 {
			t.Logf("frame 0: native %.6f kJ/mol, OpenMM Reference %.6f kJ/mol", res.Energies[k], ref.Energies[k][NumTerms])
		}
	}
	for term := range NumTerms + 1 {
		name := "total"
		if term < NumTerms {
			name = Term(term).String()
		}
		t.Logf("%-22s max rel energy error %.2e, max rel RMS force error %.2e (%d frames)", name, worstE[term], worstF[term], len(ref.Pos))
		if worstE[term] > maxEnergyErr || worstF[term] > maxForceErr {
			t.Errorf("%s: relative energy error %.3g (limit %g), relative RMS force error %.3g (limit %g)", name, worstE[term], maxEnergyErr, worstF[term], maxForceErr)
		}
	}
}

// TestFiniteDifferences checks each term's forces against central
// differences of the native energy of the same term.
func TestFiniteDifferences(t *testing.T) {
	ref := reference(t, "ala2", 2)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) { finiteDifferences(t, ref, v.opts) })
	}
}

func finiteDifferences(t *testing.T, ref *reftest.Data, opts Options) {
	t.Helper()
	e, err := New(ref.Sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	x := ref.Pos[1]
	an, err := e.EvaluateTerms(x, true)
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-6 // nm
	fd := make([][]molecule.Vec3, NumTerms)
	for term := range NumTerms {
		fd[term] = make([]molecule.Vec3, len(x))
	}
	y := append([]molecule.Vec3(nil), x...)
	for i := range y {
		for c := range 3 {
			y[i][c] = x[i][c] + h
			plus, err := e.EvaluateTerms(y, false)
			if err != nil {
				t.Fatal(err)
			}
			y[i][c] = x[i][c] - h
			minus, err := e.EvaluateTerms(y, false)
			if err != nil {
				t.Fatal(err)
			}
			y[i][c] = x[i][c]
			for term := range NumTerms {
				fd[term][i][c] = -(plus.Energies[term] - minus.Energies[term]) / (2 * h)
			}
		}
	}
	for term := range NumTerms {
		err := energy.RelForceError(an.Forces[term], fd[term])
		t.Logf("%-22s rel RMS difference analytic vs finite differences %.2e", Term(term), err)
		// Central differences with h = 1e-6 nm agree to 3e-10-1e-9 (ala2);
		// a wrong force term is off by far more.
		if err > 2e-8 {
			t.Errorf("%s: analytic forces differ from finite differences by %.3g (relative RMS, limit 2e-8)", Term(term), err)
		}
	}
}

func TestEvaluateSampleErrorsAndWorkers(t *testing.T) {
	ref := reference(t, "ala2", 4)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) { sampleErrorsAndWorkers(t, ref, v.opts) })
	}
}

func sampleErrorsAndWorkers(t *testing.T, ref *reftest.Data, opts Options) {
	opts.Workers = 1
	one, err := New(ref.Sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Workers = 3
	three, err := New(ref.Sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	batch := append([][]molecule.Vec3(nil), ref.Pos...)
	bad := append([]molecule.Vec3(nil), batch[2]...)
	bad[5][1] = math.NaN()
	batch[2] = bad
	far := append([]molecule.Vec3(nil), batch[3]...)
	far[0] = far[1] // two atoms on top of each other: infinite energy
	batch[3] = far
	// A good sample after the failing ones: nothing of theirs may remain
	// in the worker's memory.
	batch = append(batch, ref.Pos[0])

	r1, err := one.Evaluate(context.Background(), batch, true)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := three.Evaluate(context.Background(), batch, true)
	if err != nil {
		t.Fatal(err)
	}
	for k := range batch {
		if math.Float64bits(r1.Energies[k]) != math.Float64bits(r3.Energies[k]) {
			t.Errorf("sample %d: 1 worker %v, 3 workers %v", k, r1.Energies[k], r3.Energies[k])
		}
	}
	if r1.Energies[4] != r1.Energies[0] {
		t.Errorf("sample 0 again after the failing samples: energy %v, first time %v", r1.Energies[4], r1.Energies[0])
	}
	for i := range r1.Forces[0] {
		if r1.Forces[4][i] != r1.Forces[0][i] {
			t.Fatalf("sample 0 again after the failing samples: force on atom %d %v, first time %v", i, r1.Forces[4][i], r1.Forces[0][i])
		}
	}
	for k, wantErr := range []bool{false, false, true, true, false} {
		got := r3.Errors[k]
		if (got != nil) != wantErr {
			t.Errorf("sample %d: error %v, want error: %v", k, got, wantErr)
		}
		if got != nil && !errors.Is(got, energy.ErrNonFinite) {
			t.Errorf("sample %d: error %v does not wrap energy.ErrNonFinite", k, got)
		}
	}
	if r3.Failed() != 2 || !math.IsNaN(r3.Energies[2]) {
		t.Errorf("failed %d, energy of the NaN sample %v", r3.Failed(), r3.Energies[2])
	}
	for k := range 2 {
		if d := energy.RelEnergyError(r3.Energies[k], ref.Energies[k][NumTerms]); d > maxEnergyErr {
			t.Errorf("sample %d next to failing ones: relative energy error %.3g (limit %g)", k, d, maxEnergyErr)
		}
	}

	if _, err := one.Evaluate(context.Background(), [][]molecule.Vec3{batch[0][:3]}, false); err == nil {
		t.Error("a sample with 3 atoms was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := three.Evaluate(ctx, ref.Pos, false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	r, err := one.Evaluate(context.Background(), ref.Pos[:1], false)
	if err != nil || r.Forces != nil || len(r.Energies) != 1 {
		t.Errorf("energies only: forces %v, energies %v, error %v", r.Forces != nil, r.Energies, err)
	}
}

// TestAtomAtOrigin moves each atom in turn to the exact origin, as the
// flow's internal coordinates place their first atom: the lanes past the
// last atom (zero positions and radii) then sit at distance 0 from it, and
// the energy and forces must still be those of OpenMM's Reference platform
// (they do not depend on the translation).
func TestAtomAtOrigin(t *testing.T) {
	ref := reference(t, "ala2", 2)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			e, err := New(ref.Sys, v.opts)
			if err != nil {
				t.Fatal(err)
			}
			var batch [][]molecule.Vec3
			var want []int // the frame of each conformation
			for f, pos := range ref.Pos {
				for k := range pos {
					moved := make([]molecule.Vec3, len(pos))
					for i, p := range pos {
						moved[i] = molecule.Vec3{p[0] - pos[k][0], p[1] - pos[k][1], p[2] - pos[k][2]}
					}
					batch = append(batch, moved)
					want = append(want, f)
				}
			}
			res, err := e.Evaluate(context.Background(), batch, true)
			if err != nil {
				t.Fatal(err)
			}
			var worstE, worstF float64
			for c, f := range want {
				if res.Errors[c] != nil {
					t.Fatalf("atom %d at the origin (frame %d): %v", c%len(ref.Pos[f]), f, res.Errors[c])
				}
				worstE = max(worstE, energy.RelEnergyError(res.Energies[c], ref.Energies[f][NumTerms]))
				worstF = max(worstF, energy.RelForceError(res.Forces[c], ref.Forces[f][NumTerms]))
			}
			t.Logf("%d conformations: max rel energy error %.2e, max rel RMS force error %.2e", len(batch), worstE, worstF)
			if worstE > maxEnergyErr || worstF > maxForceErr {
				t.Errorf("relative energy error %.3g (limit %g), relative RMS force error %.3g (limit %g)", worstE, maxEnergyErr, worstF, maxForceErr)
			}
		})
	}
}

// TestNoAllocations checks that evaluating a conformation (all terms, with
// forces) allocates nothing once a worker has its workspace.
func TestNoAllocations(t *testing.T) {
	ref := reference(t, "ala2", 1)
	for _, v := range variants(t) {
		e, err := New(ref.Sys, v.opts)
		if err != nil {
			t.Fatal(err)
		}
		w := e.getWorkspace()
		allocs := testing.AllocsPerRun(20, func() {
			if err := w.load(ref.Pos[0]); err != nil {
				t.Fatal(err)
			}
			e.compute(w, allTerms, true)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per conformation", v.name, allocs)
		}
	}
}
