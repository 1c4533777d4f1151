package model

import (
	"fmt"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/flow/spline"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// gauCoupling is a spline coupling layer whose conditioner is a stack of
// gated attention units over residue tokens.
//
// Token r carries the conditioning coordinates of residue r in a fixed set
// of M slots (one per visible coordinate of that residue, in dimension
// order): (cos, sin, 1) for a torsion, (value, 0, 1) for an interval
// coordinate, (0, 0, 0) for an empty slot — the third feature tells the
// network which slots hold data. A linear map of these 3M features, plus a
// learned embedding of the residue type and one of the token position, is
// the token's input. After the GAU blocks and a final LayerNorm, a
// zero-initialised linear head gives, for each token, every spline
// parameter of each of the residue's transformed coordinates (its Mt
// target slots); a gather moves them to the coordinates.
type gauCoupling struct {
	label  string
	cfg    Config
	opts   spline.Options
	d      int // dimensions of the (channel-ordered) vector
	nRes   int
	types  []int // residue type per token
	nTypes int

	// Visible (conditioning) coordinates, circular ones first; slotSrc maps
	// each of the nRes*m slots to a position in that list, or to
	// len(visC)+len(visI) for an empty slot.
	visC, visI []int
	m          int
	slotSrc    []int

	// Transformed coordinates (interval, circular), the position of each
	// in the flattened [nRes*mt] head outputs, and the untouched ones.
	trI, trC     []int
	mt           int
	tgtI, tgtC   []int
	cond, invOut []int // invOut undoes the order [cond, trI, trC]
}

// newGAUCoupling builds a layer on a d-dimensional vector in which visible
// coordinates condition and transform ones are transformed (disjoint
// sets); residue and circular describe each coordinate.
func newGAUCoupling(label string, cfg Config, l *Layout, order []int, visible, transform []bool) (*gauCoupling, error) {
	d := len(order)
	c := &gauCoupling{label: label, cfg: cfg, opts: cfg.splineOptions(), d: d, nRes: l.NumResidues(),
		types: l.ResidueType, nTypes: l.NumTypes}
	circ := func(i int) bool { return l.Circular[order[i]] }
	res := func(i int) int { return l.Residue[order[i]] }
	for i := range d {
		switch {
		case transform[i] && visible[i]:
			return nil, fmt.Errorf("%s: coordinate %d both conditions and is transformed", label, i)
		case visible[i] && circ(i):
			c.visC = append(c.visC, i)
		case visible[i]:
			c.visI = append(c.visI, i)
		}
		switch {
		case transform[i] && circ(i):
			c.trC = append(c.trC, i)
		case transform[i]:
			c.trI = append(c.trI, i)
		default:
			c.cond = append(c.cond, i)
		}
	}
	if len(c.trI)+len(c.trC) == 0 {
		return nil, fmt.Errorf("%s: no coordinate to transform", label)
	}
	// Conditioning slots.
	vis := append(append([]int(nil), c.visC...), c.visI...)
	perRes := make([][]int, c.nRes) // positions in vis, per residue
	for p, i := range vis {
		perRes[res(i)] = append(perRes[res(i)], p)
	}
	for _, s := range perRes {
		c.m = max(c.m, len(s))
	}
	c.m = max(c.m, 1)
	c.slotSrc = make([]int, c.nRes*c.m)
	for r, s := range perRes {
		for j := range c.m {
			if j < len(s) {
				c.slotSrc[r*c.m+j] = s[j]
			} else {
				c.slotSrc[r*c.m+j] = len(vis)
			}
		}
	}
	// Target slots: the transformed coordinates of each residue in
	// dimension order.
	count := make([]int, c.nRes)
	slot := make([]int, d)
	for i := range d {
		if transform[i] {
			slot[i] = count[res(i)]
			count[res(i)]++
			c.mt = max(c.mt, count[res(i)])
		}
	}
	for _, i := range c.trI {
		c.tgtI = append(c.tgtI, res(i)*c.mt+slot[i])
	}
	for _, i := range c.trC {
		c.tgtC = append(c.tgtC, res(i)*c.mt+slot[i])
	}
	order2 := append(append(append([]int(nil), c.cond...), c.trI...), c.trC...)
	c.invOut = make([]int, d)
	for pos, i := range order2 {
		c.invOut[i] = pos
	}
	return c, nil
}

func (c *gauCoupling) name() string { return c.label }

func (c *gauCoupling) transformed() []int { return append(append([]int(nil), c.trI...), c.trC...) }

func (c *gauCoupling) apply(ctx *context.Context, x *graph.Node, inverse bool) (*graph.Node, *graph.Node) {
	if x.Rank() != 2 || x.Shape().Dimensions[1] != c.d {
		panic(fmt.Errorf("%s: input must be [batch, %d], got %s", c.label, c.d, x.Shape()))
	}
	k := c.cfg.Bins
	nHeads := spline.ParamsPerDim(k, false)
	if len(c.trC) > 0 {
		nHeads = spline.ParamsPerDim(k, true)
	}
	heads := c.conditioner(ctx.In("conditioner"), x, nHeads) // [nRes*mt, P, B]
	var parts []*graph.Node
	if len(c.cond) > 0 {
		parts = append(parts, graphops.GatherAxis(x, 1, c.cond))
	}
	g, dt := x.Graph(), x.DType()
	bsz := x.Shape().Dimensions[0]
	logDet := graph.Zeros(g, shapes.Make(dt, bsz))
	run := func(idx, tgt []int, circular bool) {
		if len(idx) == 0 {
			return
		}
		// The targets' rows, then one [B, n] column per parameter: slicing
		// the leading axis is the cheapest split on the pure-Go backend.
		sel := graph.TransposeAllAxes(graphops.GatherAxis(heads, 0, tgt), 1, 2, 0) // [P, B, n]
		cols := graphops.Unstack(sel, 0)
		p := spline.Columns{Widths: cols[:k], Heights: cols[k : 2*k], Derivs: cols[2*k : spline.ParamsPerDim(k, circular)]}
		in := graphops.GatherAxis(x, 1, idx)
		var y, ld *graph.Node
		switch {
		case circular && inverse:
			y, ld = spline.CircularRQSInverseColumns(in, p, c.opts)
		case circular:
			y, ld = spline.CircularRQSColumns(in, p, c.opts)
		case inverse:
			y, ld = spline.RQSInverseColumns(in, p, c.opts)
		default:
			y, ld = spline.RQSColumns(in, p, c.opts)
		}
		parts = append(parts, y)
		logDet = graph.Add(logDet, graph.ReduceSum(ld, 1))
	}
	run(c.trI, c.tgtI, false)
	run(c.trC, c.tgtC, true)
	return graphops.GatherAxis(graph.Concatenate(parts, 1), 1, c.invOut), logDet
}

// conditioner returns the spline parameters as one tensor [nRes*mt, nHeads,
// batch]: parameter p of target slot j of token r is [r*mt+j, p, :].
func (c *gauCoupling) conditioner(ctx *context.Context, x *graph.Node, nHeads int) *graph.Node {
	ctx = ctx.Checked(false)
	g, dt := x.Graph(), x.DType()
	bsz := x.Shape().Dimensions[0]
	e := c.cfg.Embed
	// Token features.
	var h *graph.Node
	if nv := len(c.visC) + len(c.visI); nv > 0 {
		var feats []*graph.Node
		if len(c.visC) > 0 {
			xc := graphops.GatherAxis(x, 1, c.visC)
			feats = append(feats, graph.Stack([]*graph.Node{graph.Cos(xc), graph.Sin(xc), graph.OnesLike(xc)}, 2))
		}
		if len(c.visI) > 0 {
			xi := graphops.GatherAxis(x, 1, c.visI)
			feats = append(feats, graph.Stack([]*graph.Node{xi, graph.ZerosLike(xi), graph.OnesLike(xi)}, 2))
		}
		feats = append(feats, graph.Zeros(g, shapes.Make(dt, bsz, 1, 3)))
		f := graphops.GatherAxis(graph.Concatenate(feats, 1), 1, c.slotSrc) // [B, nRes*m, 3]
		f = graph.Reshape(f, bsz*c.nRes, c.m*3)
		h = graph.Reshape(nn.Dense(ctx.In("input"), f, e), bsz, c.nRes, e)
	}
	// Type and position embeddings.
	typeTable := ctx.In("embed").VariableWithShape("type", shapes.Make(dt, c.nTypes, e)).ValueGraph(g)
	posTable := ctx.In("embed").VariableWithShape("position", shapes.Make(dt, c.nRes, e)).ValueGraph(g)
	oneHot := make([][]float64, c.nRes)
	for r, t := range c.types {
		oneHot[r] = make([]float64, c.nTypes)
		oneHot[r][t] = 1 // t < nTypes (Layout.Validate)
	}
	emb := graph.Add(graph.Dot(constant(g, dt, oneHot), typeTable), posTable) // [nRes, E]
	emb = graph.InsertAxes(emb, 0)
	if h == nil {
		h = graph.BroadcastToDims(emb, bsz, c.nRes, e)
	} else {
		h = graph.Add(h, emb)
	}
	bias := c.relativeBias()
	for b := range c.cfg.GAULayers {
		h = gauBlock(ctx.In(fmt.Sprintf("gau_%d", b)), h, c.cfg, bias)
	}
	h = graph.Reshape(layerNorm(ctx.In("final_norm"), h), bsz*c.nRes, e)
	// One zero-initialised matmul for all parameters. Separate heads (one
	// [E, mt] matmul per parameter) were measured slower: with mt of 5 to
	// 14, the pure-Go backend pads each product's output to 32-column
	// blocks (HP35, 1,000 samples: 43 s CPU against 31 s; training step
	// 30 s against 25 s).
	all := nn.Dense(ctx.In("heads").WithInitializer(initializers.Zero), h, nHeads*c.mt) // [B·R, P·mt]
	all = graph.TransposeAllAxes(graph.Reshape(all, bsz, c.nRes, nHeads, c.mt), 1, 3, 2, 0)
	return graph.Reshape(all, c.nRes*c.mt, nHeads, bsz)
}

// relativeBias returns, for each token pair (r, s), the index of the
// clipped offset s - r into a table of 2C+1 learned biases.
func (c *gauCoupling) relativeBias() [][]float64 {
	cl := c.cfg.RelPosClip
	oh := make([][]float64, c.nRes*c.nRes)
	for r := range c.nRes {
		for s := range c.nRes {
			off := max(-cl, min(cl, s-r))
			row := make([]float64, 2*cl+1)
			row[off+cl] = 1
			oh[r*c.nRes+s] = row
		}
	}
	return oh
}

// gauBlock is one gated attention unit (Hua et al. 2022) on x [B, R, E]:
// with X = LayerNorm(x), V = SiLU(X W_v), G = SiLU(X W_g) (together
// [V, G] = SiLU(X W_h)), Z = SiLU(X W_z), Q and K per-dimension scale and
// offset of Z, A = relu(Q Kᵀ / R + bias)², it returns (G ⊙ A V) W_o + x.
// relOneHot [R·R, 2C+1] selects each pair's relative-position bias.
func gauBlock(ctx *context.Context, x *graph.Node, cfg Config, relOneHot [][]float64) *graph.Node {
	g, dt := x.Graph(), x.DType()
	dims := x.Shape().Dimensions
	bsz, nr, e := dims[0], dims[1], dims[2]
	ex, s := cfg.Expansion*cfg.Embed, cfg.QKDim
	xn := layerNorm(ctx.In("norm"), x)
	flat := graph.Reshape(xn, bsz*nr, e)
	dense := func(name string, in *graph.Node, out int) *graph.Node {
		return nn.Dense(ctx.In(name), in, out)
	}
	// W_h and W_z as one matrix [E, 2e+s]: the same function, but one
	// product whose weight gradient (E × (2e+s) outputs, contracted over
	// batch×tokens) is large enough for the pure-Go backend's blocked
	// kernel; E × e alone falls to its single-threaded small-matrix path.
	u := nn.SiLU(dense("hz", flat, 2*ex+s))
	part := func(from, to int) *graph.Node {
		return graph.Reshape(graph.SliceAxis(u, 1, graph.AxisRange(from, to)), bsz, nr, to-from)
	}
	v, gate, z := part(0, ex), part(ex, 2*ex), part(2*ex, 2*ex+s)
	scaleOffset := func(name string) *graph.Node {
		gamma := ctx.In(name).WithInitializer(initializers.One).VariableWithShape("scale", shapes.Make(dt, s)).ValueGraph(g)
		beta := ctx.In(name).WithInitializer(initializers.Zero).VariableWithShape("offset", shapes.Make(dt, s)).ValueGraph(g)
		return graph.Add(graph.Mul(z, graph.Reshape(gamma, 1, 1, s)), graph.Reshape(beta, 1, 1, s))
	}
	q, k := scaleOffset("q"), scaleOffset("k")
	table := ctx.In("relpos").WithInitializer(initializers.Zero).
		VariableWithShape("bias", shapes.Make(dt, 2*cfg.RelPosClip+1)).ValueGraph(g)
	bias := graph.Reshape(graph.Dot(constant(g, dt, relOneHot), graph.Reshape(table, 2*cfg.RelPosClip+1, 1)), 1, nr, nr)
	scores := graph.Add(graph.MulScalar(graph.Einsum("brs,bts->brt", q, k), 1/float64(nr)), bias)
	a := graph.Square(graph.MaxScalar(scores, 0))
	av := graph.Einsum("brt,bte->bre", a, v)
	out := graph.Reshape(dense("o", graph.Reshape(graph.Mul(gate, av), bsz*nr, ex), e), bsz, nr, e)
	return graph.Add(out, x)
}

// layerNorm normalises the last axis to zero mean and unit variance, then
// applies a learned gain (initially 1) and bias (initially 0).
func layerNorm(ctx *context.Context, x *graph.Node) *graph.Node {
	g, dt := x.Graph(), x.DType()
	r := x.Rank()
	e := x.Shape().Dimensions[r-1]
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, -1)
	xc := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(xc), graph.ReduceMean, -1)
	// Div by Sqrt rather than Rsqrt: GoMLX v0.26.0 has no gradient for Rsqrt.
	xn := graph.Div(xc, graph.Sqrt(graph.AddScalar(variance, 1e-5)))
	shape := make([]int, r)
	for i := range shape {
		shape[i] = 1
	}
	shape[r-1] = e
	gain := ctx.WithInitializer(initializers.One).VariableWithShape("gain", shapes.Make(dt, e)).ValueGraph(g)
	bias := ctx.WithInitializer(initializers.Zero).VariableWithShape("bias", shapes.Make(dt, e)).ValueGraph(g)
	return graph.Add(graph.Mul(xn, graph.Reshape(gain, shape...)), graph.Reshape(bias, shape...))
}

// constant makes a [rows, cols] constant of dtype dt.
func constant(g *graph.Graph, dt dtypes.DType, rows [][]float64) *graph.Node {
	n, m := len(rows), len(rows[0])
	flat := make([]float64, 0, n*m)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return constantFlat(g, dt, flat, n, m)
}

// constantFlat makes a constant of dtype dt from float64 values.
func constantFlat(g *graph.Graph, dt dtypes.DType, flat []float64, dims ...int) *graph.Node {
	if dt == dtypes.Float32 {
		f := make([]float32, len(flat))
		for i, v := range flat {
			f[i] = float32(v)
		}
		return graph.Reshape(graph.Const(g, f), dims...)
	}
	return graph.Reshape(graph.Const(g, append([]float64(nil), flat...)), dims...)
}
