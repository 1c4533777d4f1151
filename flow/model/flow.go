package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RootScope is the context scope that holds a flow's variables.
const RootScope = "/flow"

// FrozenScope holds a copy of the flow's variables that no gradient
// reaches (see Frozen and SyncFrozen). It is outside RootScope, so model
// files never contain it.
const FrozenScope = "/flow_frozen"

// Flow is a normalizing flow on the vector a Layout describes, with its
// weights in a GoMLX context.
//
// Generative direction (Forward), from a base sample z to x:
//
//  1. act-norm on the interval dimensions: x = loc + exp(log_scale) z
//     (per dimension; trainable with Config.ActNorm, else fixed at
//     loc = 0, scale = IntervalScale);
//  2. the coupling layers, on the dimensions in channel order (split
//     flows: backbone first);
//  3. the affine map of [-1, 1] onto [Lower, Upper] for interval
//     dimensions (the identity for ic's normalised coordinates).
//
// The couplings map [-1, 1] (intervals) and [-π, π) (circles) onto
// themselves, so the flow maps the base's support exactly onto the layout's
// domain. The base is, per dimension: uniform or von Mises (location and
// concentration, trainable with LearnBase) for circular dimensions; for
// interval ones the standard normal truncated to the act-norm preimage of
// [-1, 1], [(-1 - loc)/scale, (1 - loc)/scale]. Act-norm plus this base is
// the same as a truncated normal with location loc and scale on [-1, 1];
// keeping act-norm as a layer makes the base standard, and initialising it
// from data (InitFromData) standardises the data on the base side.
//
// Graph functions take the context the executor passes (the flow's own,
// Context()); the variables live under RootScope.
type Flow struct {
	cfg     Config
	layout  *Layout
	dtype   dtypes.DType
	backend backends.Backend
	ctx     *context.Context

	order, invOrder []int // channel order
	nBB             int
	layers          []layer
	circIdx, intIdx []int // layout dimensions by kind
	kindInv         []int // undoes [intIdx, circIdx]
	domainIdentity  bool  // Lower = -1, Upper = 1 for every interval dimension
	frozen          bool  // graph functions read FrozenScope (see Frozen)
}

// New builds a flow with fresh weights (the couplings start as the
// identity) in dtype (Float32 or Float64) on backend.
func New(backend backends.Backend, cfg Config, layout *Layout, dtype dtypes.DType) (*Flow, error) {
	f, err := newFlow(backend, cfg, layout, dtype)
	if err != nil {
		return nil, err
	}
	f.ctx.SetParam(context.ParamInitialSeed, cfg.Seed)
	if err := f.materialize(); err != nil {
		return nil, err
	}
	return f, nil
}

// newFlow validates and prepares everything but the variables.
func newFlow(backend backends.Backend, cfg Config, layout *Layout, dtype dtypes.DType) (*Flow, error) {
	if backend == nil {
		return nil, fmt.Errorf("flow: no backend")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return nil, fmt.Errorf("flow: dtype %s: want float32 or float64", dtype)
	}
	f := &Flow{cfg: cfg, layout: layout, dtype: dtype, backend: backend, ctx: context.New(), domainIdentity: true}
	d := layout.Dim()
	if cfg.Arch == ArchNSF {
		for i := range d {
			f.order = append(f.order, i)
		}
	} else {
		for i := range d {
			if layout.Backbone[i] {
				f.order = append(f.order, i)
			}
		}
		f.nBB = len(f.order)
		for i := range d {
			if !layout.Backbone[i] {
				f.order = append(f.order, i)
			}
		}
	}
	f.invOrder = make([]int, d)
	for p, i := range f.order {
		f.invOrder[i] = p
	}
	for i := range d {
		if layout.Circular[i] {
			f.circIdx = append(f.circIdx, i)
		} else {
			f.intIdx = append(f.intIdx, i)
			if layout.Lower[i] != -1 || layout.Upper[i] != 1 {
				f.domainIdentity = false
			}
		}
	}
	f.kindInv = make([]int, d)
	for p, i := range append(append([]int(nil), f.intIdx...), f.circIdx...) {
		f.kindInv[i] = p
	}
	var err error
	if f.layers, err = buildLayers(cfg, layout, f.order, f.nBB); err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	return f, nil
}

// materialize creates the variables by building (and running) the
// log-density graph once on a batch of one.
//
// That runs on the pure-Go backend whatever the flow's: XLA would compile the
// whole graph for one execution (tens of seconds for an 8-layer flow), the
// pure-Go backend takes milliseconds. The values are then detached from it
// (Tensor.ToLocal), so that the flow's own backend can take them, and the
// initial weights do not depend on the backend.
func (f *Flow) materialize() error {
	b := f.backend
	if nn.IsXLA(b) {
		var err error
		if b, err = nn.PureGo(); err != nil {
			return fmt.Errorf("flow: %w", err)
		}
	}
	exec, err := context.NewExecAny(b, f.ctx, func(ctx *context.Context, z *graph.Node) *graph.Node {
		x, _ := f.Forward(ctx, z)
		return f.LogProb(ctx, x)
	})
	if err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	defer exec.Finalize()
	z := make([]float64, f.Dim())
	if _, err := exec.Exec(f.tensor(z, 1, len(z))); err != nil {
		return fmt.Errorf("flow: initialise variables: %w", err)
	}
	if b == f.backend {
		return nil
	}
	for v := range f.ctx.IterVariables() {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: variable %s: %w", v.ScopeAndName(), err)
		}
		if err := t.ToLocal(); err != nil {
			return fmt.Errorf("flow: variable %s: %w", v.ScopeAndName(), err)
		}
	}
	return nil
}

// Config returns the flow's configuration.
func (f *Flow) Config() Config { return f.cfg }

// Layout returns the flow's layout (not to be modified).
func (f *Flow) Layout() *Layout { return f.layout }

// Dim is the dimension D.
func (f *Flow) Dim() int { return f.layout.Dim() }

// DType is the dtype of the weights and of the graphs.
func (f *Flow) DType() dtypes.DType { return f.dtype }

// Backend is the backend the flow's executors run on.
func (f *Flow) Backend() backends.Backend { return f.backend }

// Context holds the weights (under RootScope) and, once trained, the
// optimizer's state.
func (f *Flow) Context() *context.Context { return f.ctx }

// root is the flow's scope, in unchecked mode (variables are created on
// first use and reused after).
func (f *Flow) root(ctx *context.Context) *context.Context {
	if f.frozen {
		return ctx.InAbsPath(FrozenScope).Checked(false)
	}
	return ctx.InAbsPath(RootScope).Checked(false)
}

// Frozen returns a view of the flow whose graph functions read the copy of
// the weights under FrozenScope, which SyncFrozen makes and which is never
// trainable: its LogProb is log q(x) differentiable in x but not in the
// weights. That is what a path-gradient estimator of the reverse KL needs
// (the weights' own score term, zero in expectation, is left out).
func (f *Flow) Frozen() *Flow {
	c := *f
	c.frozen = true
	return &c
}

// SyncFrozen copies every variable under RootScope to FrozenScope (same
// relative scope and name), creating the copies as non-trainable.
func (f *Flow) SyncFrozen() error {
	for _, v := range flowVariables(f.ctx) {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: read %s: %w", v.ScopeAndName(), err)
		}
		val := tensorOf(v.DType(), graphops.Float64s(t), v.Shape().Dimensions...)
		fv := FrozenOf(f.ctx, v)
		if fv == nil {
			fv = f.ctx.InAbsPath(FrozenScope+strings.TrimPrefix(v.Scope(), RootScope)).Checked(false).VariableWithValue(v.Name(), val)
		} else if err := fv.SetValue(val); err != nil {
			return fmt.Errorf("flow: set %s: %w", fv.ScopeAndName(), err)
		}
		fv.SetTrainable(false)
	}
	return nil
}

// FrozenOf is the FrozenScope copy of flow variable v, or nil if v is not
// a flow variable or has no copy.
func FrozenOf(ctx *context.Context, v *context.Variable) *context.Variable {
	if !isFlowVar(v) {
		return nil
	}
	return ctx.GetVariableByScopeAndName(FrozenScope+strings.TrimPrefix(v.Scope(), RootScope), v.Name())
}

// step is one stage of the forward map, for the per-layer checks: it maps
// in to out (both [batch, D]) changing the coordinates trans elementwise
// given the others, with log-det ld.
type step struct {
	name        string
	in, out, ld *graph.Node
	trans       []int
}

// Forward maps base samples z [batch, D] (layout order) to x and returns
// log|det ∂x/∂z| [batch].
func (f *Flow) Forward(ctx *context.Context, z *graph.Node) (x, logDet *graph.Node) {
	return f.forward(ctx, z, nil)
}

func (f *Flow) forward(ctx *context.Context, z *graph.Node, visit func(step)) (*graph.Node, *graph.Node) {
	f.checkInput(z, "Forward")
	ctx = f.root(ctx)
	x, logDet := f.actNorm(ctx, z, false)
	if visit != nil {
		visit(step{"actnorm", z, x, logDet, f.intIdx})
	}
	xc := graphops.GatherAxis(x, 1, f.order)
	for _, l := range f.layers {
		y, ld := l.apply(ctx.In(l.name()), xc, false)
		if visit != nil {
			visit(step{l.name(), xc, y, ld, l.transformed()})
		}
		logDet = graph.Add(logDet, ld)
		xc = y
	}
	x = graphops.GatherAxis(xc, 1, f.invOrder)
	y, ld := f.toDomain(x, false)
	if visit != nil && !f.domainIdentity {
		visit(step{"domain", x, y, ld, f.intIdx})
	}
	return y, graph.Add(logDet, ld)
}

// Inverse maps x [batch, D] (layout order, inside the domain) to base
// space and returns log|det ∂z/∂x| [batch].
func (f *Flow) Inverse(ctx *context.Context, x *graph.Node) (z, logDet *graph.Node) {
	f.checkInput(x, "Inverse")
	ctx = f.root(ctx)
	xn, logDet := f.toDomain(x, true)
	xc := graphops.GatherAxis(xn, 1, f.order)
	for i := len(f.layers) - 1; i >= 0; i-- {
		l := f.layers[i]
		y, ld := l.apply(ctx.In(l.name()), xc, true)
		logDet = graph.Add(logDet, ld)
		xc = y
	}
	z, ld := f.actNorm(ctx, graphops.GatherAxis(xc, 1, f.invOrder), true)
	return z, graph.Add(logDet, ld)
}

// LogProb is the flow's log-density of x [batch, D]: the base log-density
// of Inverse(x) plus its log-det. It is a density on the domain; for
// interval coordinates outside it the truncated-normal formula is used
// without its indicator (finite, but not a density there).
func (f *Flow) LogProb(ctx *context.Context, x *graph.Node) *graph.Node {
	z, ld := f.Inverse(ctx, x)
	return graph.Add(f.BaseLogProb(ctx, z), ld)
}

// NLL is the mean negative log-likelihood of the batch x.
func (f *Flow) NLL(ctx *context.Context, x *graph.Node) *graph.Node {
	return graph.Neg(graph.ReduceAllMean(f.LogProb(ctx, x)))
}

// SampleGraph maps base samples z (drawn with SampleBase) to x and returns
// the flow's log-density at x: base log-density minus Forward's log-det.
func (f *Flow) SampleGraph(ctx *context.Context, z *graph.Node) (x, logQ *graph.Node) {
	x, ld := f.Forward(ctx, z)
	return x, graph.Sub(f.BaseLogProb(ctx, z), ld)
}

func (f *Flow) checkInput(x *graph.Node, op string) {
	if x.Rank() != 2 || x.Shape().Dimensions[1] != f.Dim() {
		panic(fmt.Errorf("flow.%s: input must be [batch, %d], got %s", op, f.Dim(), x.Shape()))
	}
	if x.DType() != f.dtype {
		panic(fmt.Errorf("flow.%s: input dtype %s, flow dtype %s", op, x.DType(), f.dtype))
	}
}

// baseParams holds the base and act-norm variables as graph nodes.
type baseParams struct {
	loc, logScale *graph.Node // interval dims
	mu, logKappa  *graph.Node // circular dims (von Mises)
}

func (f *Flow) vectorVar(ctx *context.Context, name string, value float64, n int, trainable bool) *context.Variable {
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = value
	}
	v := ctx.VariableWithValue(name, f.tensor(vals, n))
	v.SetTrainable(trainable && !f.frozen)
	return v
}

func (f *Flow) baseVars(ctx *context.Context) (loc, logScale, mu, logKappa *context.Variable) {
	if ni := len(f.intIdx); ni > 0 {
		a := ctx.In("actnorm")
		loc = f.vectorVar(a, "loc", 0, ni, f.cfg.ActNorm)
		logScale = f.vectorVar(a, "log_scale", math.Log(f.cfg.IntervalScale), ni, f.cfg.ActNorm)
	}
	if nc := len(f.circIdx); nc > 0 && f.cfg.TorsionBase == BaseVonMises {
		b := ctx.In("base")
		mu = f.vectorVar(b, "loc", 0, nc, f.cfg.LearnBase)
		logKappa = f.vectorVar(b, "log_kappa", math.Log(f.cfg.Kappa), nc, f.cfg.LearnBase)
	}
	return
}

func (f *Flow) params(ctx *context.Context, g *graph.Graph) baseParams {
	loc, ls, mu, lk := f.baseVars(ctx)
	var p baseParams
	if loc != nil {
		p.loc, p.logScale = graph.InsertAxes(loc.ValueGraph(g), 0), graph.InsertAxes(ls.ValueGraph(g), 0)
	}
	if mu != nil {
		p.mu, p.logKappa = graph.InsertAxes(mu.ValueGraph(g), 0), graph.InsertAxes(lk.ValueGraph(g), 0)
	}
	return p
}

// actNorm applies x = loc + exp(log_scale) z to the interval dimensions
// (or its inverse) and returns the log-det.
func (f *Flow) actNorm(ctx *context.Context, z *graph.Node, inverse bool) (*graph.Node, *graph.Node) {
	g := z.Graph()
	bsz := z.Shape().Dimensions[0]
	if len(f.intIdx) == 0 {
		return z, graph.Zeros(g, shapes.Make(f.dtype, bsz))
	}
	p := f.params(ctx, g)
	zi := graphops.GatherAxis(z, 1, f.intIdx)
	var xi, ld *graph.Node
	if inverse {
		xi = graph.Mul(graph.Sub(zi, p.loc), graph.Exp(graph.Neg(p.logScale)))
		ld = graph.Neg(graph.ReduceSum(p.logScale, 1))
	} else {
		xi = graph.Add(p.loc, graph.Mul(zi, graph.Exp(p.logScale)))
		ld = graph.ReduceSum(p.logScale, 1)
	}
	parts := []*graph.Node{xi}
	if len(f.circIdx) > 0 {
		parts = append(parts, graphops.GatherAxis(z, 1, f.circIdx))
	}
	return graphops.GatherAxis(graph.Concatenate(parts, 1), 1, f.kindInv), graph.BroadcastToDims(ld, bsz)
}

// toDomain maps interval dimensions from [-1, 1] onto [Lower, Upper] (or
// back) and returns the (constant) log-det.
func (f *Flow) toDomain(x *graph.Node, inverse bool) (*graph.Node, *graph.Node) {
	g := x.Graph()
	bsz := x.Shape().Dimensions[0]
	if f.domainIdentity {
		return x, graph.Zeros(g, shapes.Make(f.dtype, bsz))
	}
	d := f.Dim()
	scale, offset := make([]float64, d), make([]float64, d)
	ld := 0.0
	for i := range d {
		scale[i] = 1
		if !f.layout.Circular[i] {
			h := 0.5 * (f.layout.Upper[i] - f.layout.Lower[i])
			scale[i], offset[i] = h, f.layout.Lower[i]+h
			ld += math.Log(h)
		}
	}
	if inverse {
		for i := range d {
			offset[i] = -offset[i] / scale[i]
			scale[i] = 1 / scale[i]
		}
		ld = -ld
	}
	y := graph.Add(graph.Mul(x, constantFlat(g, f.dtype, scale, 1, d)), constantFlat(g, f.dtype, offset, 1, d))
	return y, graph.BroadcastToDims(graph.Scalar(g, f.dtype, ld), bsz)
}

// BaseLogProb is the base log-density of z [batch, D].
func (f *Flow) BaseLogProb(ctx *context.Context, z *graph.Node) *graph.Node {
	f.checkInput(z, "BaseLogProb")
	ctx = f.root(ctx)
	g := z.Graph()
	bsz := z.Shape().Dimensions[0]
	p := f.params(ctx, g)
	lp := graph.Zeros(g, shapes.Make(f.dtype, bsz))
	if ni := len(f.intIdx); ni > 0 {
		zi := graphops.GatherAxis(z, 1, f.intIdx)
		inv := graph.Exp(graph.Neg(p.logScale))
		a := graph.Mul(graph.Sub(graph.Scalar(g, f.dtype, -1), p.loc), inv)
		b := graph.Mul(graph.Sub(graph.Scalar(g, f.dtype, 1), p.loc), inv)
		logZ := graph.ReduceSum(truncNormalLogZGraph(a, b), 1) // [1]
		quad := graph.MulScalar(graph.ReduceSum(graph.Square(zi), 1), -0.5)
		lp = graph.Add(lp, graph.Sub(graph.AddScalar(quad, -0.5*math.Log(2*math.Pi)*float64(ni)), logZ))
	}
	if nc := len(f.circIdx); nc > 0 {
		lp = graph.AddScalar(lp, -math.Log(2*math.Pi)*float64(nc))
		if p.mu != nil {
			zc := graphops.GatherAxis(z, 1, f.circIdx)
			kappa := graph.Exp(p.logKappa)
			lp = graph.Add(lp, graph.ReduceSum(graph.Mul(kappa, graph.Cos(graph.Sub(zc, p.mu))), 1))
			lp = graph.Sub(lp, graph.ReduceSum(LogI0Graph(kappa), 1))
		}
	}
	return lp
}

// BaseParams are the current base and act-norm parameters, per dimension
// in layout order: for interval dimensions the act-norm location and
// scale, for circular ones the von Mises location and concentration (0 for
// a uniform base).
type BaseParams struct {
	Loc, Scale []float64
}

// BaseParams reads the base and act-norm parameters from the context.
func (f *Flow) BaseParams() (BaseParams, error) {
	d := f.Dim()
	p := BaseParams{Loc: make([]float64, d), Scale: make([]float64, d)}
	read := func(name string, idx []int, dst []float64, exp bool) error {
		scope, vname, _ := strings.Cut(name, ":")
		v := f.ctx.GetVariableByScopeAndName(RootScope+"/"+scope, vname)
		if v == nil {
			return fmt.Errorf("flow: variable %s/%s/%s missing", RootScope, scope, vname)
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: read %s: %w", name, err)
		}
		vals := graphops.Float64s(t)
		if len(vals) != len(idx) {
			return fmt.Errorf("flow: %s has %d values, want %d", name, len(vals), len(idx))
		}
		for j, i := range idx {
			dst[i] = vals[j]
			if exp {
				dst[i] = math.Exp(vals[j])
			}
		}
		return nil
	}
	if len(f.intIdx) > 0 {
		if err := read("actnorm:loc", f.intIdx, p.Loc, false); err != nil {
			return p, err
		}
		if err := read("actnorm:log_scale", f.intIdx, p.Scale, true); err != nil {
			return p, err
		}
	}
	if len(f.circIdx) > 0 && f.cfg.TorsionBase == BaseVonMises {
		if err := read("base:loc", f.circIdx, p.Loc, false); err != nil {
			return p, err
		}
		if err := read("base:log_kappa", f.circIdx, p.Scale, true); err != nil {
			return p, err
		}
	}
	return p, nil
}

// SampleBase draws n base samples (flat, [n, D] row-major) with the
// given random source: von Mises (Best–Fisher) or uniform angles, truncated
// standard normals (inverse CDF) on the act-norm preimage of [-1, 1].
func (f *Flow) SampleBase(r *rand.Rand, n int) ([]float64, error) {
	p, err := f.BaseParams()
	if err != nil {
		return nil, err
	}
	d := f.Dim()
	out := make([]float64, n*d)
	for s := range n {
		f.sampleBaseRow(r, out[s*d:(s+1)*d], p, nil, 1)
	}
	return out, nil
}

// interval is the act-norm preimage [a, b] of [-1, 1] for interval
// dimension i: the support of its truncated standard normal base.
func (p BaseParams) interval(i int) (a, b float64) {
	return (-1 - p.Loc[i]) / p.Scale[i], (1 - p.Loc[i]) / p.Scale[i]
}

// sampleBaseRow draws one base vector into row, dimension by dimension in
// layout-kind order; the dimensions wide selects (none when wide is nil)
// come from the base widened tau times (truncated normals on the same
// interval, von Mises concentrations divided by tau²). SampleBase and the
// defensive mixture share it, so an unwidened row consumes the random
// source the same way in both.
func (f *Flow) sampleBaseRow(r *rand.Rand, row []float64, p BaseParams, wide func(int) bool, tau float64) {
	widened := func(i int) bool { return wide != nil && wide(i) }
	for _, i := range f.intIdx {
		a, b := p.interval(i)
		if widened(i) {
			row[i] = max(a, min(b, tau*SampleTruncNormal(r, a/tau, b/tau)))
		} else {
			row[i] = SampleTruncNormal(r, a, b)
		}
	}
	for _, i := range f.circIdx {
		switch {
		case f.cfg.TorsionBase != BaseVonMises:
			row[i] = -math.Pi + 2*math.Pi*r.Float64()
		case widened(i):
			row[i] = SampleVonMises(r, p.Loc[i], p.Scale[i]/(tau*tau))
		default:
			row[i] = SampleVonMises(r, p.Loc[i], p.Scale[i])
		}
	}
}

// InitFromData sets the base from n samples x ([n, D] row-major, layout
// order), as act-norm's data-dependent initialisation: with ActNorm, each
// interval dimension's location and scale become the sample mean and
// standard deviation (in [-1, 1] units, scale at least 0.01); each von
// Mises location becomes the circular mean, and with LearnBase the
// concentration is fitted to the mean resultant length (Fisher's
// approximation to the inverse of I1/I0, clipped to [0.01, 1000]). Call it
// on a fresh flow, whose couplings are the identity, so that base space and
// data space coincide.
func (f *Flow) InitFromData(x []float64, n int) error {
	d := f.Dim()
	if n < 2 || len(x) != n*d {
		return fmt.Errorf("flow: InitFromData needs at least 2 rows of %d values, got %d values for %d rows", d, len(x), n)
	}
	ctx := f.root(f.ctx)
	loc, ls, mu, lk := f.baseVars(ctx)
	set := func(v *context.Variable, vals []float64) error {
		if err := v.SetValue(f.tensor(vals, len(vals))); err != nil {
			return fmt.Errorf("flow: set %s: %w", v.ScopeAndName(), err)
		}
		return nil
	}
	if loc != nil && f.cfg.ActNorm {
		m, s := make([]float64, len(f.intIdx)), make([]float64, len(f.intIdx))
		for j, i := range f.intIdx {
			h := 0.5 * (f.layout.Upper[i] - f.layout.Lower[i])
			c := f.layout.Lower[i] + h
			var sum, sq float64
			for r := range n {
				v := (x[r*d+i] - c) / h
				sum += v
				sq += v * v
			}
			mean := sum / float64(n)
			sd := math.Sqrt(max(sq/float64(n)-mean*mean, 0))
			m[j], s[j] = max(-0.99, min(0.99, mean)), math.Log(max(sd, 0.01))
		}
		if err := set(loc, m); err != nil {
			return err
		}
		if err := set(ls, s); err != nil {
			return err
		}
	}
	if mu != nil {
		m, k := make([]float64, len(f.circIdx)), make([]float64, len(f.circIdx))
		for j, i := range f.circIdx {
			var c, s float64
			for r := range n {
				c += math.Cos(x[r*d+i])
				s += math.Sin(x[r*d+i])
			}
			m[j] = math.Atan2(s, c)
			k[j] = math.Log(max(0.01, min(1000, invA1(math.Hypot(c, s)/float64(n)))))
		}
		if err := set(mu, m); err != nil {
			return err
		}
		if f.cfg.LearnBase {
			if err := set(lk, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// invA1 approximates the κ whose mean resultant length I1(κ)/I0(κ) is
// rbar (Fisher 1993, section 4.5.5).
func invA1(rbar float64) float64 {
	switch {
	case rbar < 0.53:
		return 2*rbar + rbar*rbar*rbar + 5*math.Pow(rbar, 5)/6
	case rbar < 0.85:
		return -0.4 + 1.39*rbar + 0.43/(1-rbar)
	case rbar >= 1:
		return math.Inf(1)
	}
	return 1 / (rbar*rbar*rbar - 4*rbar*rbar + 3*rbar)
}

// NumParams is the number of trainable weights.
func (f *Flow) NumParams() int {
	n := 0
	for v := range f.ctx.IterVariables() {
		if v.Trainable && isFlowVar(v) {
			n += v.Shape().Size()
		}
	}
	return n
}

func isFlowVar(v *context.Variable) bool {
	return v.Scope() == RootScope || strings.HasPrefix(v.Scope(), RootScope+"/")
}

// Perturb adds Gaussian noise to every trainable weight: standard deviation
// scale/√(fan-in) for matrices (fan-in = all but the last axis), scale for
// vectors. A fresh flow is the identity (zero heads); tests and checks
// perturb it so that every layer does something.
func (f *Flow) Perturb(scale float64, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for v := range f.ctx.IterVariables() {
		if !v.Trainable || !isFlowVar(v) {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: read %s: %w", v.ScopeAndName(), err)
		}
		vals := graphops.Float64s(t)
		dims := v.Shape().Dimensions
		sd := scale
		if len(dims) >= 2 {
			fan := len(vals) / dims[len(dims)-1]
			sd = scale / math.Sqrt(float64(fan))
		}
		for i := range vals {
			vals[i] += sd * r.NormFloat64()
		}
		if err := v.SetValue(f.tensor(vals, dims...)); err != nil {
			return fmt.Errorf("flow: set %s: %w", v.ScopeAndName(), err)
		}
	}
	return nil
}

// WithDType returns a copy of the flow whose weights are converted to
// dtype (e.g. a float32 copy of a float64 flow), on the same backend.
func (f *Flow) WithDType(dtype dtypes.DType) (*Flow, error) {
	g, err := newFlow(f.backend, f.cfg, f.layout, dtype)
	if err != nil {
		return nil, err
	}
	if err := f.copyWeightsTo(g); err != nil {
		return nil, err
	}
	if err := g.materialize(); err != nil {
		return nil, err
	}
	return g, nil
}

// copyWeightsTo creates each of f's variables in g (before g is
// materialised), with f's values converted to g's dtype.
func (f *Flow) copyWeightsTo(g *Flow) error {
	for v := range f.ctx.IterVariables() {
		if !isFlowVar(v) {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: read %s: %w", v.ScopeAndName(), err)
		}
		nv := g.ctx.InAbsPath(v.Scope()).Checked(false).VariableWithValue(v.Name(), g.tensor(graphops.Float64s(t), v.Shape().Dimensions...))
		nv.SetTrainable(v.Trainable)
	}
	return nil
}

// tensor makes a tensor of the flow's dtype from float64 values.
func (f *Flow) tensor(vals []float64, dims ...int) *tensors.Tensor {
	return tensorOf(f.dtype, vals, dims...)
}

func tensorOf(dt dtypes.DType, vals []float64, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float32 {
		v := make([]float32, len(vals))
		for i, x := range vals {
			v[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), vals...), dims...)
}
