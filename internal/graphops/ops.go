package graphops

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Graph-building functions follow GoMLX's convention: invalid arguments
// panic with an error value, which graph.Exec turns into a returned error.

// normAxis maps a possibly negative axis into [0, rank) or panics.
func normAxis(x *graph.Node, axis int, op string) int {
	r := x.Rank()
	a := axis
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		panic(fmt.Errorf("%s: axis %d out of range for shape %s", op, axis, x.Shape()))
	}
	return a
}

// CumSum returns the inclusive cumulative sum of x along axis:
// out[..., j, ...] = Σ_{i≤j} x[..., i, ...].
//
// It is a matmul with a constant triangular matrix, so it costs O(n²) per
// row of length n and, unlike graph.CumSum, it has a gradient on the pure-Go
// backend. That backend pads matmul operands to 32×32 blocks once the output
// exceeds 16K elements, so for a short axis on a large tensor (e.g. [200000,
// 8]) a running sum over Unstack'ed slices is much faster.
func CumSum(x *graph.Node, axis int) *graph.Node { return cumSum(x, axis, false) }

// CumSumExclusive is CumSum without the diagonal term:
// out[..., j, ...] = Σ_{i<j} x[..., i, ...], so out[..., 0, ...] = 0 exactly.
func CumSumExclusive(x *graph.Node, axis int) *graph.Node { return cumSum(x, axis, true) }

func cumSum(x *graph.Node, axis int, exclusive bool) *graph.Node {
	a := normAxis(x, axis, "CumSum")
	n := x.Shape().Dimensions[a]
	g := x.Graph()
	sq := shapes.Make(dtypes.Int32, n, n)
	i, j := graph.Iota(g, sq, 0), graph.Iota(g, sq, 1)
	var mask *graph.Node
	if exclusive {
		mask = graph.LessThan(i, j)
	} else {
		mask = graph.LessOrEqual(i, j)
	}
	return MatMulAxis(x, a, graph.ConvertDType(mask, x.DType()))
}

// MatMulAxis contracts axis of x with the first axis of the matrix m [n, p]
// and puts the resulting p-sized axis where axis was:
// out[..., j, ...] = Σ_i x[..., i, ...] m[i, j].
// With 0/±1 matrices it is an exact, differentiable way to select, shift or
// difference entries along an axis without Slice (whose gradient needs Pad,
// which the pure-Go backend lacks).
func MatMulAxis(x *graph.Node, axis int, m *graph.Node) *graph.Node {
	a := normAxis(x, axis, "MatMulAxis")
	if m.Rank() != 2 || m.Shape().Dimensions[0] != x.Shape().Dimensions[a] {
		panic(fmt.Errorf("MatMulAxis: matrix shape %s does not match axis %d of %s", m.Shape(), axis, x.Shape()))
	}
	out := graph.DotGeneral(x, []int{a}, nil, m, []int{0}, nil) // other axes of x, then p
	r := x.Rank()
	perm := make([]int, r)
	for k := range r {
		switch {
		case k < a:
			perm[k] = k
		case k == a:
			perm[k] = r - 1
		default:
			perm[k] = k - 1
		}
	}
	return transposeIfNeeded(out, perm)
}

// GatherSlice returns x[..., start:end, ...] along axis, built from Gather,
// whose gradient (a ScatterSum) works on the pure-Go backend without any of
// this package's VJP replacements. GoMLX's own Slice, SliceAxis and Split
// differentiate there only with FixSliceGradients installed (importing this
// package installs it), and are then usually cheaper.
func GatherSlice(x *graph.Node, axis, start, end int) *graph.Node {
	a := normAxis(x, axis, "GatherSlice")
	dim := x.Shape().Dimensions[a]
	if start < 0 || end > dim || start >= end {
		panic(fmt.Errorf("GatherSlice: range [%d, %d) invalid for axis %d of size %d (shape %s)",
			start, end, axis, dim, x.Shape()))
	}
	// Gather indexes the leading axis: move axis to the front and back.
	front, back := toFront(x.Rank(), a)
	g := x.Graph()
	idx := graph.Iota(g, shapes.Make(dtypes.Int32, end-start, 1), 0)
	if start != 0 {
		idx = graph.Add(idx, graph.Scalar(g, dtypes.Int32, start))
	}
	out := graph.Gather(transposeIfNeeded(x, front), idx, true)
	return transposeIfNeeded(out, back)
}

// toFront is the axis permutation of a rank-r tensor that moves axis a to
// the front, keeping the others in order, and its inverse.
func toFront(r, a int) (front, back []int) {
	front = make([]int, 0, r)
	front = append(front, a)
	for k := range r {
		if k != a {
			front = append(front, k)
		}
	}
	back = make([]int, r)
	for k, src := range front {
		back[src] = k
	}
	return front, back
}

// Unstack splits x along axis into x.Shape().Dimensions[axis] tensors with
// that axis removed. Slicing the leading axis copies contiguous memory and is
// much faster on the pure-Go backend than slicing an inner one. Its gradient
// needs FixSliceGradients (installed by the package's init).
func Unstack(x *graph.Node, axis int) []*graph.Node {
	a := normAxis(x, axis, "Unstack")
	n := x.Shape().Dimensions[a]
	out := make([]*graph.Node, n)
	for i := range out {
		out[i] = graph.Squeeze(graph.SliceAxis(x, a, graph.AxisElem(i)), a)
	}
	return out
}

// GatherAxis returns the entries idx (in that order) of x along axis. A
// contiguous increasing idx is a plain slice; any other order moves axis to
// the front, gathers there and moves it back (Gather indexes the leading
// axis). Both are differentiable on the pure-Go backend.
func GatherAxis(x *graph.Node, axis int, idx []int) *graph.Node {
	a := normAxis(x, axis, "GatherAxis")
	dim := x.Shape().Dimensions[a]
	if len(idx) == 0 {
		panic(fmt.Errorf("GatherAxis: no indices for axis %d of %s", axis, x.Shape()))
	}
	contiguous := true
	for i, v := range idx {
		if v < 0 || v >= dim {
			panic(fmt.Errorf("GatherAxis: index %d out of range for axis %d of %s", v, axis, x.Shape()))
		}
		if v != idx[0]+i {
			contiguous = false
		}
	}
	if contiguous {
		if idx[0] == 0 && len(idx) == dim {
			return x
		}
		return graph.SliceAxis(x, a, graph.AxisRange(idx[0], idx[0]+len(idx)))
	}
	front, back := toFront(x.Rank(), a)
	ind := make([][]int32, len(idx))
	for i, v := range idx {
		ind[i] = []int32{int32(v)}
	}
	out := graph.Gather(transposeIfNeeded(x, front), graph.Const(x.Graph(), ind))
	return transposeIfNeeded(out, back)
}

// Float64s copies a Float32 or Float64 tensor's values into a new []float64
// (nil for other dtypes): how host code reads a graph's results.
func Float64s(t *tensors.Tensor) []float64 {
	var out []float64
	t.MustConstFlatData(func(flat any) {
		switch v := flat.(type) {
		case []float64:
			out = append([]float64(nil), v...)
		case []float32:
			out = make([]float64, len(v))
			for i, f := range v {
				out[i] = float64(f)
			}
		}
	})
	return out
}
