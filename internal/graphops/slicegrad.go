package graphops

import (
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26.0 differentiates Slice by padding the incoming gradient back
// to the operand's shape with Pad, which the pure-Go backend lacks, so any
// graph that slices (Slice, SliceAxis, Split, Unstack below) fails to
// differentiate there. For unit strides the padding is a concatenation with
// zero blocks, which every backend has.

func init() { FixGradients() }

var (
	fixSliceOnce     sync.Once
	originalSliceVJP graph.VJP
)

// FixSliceGradients registers a Concatenate-based VJP for Slice with unit
// strides (strided slices keep GoMLX's Pad-based VJP). Like
// FixMatmulGradients it edits graph.VJPRegistration and is called by the
// package's init.
//
// Each slice's gradient is a full-size tensor (zeros around the slice), and
// autodiff adds them up: splitting a tensor into n pieces costs O(n × size)
// in the backward pass. Code that needs many pieces of a large tensor should
// produce them separately instead (see MLPHeads).
func FixSliceGradients() {
	fixSliceOnce.Do(func() {
		originalSliceVJP = graph.VJPRegistration[graph.NodeTypeSlice]
		graph.VJPRegistration[graph.NodeTypeSlice] = sliceVJP
	})
}

// FixGradients installs all of this package's gradient replacements. The
// package's init calls it, so importing graphops (directly, or through
// flow/nn, the flow packages or the graph energy) is enough; the replacements compute the same gradients as
// GoMLX's own where those work, and run at init time so that no goroutine
// can be building a gradient while the registry changes.
func FixGradients() {
	FixMatmulGradients()
	FixSliceGradients()
}

func sliceVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	inputs := node.Inputs()
	starts, err1 := intSliceParam(node, "starts")
	limits, err2 := intSliceParam(node, "limits")
	strides, err3 := intSliceParam(node, "strides")
	if err1 != nil || err2 != nil || err3 != nil || len(inputs) != 1 || len(vjpOutputs) != 1 ||
		slices.ContainsFunc(strides, func(s int) bool { return s > 1 }) {
		return originalSliceVJP(node, vjpOutputs, outputShape)
	}
	x, v := inputs[0], vjpOutputs[0]
	g := x.Graph()
	dims := x.Shape().Dimensions
	for axis := range dims {
		before, after := starts[axis], dims[axis]-limits[axis]
		if before == 0 && after == 0 {
			continue
		}
		parts := make([]*graph.Node, 0, 3)
		zeros := func(n int) *graph.Node {
			d := slices.Clone(v.Shape().Dimensions)
			d[axis] = n
			return graph.Zeros(g, shapes.Make(v.DType(), d...))
		}
		if before > 0 {
			parts = append(parts, zeros(before))
		}
		parts = append(parts, v)
		if after > 0 {
			parts = append(parts, zeros(after))
		}
		v = graph.Concatenate(parts, axis)
	}
	return []*graph.Node{v}
}
