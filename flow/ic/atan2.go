package ic

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
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
func Atan2(y, x *Node) *Node {
	g := x.Graph()
	dt := x.DType()
	zero := ScalarZero(g, dt)
	one := ScalarOne(g, dt)
	ax, ay := Abs(x), Abs(y)
	hi := Max(ax, ay)
	lo := Min(ax, ay)
	safeHi := Where(Equal(hi, zero), one, hi)
	t := Div(lo, safeHi)
	t2 := Mul(t, t)
	// Polynomial coefficients for atan(t), t in [0, 1] (Abramowitz-Stegun 4.4.49 form).
	p := AddScalar(MulScalar(t2, 0.0208351), -0.0851330)
	p = AddScalar(Mul(p, t2), 0.1801410)
	p = AddScalar(Mul(p, t2), -0.3302995)
	p = AddScalar(Mul(p, t2), 0.9998660)
	th := Mul(p, t)
	th = Where(GreaterThan(ay, ax), Sub(Scalar(g, dt, math.Pi/2), th), th)
	th = Where(LessThan(x, zero), Sub(Scalar(g, dt, math.Pi), th), th)
	th = Where(LessThan(y, zero), Neg(th), th)
	c, s := Cos(th), Sin(th)
	num := Sub(Mul(y, c), Mul(x, s))
	den := Add(Mul(x, c), Mul(y, s))
	den = Where(Equal(den, zero), one, den)
	d := Div(num, den)
	d2 := Mul(d, d)
	corr := Mul(d, AddScalar(Mul(d2, AddScalar(MulScalar(d2, 0.2), -1.0/3.0)), 1))
	th = Add(th, corr)
	twoPi := Scalar(g, dt, 2*math.Pi)
	th = Where(GreaterOrEqual(th, Scalar(g, dt, math.Pi)), Sub(th, twoPi), th)
	th = Where(LessThan(th, Scalar(g, dt, -math.Pi)), Add(th, twoPi), th)
	return th
}
