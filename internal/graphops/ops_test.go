package graphops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// contraction is one Dot/DotGeneral configuration to differentiate.
type contraction struct {
	name       string
	lhs, rhs   []int
	fn         func(a, b *graph.Node) *graph.Node
	usesGather bool
}

var contractions = []contraction{
	{name: "Dot matrix-matrix", lhs: []int{3, 4}, rhs: []int{4, 5}, fn: graph.Dot},
	{name: "Dot matrix-vector", lhs: []int{3, 4}, rhs: []int{4}, fn: graph.Dot},
	{name: "Dot vector-vector", lhs: []int{4}, rhs: []int{4}, fn: graph.Dot},
	{name: "DotGeneral batch+2 contracting, permuted", lhs: []int{2, 3, 4, 5}, rhs: []int{5, 2, 3, 4}, fn: func(a, b *graph.Node) *graph.Node {
		// lhs [b=2, c1=3, x=4, c2=5], rhs [c2=5, b=2, y=3?]: contract lhs(1,3) with rhs(3?,0).
		return graph.DotGeneral(a, []int{3, 1}, []int{0}, b, []int{0, 2}, []int{1})
	}},
	{name: "DotGeneral no contraction (outer)", lhs: []int{3}, rhs: []int{4}, fn: func(a, b *graph.Node) *graph.Node {
		return graph.DotGeneral(a, nil, nil, b, nil, nil)
	}},
	{name: "DotGeneral rhs-first contraction", lhs: []int{4, 3}, rhs: []int{2, 4}, fn: func(a, b *graph.Node) *graph.Node {
		return graph.DotGeneral(a, []int{0}, nil, b, []int{1}, nil)
	}},
	{name: "Einsum batched matmul", lhs: []int{2, 3, 4}, rhs: []int{2, 4, 5}, fn: func(a, b *graph.Node) *graph.Node {
		return graph.Einsum("bij,bjk->bik", a, b)
	}},
	{name: "MatMul rank3 x matrix", lhs: []int{2, 3, 4}, rhs: []int{4, 5}, fn: graph.MatMul},
}

// TestMatmulGradients checks the registered VJPs against central finite
// differences (exact up to rounding here, because the loss is bilinear)
// and against GoMLX's own VJPs.
func TestMatmulGradients(t *testing.T) {
	graphops.FixMatmulGradients()
	b := testenv.PureGo(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range contractions {
		t.Run(c.name, func(t *testing.T) {
			a0, b0 := testenv.RandTensor(r, c.lhs...), testenv.RandTensor(r, c.rhs...)
			// Weights for the scalar loss sum(w ⊙ f(a, b)).
			out, err := graph.ExecOnce(b, c.fn, a0, b0)
			if err != nil {
				t.Fatalf("forward: %v", err)
			}
			w0 := testenv.RandTensor(r, out.Shape().Dimensions...)
			loss := func(a, bb, w *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(w, c.fn(a, bb))) }
			gradFn := func(a, bb, w *graph.Node) []*graph.Node { return graph.Gradient(loss(a, bb, w), a, bb) }

			grads, err := graph.MustNewExec(b, gradFn).Exec(a0, b0, w0)
			if err != nil {
				t.Fatalf("gradient: %v", err)
			}
			// GoMLX's own VJPs, for comparison (in a fresh Exec, since graphs
			// are built lazily at the first call).
			graphops.SetMatmulVJPs(false)
			ref, err := graph.MustNewExec(b, gradFn).Exec(a0, b0, w0)
			graphops.SetMatmulVJPs(true)
			if err != nil {
				t.Fatalf("reference gradient: %v", err)
			}
			lossExec := graph.MustNewExec(b, loss)
			eval := func(a, bb *tensors.Tensor) float64 {
				o, err := lossExec.Exec(a, bb, w0)
				if err != nil {
					t.Fatalf("loss: %v", err)
				}
				return tensors.ToScalar[float64](o[0])
			}
			const h = 1e-3
			for which, in := range []*tensors.Tensor{a0, b0} {
				base := testenv.Float64s(t, in)
				got, gomlx := testenv.Float64s(t, grads[which]), testenv.Float64s(t, ref[which])
				var maxErr, maxRef float64
				for i := range base {
					fd := func(delta float64) float64 {
						p := append([]float64(nil), base...)
						p[i] += delta
						pt := tensors.FromFlatDataAndDimensions(p, in.Shape().Dimensions...)
						if which == 0 {
							return eval(pt, b0)
						}
						return eval(a0, pt)
					}
					num := (fd(h) - fd(-h)) / (2 * h)
					maxErr = math.Max(maxErr, math.Abs(got[i]-num))
					maxRef = math.Max(maxRef, math.Abs(got[i]-gomlx[i]))
				}
				t.Logf("operand %d: max |grad - finite diff| = %.2e, max |grad - GoMLX grad| = %.2e", which, maxErr, maxRef)
				if maxErr > 1e-9 || maxRef > 1e-12 {
					t.Errorf("operand %d: gradient error %.3e vs finite differences, %.3e vs GoMLX", which, maxErr, maxRef)
				}
			}
		})
	}
}

func TestCumSum(t *testing.T) {
	b := testenv.PureGo(t)
	r := rand.New(rand.NewPCG(3, 4))
	dims := []int{3, 5, 4}
	x0, w0 := testenv.RandTensor(r, dims...), testenv.RandTensor(r, dims...)
	xs, ws := testenv.Float64s(t, x0), testenv.Float64s(t, w0)
	at := func(i, j, k int) int { return (i*dims[1]+j)*dims[2] + k }
	for _, exclusive := range []bool{false, true} {
		for axis := range dims {
			// Reference by loops: value, and d/dx of sum(w ⊙ cumsum(x)),
			// which is Σ_{j ≥ i} w_j (j > i when exclusive) along the axis.
			want := make([]float64, len(xs))
			wantGrad := make([]float64, len(xs))
			for i := range dims[0] {
				for j := range dims[1] {
					for k := range dims[2] {
						idx := [3]int{i, j, k}
						for m := range dims[axis] {
							src := idx
							src[axis] = m
							include := m <= idx[axis]
							if exclusive {
								include = m < idx[axis]
							}
							if include {
								want[at(i, j, k)] += xs[at(src[0], src[1], src[2])]
								// x[src] contributes to out[idx] with weight w[idx].
								wantGrad[at(src[0], src[1], src[2])] += ws[at(i, j, k)]
							}
						}
					}
				}
			}
			fn := func(x, w *graph.Node) (*graph.Node, *graph.Node) {
				var c *graph.Node
				if exclusive {
					c = graphops.CumSumExclusive(x, axis)
				} else {
					c = graphops.CumSum(x, axis)
				}
				return c, graph.Gradient(graph.ReduceAllSum(graph.Mul(w, c)), x)[0]
			}
			out, err := graph.MustNewExec(b, fn).Exec(x0, w0)
			if err != nil {
				t.Fatalf("exclusive=%v axis=%d: %v", exclusive, axis, err)
			}
			got, gotGrad := testenv.Float64s(t, out[0]), testenv.Float64s(t, out[1])
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12 || math.Abs(gotGrad[i]-wantGrad[i]) > 1e-12 {
					t.Fatalf("exclusive=%v axis=%d element %d: value %v want %v, grad %v want %v",
						exclusive, axis, i, got[i], want[i], gotGrad[i], wantGrad[i])
				}
			}
		}
	}
}

func TestGatherSlice(t *testing.T) {
	b := testenv.PureGo(t)
	r := rand.New(rand.NewPCG(5, 6))
	dims := []int{4, 6, 3}
	x0 := testenv.RandTensor(r, dims...)
	xs := testenv.Float64s(t, x0)
	tests := []struct{ axis, start, end int }{
		{0, 1, 3}, {1, 0, 6}, {1, 2, 5}, {2, 2, 3}, {-1, 0, 2},
	}
	for _, tc := range tests {
		axis := tc.axis
		if axis < 0 {
			axis += len(dims)
		}
		outDims := append([]int(nil), dims...)
		outDims[axis] = tc.end - tc.start
		w0 := testenv.RandTensor(r, outDims...)
		ws := testenv.Float64s(t, w0)
		fn := func(x, w *graph.Node) (*graph.Node, *graph.Node) {
			s := graphops.GatherSlice(x, tc.axis, tc.start, tc.end)
			return s, graph.Gradient(graph.ReduceAllSum(graph.Mul(w, s)), x)[0]
		}
		out, err := graph.MustNewExec(b, fn).Exec(x0, w0)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		got, gotGrad := testenv.Float64s(t, out[0]), testenv.Float64s(t, out[1])
		wantGrad := make([]float64, len(xs))
		n := 0
		for i := range dims[0] {
			for j := range dims[1] {
				for k := range dims[2] {
					idx := [3]int{i, j, k}
					if idx[axis] < tc.start || idx[axis] >= tc.end {
						continue
					}
					src := (i*dims[1]+j)*dims[2] + k
					if got[n] != xs[src] {
						t.Fatalf("%+v: output %d = %v, want x[%v] = %v", tc, n, got[n], idx, xs[src])
					}
					wantGrad[src] = ws[n]
					n++
				}
			}
		}
		if n != len(got) {
			t.Fatalf("%+v: output has %d elements, want %d", tc, len(got), n)
		}
		for i := range wantGrad {
			if gotGrad[i] != wantGrad[i] {
				t.Fatalf("%+v: gradient[%d] = %v, want %v", tc, i, gotGrad[i], wantGrad[i])
			}
		}
	}
}

// TestSliceGradientAndUnstack: the gradient of slices (which needs
// FixSliceGradients on the pure-Go backend) scatters the output weights back
// to the sliced positions, for every axis.
func TestSliceGradientAndUnstack(t *testing.T) {
	b := testenv.PureGo(t)
	r := rand.New(rand.NewPCG(9, 10))
	dims := []int{3, 4, 5}
	x0 := testenv.RandTensor(r, dims...)
	xs := testenv.Float64s(t, x0)
	for axis := range dims {
		n := dims[axis]
		// loss = Σ_i (i+1) · Σ(unstacked_i²): d/dx = 2 (i+1) x where i is
		// the element's index along axis.
		out, err := graph.MustNewExec(b, func(x *graph.Node) []*graph.Node {
			parts := graphops.Unstack(x, axis)
			loss := graph.ScalarZero(x.Graph(), x.DType())
			for i, p := range parts {
				loss = graph.Add(loss, graph.MulScalar(graph.ReduceAllSum(graph.Square(p)), float64(i+1)))
			}
			return append([]*graph.Node{graph.Gradient(loss, x)[0]}, parts...)
		}).Exec(x0)
		if err != nil {
			t.Fatalf("axis %d: %v", axis, err)
		}
		if len(out) != n+1 {
			t.Fatalf("axis %d: %d parts, want %d", axis, len(out)-1, n)
		}
		grad := testenv.Float64s(t, out[0])
		for i := range dims[0] {
			for j := range dims[1] {
				for k := range dims[2] {
					idx := [3]int{i, j, k}
					src := (i*dims[1]+j)*dims[2] + k
					if want := 2 * float64(idx[axis]+1) * xs[src]; math.Abs(grad[src]-want) > 1e-12 {
						t.Fatalf("axis %d: grad at %v = %v, want %v", axis, idx, grad[src], want)
					}
					// Element idx of x is element (idx without axis) of part idx[axis].
					part := testenv.Float64s(t, out[1+idx[axis]])
					rest := make([]int, 0, 2)
					restDims := make([]int, 0, 2)
					for a := range 3 {
						if a != axis {
							rest = append(rest, idx[a])
							restDims = append(restDims, dims[a])
						}
					}
					if got := part[rest[0]*restDims[1]+rest[1]]; got != xs[src] {
						t.Fatalf("axis %d: part %d at %v = %v, want %v", axis, idx[axis], rest, got, xs[src])
					}
				}
			}
		}
	}
}

func TestGatherAxis(t *testing.T) {
	b := testenv.PureGo(t)
	r := rand.New(rand.NewPCG(11, 12))
	x0 := testenv.RandTensor(r, 3, 5)
	xs := testenv.Float64s(t, x0)
	tests := []struct {
		axis int
		idx  []int
	}{{1, []int{4, 0, 2}}, {1, []int{1, 2, 3}}, {0, []int{2, 0}}, {1, []int{0, 1, 2, 3, 4}}, {-1, []int{3, 3}}}
	for _, tc := range tests {
		a := tc.axis
		if a < 0 {
			a += 2
		}
		outDims := []int{3, 5}
		outDims[a] = len(tc.idx)
		w0 := testenv.RandTensor(r, outDims...)
		ws := testenv.Float64s(t, w0)
		out, err := graph.MustNewExec(b, func(x, w *graph.Node) []*graph.Node {
			gx := graphops.GatherAxis(x, tc.axis, tc.idx)
			return []*graph.Node{gx, graph.Gradient(graph.ReduceAllSum(graph.Mul(gx, w)), x)[0]}
		}).Exec(x0, w0)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		got, grad := testenv.Float64s(t, out[0]), testenv.Float64s(t, out[1])
		wantGrad := make([]float64, len(xs))
		for i := range outDims[0] {
			for j := range outDims[1] {
				src := [2]int{i, j}
				src[a] = tc.idx[src[a]]
				if v := got[i*outDims[1]+j]; v != xs[src[0]*5+src[1]] {
					t.Fatalf("%+v: out[%d,%d] = %v, want x%v = %v", tc, i, j, v, src, xs[src[0]*5+src[1]])
				}
				wantGrad[src[0]*5+src[1]] += ws[i*outDims[1]+j]
			}
		}
		for i := range wantGrad {
			if math.Abs(grad[i]-wantGrad[i]) > 1e-15 {
				t.Fatalf("%+v: grad[%d] = %v, want %v", tc, i, grad[i], wantGrad[i])
			}
		}
	}
}
