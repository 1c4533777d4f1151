package nativegraph

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/native"
)

// OBC type II parameters and the constants of OpenMM's GBSAOBCForce, as in
// package native (and OpenMM's reference implementation).
const (
	obcAlpha         = 1.0
	obcBeta          = 0.8
	obcGamma         = 4.85
	dielectricOffset = 0.009 // nm
	probeRadius      = 0.14  // nm
)

// params holds the System's parameters in the layout of the graph: index
// lists per term and per-pair constants for the all-pairs terms. Everything
// is float64 here; the graph converts it to its dtype when it is built.
type params struct {
	n int

	bondI, bondJ      []int32
	bondLen, bondHalf []float64 // r0, K/2

	angI, angJ, angK   []int32
	angTheta, angHalfK []float64 // θ0, K/2
	torI, torJ, torK   []int32
	torL               []int32
	torConst           float64     // Σ K, plus K cos φ0 of the torsions of periodicity 0
	torCos, torSin     [][]float64 // [k-1][t]: K cos φ0, K sin φ0 where the periodicity of t is k

	// Pairs i < j of the all-pairs terms (every pair when the System has a
	// GBSAOBCForce, else the pairs with a Coulomb or Lennard-Jones
	// interaction), i-major.
	pairI, pairJ []int32
	hasNB        bool
	// Per pair: q_i q_j/(4πε₀) (or the exception's), σ², 4ε; zero for
	// excluded pairs.
	qq, sig2, eps4 []float64
	hasGB          bool
	// Per pair: P q_i q_j (the GB pair energy is gbqq/f), and the HCT
	// parameters of both directions: ρ_i with s_j, ρ_j with s_i.
	gbqq                     []float64
	rhoI, sJ, rhoJ, sI       []float64
	fourInvRhoI, fourInvRhoJ []float64 // 4/ρ_i, 4/ρ_j
	rho, rad, self, aceC     []float64 // per atom: ρ, R, ½Pq², 4πγ(R+0.14)²R⁶
}

func newParams(sys *forcefield.System) (*params, error) {
	n := sys.NumParticles()
	p := &params{n: n}
	check := func(what string, idx ...int) error {
		for _, i := range idx {
			if i < 0 || i >= n {
				return fmt.Errorf("%s refers to particle %d of %d", what, i, n)
			}
		}
		return nil
	}
	for k, b := range sys.Bonds {
		if err := check(fmt.Sprintf("bond %d", k), b.Atoms[:]...); err != nil {
			return nil, err
		}
		p.bondI = append(p.bondI, int32(b.Atoms[0]))
		p.bondJ = append(p.bondJ, int32(b.Atoms[1]))
		p.bondLen = append(p.bondLen, b.Length)
		p.bondHalf = append(p.bondHalf, b.K/2)
	}
	for k, a := range sys.Angles {
		if err := check(fmt.Sprintf("angle %d", k), a.Atoms[:]...); err != nil {
			return nil, err
		}
		p.angI = append(p.angI, int32(a.Atoms[0]))
		p.angJ = append(p.angJ, int32(a.Atoms[1]))
		p.angK = append(p.angK, int32(a.Atoms[2]))
		p.angTheta = append(p.angTheta, a.Theta)
		p.angHalfK = append(p.angHalfK, a.K/2)
	}
	maxN := 0
	for k, t := range sys.Torsions {
		if err := check(fmt.Sprintf("torsion %d", k), t.Atoms[:]...); err != nil {
			return nil, err
		}
		if t.Periodicity < 0 || t.Periodicity > 64 {
			return nil, fmt.Errorf("torsion %d has periodicity %d", k, t.Periodicity)
		}
		maxN = max(maxN, t.Periodicity)
	}
	// E = K (1 + cos(nφ - φ0)) = K + K cos φ0 · cos nφ + K sin φ0 · sin nφ:
	// a constant plus, for each n, a linear combination of cos nφ and sin nφ
	// with per-torsion weights that vanish for the torsions of other
	// periodicities.
	p.torCos = make([][]float64, maxN)
	p.torSin = make([][]float64, maxN)
	for k := range maxN {
		p.torCos[k] = make([]float64, 0, len(sys.Torsions))
		p.torSin[k] = make([]float64, 0, len(sys.Torsions))
	}
	for _, t := range sys.Torsions {
		p.torConst += t.K
		if t.Periodicity == 0 {
			p.torConst += t.K * math.Cos(t.Phase)
			continue
		}
		p.torI = append(p.torI, int32(t.Atoms[0]))
		p.torJ = append(p.torJ, int32(t.Atoms[1]))
		p.torK = append(p.torK, int32(t.Atoms[2]))
		p.torL = append(p.torL, int32(t.Atoms[3]))
		for k := range maxN {
			c, s := 0.0, 0.0
			if t.Periodicity == k+1 {
				c, s = t.K*math.Cos(t.Phase), t.K*math.Sin(t.Phase)
			}
			p.torCos[k] = append(p.torCos[k], c)
			p.torSin[k] = append(p.torSin[k], s)
		}
	}
	if err := p.pairs(sys); err != nil {
		return nil, err
	}
	return p, nil
}

// pairs builds the pair list and the per-pair constants of NonbondedForce
// and GBSAOBCForce.
func (p *params) pairs(sys *forcefield.System) error {
	n := p.n
	nb, gb := sys.Nonbonded, sys.GBSA
	if nb == nil && gb == nil {
		return nil
	}
	if nb != nil && len(nb.Particles) != n {
		return fmt.Errorf("NonbondedForce has %d particles, the system %d", len(nb.Particles), n)
	}
	if gb != nil && len(gb.Particles) != n {
		return fmt.Errorf("GBSAOBCForce has %d particles, the system %d", len(gb.Particles), n)
	}
	type exc struct{ qq, sig, eps float64 }
	var exceptions map[[2]int32]exc
	if nb != nil {
		exceptions = make(map[[2]int32]exc, len(nb.Exceptions))
		for k, x := range nb.Exceptions {
			if x.I < 0 || x.I >= n || x.J < 0 || x.J >= n || x.I == x.J {
				return fmt.Errorf("NonbondedForce exception %d pairs particles %d and %d of %d", k, x.I, x.J, n)
			}
			key := [2]int32{int32(min(x.I, x.J)), int32(max(x.I, x.J))}
			if _, dup := exceptions[key]; dup {
				return fmt.Errorf("NonbondedForce: particles %d and %d have two exceptions", key[0], key[1])
			}
			exceptions[key] = exc{x.ChargeProd, x.Sigma, x.Epsilon}
		}
	}
	p.hasNB, p.hasGB = nb != nil, gb != nil
	var pre float64
	if gb != nil {
		pre = -native.OneFourPiEps0 * (1/gb.SoluteDielectric - 1/gb.SolventDielectric)
		p.rho = make([]float64, n)
		p.rad = make([]float64, n)
		p.self = make([]float64, n)
		p.aceC = make([]float64, n)
		for i, a := range gb.Particles {
			p.rad[i] = a.Radius
			p.rho[i] = a.Radius - dielectricOffset
			p.self[i] = 0.5 * pre * a.Charge * a.Charge
			r := a.Radius + probeRadius
			r3 := a.Radius * a.Radius * a.Radius
			p.aceC[i] = 4 * math.Pi * gb.SurfaceAreaEnergy * r * r * r3 * r3
			if p.rho[i] <= 0 {
				return fmt.Errorf("GBSAOBCForce particle %d: radius %g nm is not above the dielectric offset %g nm", i, a.Radius, dielectricOffset)
			}
		}
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			var qq, sig, eps float64
			if nb != nil {
				if x, ok := exceptions[[2]int32{int32(i), int32(j)}]; ok {
					qq, sig, eps = x.qq, x.sig, x.eps
				} else {
					a, b := nb.Particles[i], nb.Particles[j]
					qq, sig, eps = a.Charge*b.Charge, (a.Sigma+b.Sigma)/2, math.Sqrt(a.Epsilon*b.Epsilon)
				}
			}
			if gb == nil && qq == 0 && eps == 0 {
				continue
			}
			p.pairI = append(p.pairI, int32(i))
			p.pairJ = append(p.pairJ, int32(j))
			if nb != nil {
				p.qq = append(p.qq, qq*native.OneFourPiEps0)
				p.sig2 = append(p.sig2, sig*sig)
				p.eps4 = append(p.eps4, 4*eps)
			}
			if gb != nil {
				a, b := gb.Particles[i], gb.Particles[j]
				p.gbqq = append(p.gbqq, pre*a.Charge*b.Charge)
				p.rhoI = append(p.rhoI, p.rho[i])
				p.rhoJ = append(p.rhoJ, p.rho[j])
				p.fourInvRhoI = append(p.fourInvRhoI, 4/p.rho[i])
				p.fourInvRhoJ = append(p.fourInvRhoJ, 4/p.rho[j])
				p.sJ = append(p.sJ, p.rho[j]*b.ScaleFactor)
				p.sI = append(p.sI, p.rho[i]*a.ScaleFactor)
			}
		}
	}
	return nil
}

// numPairs is the length of the pair list.
func (p *params) numPairs() int { return len(p.pairI) }
