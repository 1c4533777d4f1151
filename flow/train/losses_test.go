package train

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/internal/testmodel"
	"github.com/gobg/gobg/plugin"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
)

// w2Numpy computes the W2 term and its finite-difference gradient with
// numpy, from the positions and reference distances (an independent
// implementation: numpy distances, np.sort, central differences).
const w2Numpy = `
import json, sys
import numpy as np
d = json.load(sys.stdin)
x = np.array(d["x"]); ref = np.array(d["ref"]); bb = d["bb"]
def w2(x):
    xb = x[:, bb, :]
    i, j = np.triu_indices(len(bb), 1)
    dist = np.linalg.norm(xb[:, i, :] - xb[:, j, :], axis=-1)   # [B, P]
    return np.mean((np.sort(dist, axis=0) - np.sort(ref, axis=0)) ** 2)
h = 1e-6
g = []
for (b, a, c) in d["probe"]:
    xp = x.copy(); xp[b, a, c] += h
    xm = x.copy(); xm[b, a, c] -= h
    g.append((w2(xp) - w2(xm)) / (2 * h))
print(json.dumps({"w2": w2(x), "grad": g}))
`

func TestW2AgainstNumpy(t *testing.T) {
	const b, n = 16, 7
	bb := []int{0, 2, 3, 5, 6}
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, b*n*3)
	for i := range x {
		x[i] = 0.3 * r.NormFloat64()
	}
	pos := make([][]molecule.Vec3, b)
	refPos := make([][]molecule.Vec3, b)
	for k := range b {
		pos[k] = make([]molecule.Vec3, n)
		refPos[k] = make([]molecule.Vec3, n)
		for a := range n {
			copy(pos[k][a][:], x[(k*n+a)*3:])
			for c := range 3 {
				refPos[k][a][c] = 0.25*r.NormFloat64() + 0.1*float64(a)
			}
		}
	}
	flowD := make([][]float64, b)
	refD := make([][]float64, b)
	for k := range b {
		flowD[k] = PairDistances(pos[k], bb)
		refD[k] = PairDistances(refPos[k], bb)
	}
	order, sorted := SortedPairs(flowD, refD)
	p := len(flowD[0])

	backend := testenv.Backend(t)
	exec, err := gctx.NewExecAny(backend, gctx.New(), func(ctx *gctx.Context, xs, o, rf *Node) []*Node {
		w := W2Graph(DistancesGraph(xs, bb), o, rf)
		return []*Node{w, Gradient(w, xs)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(tensorF64(x, b, n, 3), tensorI32(order, p*b), tensorF64(sorted, p, b))
	if err != nil {
		t.Fatal(err)
	}
	w2, grad := floats(out[0])[0], floats(out[1])

	var probes [][3]int
	for range 12 {
		probes = append(probes, [3]int{r.IntN(b), bb[r.IntN(len(bb))], r.IntN(3)})
	}
	xs := make([][][3]float64, b)
	refRows := make([][]float64, b)
	for k := range b {
		xs[k] = make([][3]float64, n)
		for a := range n {
			xs[k][a] = pos[k][a]
		}
		refRows[k] = refD[k]
	}
	in, _ := json.Marshal(map[string]any{"x": xs, "ref": refRows, "bb": bb, "probe": probes})
	outPy := runPythonStdin(t, w2Numpy, in)
	var want struct {
		W2   float64   `json:"w2"`
		Grad []float64 `json:"grad"`
	}
	if err := json.Unmarshal(outPy, &want); err != nil {
		t.Fatalf("%v: %s", err, outPy)
	}
	// Identical on the development machine; numpy's summation order may
	// differ elsewhere by a few ulps.
	if rel := math.Abs(w2-want.W2) / want.W2; rel > 1e-15 {
		t.Errorf("W2: graph %.17g, numpy %.17g (relative %.2g, limit 1e-15)", w2, want.W2, rel)
	}
	t.Logf("W2 graph %.15g numpy %.15g", w2, want.W2)
	worst := 0.0
	for i, pr := range probes {
		got := grad[(pr[0]*n+pr[1])*3+pr[2]]
		d := math.Abs(got-want.Grad[i]) / (math.Abs(want.Grad[i]) + 1e-3)
		worst = max(worst, d)
		if d > 1e-7 { // measured 4.8e-9: the finite differences' own error
			t.Errorf("dW2/dx%v: graph %.10g, numpy finite difference %.10g (relative difference %.3g, limit 1e-7)", pr, got, want.Grad[i], d)
		}
	}
	t.Logf("gradient: worst relative difference to numpy finite differences %.3g over %d coordinates", worst, len(probes))
}

// runPythonStdin runs a script with input on stdin.
func runPythonStdin(t *testing.T, script string, in []byte) []byte {
	t.Helper()
	return testenv.RunPython(t, "import sys, io; sys.stdin = io.StringIO("+pyString(string(in))+")\n"+script)
}

func pyString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a valid Python string literal
	return string(b)
}

// nativeAla2 is the native energy of alanine dipeptide (System from the
// OpenMM plugin) and an MD frame.
func nativeAla2(t *testing.T) (*native.Energy, []molecule.Vec3) {
	t.Helper()
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	xml, err := plugin.FetchSystemXML(context.Background(), plugin.Config{Python: testenv.Python(t), PDB: filepath.Join(dir, "top.pdb")})
	if err != nil {
		t.Fatal(err)
	}
	sys, err := forcefield.ParseSystemXML(strings.NewReader(xml))
	if err != nil {
		t.Fatal(err)
	}
	e, err := native.New(sys, native.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, frames := testmodel.ALA2Frames(t, 1, 1)
	return e, frames[0]
}

// TestKLSurrogateGradient checks that the gradient of the KL surrogate
// with respect to positions equals the gradient of the regularised reduced
// energy f(U(x)/kT), by central finite differences of the native energy
// of alanine dipeptide, in the linear region of the cut and in its
// logarithmic region.
func TestKLSurrogateGradient(t *testing.T) {
	e, x0 := nativeAla2(t)
	kt := energy.KT(300)
	res, err := e.Evaluate(context.Background(), [][]molecule.Vec3{x0}, true)
	if err != nil || res.Errors[0] != nil {
		t.Fatal(err, res.Errors)
	}
	u0 := res.Energies[0] / kt
	n := len(x0)
	backend := testenv.Backend(t)
	exec, err := gctx.NewExecAny(backend, gctx.New(), func(ctx *gctx.Context, x, g *Node) *Node {
		ld := ReduceSum(Square(x), 1, 2) // any differentiable log-det stand-in
		return Gradient(KLSurrogate(x, g, ld), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	for _, tc := range []struct {
		name string
		cut  energy.LinLogCut
	}{
		{"linear", energy.LinLogCut{Cut: 1e3, Max: 1e9}},
		{"log region", energy.LinLogCut{Cut: u0 - 20, Max: 1e9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, df := tc.cut.Value(u0)
			g := make([]float64, n*3)
			for a := range n {
				for c := range 3 {
					g[a*3+c] = -res.Forces[0][a][c] / kt * df
				}
			}
			xs := make([]float64, n*3)
			for a := range n {
				copy(xs[a*3:], x0[a][:])
			}
			out, err := exec.Exec(tensorF64(xs, 1, n, 3), tensorF64(g, 1, n, 3))
			if err != nil {
				t.Fatal(err)
			}
			grad := floats(out[0])
			fAt := func(x []molecule.Vec3) float64 {
				r, err := e.Evaluate(context.Background(), [][]molecule.Vec3{x}, false)
				if err != nil || r.Errors[0] != nil {
					t.Fatal(err, r.Errors)
				}
				f, _ := tc.cut.Value(r.Energies[0] / kt)
				return f
			}
			const h = 1e-6
			worst := 0.0
			for a := range n {
				for c := range 3 {
					xp := append([]molecule.Vec3(nil), x0...)
					xm := append([]molecule.Vec3(nil), x0...)
					xp[a][c] += h
					xm[a][c] -= h
					fd := (fAt(xp) - fAt(xm)) / (2 * h)
					// The log-det stand-in contributes -2x to the gradient.
					got := grad[a*3+c] + 2*x0[a][c]
					d := math.Abs(got-fd) / (math.Abs(fd) + 1)
					worst = max(worst, d)
					// docs/status.md: 7.4e-8, the finite differences' own error.
					if d > 1e-6 {
						t.Errorf("atom %d axis %d: surrogate gradient %.8g, finite difference of f(u) %.8g (relative difference %.3g, limit 1e-6)", a, c, got, fd, d)
					}
				}
			}
			t.Logf("u0 = %.4f kT, f'(u0) = %.4g: worst relative difference %.3g over %d coordinates", u0, df, worst, 3*n)
		})
	}
}

// TestKLGradientThroughFlow checks the KL surrogate end to end: its
// gradient with respect to a base sample z, through the (perturbed) flow
// and the internal-to-Cartesian map, against central finite differences of
// f(U(x(z))/kT) - log|det ∂x/∂z| evaluated with the native energy.
func TestKLGradientThroughFlow(t *testing.T) {
	p := newFlowProbe(t)
	d, n := p.d, p.n
	grad := p.exec(t, func(ctx *gctx.Context, z, g *Node) *Node {
		pos, ld := p.forward(ctx, z)
		return Gradient(KLSurrogate(pos, g, ld), z)[0]
	})
	// The data's first frame, in base space of a near-identity flow, is a
	// plausible (finite-energy) z.
	z0 := append([]float64(nil), p.tr.data.TrainZ[:d]...)
	h := func(z []float64) float64 {
		f, _ := p.at(t, z, 1)
		return f[0]
	}
	_, g0 := p.at(t, z0, 1)
	out, err := grad.Exec(tensorF64(z0, 1, d), tensorF64(g0, 1, n, 3))
	if err != nil {
		t.Fatal(err)
	}
	got := floats(out[0])
	const eps = 1e-6
	worst := 0.0
	for i := 0; i < d; i += 3 {
		zp := append([]float64(nil), z0...)
		zm := append([]float64(nil), z0...)
		zp[i] += eps
		zm[i] -= eps
		fd := (h(zp) - h(zm)) / (2 * eps)
		rel := math.Abs(got[i]-fd) / (math.Abs(fd) + 1)
		worst = max(worst, rel)
		if rel > 3e-6 { // measured 1.6e-7
			t.Errorf("z[%d] (%s): surrogate gradient %.8g, finite difference %.8g (relative difference %.3g, limit 3e-6)", i, p.tr.flow.Layout().Names[i], got[i], fd, rel)
		}
	}
	t.Logf("worst relative difference %.3g over %d of %d base coordinates", worst, (d+2)/3, d)
}
