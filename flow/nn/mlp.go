package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// SiLU is x·sigmoid(x), the conditioners' activation: smooth (the flow's
// log-density is differentiated through it) and non-saturating.
func SiLU(x *graph.Node) *graph.Node { return graph.Mul(x, graph.Sigmoid(x)) }

// Dense is the affine layer x·W + b for x [batch, in], with variables
// "weights" [in, out] and "bias" [out] in ctx's scope, of x's dtype. W takes
// ctx's initializer (He-normal by default); the bias starts at zero.
func Dense(ctx *context.Context, x *graph.Node, out int) *graph.Node {
	if x.Rank() != 2 {
		panic(fmt.Errorf("nn.Dense: input must be [batch, features], got %s", x.Shape()))
	}
	in := x.Shape().Dimensions[1]
	w := ctx.VariableWithShape("weights", shapes.Make(x.DType(), in, out)).ValueGraph(x.Graph())
	b := ctx.WithInitializer(initializers.Zero).VariableWithShape("bias", shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	return graph.Add(graph.Dot(x, w), graph.InsertAxes(b, 0))
}

// MLPHeads maps x [batch, in] through dense layers of the given hidden
// widths (SiLU after each) and then through len(headDims) separate affine
// heads, returning one [batch, headDims[i]] tensor per head.
//
// Separate heads let a flow conditioner hand each spline parameter to the
// spline as its own tensor: slicing one wide output instead would cost, in
// the backward pass, one full-size padded gradient per slice on the pure-Go
// backend. With zeroHeads the heads' weights and biases start at zero, so
// every output is 0 at initialisation (a spline then starts as the
// identity).
//
// Variables live under ctx/"hidden_<i>" and ctx/"head_<j>"; ctx is used
// unchecked so that the same layers can be built more than once in a graph
// (e.g. a flow's forward and inverse maps share them).
func MLPHeads(ctx *context.Context, x *graph.Node, hidden []int, headDims []int, zeroHeads bool) []*graph.Node {
	ctx = ctx.Checked(false)
	h := x
	for i, width := range hidden {
		h = SiLU(Dense(ctx.In(fmt.Sprintf("hidden_%d", i)), h, width))
	}
	out := make([]*graph.Node, len(headDims))
	for j, d := range headDims {
		hc := ctx.In(fmt.Sprintf("head_%d", j))
		if zeroHeads {
			hc = hc.WithInitializer(initializers.Zero)
		}
		out[j] = Dense(hc, h, d)
	}
	return out
}
