package spline

import (
	"errors"
	"fmt"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// CouplingConfig describes one spline coupling layer over D coordinates.
type CouplingConfig struct {
	// Transform[i] says whether coordinate i is transformed by this layer;
	// the others condition it and pass through unchanged.
	Transform []bool
	// Circular[i] marks periodic coordinates (torsions, in radians): they are
	// transformed by the circular spline, and enter the conditioner as
	// (cos, sin) so that it sees the circle's topology.
	Circular []bool
	// Bins is the number of spline bins K.
	Bins int
	// Hidden are the conditioner MLP's hidden widths.
	Hidden []int
	// Options configures the splines.
	Options Options
}

// Coupling is a rational-quadratic spline coupling layer (Durkan et al.
// 2019): the transformed coordinates go through elementwise splines whose
// parameters an MLP computes from the conditioning coordinates. Its
// conditioner's output layer starts at zero, so a new layer is the identity.
type Coupling struct {
	cfg CouplingConfig
	// perm lists the coordinates as [conditioning interval, conditioning
	// circular, transformed interval, transformed circular]; inv undoes it.
	perm, inv                  []int
	nCondI, nCondC, nTrI, nTrC int
}

// NewCoupling validates cfg and precomputes the coordinate grouping.
func NewCoupling(cfg CouplingConfig) (*Coupling, error) {
	d := len(cfg.Transform)
	switch {
	case d == 0:
		return nil, errors.New("coupling: no coordinates")
	case len(cfg.Circular) != d:
		return nil, fmt.Errorf("coupling: %d Transform flags but %d Circular flags", d, len(cfg.Circular))
	}
	c := &Coupling{cfg: cfg}
	var groups [4][]int
	for i := range d {
		g := 0
		if cfg.Transform[i] {
			g = 2
		}
		if cfg.Circular[i] {
			g++
		}
		groups[g] = append(groups[g], i)
	}
	c.nCondI, c.nCondC, c.nTrI, c.nTrC = len(groups[0]), len(groups[1]), len(groups[2]), len(groups[3])
	if c.nCondI+c.nCondC == 0 || c.nTrI+c.nTrC == 0 {
		return nil, fmt.Errorf("coupling: need both transformed and conditioning coordinates (got %d and %d)",
			c.nTrI+c.nTrC, c.nCondI+c.nCondC)
	}
	if c.nTrI > 0 {
		if err := cfg.Options.Validate(cfg.Bins, false); err != nil {
			return nil, fmt.Errorf("coupling: %w", err)
		}
	}
	if c.nTrC > 0 {
		if err := cfg.Options.Validate(cfg.Bins, true); err != nil {
			return nil, fmt.Errorf("coupling: %w", err)
		}
	}
	for _, g := range groups {
		c.perm = append(c.perm, g...)
	}
	c.inv = make([]int, d)
	for pos, i := range c.perm {
		c.inv[i] = pos
	}
	for _, h := range cfg.Hidden {
		if h <= 0 {
			return nil, fmt.Errorf("coupling: hidden width %d must be positive", h)
		}
	}
	return c, nil
}

// Forward maps x [batch, D] to y and log|det ∂y/∂x| [batch]. Variables live
// in ctx's scope (give each layer its own, e.g. ctx.In("layer_3")).
func (c *Coupling) Forward(ctx *context.Context, x *graph.Node) (y, logDet *graph.Node) {
	return c.apply(ctx, x, false)
}

// Inverse maps y back to x and returns log|det ∂x/∂y| = -Forward's logDet.
func (c *Coupling) Inverse(ctx *context.Context, y *graph.Node) (x, logDet *graph.Node) {
	return c.apply(ctx, y, true)
}

func (c *Coupling) apply(ctx *context.Context, x *graph.Node, inverse bool) (*graph.Node, *graph.Node) {
	if x.Rank() != 2 || x.Shape().Dimensions[1] != len(c.perm) {
		panic(fmt.Errorf("spline.Coupling: input must be [batch, %d], got %s", len(c.perm), x.Shape()))
	}
	xp := graphops.GatherAxis(x, 1, c.perm)
	start := 0
	part := func(n int) *graph.Node {
		if n == 0 {
			return nil
		}
		p := graph.SliceAxis(xp, 1, graph.AxisRange(start, start+n))
		start += n
		return p
	}
	condI, condC, trI, trC := part(c.nCondI), part(c.nCondC), part(c.nTrI), part(c.nTrC)

	var features []*graph.Node
	if condI != nil {
		features = append(features, condI)
	}
	if condC != nil {
		features = append(features, graph.Cos(condC), graph.Sin(condC))
	}
	k := c.cfg.Bins
	// One conditioner head per spline parameter, each covering all
	// coordinates of its group, so that the spline gets its columns without
	// slicing (see nn.MLPHeads).
	var headDims []int
	if c.nTrI > 0 {
		for range ParamsPerDim(k, false) {
			headDims = append(headDims, c.nTrI)
		}
	}
	if c.nTrC > 0 {
		for range ParamsPerDim(k, true) {
			headDims = append(headDims, c.nTrC)
		}
	}
	heads := nn.MLPHeads(ctx.In("conditioner"), graph.Concatenate(features, 1), c.cfg.Hidden, headDims, true)

	out := []*graph.Node{condI, condC}
	logDet := graph.Zeros(x.Graph(), shapes.Make(x.DType(), x.Shape().Dimensions[0]))
	if trI != nil {
		p := ParamsPerDim(k, false)
		cols := Columns{Widths: heads[:k], Heights: heads[k : 2*k], Derivs: heads[2*k : p]}
		heads = heads[p:]
		var yI, ld *graph.Node
		if inverse {
			yI, ld = RQSInverseColumns(trI, cols, c.cfg.Options)
		} else {
			yI, ld = RQSColumns(trI, cols, c.cfg.Options)
		}
		out = append(out, yI)
		logDet = graph.Add(logDet, graph.ReduceSum(ld, 1))
	}
	if trC != nil {
		cols := Columns{Widths: heads[:k], Heights: heads[k : 2*k], Derivs: heads[2*k : 3*k]}
		var yC, ld *graph.Node
		if inverse {
			yC, ld = CircularRQSInverseColumns(trC, cols, c.cfg.Options)
		} else {
			yC, ld = CircularRQSColumns(trC, cols, c.cfg.Options)
		}
		out = append(out, yC)
		logDet = graph.Add(logDet, graph.ReduceSum(ld, 1))
	}
	parts := out[:0]
	for _, p := range out {
		if p != nil {
			parts = append(parts, p)
		}
	}
	return graphops.GatherAxis(graph.Concatenate(parts, 1), 1, c.inv), logDet
}
