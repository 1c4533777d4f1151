package model

import (
	"fmt"
	"math/bits"

	"github.com/gobg/gobg/flow/spline"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// layer is one bijective step of a flow on the channel-ordered vector
// [batch, D]: apply returns the output and log|det ∂y/∂x| [batch] (for the
// inverse, of the inverse map). Every layer's Jacobian is triangular up to
// a permutation with a diagonal block on transformed() (the coordinates it
// changes), and those change elementwise given the others, which is what
// the per-layer log-det check relies on.
type layer interface {
	name() string
	transformed() []int
	apply(ctx *context.Context, x *graph.Node, inverse bool) (*graph.Node, *graph.Node)
}

// mlpCoupling is spline.Coupling (MLP conditioner) acting on the
// coordinates [start, end) of the vector; the rest pass through and do not
// condition it.
type mlpCoupling struct {
	label      string
	start, end int
	c          *spline.Coupling
	trans      []int
}

func newMLPCoupling(label string, cfg Config, circular []bool, start, end int, transform []bool) (*mlpCoupling, error) {
	c, err := spline.NewCoupling(spline.CouplingConfig{
		Transform: transform[start:end],
		Circular:  circular[start:end],
		Bins:      cfg.Bins,
		Hidden:    cfg.Hidden,
		Options:   cfg.splineOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	m := &mlpCoupling{label: label, start: start, end: end, c: c}
	for i := start; i < end; i++ {
		if transform[i] {
			m.trans = append(m.trans, i)
		}
	}
	return m, nil
}

func (m *mlpCoupling) name() string       { return m.label }
func (m *mlpCoupling) transformed() []int { return m.trans }

func (m *mlpCoupling) apply(ctx *context.Context, x *graph.Node, inverse bool) (*graph.Node, *graph.Node) {
	d := x.Shape().Dimensions[1]
	part := x
	if m.start != 0 || m.end != d {
		part = graph.SliceAxis(x, 1, graph.AxisRange(m.start, m.end))
	}
	var y, ld *graph.Node
	if inverse {
		y, ld = m.c.Inverse(ctx, part)
	} else {
		y, ld = m.c.Forward(ctx, part)
	}
	if m.start == 0 && m.end == d {
		return y, ld
	}
	var parts []*graph.Node
	if m.start > 0 {
		parts = append(parts, graph.SliceAxis(x, 1, graph.AxisRange(0, m.start)))
	}
	parts = append(parts, y)
	if m.end < d {
		parts = append(parts, graph.SliceAxis(x, 1, graph.AxisRange(m.end, d)))
	}
	return graph.Concatenate(parts, 1), ld
}

// couplingMask returns the transform mask of layer l of a channel of n
// coordinates: bit b = (l/2) mod B of the coordinate's index (B = bits
// needed for n-1) must equal l mod 2. Consecutive layer pairs transform
// complementary halves, so every coordinate is transformed, and any two
// coordinates differ in some bit, so within 2B layers each one conditions
// every other at least once. A channel of one coordinate is transformed
// whole.
func couplingMask(n, l int) []bool {
	m := make([]bool, n)
	nb := bits.Len(uint(n - 1))
	if nb == 0 {
		for i := range m {
			m[i] = true
		}
		return m
	}
	b := (l / 2) % nb
	for i := range m {
		m[i] = (i>>b)&1 == l%2
	}
	return m
}

// buildLayers makes the coupling layers of the architecture on the
// channel-ordered vector (order[i] is the layout dimension at position i;
// for split flows the first nBB positions are the backbone).
func buildLayers(cfg Config, l *Layout, order []int, nBB int) ([]layer, error) {
	d := len(order)
	circ := make([]bool, d)
	for i, k := range order {
		circ[i] = l.Circular[k]
	}
	var out []layer
	switch cfg.Arch {
	case ArchNSF:
		if d < 2 {
			return nil, fmt.Errorf("nsf needs at least 2 dimensions, got %d", d)
		}
		for j := range cfg.Layers {
			c, err := newMLPCoupling(fmt.Sprintf("coupling_%d", j), cfg, circ, 0, d, couplingMask(d, j))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case ArchSplitGAU, ArchSplitMLP:
	default:
		return nil, fmt.Errorf("unknown architecture %q", cfg.Arch)
	}
	nSC := d - nBB
	gau := cfg.Arch == ArchSplitGAU
	if !gau && (nBB == 1 || (nBB == 0 && nSC == 1)) {
		return nil, fmt.Errorf("%s: a channel of one coordinate has nothing to condition its MLP on (backbone %d, side chain %d)",
			cfg.Arch, nBB, nSC)
	}
	for j := 0; nBB > 0 && j < cfg.BackboneLayers; j++ {
		m := couplingMask(nBB, j)
		transform := make([]bool, d)
		copy(transform, m)
		label := fmt.Sprintf("backbone_%d", j)
		if gau {
			visible := make([]bool, d)
			for i := range nBB {
				visible[i] = !m[i]
			}
			c, err := newGAUCoupling(label, cfg, l, order, visible, transform)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		} else {
			c, err := newMLPCoupling(label, cfg, circ, 0, nBB, transform)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	for j := 0; nSC > 0 && j < cfg.SideChainLayers; j++ {
		m := couplingMask(nSC, j)
		transform := make([]bool, d)
		copy(transform[nBB:], m)
		label := fmt.Sprintf("sidechain_%d", j)
		if gau {
			visible := make([]bool, d)
			for i := range visible {
				visible[i] = !transform[i]
			}
			c, err := newGAUCoupling(label, cfg, l, order, visible, transform)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		} else {
			c, err := newMLPCoupling(label, cfg, circ, 0, d, transform)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// splineOptions: interval coordinates are mapped onto [-1, 1] before the
// couplings, so the interval splines work on [-1, 1] (Bound 1) and map it
// onto itself.
func (c *Config) splineOptions() spline.Options {
	return spline.Options{Bound: 1, MinBinWidth: c.MinBinWidth, MinBinHeight: c.MinBinHeight, MinDerivative: c.MinDerivative}
}
