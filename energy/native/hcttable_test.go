package native

import (
	"math"
	"testing"
)

// hClosed is h from its closed form, (x/(1-y) - atanh x)/(x·y) with
// x = √y; it loses digits to cancellation as y → 0, so the tests use it
// only where that loss is small.
func hClosed(y float64) float64 {
	x := math.Sqrt(y)
	return (x/(1-y) - math.Atanh(x)) / (x * y)
}

// TestPolynomials checks the polynomial approximations of the HCT integral
// against independent evaluations: the closed form with a logarithm (for
// y ≥ 0.05, where its cancellation costs under three digits) and OpenMM's
// formula for T itself.
func TestPolynomials(t *testing.T) {
	for _, y := range []float64{0.05, 0.1, 0.2, 0.3, 0.39} {
		if d := math.Abs(hSeries(y)/hClosed(y) - 1); d > 1e-13 {
			t.Errorf("series h(%g) differs from the closed form by %.3g", y, d)
		}
	}
	tab := newPolyTable(0.4, hTaylor)
	dTab := newPolyTable(0.4, dTaylor)
	cheb := []struct {
		name string
		a    []float64
		f    func(float64) float64
	}{
		{"h", economized(hTaylor, 0, 1.0/16, 9), hSeries},
		{"h + 2/(1-y)²", economized(dTaylor, 0, 1.0/16, 9), dSeries},
	}
	var worstTab, worstD, worstCheb float64
	for k := 0; k <= 4000; k++ {
		y := 0.4 * float64(k) / 4000
		idx := int(y * tab.invStep)
		if idx >= len(tab.c) {
			continue
		}
		worstTab = max(worstTab, math.Abs(tab.eval(idx, y)/hSeries(y)-1))
		worstD = max(worstD, math.Abs(dTab.eval(idx, y)/dSeries(y)-1))
		if y <= 1.0/16 {
			for _, c := range cheb {
				p := 0.0
				for d := len(c.a) - 1; d >= 0; d-- {
					p = p*(y-1.0/32) + c.a[d]
				}
				worstCheb = max(worstCheb, math.Abs(p/c.f(y)-1))
			}
		}
	}
	t.Logf("max relative error: table h %.2e, table h+2/(1-y)² %.2e, economized (degree 9) %.2e", worstTab, worstD, worstCheb)
	if worstTab > 5e-16 || worstD > 5e-16 || worstCheb > 5e-16 {
		t.Errorf("polynomial errors %.3g, %.3g, %.3g exceed 5e-16", worstTab, worstD, worstCheb)
	}

	// T from the table against OpenMM's formula, for pairs far enough
	// apart that the formula's cancellation stays below 1e-12.
	g := &gbsa{hTab: tab}
	for _, c := range []struct{ r, rho, s float64 }{{0.3, 0.15, 0.12}, {0.5, 0.17, 0.16}, {1.0, 0.1, 0.14}} {
		y := c.s * c.s / (c.r * c.r)
		got := c.s * c.s * c.s / (c.r * c.r * c.r * c.r) * g.hTab.eval(int(y*g.hTab.invStep), y)
		want := hct(c.r, 1/c.r, c.rho, c.s)
		if d := math.Abs(got/want - 1); d > 1e-12 {
			t.Errorf("T(r=%g, ρ=%g, s=%g): table %.17g, OpenMM's formula %.17g", c.r, c.rho, c.s, got, want)
		}
	}
}

func TestExpNeg(t *testing.T) {
	worst := 0.0
	for d := 0.0; d < 700; d += 0.0137 {
		want := math.Exp(-d)
		worst = max(worst, math.Abs(expNeg(d)-want)/want)
	}
	t.Logf("max relative error of expNeg on [0, 700): %.2e", worst)
	if worst > 1e-15 {
		t.Errorf("expNeg: relative error %.3g", worst)
	}
	if v := expNeg(800); v < 0 || v > 1e-300 {
		t.Errorf("expNeg(800) = %g, want (almost) 0", v)
	}
	if v := expNeg(math.NaN()); !math.IsNaN(v) {
		t.Errorf("expNeg(NaN) = %g", v)
	}
}
