package graphops

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Atan2 is atan2(y, x) on [-pi, pi) for GoMLX graphs, built from ops that
// the pure-Go backend has (it lacks Atan2, Atan, Asin and Acos), and
// differentiable.
//
// A first guess theta0 comes from a degree-9 odd polynomial for atan on
// [0, 1] (error ~1e-5 rad) after the usual octant reduction. One exact
// correction step follows: with c, s = cos, sin(theta0),
// delta = (y c - x s) / (x c + y s) = tan(theta - theta0), and
// theta = theta0 + atan(delta), where atan(delta) = delta - delta^3/3 +
// delta^5/5 is exact to ~delta^7 ~ 1e-35. The result is as accurate as
// sin/cos in the working precision (float64: a few 1e-16).
//
// Gradients flow through both the guess and the correction; their guess
// contributions cancel (d delta/d theta0 = -(1 + delta^2)), so the gradient
// is that of the exact atan2. At x = y = 0 the value is 0 and the gradient
// is not meaningful.
func Atan2(y, x *graph.Node) *graph.Node {
	g := x.Graph()
	dt := x.DType()
	zero := graph.ScalarZero(g, dt)
	one := graph.ScalarOne(g, dt)
	ax, ay := graph.Abs(x), graph.Abs(y)
	hi := graph.Max(ax, ay)
	lo := graph.Min(ax, ay)
	safeHi := graph.Where(graph.Equal(hi, zero), one, hi)
	t := graph.Div(lo, safeHi)
	t2 := graph.Mul(t, t)
	// Polynomial coefficients for atan(t), t in [0, 1] (Abramowitz-Stegun 4.4.49 form).
	p := graph.AddScalar(graph.MulScalar(t2, 0.0208351), -0.0851330)
	p = graph.AddScalar(graph.Mul(p, t2), 0.1801410)
	p = graph.AddScalar(graph.Mul(p, t2), -0.3302995)
	p = graph.AddScalar(graph.Mul(p, t2), 0.9998660)
	th := graph.Mul(p, t)
	th = graph.Where(graph.GreaterThan(ay, ax), graph.Sub(graph.Scalar(g, dt, math.Pi/2), th), th)
	th = graph.Where(graph.LessThan(x, zero), graph.Sub(graph.Scalar(g, dt, math.Pi), th), th)
	th = graph.Where(graph.LessThan(y, zero), graph.Neg(th), th)
	c, s := graph.Cos(th), graph.Sin(th)
	num := graph.Sub(graph.Mul(y, c), graph.Mul(x, s))
	den := graph.Add(graph.Mul(x, c), graph.Mul(y, s))
	den = graph.Where(graph.Equal(den, zero), one, den)
	d := graph.Div(num, den)
	d2 := graph.Mul(d, d)
	corr := graph.Mul(d, graph.AddScalar(graph.Mul(d2, graph.AddScalar(graph.MulScalar(d2, 0.2), -1.0/3.0)), 1))
	th = graph.Add(th, corr)
	twoPi := graph.Scalar(g, dt, 2*math.Pi)
	th = graph.Where(graph.GreaterOrEqual(th, graph.Scalar(g, dt, math.Pi)), graph.Sub(th, twoPi), th)
	th = graph.Where(graph.LessThan(th, graph.Scalar(g, dt, -math.Pi)), graph.Add(th, twoPi), th)
	return th
}
