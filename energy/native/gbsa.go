package native

import (
	"math"

	"github.com/gobg/gobg/energy/forcefield"
)

// OBC type II parameters and the constants of OpenMM's GBSAOBCForce.
const (
	obcAlpha         = 1.0
	obcBeta          = 0.8
	obcGamma         = 4.85
	dielectricOffset = 0.009 // nm
	probeRadius      = 0.14  // nm
)

// gbsa holds GBSAOBCForce (NoCutoff) per atom.
//
// The energy is the OBC generalized Born energy plus the ACE surface term:
//
//	E = ½ P Σ_i Σ_j q_i q_j / f_ij + Σ_i 4πγ (R_i + 0.14)² (R_i/B_i)⁶
//	f_ij = √(r² + B_i B_j exp(-r²/(4 B_i B_j))),   P = -(1/ε_solute - 1/ε_solvent)/(4πε₀)
//
// with Born radii from the OBC rescaling of the HCT integral
//
//	Ψ_i = ½ ρ_i Σ_{j≠i} T(r_ij; ρ_i, s_j),   ρ_i = R_i - 0.009, s_j = ρ_j·scale_j
//	1/B_i = 1/ρ_i - tanh(αΨ_i - βΨ_i² + γΨ_i³)/R_i.
//
// The evaluation has three passes over the pairs: HCT sums (bornRadii), pair
// energies with their direct forces and dE/dB (pairs, or fused with the
// Coulomb and Lennard-Jones pairs in Energy.nonbondedGB), and the forces
// through the Born radii (bornForces).
type gbsa struct {
	q    []float64 // charge
	pq   []float64 // P·charge
	rho  []float64 // offset radius ρ
	sr   []float64 // scaled offset radius s
	s2   []float64 // s²
	s3   []float64 // s³
	hs3  []float64 // s³/2
	rad  []float64 // radius R
	ace  []float64 // 4πγ(R+0.14)² R⁶: the ACE energy is ace/B⁶
	self []float64 // ½ P q²: the self energy is self/B
	// hTab tabulates h(y), dTab h(y) + 2/(1-y)² (see hcttable.go) on
	// [0, yMax].
	hTab, dTab *polyTable
	yMax       float64
}

func newGBSA(f *forcefield.GBSAOBC) *gbsa {
	n := len(f.Particles)
	g := &gbsa{q: padded(n), pq: padded(n), rho: padded(n), sr: padded(n),
		s2: padded(n), s3: padded(n), hs3: padded(n),
		rad: padded(n), ace: padded(n), self: padded(n)}
	pre := -OneFourPiEps0 * (1/f.SoluteDielectric - 1/f.SolventDielectric)
	rhoMin := math.Inf(1)
	for i, p := range f.Particles {
		g.q[i] = p.Charge
		g.pq[i] = pre * p.Charge
		g.rad[i] = p.Radius
		g.rho[i] = p.Radius - dielectricOffset
		g.sr[i] = g.rho[i] * p.ScaleFactor
		g.s2[i] = g.sr[i] * g.sr[i]
		g.s3[i] = g.s2[i] * g.sr[i]
		g.hs3[i] = g.s3[i] / 2
		r := p.Radius + probeRadius
		r3 := p.Radius * p.Radius * p.Radius
		g.ace[i] = 4 * math.Pi * f.SurfaceAreaEnergy * r * r * r3 * r3
		g.self[i] = 0.5 * pre * p.Charge * p.Charge
		rhoMin = min(rhoMin, g.rho[i])
	}
	// Far pairs have r ≥ ρ_i + s_j, so y = (s_j/r)² ≤ (s_j/(ρ_i+s_j))².
	// Pairs beyond the table (only with unusual scale factors) take the
	// direct formula.
	yMax := 0.0
	for _, s := range g.sr {
		if s > 0 {
			yMax = max(yMax, (s/(rhoMin+s))*(s/(rhoMin+s)))
		}
	}
	yMax = min(yMax, 0.75)
	g.hTab = newPolyTable(yMax, hTaylor)
	g.dTab = newPolyTable(yMax, dTaylor)
	g.yMax = yMax
	return g
}

// gbScratch holds the per-atom arrays of one evaluation.
type gbScratch struct {
	psi   []float64 // HCT sum, then Ψ
	born  []float64 // Born radius B
	invB  []float64 // 1/B
	chain []float64 // ρ·dB/dΨ
	dEdB  []float64 // dE/dB, then dE/dΨ·ρ
}

func newGBScratch(n int) gbScratch {
	return gbScratch{psi: padded(n), born: padded(n), invB: padded(n), chain: padded(n), dEdB: padded(n)}
}

// hct is the HCT integral T(r; ρ, s) over the part of a sphere of radius s
// at distance r that lies outside the sphere of radius ρ (0 when the sphere is
// inside it), in OpenMM's form. The pair loops use it for overlapping pairs.
func hct(r, rinv, rho, s float64) float64 {
	if rho >= r+s {
		return 0
	}
	l := 1 / max(rho, math.Abs(r-s))
	u := 1 / (r + s)
	l2, u2 := l*l, u*u
	t := l - u + 0.25*r*(u2-l2) + 0.5*rinv*math.Log(u/l) + 0.25*s*s*rinv*(l2-u2)
	if rho < s-r {
		// The atom lies inside the other sphere: add the part of the
		// integral between ρ and s - r.
		t += 2 * (1/rho - l)
	}
	return t
}

// hctDeriv returns -(dT/dr)/(2r) for T = hct(r, rinv, rho, s). The total
// derivative of T equals its partial derivative at fixed l and u: the
// terms from dl/dr and du/dr cancel, including in the engulfed case.
func hctDeriv(r, rinv, rho, s float64) float64 {
	if rho >= r+s {
		return 0
	}
	l := 1 / max(rho, math.Abs(r-s))
	u := 1 / (r + s)
	r2inv := rinv * rinv
	return (0.125*(1+s*s*r2inv)*(l*l-u*u) + 0.25*math.Log(u/l)*r2inv) * rinv
}

// hctNear is hct for a pair at squared distance r2; the pair loops call it
// for the pairs that the table does not cover (overlapping spheres).
func hctNear(r2, rho, s float64) float64 {
	r := math.Sqrt(r2)
	return hct(r, 1/r, rho, s)
}

// hctDerivNear is hctDeriv for a pair at squared distance r2.
func hctDerivNear(r2, rho, s float64) float64 {
	r := math.Sqrt(r2)
	return hctDeriv(r, 1/r, rho, s)
}

// bornRadii computes the Born radii, returns the self and ACE energies and
// initialises dE/dB with their derivatives.
func (g *gbsa) bornRadii(w *workspace) float64 {
	n := len(g.q)
	sc := &w.gb
	psi, born, invB, chain, dEdB := sc.psi[:n], sc.born[:n], sc.invB[:n], sc.chain[:n], sc.dEdB[:n]
	rho := g.rho[:n]

	if w.avx != nil {
		g.bornSumsAVX(w)
	} else {
		g.bornSums(w)
	}
	en := 0.0
	for i := range n {
		p := 0.5 * rho[i] * psi[i]
		psi[i] = p
		th := math.Tanh(obcAlpha*p - obcBeta*p*p + obcGamma*p*p*p)
		b := 1 / (1/rho[i] - th/g.rad[i])
		born[i] = b
		invB[i] = 1 / b
		// ρ·dB/dΨ: the factor ρ is that of dΨ/dT = ρ/2, with the ½
		// folded into hctDeriv.
		chain[i] = rho[i] * b * b * (1 - th*th) * (obcAlpha - 2*obcBeta*p + 3*obcGamma*p*p) / g.rad[i]
		b2 := b * b
		ace := g.ace[i] / (b2 * b2 * b2)
		en += g.self[i]/b + ace
		dEdB[i] = -g.self[i]/b2 - 6*ace/b
	}
	return en
}

// bornSums sets psi[i] = Σ_{j≠i} T(r_ij; ρ_i, s_j), each pair once for both
// directions. Far pairs take the table (inlined here: this loop is one of the
// hot spots of the GB energy).
func (g *gbsa) bornSums(w *workspace) {
	n := len(g.q)
	x, y, z := w.x[:n], w.y[:n], w.z[:n]
	psi := w.gb.psi[:n]
	rho, sr, s2, s3 := g.rho[:n], g.sr[:n], g.s2[:n], g.s3[:n]
	tab, invStep := g.hTab, g.hTab.invStep
	m := uint(len(tab.c))
	clear(psi)
	for i := range n {
		xi, yi, zi, rhoi, si, s2i, s3i := x[i], y[i], z[i], rho[i], sr[i], s2[i], s3[i]
		acc := 0.0
		for j := i + 1; j < n; j++ {
			dx, dy, dz := xi-x[j], yi-y[j], zi-z[j]
			r2 := dx*dx + dy*dy + dz*dz
			rinv2 := 1 / r2
			rinv4 := rinv2 * rinv2
			// i's sum over the sphere of j, then j's over the sphere of i.
			cij, yij := rhoi+sr[j], s2[j]*rinv2
			if k := int(yij * invStep); r2 >= cij*cij && uint(k) < m {
				acc += s3[j] * rinv4 * tab.eval(k, yij)
			} else {
				acc += hctNear(r2, rhoi, sr[j])
			}
			cji, yji := rho[j]+si, s2i*rinv2
			if k := int(yji * invStep); r2 >= cji*cji && uint(k) < m {
				psi[j] += s3i * rinv4 * tab.eval(k, yji)
			} else {
				psi[j] += hctNear(r2, rho[j], si)
			}
		}
		psi[i] += acc
	}
}

// pairs adds the GB pair energies i<j, their direct forces and dE/dB.
func (g *gbsa) pairs(w *workspace) float64 {
	n := len(g.q)
	en := 0.0
	for i := range n {
		en += g.pairRun(w, i, i+1, n)
	}
	return en
}

// pairRun adds the GB pairs (i, j) for lo <= j < hi.
func (g *gbsa) pairRun(w *workspace, i, lo, hi int) float64 {
	sc := &w.gb
	xi, yi, zi := w.x[i], w.y[i], w.z[i]
	bi, qi4, pqi := sc.born[i], 0.25*sc.invB[i], g.pq[i]
	xs, ys, zs := w.x[lo:hi], w.y[lo:hi], w.z[lo:hi]
	ys, zs = ys[:len(xs)], zs[:len(xs)]
	fxs, fys, fzs := w.fx[lo:hi], w.fy[lo:hi], w.fz[lo:hi]
	fxs, fys, fzs = fxs[:len(xs)], fys[:len(xs)], fzs[:len(xs)]
	born, invB, dEdB, q := sc.born[lo:hi], sc.invB[lo:hi], sc.dEdB[lo:hi], g.q[lo:hi]
	born, invB, dEdB, q = born[:len(xs)], invB[:len(xs)], dEdB[:len(xs)], q[:len(xs)]
	var fxi, fyi, fzi, dbi, en float64
	for k := range xs {
		dx, dy, dz := xi-xs[k], yi-ys[k], zi-zs[k]
		r2 := dx*dx + dy*dy + dz*dz
		bj := born[k]
		a := bi * bj
		d := r2 * qi4 * invB[k] // r²/(4 B_i B_j)
		ex := expNeg(d)
		f2 := r2 + a*ex
		finv := 1 / math.Sqrt(f2)
		e := pqi * q[k] * finv
		en += e
		// h = E_ij/f², dE/dA = -½ h e^(-D) (1+D) with A = B_i B_j,
		// and -dE/dr / r = h (1 - e^(-D)/4).
		h := e * finv * finv
		dA := -0.5 * h * ex * (1 + d)
		dbi += dA * bj
		dEdB[k] += dA * bi
		gr := h * (1 - 0.25*ex)
		gx, gy, gz := gr*dx, gr*dy, gr*dz
		fxi += gx
		fyi += gy
		fzi += gz
		fxs[k] -= gx
		fys[k] -= gy
		fzs[k] -= gz
	}
	sc.dEdB[i] += dbi
	w.fx[i] += fxi
	w.fy[i] += fyi
	w.fz[i] += fzi
	return en
}

// bornForces adds the forces through the Born radii: dE/dr_ij picks up
// dE/dΨ_i·dΨ_i/dr + dE/dΨ_j·dΨ_j/dr with dΨ_i/dr = ½ρ_i dT/dr.
func (g *gbsa) bornForces(w *workspace) {
	n := len(g.q)
	chain, dEdB := w.gb.chain[:n], w.gb.dEdB[:n]
	for i := range n {
		dEdB[i] *= chain[i]
	}
	if w.avx != nil {
		g.bornForcePairsAVX(w)
	} else {
		g.bornForcePairs(w)
	}
}

// bornForcePairs is the pair loop of bornForces, dEdB holding dE/dΨ·ρ.
func (g *gbsa) bornForcePairs(w *workspace) {
	n := len(g.q)
	x, y, z := w.x[:n], w.y[:n], w.z[:n]
	fx, fy, fz := w.fx[:n], w.fy[:n], w.fz[:n]
	dEdB := w.gb.dEdB[:n]
	rho, sr, s2, hs3 := g.rho[:n], g.sr[:n], g.s2[:n], g.hs3[:n]
	tab, invStep := g.dTab, g.dTab.invStep
	m := uint(len(tab.c))
	for i := range n {
		xi, yi, zi, rhoi, si, s2i, hs3i, ci := x[i], y[i], z[i], rho[i], sr[i], s2[i], hs3[i], dEdB[i]
		var fxi, fyi, fzi float64
		for j := i + 1; j < n; j++ {
			dx, dy, dz := xi-x[j], yi-y[j], zi-z[j]
			r2 := dx*dx + dy*dy + dz*dz
			rinv2 := 1 / r2
			rinv6 := rinv2 * rinv2 * rinv2
			var gr float64
			cij, yij := rhoi+sr[j], s2[j]*rinv2
			if k := int(yij * invStep); r2 >= cij*cij && uint(k) < m {
				gr = ci * hs3[j] * rinv6 * tab.eval(k, yij)
			} else {
				gr = ci * hctDerivNear(r2, rhoi, sr[j])
			}
			cji, yji := rho[j]+si, s2i*rinv2
			if k := int(yji * invStep); r2 >= cji*cji && uint(k) < m {
				gr += dEdB[j] * hs3i * rinv6 * tab.eval(k, yji)
			} else {
				gr += dEdB[j] * hctDerivNear(r2, rho[j], si)
			}
			fxi += gr * dx
			fyi += gr * dy
			fzi += gr * dz
			fx[j] -= gr * dx
			fy[j] -= gr * dy
			fz[j] -= gr * dz
		}
		fx[i] += fxi
		fy[i] += fyi
		fz[i] += fzi
	}
}

// energy evaluates GBSAOBCForce alone and returns its energy.
func (g *gbsa) energy(w *workspace, forces bool) float64 {
	en := g.bornRadii(w)
	en += g.pairs(w)
	if forces {
		g.bornForces(w)
	}
	return en
}
