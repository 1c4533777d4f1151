//go:build goexperiment.simd && amd64

package native

import (
	"math"
	"math/rand/v2"
	"testing"

	"simd/archsimd"
)

func lanesOf(v vec) [8]float64 {
	var a [8]float64
	v.Store(&a)
	return a
}

// TestVectorKernels checks the pieces of the AVX-512 loops lane by lane
// against their scalar counterparts.
func TestVectorKernels(t *testing.T) {
	if !simdAvailable {
		t.Skip("no AVX-512 on this CPU")
	}
	defer clearUpper()
	rng := rand.New(rand.NewPCG(1, 2))
	var worstLog, worstTab, worstT, worstD float64
	for range 2000 {
		var x, y, r2, rho, s [8]float64
		for l := range 8 {
			x[l] = math.Exp(-7 * rng.Float64()) // (1e-3, 1]
			y[l] = 0.39 * rng.Float64()
			// hctVec serves pairs with overlapping spheres: r < ρ + s.
			rho[l] = 0.09 + 0.1*rng.Float64()
			s[l] = 0.08 + 0.1*rng.Float64()
			r2[l] = math.Pow((0.2+0.8*rng.Float64())*(rho[l]+s[l]), 2)
		}
		lg := lanesOf(vlog(archsimd.LoadFloat64x8(&x)))
		for l := range 8 {
			worstLog = max(worstLog, math.Abs(lg[l]-math.Log(x[l]))/math.Abs(math.Log(x[l])))
		}
		for _, c := range []struct {
			tab *vecTable
			f   func(float64) float64
		}{{newVecTable(0.4, hTaylor), hSeries}, {newVecTable(0.4, dTaylor), dSeries}} {
			yv := archsimd.LoadFloat64x8(&y)
			k, _ := c.tab.index(yv)
			got := lanesOf(c.tab.eval(k, yv))
			for l := range 8 {
				worstTab = max(worstTab, math.Abs(got[l]/c.f(y[l])-1))
			}
		}
		tv, hv := hctVec(archsimd.LoadFloat64x8(&r2), archsimd.LoadFloat64x8(&rho), archsimd.LoadFloat64x8(&s))
		ta, ha := lanesOf(tv), lanesOf(hv)
		for l := range 8 {
			r := math.Sqrt(r2[l])
			want, wantD := hct(r, 1/r, rho[l], s[l]), hctDeriv(r, 1/r, rho[l], s[l])
			// The formula cancels terms of size 1/ρ ≈ 10 nm⁻¹ where T
			// is small, so its rounding is absolute: compare at that
			// scale.
			worstT = max(worstT, math.Abs(ta[l]-want)/max(math.Abs(want), 1))
			worstD = max(worstD, math.Abs(ha[l]-wantD)/hctDerivScale(r, rho[l], s[l]))
		}
	}
	clearUpper()
	t.Logf("max relative error: vlog %.2e, tables %.2e, hctVec T %.2e, dT %.2e", worstLog, worstTab, worstT, worstD)
	if worstLog > 1e-15 || worstTab > 5e-16 || worstT > 1e-14 || worstD > 1e-14 {
		t.Errorf("vector kernels differ from scalar: vlog %.3g, tables %.3g, T %.3g, dT %.3g", worstLog, worstTab, worstT, worstD)
	}
}

// hctDerivScale is the size of the terms that hctDeriv adds and subtracts
// (1/L² and 1/U² in l² - u², which cancel as the sphere nears the atom's
// inside), the scale of its rounding errors.
func hctDerivScale(r, rho, s float64) float64 {
	l := 1 / max(rho, math.Abs(r-s))
	u := 1 / (r + s)
	return 0.125*(1+s*s/(r*r))*(l*l+u*u)/r + math.Abs(0.25*math.Log(u/l)/(r*r*r))
}
