package nativegraph

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// refData is a System with MD frames and OpenMM Reference-platform energies
// and forces per force group (in native.Term order, then the total).
type refData struct {
	sys      *forcefield.System
	pos      [][]molecule.Vec3
	energies [][native.NumTerms + 1]float64
	forces   [][native.NumTerms + 1][]molecule.Vec3
}

func readFloats(t testing.TB, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

func toVec3(v []float64) []molecule.Vec3 {
	out := make([]molecule.Vec3, len(v)/3)
	for i := range out {
		out[i] = molecule.Vec3{v[3*i], v[3*i+1], v[3*i+2]}
	}
	return out
}

// reference runs package native's testdata/reference.py (amber99sbildn +
// amber99_obc System, frames spread over the MD trajectory, OpenMM
// Reference platform force group by force group) for one system.
func reference(t testing.TB, system string, frames int, extra ...string) *refData {
	t.Helper()
	md := filepath.Join(testenv.SharedData(t), "md", system)
	script, err := os.ReadFile(filepath.Join("..", "testdata", "reference.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := append([]string{filepath.Join(md, "top.pdb"), filepath.Join(md, "traj.dcd"), strconv.Itoa(frames), dir}, extra...)
	testenv.RunPython(t, string(script), args...)
	shape, err := os.ReadFile(filepath.Join(dir, "shape.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(shape))
	if len(f) != 2 {
		t.Fatalf("reference.py wrote shape %q", f)
	}
	nf, _ := strconv.Atoi(f[0])
	n, _ := strconv.Atoi(f[1])
	sys, err := forcefield.ReadSystemXMLFile(filepath.Join(dir, "system.xml"))
	if err != nil {
		t.Fatal(err)
	}
	pos := readFloats(t, filepath.Join(dir, "pos.bin"))
	en := readFloats(t, filepath.Join(dir, "energies.bin"))
	fo := readFloats(t, filepath.Join(dir, "forces.bin"))
	const g = int(native.NumTerms) + 1
	if sys.NumParticles() != n || len(pos) != nf*n*3 || len(en) != nf*g || len(fo) != nf*g*n*3 {
		t.Fatalf("reference arrays have sizes %d, %d, %d for %d frames of %d atoms (system: %d)", len(pos), len(en), len(fo), nf, n, sys.NumParticles())
	}
	d := &refData{sys: sys}
	for k := range nf {
		d.pos = append(d.pos, toVec3(pos[k*n*3:(k+1)*n*3]))
		var e [g]float64
		var fr [g][]molecule.Vec3
		for j := range g {
			e[j] = en[k*g+j]
			off := (k*g + j) * n * 3
			fr[j] = toVec3(fo[off : off+n*3])
		}
		d.energies = append(d.energies, e)
		d.forces = append(d.forces, fr)
	}
	return d
}

// relForceError is ||a - b|| / ||b|| over all atoms.
func relForceError(a, b []molecule.Vec3) float64 {
	var num, den float64
	for i := range b {
		for c := range 3 {
			d := a[i][c] - b[i][c]
			num += d * d
			den += b[i][c] * b[i][c]
		}
	}
	return math.Sqrt(num / den)
}

// relEnergyError is |a - b| / max(|b|, 1 kJ/mol).
func relEnergyError(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1) }

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := nn.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	return b
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
		we = max(we, relEnergyError(res.Energies[k], wantE[k]))
		wf = max(wf, relForceError(res.Forces[k], wantF[k]))
	}
	return we, wf
}

// TestAgainstReferenceAndNative compares the graph's energies and forces on
// MD frames with OpenMM's Reference platform and with package native's CPU
// path, in float64 (the limits: 1e-6 relative energy, 1e-4
// relative RMS force) and float32 (reported; limits 1e-4 and 1e-3 catch a
// broken float32 graph).
func TestAgainstReferenceAndNative(t *testing.T) {
	frames := 50
	if testing.Short() {
		frames = 5
	}
	backend := testBackend(t)
	for _, system := range []string{"ala2", "hp35", "protein_g"} {
		t.Run(system, func(t *testing.T) {
			ref := reference(t, system, frames)
			cpu, err := native.New(ref.sys, native.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cres, err := cpu.Evaluate(context.Background(), ref.pos, true)
			if err != nil {
				t.Fatal(err)
			}
			omE := make([]float64, len(ref.pos))
			omF := make([][]molecule.Vec3, len(ref.pos))
			for k := range ref.pos {
				omE[k] = ref.energies[k][native.NumTerms]
				omF[k] = ref.forces[k][native.NumTerms]
			}
			for _, c := range []struct {
				dt         dtypes.DType
				maxE, maxF float64
			}{{dtypes.Float64, 1e-6, 1e-4}, {dtypes.Float32, 1e-4, 1e-3}} {
				t.Run(c.dt.String(), func(t *testing.T) {
					g, err := New(ref.sys, c.dt, backend, Options{})
					if err != nil {
						t.Fatal(err)
					}
					res, err := g.Evaluate(context.Background(), ref.pos, true)
					if err != nil {
						t.Fatal(err)
					}
					eRef, fRef := worst(t, res, omE, omF)
					eCPU, fCPU := worst(t, res, cres.Energies, cres.Forces)
					t.Logf("%d frames, sub-batch %d: vs OpenMM Reference: energy %.2e, force %.2e; vs native CPU: energy %.2e, force %.2e",
						len(ref.pos), g.SubBatch(), eRef, fRef, eCPU, fCPU)
					if eRef > c.maxE || fRef > c.maxF || eCPU > c.maxE || fCPU > c.maxF {
						t.Errorf("errors above the limits (energy %g, force %g)", c.maxE, c.maxF)
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
			g, err := New(ref.sys, dtypes.Float64, testBackend(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			terms := evalTerms(t, g, ref.pos)
			n := ref.sys.NumParticles()
			for term := range native.NumTerms {
				var we, wf float64
				for k := range ref.pos {
					we = max(we, relEnergyError(terms[term].energies[k], ref.energies[k][term]))
					wf = max(wf, relForceError(terms[term].forces[k*n:(k+1)*n], ref.forces[k][term]))
				}
				t.Logf("%-22s energy %.2e, force %.2e", native.Term(term), we, wf)
				if we > 1e-6 || wf > 1e-4 {
					t.Errorf("%s: energy error %.3g, force error %.3g", native.Term(term), we, wf)
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
		res[term] = termResult{nn.Float64s(out[2*term]), toVec3(nn.Float64s(out[2*term+1]))}
	}
	return res
}

// TestPartialSystems: Systems that lack some forces (built by removing
// forces from the ala2 System) agree with package native, whose terms are
// tested one by one against OpenMM; a missing force contributes nothing.
func TestPartialSystems(t *testing.T) {
	ref := reference(t, "ala2", 2)
	full := *ref.sys
	cases := []struct {
		name string
		edit func(s *forcefield.System)
	}{
		{"no GBSA", func(s *forcefield.System) { s.GBSA = nil }},
		{"no nonbonded", func(s *forcefield.System) { s.Nonbonded = nil }},
		{"bonds only", func(s *forcefield.System) { s.Angles, s.Torsions, s.Nonbonded, s.GBSA = nil, nil, nil, nil }},
		{"no bonded", func(s *forcefield.System) { s.Bonds, s.Angles, s.Torsions = nil, nil, nil }},
	}
	backend := testBackend(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys := full
			c.edit(&sys)
			cpu, err := native.New(&sys, native.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := cpu.Evaluate(context.Background(), ref.pos, true)
			if err != nil {
				t.Fatal(err)
			}
			g, err := New(&sys, dtypes.Float64, backend, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Evaluate(context.Background(), ref.pos, true)
			if err != nil {
				t.Fatal(err)
			}
			we, wf := worst(t, got, want.Energies, want.Forces)
			if we > 1e-12 || wf > 1e-12 {
				t.Errorf("against native: energy error %.3g, force error %.3g", we, wf)
			}
		})
	}
}

// TestEvaluateEdgeCases: sample errors do not spoil their neighbours,
// sub-batching and padding do not change results, and bad calls fail.
func TestEvaluateEdgeCases(t *testing.T) {
	ref := reference(t, "ala2", 5)
	backend := testBackend(t)
	whole, err := New(ref.sys, dtypes.Float64, backend, Options{SubBatch: 8, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	split, err := New(ref.sys, dtypes.Float64, backend, Options{SubBatch: 2, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	batch := append([][]molecule.Vec3(nil), ref.pos...)
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
				if d := relEnergyError(r.Energies[k], ref.energies[k][native.NumTerms]); d > 1e-6 {
					t.Errorf("sample %d: energy error %.3g", k, d)
				}
				if d := relForceError(r.Forces[k], ref.forces[k][native.NumTerms]); d > 1e-4 {
					t.Errorf("sample %d: force error %.3g", k, d)
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
	if _, err := split.Evaluate(ctx, ref.pos, false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	r, err := whole.Evaluate(context.Background(), ref.pos[:1], false)
	if err != nil || r.Forces != nil || len(r.Energies) != 1 || relEnergyError(r.Energies[0], ref.energies[0][native.NumTerms]) > 1e-6 {
		t.Errorf("energies only: forces %v, energies %v, error %v", r.Forces != nil, r.Energies, err)
	}
	if _, err := New(ref.sys, dtypes.Int32, backend, Options{}); err == nil {
		t.Error("dtype Int32 was accepted")
	}
	if _, err := New(&forcefield.System{}, dtypes.Float64, backend, Options{}); err == nil {
		t.Error("an empty system was accepted")
	}
}
