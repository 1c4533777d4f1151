package nativegraph

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/internal/reftest"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// reference runs package native's testdata/reference.py for the MD data of
// one system: one force group per native.Term, then the total.
func reference(t testing.TB, system string, frames int, extra ...string) *reftest.Data {
	t.Helper()
	return reftest.Reference(t, filepath.Join("..", "testdata", "reference.py"), system, frames, int(native.NumTerms)+1, extra...)
}

// worst returns the largest relative energy and force errors of res
// against want.
func worst(t *testing.T, res energy.Result, wantE []float64, wantF [][]molecule.Vec3) (float64, float64) {
	t.Helper()
	var we, wf float64
	for k := range wantE {
		if res.Errors[k] != nil {
			t.Fatalf("frame %d: %v", k, res.Errors[k])
		}
		we = max(we, energy.RelEnergyError(res.Energies[k], wantE[k]))
		wf = max(wf, energy.RelForceError(res.Forces[k], wantF[k]))
	}
	return we, wf
}

// Limits on the relative energy error and the relative RMS force error
// (energy.RelEnergyError, energy.RelForceError). float64: docs/status.md
// reports 1.2e-13 and 3.1e-15 against OpenMM's Reference platform (50
// frames of ala2, HP35 and protein G); the limits leave about 20x and 30x.
// float32, on positions that are float32 numbers (mdtraj's): 3.7e-6 to
// 5.4e-6 in the energy and 2.2e-6 to 4.5e-6 in the forces
// (docs/energy-bench.md), limits about 10x above.
const (
	maxEnergyErr64, maxForceErr64 = 2e-12, 1e-13
	maxEnergyErr32, maxForceErr32 = 5e-5, 5e-5
)

// TestAgainstReferenceAndNative compares the graph's energies and forces on
// MD frames with OpenMM's Reference platform and with package native's CPU
// path, in float64 and float32.
func TestAgainstReferenceAndNative(t *testing.T) {
	frames := 50
	if testing.Short() {
		frames = 5
	}
	backend := testenv.Backend(t)
	for _, system := range []string{"ala2", "hp35", "protein_g"} {
		t.Run(system, func(t *testing.T) {
			ref := reference(t, system, frames)
			cpu, err := native.New(ref.Sys, native.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cres, err := cpu.Evaluate(context.Background(), ref.Pos, true)
			if err != nil {
				t.Fatal(err)
			}
			omE := make([]float64, len(ref.Pos))
			omF := make([][]molecule.Vec3, len(ref.Pos))
			for k := range ref.Pos {
				omE[k] = ref.Energies[k][native.NumTerms]
				omF[k] = ref.Forces[k][native.NumTerms]
			}
			for _, c := range []struct {
				dt         dtypes.DType
				maxE, maxF float64
			}{{dtypes.Float64, maxEnergyErr64, maxForceErr64}, {dtypes.Float32, maxEnergyErr32, maxForceErr32}} {
				t.Run(c.dt.String(), func(t *testing.T) {
					g, err := New(ref.Sys, c.dt, backend, Options{})
					if err != nil {
						t.Fatal(err)
					}
					res, err := g.Evaluate(context.Background(), ref.Pos, true)
					if err != nil {
						t.Fatal(err)
					}
					eRef, fRef := worst(t, res, omE, omF)
					eCPU, fCPU := worst(t, res, cres.Energies, cres.Forces)
					t.Logf("%d frames, sub-batch %d: vs OpenMM Reference: energy %.2e, force %.2e; vs native CPU: energy %.2e, force %.2e",
						len(ref.Pos), g.SubBatch(), eRef, fRef, eCPU, fCPU)
					if eRef > c.maxE || fRef > c.maxF || eCPU > c.maxE || fCPU > c.maxF {
						t.Errorf("errors above the limits (relative energy %g, relative RMS force %g)", c.maxE, c.maxF)
					}
				})
			}
		})
	}
}

// TestTermsAgainstReference compares each force type with its OpenMM
// force group (float64), so that a wrong term cannot hide behind others; the
// second case gives every torsion a random phase, where the sign convention
// of the dihedral matters (Amber's phases are 0 or π).
func TestTermsAgainstReference(t *testing.T) {
	for _, extra := range [][]string{nil, {"random-phases"}} {
		name := "ala2"
		if extra != nil {
			name += "-" + extra[0]
		}
		t.Run(name, func(t *testing.T) {
			ref := reference(t, "ala2", 3, extra...)
			g, err := New(ref.Sys, dtypes.Float64, testenv.Backend(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			terms := evalTerms(t, g, ref.Pos)
			n := ref.Sys.NumParticles()
			for term := range native.NumTerms {
				var we, wf float64
				for k := range ref.Pos {
					we = max(we, energy.RelEnergyError(terms[term].energies[k], ref.Energies[k][term]))
					wf = max(wf, energy.RelForceError(terms[term].forces[k*n:(k+1)*n], ref.Forces[k][term]))
				}
				t.Logf("%-22s energy %.2e, force %.2e", native.Term(term), we, wf)
				if we > maxEnergyErr64 || wf > maxForceErr64 {
					t.Errorf("%s: relative energy error %.3g (limit %g), relative RMS force error %.3g (limit %g)",
						native.Term(term), we, maxEnergyErr64, wf, maxForceErr64)
				}
			}
		})
	}
}

// termResult is one force type's energies [B] and forces [B·N].
type termResult struct {
	energies []float64
	forces   []molecule.Vec3
}

// evalTerms runs BuildTerms and the gradient of each term on a float64
// batch in one graph.
func evalTerms(t *testing.T, g *Energy, pos [][]molecule.Vec3) [native.NumTerms]termResult {
	t.Helper()
	ex, err := graph.NewExec(g.backend, func(x *graph.Node) []*graph.Node {
		terms := g.BuildTerms(x)
		var out []*graph.Node
		for _, u := range terms {
			out = append(out, u, graph.Neg(graph.Gradient(graph.ReduceAllSum(u), x)[0]))
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	n := g.NumAtoms()
	flat := make([]float64, 0, len(pos)*n*3)
	for _, x := range pos {
		for _, p := range x {
			flat = append(flat, p[0], p[1], p[2])
		}
	}
	out, err := ex.Exec(tensors.FromFlatDataAndDimensions(flat, len(pos), n, 3))
	if err != nil {
		t.Fatal(err)
	}
	var res [native.NumTerms]termResult
	for term := range native.NumTerms {
		res[term] = termResult{graphops.Float64s(out[2*term]), reftest.ToVec3(graphops.Float64s(out[2*term+1]))}
	}
	return res
}

// TestPartialSystems: Systems that lack some forces (built by removing
// forces from the ala2 System) agree with package native, whose terms are
// tested one by one against OpenMM; a missing force contributes nothing.
func TestPartialSystems(t *testing.T) {
	ref := reference(t, "ala2", 2)
	full := *ref.Sys
	cases := []struct {
		name string
		edit func(s *forcefield.System)
	}{
		{"no GBSA", func(s *forcefield.System) { s.GBSA = nil }},
		{"no nonbonded", func(s *forcefield.System) { s.Nonbonded = nil }},
		{"bonds only", func(s *forcefield.System) { s.Angles, s.Torsions, s.Nonbonded, s.GBSA = nil, nil, nil, nil }},
		{"no bonded", func(s *forcefield.System) { s.Bonds, s.Angles, s.Torsions = nil, nil, nil }},
	}
	backend := testenv.Backend(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys := full
			c.edit(&sys)
			cpu, err := native.New(&sys, native.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := cpu.Evaluate(context.Background(), ref.Pos, true)
			if err != nil {
				t.Fatal(err)
			}
			g, err := New(&sys, dtypes.Float64, backend, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Evaluate(context.Background(), ref.Pos, true)
			if err != nil {
				t.Fatal(err)
			}
			we, wf := worst(t, got, want.Energies, want.Forces)
			if we > 1e-12 || wf > 1e-12 {
				t.Errorf("against native: relative energy error %.3g, relative RMS force error %.3g (limit 1e-12)", we, wf)
			}
		})
	}
}

// TestEvaluateEdgeCases: sample errors do not spoil their neighbours,
// sub-batching and padding do not change results, and bad calls fail.
func TestEvaluateEdgeCases(t *testing.T) {
	ref := reference(t, "ala2", 5)
	backend := testenv.Backend(t)
	whole, err := New(ref.Sys, dtypes.Float64, backend, Options{SubBatch: 8, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	split, err := New(ref.Sys, dtypes.Float64, backend, Options{SubBatch: 2, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	batch := append([][]molecule.Vec3(nil), ref.Pos...)
	nan := append([]molecule.Vec3(nil), batch[2]...)
	nan[5][1] = math.NaN()
	batch[2] = nan
	clash := append([]molecule.Vec3(nil), batch[3]...)
	clash[0] = clash[1]
	batch[3] = clash
	r1, err := whole.Evaluate(context.Background(), batch, true)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := split.Evaluate(context.Background(), batch, true)
	if err != nil {
		t.Fatal(err)
	}
	for k, wantErr := range []bool{false, false, true, true, false} {
		for _, r := range []energy.Result{r1, r2} {
			if (r.Errors[k] != nil) != wantErr {
				t.Errorf("sample %d: error %v, want error: %v", k, r.Errors[k], wantErr)
			}
			if r.Errors[k] != nil && !errors.Is(r.Errors[k], energy.ErrNonFinite) {
				t.Errorf("sample %d: %v does not wrap ErrNonFinite", k, r.Errors[k])
			}
			if !wantErr {
				if d := energy.RelEnergyError(r.Energies[k], ref.Energies[k][native.NumTerms]); d > maxEnergyErr64 {
					t.Errorf("sample %d: relative energy error %.3g (limit %g)", k, d, maxEnergyErr64)
				}
				if d := energy.RelForceError(r.Forces[k], ref.Forces[k][native.NumTerms]); d > maxForceErr64 {
					t.Errorf("sample %d: relative RMS force error %.3g (limit %g)", k, d, maxForceErr64)
				}
			}
		}
	}
	if !math.IsNaN(r1.Energies[2]) {
		t.Errorf("NaN sample has energy %v", r1.Energies[2])
	}
	if _, err := whole.Evaluate(context.Background(), [][]molecule.Vec3{batch[0][:3]}, false); err == nil {
		t.Error("a sample with 3 atoms was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := split.Evaluate(ctx, ref.Pos, false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	r, err := whole.Evaluate(context.Background(), ref.Pos[:1], false)
	if err != nil || r.Forces != nil || len(r.Energies) != 1 || energy.RelEnergyError(r.Energies[0], ref.Energies[0][native.NumTerms]) > maxEnergyErr64 {
		t.Errorf("energies only: forces %v, energies %v, error %v", r.Forces != nil, r.Energies, err)
	}
	if _, err := New(ref.Sys, dtypes.Int32, backend, Options{}); err == nil {
		t.Error("dtype Int32 was accepted")
	}
	if _, err := New(&forcefield.System{}, dtypes.Float64, backend, Options{}); err == nil {
		t.Error("an empty system was accepted")
	}
}
