package native

import (
	"fmt"
	"math"
	"slices"

	"github.com/gobg/gobg/energy/forcefield"
)

// nonbonded holds NonbondedForce (NoCutoff) in the layout of its pair loop.
type nonbonded struct {
	// Per-atom factors of the combined pair parameters:
	// q_i q_j /(4πε₀) = cq[i]·cq[j], σ_ij = hs[i]+hs[j], 4ε_ij = e4[i]·e4[j].
	cq, hs, e4 []float64
	// skipStart[i]..skipStart[i+1] index skip, the sorted atoms j > i
	// whose pair with i is an exception: the all-pairs loop leaves them out.
	skipStart []int32
	skip      []int32
	// pairs are the exceptions with a non-zero interaction.
	pairs []exceptionPair
}

type exceptionPair struct {
	i, j int32
	qq   float64 // chargeProd/(4πε₀)
	sig  float64
	eps4 float64 // 4ε
}

func newNonbonded(f *forcefield.Nonbonded, n int) (*nonbonded, error) {
	if len(f.Particles) != n {
		return nil, fmt.Errorf("NonbondedForce has %d particles, the system %d", len(f.Particles), n)
	}
	nb := &nonbonded{cq: padded(n), hs: padded(n), e4: padded(n)}
	sq := math.Sqrt(OneFourPiEps0)
	for i, p := range f.Particles {
		nb.cq[i] = p.Charge * sq
		nb.hs[i] = p.Sigma / 2
		nb.e4[i] = 2 * math.Sqrt(p.Epsilon)
	}
	lists := make([][]int32, n)
	for _, x := range f.Exceptions {
		i, j := min(x.I, x.J), max(x.I, x.J)
		lists[i] = append(lists[i], int32(j))
		if x.ChargeProd != 0 || x.Epsilon != 0 {
			nb.pairs = append(nb.pairs, exceptionPair{i: int32(i), j: int32(j),
				qq: x.ChargeProd * OneFourPiEps0, sig: x.Sigma, eps4: 4 * x.Epsilon})
		}
	}
	nb.skipStart = make([]int32, n+1)
	for i, l := range lists {
		slices.Sort(l)
		if len(slices.Compact(l)) != len(l) {
			return nil, fmt.Errorf("NonbondedForce: atom %d has two exceptions with the same partner", i)
		}
		nb.skip = append(nb.skip, l...)
		nb.skipStart[i+1] = int32(len(nb.skip))
	}
	return nb, nil
}

// energy adds Coulomb and Lennard-Jones over all pairs (exceptions with
// their own parameters) and returns the energy.
func (nb *nonbonded) energy(w *workspace, forces bool) float64 {
	n := len(nb.cq)
	x, y, z := w.x[:n], w.y[:n], w.z[:n]
	fx, fy, fz := w.fx[:n], w.fy[:n], w.fz[:n]
	en := 0.0
	for i := range n {
		// The pairs (i, j>i) in runs between the skipped partners.
		lo := i + 1
		skips := nb.skip[nb.skipStart[i]:nb.skipStart[i+1]]
		for s := 0; s <= len(skips); s++ {
			hi := n
			if s < len(skips) {
				hi = int(skips[s])
			}
			if hi > lo {
				en += nb.run(i, lo, hi, x, y, z, fx, fy, fz, forces)
			}
			lo = hi + 1
		}
	}
	return en + nb.exceptions(w, forces)
}

// exceptions adds the exception pairs with a non-zero interaction.
func (nb *nonbonded) exceptions(w *workspace, forces bool) float64 {
	x, y, z := w.x, w.y, w.z
	fx, fy, fz := w.fx, w.fy, w.fz
	en := 0.0
	for _, p := range nb.pairs {
		dx, dy, dz := x[p.i]-x[p.j], y[p.i]-y[p.j], z[p.i]-z[p.j]
		inv2 := 1 / (dx*dx + dy*dy + dz*dz)
		s2 := p.sig * p.sig * inv2
		s6 := s2 * s2 * s2
		lj6 := p.eps4 * s6
		lj12 := lj6 * s6
		ec := p.qq * math.Sqrt(inv2)
		en += lj12 - lj6 + ec
		if forces {
			g := (12*lj12 - 6*lj6 + ec) * inv2
			fx[p.i] += g * dx
			fy[p.i] += g * dy
			fz[p.i] += g * dz
			fx[p.j] -= g * dx
			fy[p.j] -= g * dy
			fz[p.j] -= g * dz
		}
	}
	return en
}

// run adds the pairs (i, j) for lo <= j < hi with combined parameters.
func (nb *nonbonded) run(i, lo, hi int, x, y, z, fx, fy, fz []float64, forces bool) float64 {
	xi, yi, zi := x[i], y[i], z[i]
	cqi, hsi, e4i := nb.cq[i], nb.hs[i], nb.e4[i]
	xs, ys, zs := x[lo:hi], y[lo:hi], z[lo:hi]
	ys, zs = ys[:len(xs)], zs[:len(xs)]
	cq, hs, e4 := nb.cq[lo:hi], nb.hs[lo:hi], nb.e4[lo:hi]
	cq, hs, e4 = cq[:len(xs)], hs[:len(xs)], e4[:len(xs)]
	en := 0.0
	if !forces {
		for k := range xs {
			dx, dy, dz := xi-xs[k], yi-ys[k], zi-zs[k]
			inv2 := 1 / (dx*dx + dy*dy + dz*dz)
			sig := hsi + hs[k]
			s2 := sig * sig * inv2
			s6 := s2 * s2 * s2
			en += e4i*e4[k]*s6*(s6-1) + cqi*cq[k]*math.Sqrt(inv2)
		}
		return en
	}
	fxs, fys, fzs := fx[lo:hi], fy[lo:hi], fz[lo:hi]
	fxs, fys, fzs = fxs[:len(xs)], fys[:len(xs)], fzs[:len(xs)]
	var fxi, fyi, fzi float64
	for k := range xs {
		dx, dy, dz := xi-xs[k], yi-ys[k], zi-zs[k]
		inv2 := 1 / (dx*dx + dy*dy + dz*dz)
		sig := hsi + hs[k]
		s2 := sig * sig * inv2
		s6 := s2 * s2 * s2
		lj6 := e4i * e4[k] * s6
		lj12 := lj6 * s6
		ec := cqi * cq[k] * math.Sqrt(inv2)
		en += lj12 - lj6 + ec
		g := (12*lj12 - 6*lj6 + ec) * inv2
		gx, gy, gz := g*dx, g*dy, g*dz
		fxi += gx
		fyi += gy
		fzi += gz
		fxs[k] -= gx
		fys[k] -= gy
		fzs[k] -= gz
	}
	fx[i] += fxi
	fy[i] += fyi
	fz[i] += fzi
	return en
}
