// Package spline implements monotone rational-quadratic spline (RQS)
// transforms (Durkan et al. 2019, "Neural Spline Flows") as GoMLX graph
// functions, for the coupling layers of the normalizing flow: an interval
// spline on [-B, B] with identity (linear) tails for bond angles and other
// bounded-but-unwrapped coordinates, and a circular spline on [-π, π) for
// torsions.
//
// All transforms are elementwise: x has any shape S and the parameters have
// shape S+[n], so the Jacobian is diagonal and logDet (shape S) is the log of
// dy/dx per element; a flow sums it over the transformed dimensions.
//
// The computation works on one tensor per bin ("columns", each of x's shape)
// rather than on tensors with a bin axis: on GoMLX's pure-Go backend,
// elementwise ops on x-shaped tensors are fast, while reductions over a short
// trailing axis, broadcasts and matmuls with a K×K matrix (padded to 32×32
// blocks) were measured 10× to 150× slower per element ([204800, 8] float32
// against [204800]). In column form, the
// cumulative sums that give the knots are running sums, shifts are
// relabelings, and the bin of each element is found without dynamic
// indexing: the knots are increasing, so a chain of Where(x ≥ knot_k,
// value_k, ·) over k leaves the value of the last knot at or below x, i.e.
// of bin (number of knots ≤ x) - 1. Selection by Where is exact.
//
// RQSColumns and friends take the columns directly: a conditioner with one
// output head per parameter (nn.MLPHeads, as Coupling does) needs no slicing
// at all. RQS and friends take tensors with a trailing bin axis, as in the
// usual NSF layout, and UnpackParams takes one tensor holding all
// parameters; both slice, which is cheap forward but costs one full-size
// gradient per slice in the backward pass.
//
// Parameters enter as unconstrained logits. Widths and heights are softmaxes
// raised to a minimum; knot derivatives are MinDerivative + softplus(u + c)
// with c chosen so that a zero logit gives a derivative of exactly one. All
// logits zero therefore gives equal bins and unit derivatives, which is the
// identity map: a conditioner whose last layer starts at zero makes the flow
// start as the identity.
//
// Graph functions follow GoMLX's convention for invalid arguments (shapes,
// options): they panic with an error, which graph.Exec returns as an error.
// Options.Validate reports the same option errors without a graph.
package spline

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Options configures the splines.
type Options struct {
	// Bound is B: the interval spline maps [-B, B] onto itself and is the
	// identity outside it (linear tails with unit boundary derivatives). The
	// circular spline ignores it (its interval is [-π, π)).
	Bound float64
	// MinBinWidth and MinBinHeight are the smallest bin width and height as
	// fractions of the interval; they keep the slopes h/w bounded and the
	// knots strictly increasing.
	MinBinWidth, MinBinHeight float64
	// MinDerivative is the smallest derivative at a knot.
	MinDerivative float64
}

// DefaultOptions returns Durkan et al.'s minimums (1e-3) and B = 5, which
// covers standardised coordinates to 5σ.
func DefaultOptions() Options {
	return Options{Bound: 5, MinBinWidth: 1e-3, MinBinHeight: 1e-3, MinDerivative: 1e-3}
}

// Validate checks the options for a spline with k bins; circular selects the
// circular spline (which ignores Bound).
func (o Options) Validate(k int, circular bool) error {
	switch {
	case k < 2:
		return fmt.Errorf("spline: need at least 2 bins, got %d", k)
	case !circular && !(o.Bound > 0 && !math.IsInf(o.Bound, 1)):
		return fmt.Errorf("spline: Bound must be positive and finite, got %g", o.Bound)
	case !(o.MinBinWidth > 0 && o.MinBinWidth*float64(k) < 1):
		// Positive: a zero-width bin would divide by zero.
		return fmt.Errorf("spline: MinBinWidth %g must be in (0, 1/%d)", o.MinBinWidth, k)
	case !(o.MinBinHeight > 0 && o.MinBinHeight*float64(k) < 1):
		return fmt.Errorf("spline: MinBinHeight %g must be in (0, 1/%d)", o.MinBinHeight, k)
	case !(o.MinDerivative > 0 && o.MinDerivative < 1):
		// Below 1 so that the zero-logit derivative can be exactly 1.
		return fmt.Errorf("spline: MinDerivative %g must be in (0, 1)", o.MinDerivative)
	}
	return nil
}

// ParamsPerDim is the number of conditioner outputs one transformed
// dimension needs with k bins: k width and k height logits, plus k-1
// interior knot derivatives for the interval spline (its two boundary
// derivatives are fixed to 1 to match the identity tails) or k for the
// circular one (the knots at -π and π are one point and share a derivative).
func ParamsPerDim(k int, circular bool) int {
	if circular {
		return 3 * k
	}
	return 3*k - 1
}

// Columns holds spline parameter logits as one tensor per bin (widths,
// heights) or per free knot derivative (derivs: k-1 for the interval spline,
// k for the circular one), each of the transformed input's shape.
type Columns struct {
	Widths, Heights, Derivs []*graph.Node
}

// UnpackParams splits a tensor holding ParamsPerDim(k, circular) parameters
// along axis (ordered: k widths, k heights, then the derivatives) into
// Columns. With axis 0 every column is a contiguous block of memory, which
// is the fastest layout to slice on the pure-Go backend. The backward pass
// of the slicing costs one params-sized tensor per column (ParamsPerDim of
// them); a conditioner with separate heads avoids that.
func UnpackParams(params *graph.Node, k int, circular bool, axis int) Columns {
	p := ParamsPerDim(k, circular)
	r := params.Rank()
	a := axis
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r || params.Shape().Dimensions[a] != p {
		panic(fmt.Errorf("spline.UnpackParams: axis %d of %s must have size %d for k=%d circular=%v",
			axis, params.Shape(), p, k, circular))
	}
	cols := graphops.Unstack(params, a)
	return Columns{Widths: cols[:k], Heights: cols[k : 2*k], Derivs: cols[2*k:]}
}

// packed splits trailing-bin-axis parameter tensors into Columns.
func packed(widths, heights, derivs *graph.Node, op string) Columns {
	for _, n := range []*graph.Node{widths, heights, derivs} {
		if n.Rank() == 0 {
			panic(fmt.Errorf("spline.%s: parameters need a trailing bin axis, got shape %s", op, n.Shape()))
		}
	}
	return Columns{Widths: graphops.Unstack(widths, -1), Heights: graphops.Unstack(heights, -1), Derivs: graphops.Unstack(derivs, -1)}
}

// RQS applies the interval spline with linear tails to x: elementwise y and
// logDet = log dy/dx, both of x's shape S. widths and heights are S+[k]
// logits, derivs S+[k-1] logits for the interior knots.
func RQS(x, widths, heights, derivs *graph.Node, opts Options) (y, logDet *graph.Node) {
	return RQSColumns(x, packed(widths, heights, derivs, "RQS"), opts)
}

// RQSInverse inverts RQS: given y, it returns x and logDet = log dx/dy
// (= -logDet of the forward map at x).
func RQSInverse(y, widths, heights, derivs *graph.Node, opts Options) (x, logDet *graph.Node) {
	return RQSInverseColumns(y, packed(widths, heights, derivs, "RQSInverse"), opts)
}

// CircularRQS applies the circular spline to angles x (any real value; it is
// first wrapped into [-π, π)). It maps [-π, π) onto itself with y(-π) = -π,
// and the derivative at -π equals the one at π, so the map is a smooth
// bijection of the circle; y is returned in [-π, π). widths, heights and
// derivs are S+[k] logits.
func CircularRQS(x, widths, heights, derivs *graph.Node, opts Options) (y, logDet *graph.Node) {
	return CircularRQSColumns(x, packed(widths, heights, derivs, "CircularRQS"), opts)
}

// CircularRQSInverse inverts CircularRQS.
func CircularRQSInverse(y, widths, heights, derivs *graph.Node, opts Options) (x, logDet *graph.Node) {
	return CircularRQSInverseColumns(y, packed(widths, heights, derivs, "CircularRQSInverse"), opts)
}

// RQSColumns is RQS with the parameters given as Columns.
func RQSColumns(x *graph.Node, p Columns, opts Options) (y, logDet *graph.Node) {
	return newSpline(x, p, opts, false, "RQS").forward(x)
}

// RQSInverseColumns is RQSInverse with the parameters given as Columns.
func RQSInverseColumns(y *graph.Node, p Columns, opts Options) (x, logDet *graph.Node) {
	return newSpline(y, p, opts, false, "RQSInverse").inverse(y)
}

// CircularRQSColumns is CircularRQS with the parameters given as Columns.
func CircularRQSColumns(x *graph.Node, p Columns, opts Options) (y, logDet *graph.Node) {
	return newSpline(x, p, opts, true, "CircularRQS").forward(x)
}

// CircularRQSInverseColumns is CircularRQSInverse with the parameters given
// as Columns.
func CircularRQSInverseColumns(y *graph.Node, p Columns, opts Options) (x, logDet *graph.Node) {
	return newSpline(y, p, opts, true, "CircularRQSInverse").inverse(y)
}

// spline holds the k+1 knots in x and y and the derivative logits at them.
// Some knots are scalar constants (the interval ends); GoMLX broadcasts
// scalars in the elementwise ops used here.
type spline struct {
	k        int
	lo, hi   float64 // the interval
	circular bool
	minD     float64
	xk, yk   []*graph.Node
	// du are the derivative logits of the k+1 knots. For the interval spline
	// the two ends have fixed derivative 1 and hold a placeholder; for the
	// circular one du[k] is du[0] (the knots at -π and π are one point).
	du []*graph.Node
}

func newSpline(x *graph.Node, p Columns, opts Options, circular bool, op string) *spline {
	k := len(p.Widths)
	if err := opts.Validate(k, circular); err != nil {
		panic(fmt.Errorf("spline.%s: %w", op, err))
	}
	if !x.DType().IsFloat() {
		panic(fmt.Errorf("spline.%s: input must be float, got %s", op, x.DType()))
	}
	nd := k - 1
	if circular {
		nd = k
	}
	for _, c := range []struct {
		name string
		cols []*graph.Node
		n    int
	}{{"widths", p.Widths, k}, {"heights", p.Heights, k}, {"derivs", p.Derivs, nd}} {
		if len(c.cols) != c.n {
			panic(fmt.Errorf("spline.%s: %d %s for %d bins, want %d", op, len(c.cols), c.name, k, c.n))
		}
		for i, col := range c.cols {
			if !col.Shape().Equal(x.Shape()) {
				panic(fmt.Errorf("spline.%s: %s[%d] has shape %s, want the input's %s", op, c.name, i, col.Shape(), x.Shape()))
			}
		}
	}
	s := &spline{k: k, lo: -opts.Bound, hi: opts.Bound, circular: circular, minD: opts.MinDerivative}
	if circular {
		s.lo, s.hi = -math.Pi, math.Pi
	}
	s.xk = knots(p.Widths, opts.MinBinWidth, s.lo, s.hi)
	s.yk = knots(p.Heights, opts.MinBinHeight, s.lo, s.hi)
	if circular {
		s.du = append(append([]*graph.Node(nil), p.Derivs...), p.Derivs[0])
	} else {
		zero := graph.ScalarZero(x.Graph(), x.DType())
		s.du = append(append([]*graph.Node{zero}, p.Derivs...), zero)
	}
	return s
}

// knots turns k bin-size logits into the k+1 knots on [lo, hi]: a softmax
// raised to minSize, scaled to the interval and summed from lo. The ends are
// the constants lo and hi, so the last bin absorbs the rounding of the sum
// and the bins tile the interval exactly; every increment is at least
// minSize·(hi-lo) > 0, so the knots are strictly increasing.
func knots(logits []*graph.Node, minSize, lo, hi float64) []*graph.Node {
	k := len(logits)
	g, dt := logits[0].Graph(), logits[0].DType()
	// Softmax over the columns, shifted by the max for stability (the shift
	// cancels, so it needs no gradient).
	m := logits[0]
	for _, l := range logits[1:] {
		m = graph.Max(m, l)
	}
	m = graph.StopGradient(m)
	e := make([]*graph.Node, k)
	sum := (*graph.Node)(nil)
	for i, l := range logits {
		e[i] = graph.Exp(graph.Sub(l, m))
		if sum == nil {
			sum = e[i]
		} else {
			sum = graph.Add(sum, e[i])
		}
	}
	scale := graph.Div(graph.Scalar(g, dt, (hi-lo)*(1-minSize*float64(k))), sum)
	out := make([]*graph.Node, k+1)
	out[0] = graph.Scalar(g, dt, lo)
	for i := 0; i < k-1; i++ {
		size := graph.AddScalar(graph.Mul(e[i], scale), (hi-lo)*minSize)
		out[i+1] = graph.Add(out[i], size)
	}
	out[k] = graph.Scalar(g, dt, hi)
	return out
}

// knotDerivative maps a logit u to minD + softplus(u + c) with
// softplus(c) = 1 - minD, so that u = 0 gives 1.
func knotDerivative(u *graph.Node, minD float64) *graph.Node {
	z := graph.AddScalar(u, math.Log(math.Expm1(1-minD)))
	// softplus(z) = max(z, 0) + log(1 + exp(-|z|)), which never overflows.
	// Log(1+e) instead of Log1p(e): Go's Log1p is several times slower, and
	// where they differ (e < 1e-8) the error is below 1e-16 absolute, far
	// under the derivative's floor minD.
	e := graph.Exp(graph.Neg(graph.Abs(z)))
	sp := graph.Add(graph.MaxScalar(z, 0), graph.Log(graph.OnePlus(e)))
	return graph.AddScalar(sp, minD)
}

// binned holds the parameters of each element's own bin, of x's shape.
type binned struct {
	xl, w, yl, h, dl, dr *graph.Node
}

// selectBin finds the bin of each element of v (already inside [lo, hi]) on
// the knots edges (xk or yk) and picks that bin's parameters.
func (s *spline) selectBin(v *graph.Node, edges []*graph.Node) binned {
	// ge[i] = v ≥ edges[i] for the interior knots; since the knots increase,
	// the last true one marks the bin, and a chain of Wheres keeps its value.
	ge := make([]*graph.Node, s.k)
	for i := 1; i < s.k; i++ {
		ge[i] = graph.GreaterOrEqual(v, edges[i])
	}
	pick := func(q []*graph.Node) *graph.Node {
		sel := q[0]
		for i := 1; i < s.k; i++ {
			sel = graph.Where(ge[i], q[i], sel)
		}
		if sel.Rank() == 0 { // all candidates were scalars: cannot happen for k ≥ 2
			sel = graph.BroadcastToShape(sel, v.Shape())
		}
		return sel
	}
	xl, xr := pick(s.xk[:s.k]), pick(s.xk[1:])
	yl, yr := pick(s.yk[:s.k]), pick(s.yk[1:])
	// The derivative map is applied after selection: to 2 values per element
	// instead of k+1, which saves most of the softplus work.
	dl := knotDerivative(pick(s.du[:s.k]), s.minD)
	dr := knotDerivative(pick(s.du[1:]), s.minD)
	if !s.circular {
		// The end knots' derivatives are exactly 1, matching the tails.
		one := graph.ScalarOne(v.Graph(), v.DType())
		dl = graph.Where(ge[1], dl, one)     // bin 0 ⇔ v < edges[1]
		dr = graph.Where(ge[s.k-1], one, dr) // bin k-1 ⇔ v ≥ edges[k-1]
	}
	return binned{xl: xl, w: graph.Sub(xr, xl), yl: yl, h: graph.Sub(yr, yl), dl: dl, dr: dr}
}

// wrap maps v into [lo, hi) (circular) or clamps it into [lo, hi]
// (interval; the tails are handled by finish).
func (s *spline) wrap(v *graph.Node) *graph.Node {
	if !s.circular {
		return graph.ClipScalar(v, s.lo, s.hi)
	}
	g, dt := v.Graph(), v.DType()
	period := s.hi - s.lo
	// The number of periods is piecewise constant: no gradient flows through
	// it (and Floor has none in GoMLX).
	n := graph.StopGradient(graph.Floor(graph.MulScalar(graph.AddScalar(v, -s.lo), 1/period)))
	w := graph.Sub(v, graph.MulScalar(n, period))
	// Rounding can land exactly on hi (or just below lo); fold those back.
	w = graph.Where(graph.GreaterOrEqual(w, graph.Scalar(g, dt, s.hi)), graph.AddScalar(w, -period), w)
	return graph.Where(graph.LessThan(w, graph.Scalar(g, dt, s.lo)), graph.AddScalar(w, period), w)
}

// finish applies the identity tails (interval) or wraps the output
// (circular: a y that rounds up to π is the point -π).
func (s *spline) finish(in, out, logDet *graph.Node) (*graph.Node, *graph.Node) {
	g, dt := in.Graph(), in.DType()
	if s.circular {
		return s.wrap(out), logDet
	}
	inside := graph.LogicalAnd(
		graph.GreaterOrEqual(in, graph.Scalar(g, dt, s.lo)),
		graph.LessOrEqual(in, graph.Scalar(g, dt, s.hi)))
	return graph.Where(inside, out, in), graph.Where(inside, logDet, graph.ScalarZero(g, dt))
}

// forwardLogDet is log dy/dx inside a bin at fractional position xi:
// dy/dx = s² (d_r ξ² + 2 s ξ(1-ξ) + d_l (1-ξ)²) / den², s = h/w.
func forwardLogDet(b binned, slope, xi, den *graph.Node) *graph.Node {
	one := graph.OneMinus(xi)
	num := graph.Add(graph.Add(
		graph.Mul(b.dr, graph.Square(xi)),
		graph.MulScalar(graph.Mul(slope, graph.Mul(xi, one)), 2)),
		graph.Mul(b.dl, graph.Square(one)))
	return graph.Sub(graph.Add(graph.MulScalar(graph.Log(slope), 2), graph.Log(num)), graph.MulScalar(graph.Log(den), 2))
}

func (s *spline) forward(x *graph.Node) (*graph.Node, *graph.Node) {
	xin := s.wrap(x)
	b := s.selectBin(xin, s.xk)
	slope := graph.Div(b.h, b.w)
	xi := graph.Div(graph.Sub(xin, b.xl), b.w)
	t := graph.Mul(xi, graph.OneMinus(xi))
	// den = s + (d_l + d_r - 2s) ξ(1-ξ); y = y_l + h (s ξ² + d_l ξ(1-ξ)) / den.
	den := graph.Add(slope, graph.Mul(graph.Sub(graph.Add(b.dl, b.dr), graph.MulScalar(slope, 2)), t))
	num := graph.Mul(b.h, graph.Add(graph.Mul(slope, graph.Square(xi)), graph.Mul(b.dl, t)))
	y := graph.Add(b.yl, graph.Div(num, den))
	return s.finish(x, y, forwardLogDet(b, slope, xi, den))
}

// inverse solves y = y_l + h (s ξ² + d_l ξ(1-ξ)) / den for ξ ∈ [0, 1]:
// a ξ² + b ξ + c = 0 with, for Δ = y - y_l and κ = d_l + d_r - 2s,
//
//	a = h (s - d_l) + Δ κ,  b = h d_l - Δ κ,  c = -s Δ ≤ 0.
//
// f(0) = c ≤ 0 and f(1) = a + b + c = s (h - Δ) ≥ 0, and the root in [0, 1]
// is ξ = (-b + √(b² - 4ac)) / 2a. Where b ≥ 0 we use the equivalent
// 2c / (-b - √(b² - 4ac)), which has no cancellation there (and a nonzero
// denominator: b = 0 forces Δ > 0, so c < 0); where b < 0 the first form has
// none, and a = h s - b > 0. Each branch's unused values are replaced by
// harmless ones so that the gradients of the unused branch stay finite.
func (s *spline) inverse(y *graph.Node) (*graph.Node, *graph.Node) {
	g, dt := y.Graph(), y.DType()
	yin := s.wrap(y)
	b := s.selectBin(yin, s.yk)
	slope := graph.Div(b.h, b.w)
	delta := graph.Sub(yin, b.yl)
	kappa := graph.Sub(graph.Add(b.dl, b.dr), graph.MulScalar(slope, 2))
	qa := graph.Add(graph.Mul(b.h, graph.Sub(slope, b.dl)), graph.Mul(delta, kappa))
	qb := graph.Sub(graph.Mul(b.h, b.dl), graph.Mul(delta, kappa))
	qc := graph.Neg(graph.Mul(slope, delta))
	disc := graph.MaxScalar(graph.Sub(graph.Square(qb), graph.MulScalar(graph.Mul(qa, qc), 4)), 0)
	root := graph.Sqrt(disc)
	bNonNeg := graph.GreaterOrEqual(qb, graph.ScalarZero(g, dt))
	den1 := graph.Where(bNonNeg, graph.Neg(graph.Add(qb, root)), graph.Scalar(g, dt, -1))
	xi1 := graph.Div(graph.MulScalar(qc, 2), den1)
	a2 := graph.Where(bNonNeg, graph.ScalarOne(g, dt), qa)
	xi2 := graph.Div(graph.Sub(root, qb), graph.MulScalar(a2, 2))
	xi := graph.Where(bNonNeg, xi1, xi2)
	x := graph.Add(b.xl, graph.Mul(xi, b.w))
	t := graph.Mul(xi, graph.OneMinus(xi))
	den := graph.Add(slope, graph.Mul(kappa, t))
	return s.finish(y, x, graph.Neg(forwardLogDet(b, slope, xi, den)))
}
