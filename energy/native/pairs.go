package native

import "math"

// nonbondedGB evaluates NonbondedForce and GBSAOBCForce together: the
// Coulomb, Lennard-Jones and GB pair energies share one pass over the pairs
// (their distances, loads and force updates), between the Born-radius pass
// and the Born-force pass of the GB energy. It returns both energies.
func (e *Energy) nonbondedGB(w *workspace, forces bool) (enb, egb float64) {
	nb, g := e.nb, e.gb
	egb = g.bornRadii(w)
	if w.avx != nil {
		a, b := e.fusedAVX(w)
		enb += a
		egb += b
	} else {
		enb, egb = e.fusedScalar(w, enb, egb)
	}
	enb += nb.exceptions(w, forces)
	if forces {
		g.bornForces(w)
	}
	return enb, egb
}

// fusedScalar is the pair pass of nonbondedGB in portable Go: runs of
// pairs between excluded partners take fusedRun, excluded pairs the GB
// energy alone.
func (e *Energy) fusedScalar(w *workspace, enb, egb float64) (float64, float64) {
	nb, g := e.nb, e.gb
	n := e.n
	for i := range n {
		lo := i + 1
		skips := nb.skip[nb.skipStart[i]:nb.skipStart[i+1]]
		for s := 0; s <= len(skips); s++ {
			hi := n
			if s < len(skips) {
				hi = int(skips[s])
			}
			if hi > lo {
				a, b := e.fusedRun(w, i, lo, hi)
				enb += a
				egb += b
			}
			if hi < n {
				// An exception pair still has its GB energy.
				egb += g.pairRun(w, i, hi, hi+1)
			}
			lo = hi + 1
		}
	}
	return enb, egb
}

// fusedRun adds the Coulomb, Lennard-Jones and GB energies of the pairs
// (i, j) for lo <= j < hi, their direct forces and the GB dE/dB.
func (e *Energy) fusedRun(w *workspace, i, lo, hi int) (enb, egb float64) {
	nb, g, sc := e.nb, e.gb, &w.gb
	xi, yi, zi := w.x[i], w.y[i], w.z[i]
	cqi, hsi, e4i := nb.cq[i], nb.hs[i], nb.e4[i]
	bi, qi4, pqi := sc.born[i], 0.25*sc.invB[i], g.pq[i]
	xs, ys, zs := w.x[lo:hi], w.y[lo:hi], w.z[lo:hi]
	ys, zs = ys[:len(xs)], zs[:len(xs)]
	fxs, fys, fzs := w.fx[lo:hi], w.fy[lo:hi], w.fz[lo:hi]
	fxs, fys, fzs = fxs[:len(xs)], fys[:len(xs)], fzs[:len(xs)]
	cq, hs, e4 := nb.cq[lo:hi], nb.hs[lo:hi], nb.e4[lo:hi]
	cq, hs, e4 = cq[:len(xs)], hs[:len(xs)], e4[:len(xs)]
	born, invB, dEdB, q := sc.born[lo:hi], sc.invB[lo:hi], sc.dEdB[lo:hi], g.q[lo:hi]
	born, invB, dEdB, q = born[:len(xs)], invB[:len(xs)], dEdB[:len(xs)], q[:len(xs)]
	var fxi, fyi, fzi, dbi float64
	for k := range xs {
		dx, dy, dz := xi-xs[k], yi-ys[k], zi-zs[k]
		r2 := dx*dx + dy*dy + dz*dz
		// Coulomb and Lennard-Jones (see nonbonded.run).
		inv2 := 1 / r2
		sig := hsi + hs[k]
		s2 := sig * sig * inv2
		s6 := s2 * s2 * s2
		lj6 := e4i * e4[k] * s6
		lj12 := lj6 * s6
		ec := cqi * cq[k] * math.Sqrt(inv2)
		enb += lj12 - lj6 + ec
		gr := (12*lj12 - 6*lj6 + ec) * inv2
		// Generalized Born (see gbsa.pairRun).
		bj := born[k]
		d := r2 * qi4 * invB[k]
		// ex = e^(-d): expNeg written out, because the inliner declines
		// it and a call here costs a spill of every live register.
		dc := min(d, 700)
		ek := int(dc*(8*math.Log2E) + 0.5)
		ekf := float64(ek)
		er := ekf*(ln2Hi/8) - dc + ekf*(ln2Lo/8)
		ex := (1 + er*(1+er*(1.0/2+er*(1.0/6+er*(1.0/24+er*(1.0/120+er*(1.0/720+er*(1.0/5040)))))))) *
			exp2Eighths[ek&7] * math.Float64frombits(uint64(1023-(ek>>3))<<52)
		finv := 1 / math.Sqrt(r2+bi*bj*ex)
		eg := pqi * q[k] * finv
		egb += eg
		h := eg * finv * finv
		dA := -0.5 * h * ex * (1 + d)
		dbi += dA * bj
		dEdB[k] += dA * bi
		gr += h * (1 - 0.25*ex)
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
	return enb, egb
}
