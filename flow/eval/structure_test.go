package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// line returns n points on the x axis spaced by a (nm).
func line(n int, a float64) []molecule.Vec3 {
	x := make([]molecule.Vec3, n)
	for i := range x {
		x[i] = molecule.Vec3{float64(i) * a, 0, 0}
	}
	return x
}

func TestDistanceDistortion(t *testing.T) {
	const n, a = 10, 0.38
	rng := rand.New(rand.NewPCG(5, 6))
	top := caChain(n)
	atoms, sel, err := BackboneAtoms(top)
	if err != nil || sel != SelectionCA || len(atoms) != n {
		t.Fatalf("BackboneAtoms: %v %q %v", atoms, sel, err)
	}
	copies := func(x []molecule.Vec3, k int) [][]molecule.Vec3 {
		out := make([][]molecule.Vec3, k)
		for i := range out {
			out[i] = rigidMove(rng, x) // distances do not change
		}
		return out
	}
	lastShifted := line(n, a)
	lastShifted[n-1][0] += 0.05
	for _, c := range []struct {
		name    string
		samples [][]molecule.Vec3
		want    float64
	}{
		{"identical", copies(line(n, a), 4), 0},
		// D_ij = |i-j| a; scaled by s every distance grows by (s-1)|i-j|a,
		// and the mean of |i-j| over i < j is (n+1)/3.
		{"scaled by 1.1", copies(line(n, 1.1*a), 3), 0.1 * a * (n + 1) / 3},
		// Moving the last atom outward by d lengthens its n-1 distances by
		// d: ΔD = d (n-1) / (n(n-1)/2) = 2d/n.
		{"last atom shifted", copies(lastShifted, 2), 2 * 0.05 / n},
		// Half the samples scaled by 1.2, half unscaled: mean scale 1.1.
		{"mixture", append(copies(line(n, 1.2*a), 2), copies(line(n, a), 2)...), 0.1 * a * (n + 1) / 3},
	} {
		md, err := MeanDistanceMatrix(copies(line(n, a), 5), atoms, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := MeanDistanceMatrix(c.samples, atoms, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DistanceDistortion(s, md)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: ΔD = %.15g nm, want %.15g", c.name, got, c.want)
		}
	}
	// Weights: all weight on the unscaled half gives ΔD = 0.
	mixture := append(copies(line(n, 1.2*a), 2), copies(line(n, a), 2)...)
	s, err := MeanDistanceMatrix(mixture, atoms, []float64{0, 0, 3, 1})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := MeanDistanceMatrix([][]molecule.Vec3{line(n, a)}, atoms, nil)
	if got, _ := DistanceDistortion(s, md); got > 1e-12 {
		t.Errorf("weighted: ΔD = %g, want 0", got)
	}
	if _, err := MeanDistanceMatrix(mixture, atoms, []float64{1, -1, 0, 0}); err == nil {
		t.Error("negative weight: no error")
	}
	if _, err := DistanceDistortion(md, md[:3]); err == nil {
		t.Error("mismatched matrices: no error")
	}
}

// breathing returns a centred structure r and its copies r(1+e), r(1-e):
// aligning either onto the other or onto r is the identity (the
// correlation matrix Σ x_i r_i^T = (1±e) Σ r_i r_i^T is symmetric positive
// definite), so the mean is r and the RMSF of atom i is exactly e|r_i|.
func breathing(e float64) (r []molecule.Vec3, a, b []molecule.Vec3) {
	r = []molecule.Vec3{{0.3, 0.1, -0.2}, {-0.4, 0.2, 0.1}, {0.1, -0.5, 0.3}, {0.2, 0.3, 0.4}, {-0.2, -0.1, -0.6}}
	var c molecule.Vec3
	for _, p := range r {
		for k := range c {
			c[k] += p[k] / float64(len(r))
		}
	}
	a, b = make([]molecule.Vec3, len(r)), make([]molecule.Vec3, len(r))
	for i := range r {
		for k := range c {
			r[i][k] -= c[k]
			a[i][k] = (1 + e) * r[i][k]
			b[i][k] = (1 - e) * r[i][k]
		}
	}
	return r, a, b
}

func TestRMSF(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const e = 0.1
	r, a, b := breathing(e)
	atoms := []int{0, 1, 2, 3, 4}
	norm := func(p molecule.Vec3) float64 { return math.Sqrt(p[0]*p[0] + p[1]*p[1] + p[2]*p[2]) }
	w := 0.8
	for _, c := range []struct {
		name    string
		frames  [][]molecule.Vec3
		weights []float64
		want    func(i int) float64
	}{
		{"rigid copies", [][]molecule.Vec3{rigidMove(rng, r), rigidMove(rng, r), rigidMove(rng, r)}, nil,
			func(int) float64 { return 0 }},
		{"breathing", [][]molecule.Vec3{a, b}, nil, func(i int) float64 { return e * norm(r[i]) }},
		{"breathing, moved", [][]molecule.Vec3{rigidMove(rng, a), rigidMove(rng, b), rigidMove(rng, a), rigidMove(rng, b)}, nil,
			func(i int) float64 { return e * norm(r[i]) }},
		// Weights w, 1-w: mean (1+e(2w-1)) r, deviations 2e(1-w) r and
		// 2ew r, so RMSF² = 4e² w(1-w) |r|².
		{"breathing, weighted", [][]molecule.Vec3{rigidMove(rng, a), rigidMove(rng, b)}, []float64{w, 1 - w},
			func(i int) float64 { return 2 * e * math.Sqrt(w*(1-w)) * norm(r[i]) }},
	} {
		got, _, err := RMSF(c.frames, atoms, c.weights, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range atoms {
			if math.Abs(got[i]-c.want(i)) > 1e-12 {
				t.Errorf("%s: RMSF[%d] = %.15g, want %.15g", c.name, i, got[i], c.want(i))
			}
		}
	}
	if _, _, err := RMSF([][]molecule.Vec3{a, {{math.NaN(), 0, 0}, {}, {}, {}, {}}}, atoms, nil, 0); err == nil {
		t.Error("NaN position: no error")
	}
}

// TestRMSFMDTraj checks RMSF on the HP35 trajectory against mdtraj.rmsf,
// which aligns every frame to a reference and takes the RMSF about the
// mean of the aligned frames: with our converged mean structure as the
// reference, both must agree (to mdtraj's float32 precision).
func TestRMSFMDTraj(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mdtraj")
	}
	d := loadMD(t, "hp35")
	atoms, sel, err := BackboneAtoms(d.top)
	if err != nil || sel != SelectionCA {
		t.Fatalf("%v %v", sel, err)
	}
	frames := d.frames
	rmsf, mean, err := RMSF(frames, atoms, nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]string, len(atoms))
	for i, k := range atoms {
		idx[i] = fmt.Sprint(k)
	}
	ref, _ := json.Marshal(mean)
	out := testenv.RunPython(t, `
import sys, json, numpy as np, mdtraj as md
t = md.load(sys.argv[1], top=sys.argv[2])
idx = [int(v) for v in sys.argv[3].split(",")]
t = t.atom_slice(idx)
ref = t[0]
ref.xyz[0] = np.array(json.loads(sys.argv[4]), dtype=np.float32)
print("RESULT", json.dumps([float(v) for v in md.rmsf(t, ref, 0)]))
`, d.dir+"/traj.dcd", d.dir+"/top.pdb", strings.Join(idx, ","), string(ref))
	var want []float64
	if err := json.Unmarshal(pythonResult(t, out), &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	maxDiff := 0.0
	for i := range rmsf {
		maxDiff = math.Max(maxDiff, math.Abs(rmsf[i]-want[i]))
	}
	t.Logf("HP35 C-alpha RMSF, %d frames: %.4f..%.4f nm; max |Go - mdtraj| = %.2g nm", len(frames), minOf(rmsf), maxOf(rmsf), maxDiff)
	if maxDiff > 1e-6 {
		t.Errorf("RMSF differs from mdtraj by up to %g nm", maxDiff)
	}
}

func minOf(x []float64) float64 {
	m := math.Inf(1)
	for _, v := range x {
		m = math.Min(m, v)
	}
	return m
}

func maxOf(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	return m
}
