package spline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// tensorOf builds a tensor of dtype dt from float64 data.
func tensorOf(data []float64, dt dtypes.DType, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
}

// values returns a tensor's data as float64.
func values(tb testing.TB, t *tensors.Tensor) []float64 {
	tb.Helper()
	switch t.DType() {
	case dtypes.Float32:
		f, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			tb.Fatal(err)
		}
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	case dtypes.Float64:
		f, err := tensors.CopyFlatData[float64](t)
		if err != nil {
			tb.Fatal(err)
		}
		return f
	}
	tb.Fatalf("unexpected dtype %s", t.DType())
	return nil
}

// kind is one of the two splines.
type kind struct {
	name     string
	circular bool
}

var kinds = []kind{{"interval", false}, {"circular", true}}

func (k kind) forward(x, w, h, d *graph.Node, o Options) (*graph.Node, *graph.Node) {
	if k.circular {
		return CircularRQS(x, w, h, d, o)
	}
	return RQS(x, w, h, d, o)
}

func (k kind) inverse(y, w, h, d *graph.Node, o Options) (*graph.Node, *graph.Node) {
	if k.circular {
		return CircularRQSInverse(y, w, h, d, o)
	}
	return RQSInverse(y, w, h, d, o)
}

// interval returns the spline's interval.
func (k kind) interval(o Options) (lo, hi float64) {
	if k.circular {
		return -math.Pi, math.Pi
	}
	return -o.Bound, o.Bound
}

// dist is |a-b|, on the circle for the circular spline.
func (k kind) dist(a, b float64) float64 {
	d := math.Abs(a - b)
	if k.circular {
		d = math.Min(d, 2*math.Pi-d)
	}
	return d
}

// problem is a batch of inputs with random spline parameters.
type problem struct {
	dims       []int // of x
	k          int
	x, w, h, d []float64
}

// newProblem draws parameters from N(0, scale²) (scale 1.5 gives bins
// whose sizes differ by factors of ~10 and derivatives from ~0.1 to ~5) and
// inputs uniformly over the interval widened by `widen` on each side.
func newProblem(r *rand.Rand, kd kind, o Options, k int, scale, widen float64, dims ...int) problem {
	n := 1
	for _, v := range dims {
		n *= v
	}
	gauss := func(m int) []float64 {
		v := make([]float64, m)
		for i := range v {
			v[i] = scale * r.NormFloat64()
		}
		return v
	}
	nd := k - 1
	if kd.circular {
		nd = k
	}
	lo, hi := kd.interval(o)
	x := make([]float64, n)
	for i := range x {
		x[i] = lo - widen + (hi-lo+2*widen)*r.Float64()
	}
	return problem{dims: dims, k: k, x: x, w: gauss(n * k), h: gauss(n * k), d: gauss(n * nd)}
}

func (p problem) args(dt dtypes.DType, kd kind) []any {
	nd := p.k - 1
	if kd.circular {
		nd = p.k
	}
	with := func(n int) []int { return append(append([]int(nil), p.dims...), n) }
	return []any{tensorOf(p.x, dt, p.dims...), tensorOf(p.w, dt, with(p.k)...), tensorOf(p.h, dt, with(p.k)...),
		tensorOf(p.d, dt, with(nd)...)}
}

func exec(tb testing.TB, fn any, args ...any) [][]float64 {
	tb.Helper()
	return execOn(tb, testenv.Backend(tb), fn, args...)
}

// execOn is exec on backend b.
func execOn(tb testing.TB, b backends.Backend, fn any, args ...any) [][]float64 {
	tb.Helper()
	e, err := graph.NewExecAny(b, fn)
	if err != nil {
		tb.Fatalf("new exec: %v", err)
	}
	out, err := e.Exec(args...)
	if err != nil {
		tb.Fatalf("exec: %v", err)
	}
	res := make([][]float64, len(out))
	for i, t := range out {
		res[i] = values(tb, t)
	}
	return res
}

// dtypesUnderTest holds the round-trip limits of TestRoundTrip. raw bounds
// the absolute errors (and log-det sums) where conditioning allows it:
// docs/status.md reports ≤ 4e-13 in float64, here 4.0e-13 (interval,
// "typical"); float32 measured up to 6.9e-6. cond bounds the conditioned
// errors, measured up to 2.5e-15 (float64) and 2.0e-6 (float32).
var dtypesUnderTest = []struct {
	dt        dtypes.DType
	raw, cond float64
}{{dtypes.Float64, 4e-12, 5e-14}, {dtypes.Float32, 1e-4, 3e-5}}

// TestRoundTrip checks inverse∘forward and forward∘inverse on random
// parameters, and that the inverse's logDet is minus the forward's. Inputs
// include the tails (interval) and values outside [-π, π) that must wrap
// (circular); the batch has two leading axes.
//
// Logits are drawn from N(0, σ²): σ = 0.5 ("moderate", dy/dx within
// e^±4), 1 ("typical", e^±7) and 2.5 ("extreme", e^±14). Where dy/dx is
// tiny, x = inv(fwd(x)) cannot be more accurate than (rounding of y)/(dy/dx)
// in any implementation, and where it is huge the same holds for y =
// fwd(inv(y)). So every regime is checked on errors measured where they
// arise: the x-error times min(1, dy/dx) and the y-error divided by
// max(1, dy/dx). Plain absolute errors (and the logDet sums, which inherit
// them) are checked where conditioning allows the required tolerance:
// float64 up to "typical", float32 at "moderate". It runs on both backends.
func TestRoundTrip(t *testing.T) {
	testenv.EachBackend(t, testRoundTrip)
}

func testRoundTrip(t *testing.T, b backends.Backend) {
	o := DefaultOptions()
	regimes := []struct {
		name  string
		sigma float64
		raw   map[dtypes.DType]bool // check absolute errors too
	}{
		{"moderate", 0.5, map[dtypes.DType]bool{dtypes.Float64: true, dtypes.Float32: true}},
		{"typical", 1, map[dtypes.DType]bool{dtypes.Float64: true}},
		{"extreme", 2.5, nil},
	}
	for _, kd := range kinds {
		for _, dtc := range dtypesUnderTest {
			for _, regime := range regimes {
				t.Run(fmt.Sprintf("%s/%s/%s", kd.name, dtc.dt, regime.name), func(t *testing.T) {
					r := rand.New(rand.NewPCG(11, 12))
					p := newProblem(r, kd, o, 8, regime.sigma, 0.5, 16, 40)
					out := execOn(t, b, func(x, w, h, d *graph.Node) []*graph.Node {
						y, ld := kd.forward(x, w, h, d, o)
						x2, ld2 := kd.inverse(y, w, h, d, o)
						// The other direction: treat x as a point in y-space.
						xi, ldi := kd.inverse(x, w, h, d, o)
						y2, ldf := kd.forward(xi, w, h, d, o)
						return []*graph.Node{y, ld, x2, ld2, xi, ldi, y2, ldf}
					}, p.args(dtc.dt, kd)...)
					y, ld, x2, ld2, ldi, y2, ldf := out[0], out[1], out[2], out[3], out[5], out[6], out[7]
					lo, hi := kd.interval(o)
					var rawFI, rawIF, condFI, condIF, errLD, errLDI, maxLD float64
					for i, x := range p.x {
						want := x
						if kd.circular { // the round trip returns the wrapped angle
							want = lo + math.Mod(math.Mod(x-lo, hi-lo)+(hi-lo), hi-lo)
						}
						eFI, eIF := kd.dist(x2[i], want), kd.dist(y2[i], want)
						rawFI, rawIF = math.Max(rawFI, eFI), math.Max(rawIF, eIF)
						condFI = math.Max(condFI, eFI*math.Min(1, math.Exp(ld[i])))
						condIF = math.Max(condIF, eIF/math.Max(1, math.Exp(-ldi[i])))
						errLD = math.Max(errLD, math.Abs(ld[i]+ld2[i]))
						errLDI = math.Max(errLDI, math.Abs(ldi[i]+ldf[i]))
						maxLD = math.Max(maxLD, math.Abs(ld[i]))
						if kd.circular && (y[i] < lo || y[i] >= hi) {
							t.Errorf("y[%d] = %v outside [-π, π)", i, y[i])
						}
					}
					t.Logf("|x - inv(fwd(x))| = %.2e (conditioned %.2e), |y - fwd(inv(y))| = %.2e (conditioned %.2e), "+
						"|ld_f + ld_i| = %.2e / %.2e; max |ld| = %.2f", rawFI, condFI, rawIF, condIF, errLD, errLDI, maxLD)
					if maxLD < 0.5*regime.sigma {
						t.Errorf("max |logDet| = %v: parameters too close to the identity for a meaningful test", maxLD)
					}
					if condFI > dtc.cond || condIF > dtc.cond {
						t.Errorf("conditioned round-trip errors %.3e, %.3e exceed %.0e", condFI, condIF, dtc.cond)
					}
					if regime.raw[dtc.dt] && (rawFI > dtc.raw || rawIF > dtc.raw || errLD > dtc.raw || errLDI > dtc.raw) {
						t.Errorf("absolute round-trip errors %.3e, %.3e, logDet sums %.3e, %.3e exceed %.0e",
							rawFI, rawIF, errLD, errLDI, dtc.raw)
					}
				})
			}
		}
	}
}

// TestFloat32MatchesFloat64 checks that the float32 graphs compute the same
// map as the float64 ones to float32 accuracy (relative error of y and of
// dy/dx), so that the float32 round trip is not merely self-consistent.
// Rounding the knots moves y by up to (dy/dx)·(knot error), so y errors are
// divided by max(1, dy/dx).
func TestFloat32MatchesFloat64(t *testing.T) {
	o := DefaultOptions()
	for _, kd := range kinds {
		t.Run(kd.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(23, 24))
			p := newProblem(r, kd, o, 8, 1, 0.5, 500)
			// Use the float32-rounded inputs in both precisions.
			for _, v := range []*[]float64{&p.x, &p.w, &p.h, &p.d} {
				for i, f := range *v {
					(*v)[i] = float64(float32(f))
				}
			}
			fn := func(x, w, h, d *graph.Node) []*graph.Node {
				y, ld := kd.forward(x, w, h, d, o)
				return []*graph.Node{y, ld}
			}
			ref := exec(t, fn, p.args(dtypes.Float64, kd)...)
			got := exec(t, fn, p.args(dtypes.Float32, kd)...)
			var errY, errLD float64
			for i := range p.x {
				errY = math.Max(errY, kd.dist(got[0][i], ref[0][i])/math.Max(1, math.Exp(ref[1][i])))
				errLD = math.Max(errLD, math.Abs(got[1][i]-ref[1][i]))
			}
			t.Logf("float32 vs float64: max |Δy|/max(1, dy/dx) = %.2e, max |ΔlogDet| = %.2e", errY, errLD)
			if errY > 1e-5 || errLD > 1e-4 { // ~20 float32 ulps at |y| = 5
				t.Errorf("float32 differs from float64 by %.3e in y, %.3e in logDet", errY, errLD)
			}
		})
	}
}

// TestLogDetMatchesAutodiff compares logDet with log(dy/dx) from GoMLX's
// reverse-mode gradient (the transforms are elementwise, so the gradient of
// Σy is the Jacobian's diagonal), for the forward and the inverse maps, on
// both backends.
func TestLogDetMatchesAutodiff(t *testing.T) {
	testenv.EachBackend(t, testLogDetMatchesAutodiff)
}

func testLogDetMatchesAutodiff(t *testing.T, b backends.Backend) {
	o := DefaultOptions()
	for _, kd := range kinds {
		t.Run(kd.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(13, 14))
			p := newProblem(r, kd, o, 8, 1.5, 0.5, 8, 50)
			out := execOn(t, b, func(x, w, h, d *graph.Node) []*graph.Node {
				y, ld := kd.forward(x, w, h, d, o)
				dydx := graph.Gradient(graph.ReduceAllSum(y), x)[0]
				xi, ldi := kd.inverse(x, w, h, d, o)
				dxdy := graph.Gradient(graph.ReduceAllSum(xi), x)[0]
				return []*graph.Node{ld, dydx, ldi, dxdy}
			}, p.args(dtypes.Float64, kd)...)
			var worst float64
			for which, pair := range [][2][]float64{{out[0], out[1]}, {out[2], out[3]}} {
				for i := range pair[0] {
					if !(pair[1][i] > 0) {
						t.Fatalf("map %d: derivative %v at x=%v is not positive", which, pair[1][i], p.x[i])
					}
					// |Δ log| is the relative error of the derivative.
					worst = math.Max(worst, math.Abs(pair[0][i]-math.Log(pair[1][i])))
				}
			}
			t.Logf("max |logDet - log(autodiff dy/dx)| = %.2e", worst)
			// docs/status.md: 3.5e-14.
			if worst > 5e-13 {
				t.Errorf("logDet differs from autodiff by %.3e (relative), want ≤ 5e-13", worst)
			}
		})
	}
}

// TestIdentityAtZeroLogits: all-zero logits must give the identity map with
// logDet 0, to rounding.
func TestIdentityAtZeroLogits(t *testing.T) {
	o := DefaultOptions()
	for _, kd := range kinds {
		for _, dtc := range dtypesUnderTest {
			t.Run(fmt.Sprintf("%s/%s", kd.name, dtc.dt), func(t *testing.T) {
				lo, hi := kd.interval(o)
				const n, k = 1001, 8
				p := problem{dims: []int{n}, k: k, x: make([]float64, n)}
				for i := range p.x {
					p.x[i] = lo - 1 + (hi-lo+2)*float64(i)/float64(n-1)
					if kd.circular && p.x[i] >= hi { // stay inside [-π, π): no wrap to compare
						p.x[i] = lo + math.Mod(p.x[i]-lo, hi-lo)
					}
				}
				p.w, p.h = make([]float64, n*k), make([]float64, n*k)
				p.d = make([]float64, n*(k-1))
				if kd.circular {
					p.d = make([]float64, n*k)
				}
				if dtc.dt == dtypes.Float32 { // compare with the float32 inputs
					for i, v := range p.x {
						p.x[i] = float64(float32(v))
					}
				}
				out := exec(t, func(x, w, h, d *graph.Node) []*graph.Node {
					y, ld := kd.forward(x, w, h, d, o)
					xi, ldi := kd.inverse(x, w, h, d, o)
					return []*graph.Node{y, ld, xi, ldi}
				}, p.args(dtc.dt, kd)...)
				eps := 2.220446049250313e-16
				if dtc.dt == dtypes.Float32 {
					eps = 1.1920929e-07
				}
				var worstY, worstLD float64
				for i, x := range p.x {
					for _, m := range [][2][]float64{{out[0], out[1]}, {out[2], out[3]}} {
						// On the circle y = π and y = -π are the same point.
						worstY = math.Max(worstY, kd.dist(m[0][i], x)/(eps*math.Max(1, math.Abs(x))))
						worstLD = math.Max(worstLD, math.Abs(m[1][i])/eps)
					}
				}
				t.Logf("max |y - x| = %.1f ulp·max(1,|x|), max |logDet| = %.1f eps", worstY, worstLD)
				if worstY > 8 || worstLD > 8 {
					t.Errorf("zero logits are not the identity to machine precision: %.1f ulp, logDet %.1f eps", worstY, worstLD)
				}
			})
		}
	}
}

// gridProblem evaluates one random parameter set (the same for all points)
// on a grid of n points over [from, to].
func gridProblem(r *rand.Rand, kd kind, o Options, k, n int, from, to float64) problem {
	one := newProblem(r, kd, o, k, 1.5, 0, 1)
	p := problem{dims: []int{n}, k: k, x: make([]float64, n)}
	for i := range p.x {
		p.x[i] = from + (to-from)*float64(i)/float64(n-1)
		p.w = append(p.w, one.w...)
		p.h = append(p.h, one.h...)
		p.d = append(p.d, one.d...)
	}
	return p
}

// TestMonotonicAndTails: on a fine grid the map is strictly increasing
// (interval: through the tails too), equals the identity with logDet 0
// outside [-B, B], and joins the tails continuously with slope 1.
func TestMonotonicAndTails(t *testing.T) {
	o := DefaultOptions()
	for _, kd := range kinds {
		t.Run(kd.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(15, 16))
			lo, hi := kd.interval(o)
			from, to := lo-2, hi+2
			if kd.circular {
				// Stop short of π: a y that rounds to π wraps to -π, which
				// is the same point on the circle (TestBoundaries checks it).
				from, to = lo, hi-1e-9
			}
			const n = 20001
			p := gridProblem(r, kd, o, 8, n, from, to)
			out := exec(t, func(x, w, h, d *graph.Node) []*graph.Node {
				y, ld := kd.forward(x, w, h, d, o)
				return []*graph.Node{y, ld}
			}, p.args(dtypes.Float64, kd)...)
			y, ld := out[0], out[1]
			minStep := math.Inf(1)
			for i := 1; i < n; i++ {
				minStep = math.Min(minStep, y[i]-y[i-1])
			}
			t.Logf("min y[i+1]-y[i] on the grid = %.3e (grid step %.3e)", minStep, (to-from)/(n-1))
			if !(minStep > 0) {
				t.Errorf("not strictly increasing: min step %v", minStep)
			}
			for i, x := range p.x {
				if !kd.circular && (x < lo || x > hi) && (y[i] != x || ld[i] != 0) {
					t.Fatalf("tail x=%v: y=%v logDet=%v, want identity", x, y[i], ld[i])
				}
				if kd.circular && (y[i] < lo || y[i] >= hi) {
					t.Fatalf("x=%v: y=%v outside [-π, π)", x, y[i])
				}
			}
		})
	}
}

// TestBoundaries checks the joins numerically: for the interval spline the
// value and derivative at ±B match the identity tails; for the circular one
// y(-π) = -π, y(π⁻) → π and the derivative at π⁻ equals the one at -π.
func TestBoundaries(t *testing.T) {
	o := DefaultOptions()
	const eps = 1e-9
	for _, kd := range kinds {
		t.Run(kd.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(17, 18))
			lo, hi := kd.interval(o)
			for trial := range 5 {
				p := gridProblem(r, kd, o, 6, 4, 0, 1)
				p.x = []float64{lo, lo + eps, hi - eps, math.Nextafter(hi, lo)}
				out := exec(t, func(x, w, h, d *graph.Node) []*graph.Node {
					y, ld := kd.forward(x, w, h, d, o)
					return []*graph.Node{y, ld}
				}, p.args(dtypes.Float64, kd)...)
				y, ld := out[0], out[1]
				if y[0] != lo {
					t.Errorf("trial %d: y(%v) = %v, want %v exactly", trial, lo, y[0], lo)
				}
				if d := math.Abs(y[3] - hi); d > 1e-12 {
					t.Errorf("trial %d: y(%v⁻) = %v, %.2e from %v", trial, hi, y[3], d, hi)
				}
				dLo, dHi := math.Exp(ld[1]), math.Exp(ld[2])
				if kd.circular {
					if math.Abs(dLo-dHi) > 1e-6*dLo {
						t.Errorf("trial %d: derivative at -π⁺ %v vs π⁻ %v", trial, dLo, dHi)
					}
					// Finite-difference slopes across the seam agree too.
					sLo, sHi := (y[1]-y[0])/eps, (y[3]-y[2])/(p.x[3]-p.x[2])
					if math.Abs(sLo-sHi) > 1e-5*sLo {
						t.Errorf("trial %d: slopes across the seam %v vs %v", trial, sLo, sHi)
					}
				} else if math.Abs(dLo-1) > 1e-6 || math.Abs(dHi-1) > 1e-6 {
					t.Errorf("trial %d: derivative at the boundaries %v, %v, want 1", trial, dLo, dHi)
				}
			}
		})
	}
}

// TestGradientsAtKnots evaluates the transforms exactly at their knots and
// boundaries, where bins meet and ξ is 0 or 1, and requires every gradient
// (w.r.t. the input and all parameters, of Σ(y + logDet)) to be finite.
func TestGradientsAtKnots(t *testing.T) {
	o := DefaultOptions()
	const k = 5
	for _, kd := range kinds {
		for _, dir := range []string{"forward", "inverse"} {
			t.Run(kd.name+"/"+dir, func(t *testing.T) {
				r := rand.New(rand.NewPCG(19, 20))
				p := gridProblem(r, kd, o, k, k+1, 0, 1)
				// The knots of this parameter set: x-knots for the forward
				// map, y-knots for the inverse, plus the right end.
				kn := exec(t, func(w, h *graph.Node) []*graph.Node {
					logits := w
					if dir == "inverse" {
						logits = h
					}
					lo, hi := kd.interval(o)
					min := o.MinBinWidth
					if dir == "inverse" {
						min = o.MinBinHeight
					}
					return []*graph.Node{graph.Stack(knots(graphops.Unstack(logits, 0), min, lo, hi), 0)}
				}, tensorOf(p.w[:k], dtypes.Float64, k), tensorOf(p.h[:k], dtypes.Float64, k))
				p.x = append([]float64(nil), kn[0]...)
				if kd.circular {
					p.x[k] = math.Nextafter(p.x[k], 0)
				}
				out := exec(t, func(x, w, h, d *graph.Node) []*graph.Node {
					var y, ld *graph.Node
					if dir == "forward" {
						y, ld = kd.forward(x, w, h, d, o)
					} else {
						y, ld = kd.inverse(x, w, h, d, o)
					}
					return graph.Gradient(graph.ReduceAllSum(graph.Add(y, ld)), x, w, h, d)
				}, p.args(dtypes.Float64, kd)...)
				for i, g := range out {
					for j, v := range g {
						if math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("gradient %d element %d = %v at knots %v", i, j, v, p.x)
						}
					}
				}
			})
		}
	}
}

// TestParameterGradients compares the gradients w.r.t. the logits with
// central finite differences (float64), for both maps and both splines.
func TestParameterGradients(t *testing.T) {
	o := DefaultOptions()
	const k, n = 4, 3
	for _, kd := range kinds {
		for _, dir := range []string{"forward", "inverse"} {
			t.Run(kd.name+"/"+dir, func(t *testing.T) {
				r := rand.New(rand.NewPCG(21, 22))
				p := newProblem(r, kd, o, k, 1, 0, n)
				apply := func(x, w, h, d *graph.Node) *graph.Node {
					var y, ld *graph.Node
					if dir == "forward" {
						y, ld = kd.forward(x, w, h, d, o)
					} else {
						y, ld = kd.inverse(x, w, h, d, o)
					}
					// Weights make each element's contribution distinct.
					wts := graph.AddScalar(graph.Iota(x.Graph(), x.Shape(), 0), 1)
					return graph.ReduceAllSum(graph.Mul(wts, graph.Add(y, graph.MulScalar(ld, 0.7))))
				}
				grads := exec(t, func(x, w, h, d *graph.Node) []*graph.Node {
					return graph.Gradient(apply(x, w, h, d), w, h, d)
				}, p.args(dtypes.Float64, kd)...)
				lossExec := graph.MustNewExec(testenv.Backend(t), apply)
				loss := func(q problem) float64 {
					res, err := lossExec.Exec(q.args(dtypes.Float64, kd)...)
					if err != nil {
						t.Fatal(err)
					}
					return tensors.ToScalar[float64](res[0])
				}
				const step = 1e-5
				var worst float64
				for which, param := range []*[]float64{&p.w, &p.h, &p.d} {
					for i := range *param {
						orig := (*param)[i]
						(*param)[i] = orig + step
						up := loss(p)
						(*param)[i] = orig - step
						down := loss(p)
						(*param)[i] = orig
						fd := (up - down) / (2 * step)
						worst = math.Max(worst, math.Abs(grads[which][i]-fd)/math.Max(1, math.Abs(fd)))
					}
				}
				t.Logf("max |grad - finite difference| / max(1,|fd|) = %.2e", worst)
				if worst > 1e-6 {
					t.Errorf("parameter gradients differ from finite differences by %.3e", worst)
				}
			})
		}
	}
}

// TestUnpackParams: parameters packed along a leading or trailing axis
// split into the documented order, and ParamsPerDim counts them.
func TestUnpackParams(t *testing.T) {
	for _, circular := range []bool{false, true} {
		for _, axis := range []int{0, -1} {
			const k, n = 3, 2
			p := ParamsPerDim(k, circular)
			data := make([]float64, n*p)
			for i := range data {
				data[i] = float64(i)
			}
			dims := []int{p, n}
			at := func(param, row int) float64 { return data[param*n+row] }
			if axis == -1 {
				dims = []int{n, p}
				at = func(param, row int) float64 { return data[row*p+param] }
			}
			out := exec(t, func(x *graph.Node) []*graph.Node {
				c := UnpackParams(x, k, circular, axis)
				return append(append(append([]*graph.Node(nil), c.Widths...), c.Heights...), c.Derivs...)
			}, tensorOf(data, dtypes.Float64, dims...))
			if len(out) != p {
				t.Fatalf("circular=%v axis=%d: %d columns, want %d", circular, axis, len(out), p)
			}
			for param := range p {
				for row := range n {
					if out[param][row] != at(param, row) {
						t.Fatalf("circular=%v axis=%d: column %d row %d = %v, want %v", circular, axis, param, row, out[param][row], at(param, row))
					}
				}
			}
		}
	}
	if ParamsPerDim(8, false) != 23 || ParamsPerDim(8, true) != 24 {
		t.Errorf("ParamsPerDim(8) = %d, %d; want 23 (8+8+7), 24 (8+8+8)", ParamsPerDim(8, false), ParamsPerDim(8, true))
	}
}

// TestInvalidInputs: bad options and shapes come back as errors from Exec
// (and from Validate), never as a crash.
func TestInvalidInputs(t *testing.T) {
	good := DefaultOptions()
	tests := []struct {
		name    string
		opts    Options
		k, nd   int
		wantErr string // "" means success
	}{
		{"ok", good, 4, 3, ""},
		{"one bin", good, 1, 1, "at least 2 bins"},
		{"zero bound", Options{0, 1e-3, 1e-3, 1e-3}, 4, 3, "Bound"},
		{"min width too big", Options{5, 0.3, 1e-3, 1e-3}, 4, 3, "MinBinWidth"},
		{"min height negative", Options{5, 1e-3, -1, 1e-3}, 4, 3, "MinBinHeight"},
		{"min derivative 1", Options{5, 1e-3, 1e-3, 1}, 4, 3, "MinDerivative"},
		{"derivs wrong size", good, 4, 4, "4 derivs for 4 bins, want 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := graph.NewExecAny(testenv.Backend(t), func(x, w, h, d *graph.Node) []*graph.Node {
				y, ld := RQS(x, w, h, d, tc.opts)
				return []*graph.Node{y, ld}
			})
			if err != nil {
				t.Fatal(err)
			}
			f64 := dtypes.Float64
			_, err = e.Exec(tensorOf(make([]float64, 2), f64, 2), tensorOf(make([]float64, 2*tc.k), f64, 2, tc.k),
				tensorOf(make([]float64, 2*tc.k), f64, 2, tc.k), tensorOf(make([]float64, 2*tc.nd), f64, 2, tc.nd))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if tc.name != "derivs wrong size" {
				if verr := tc.opts.Validate(tc.k, false); verr == nil || !strings.Contains(verr.Error(), tc.wantErr) {
					t.Errorf("Validate = %v, want an error containing %q", verr, tc.wantErr)
				}
			}
		})
	}
}
