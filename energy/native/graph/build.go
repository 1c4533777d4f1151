package nativegraph

import (
	"fmt"

	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Build returns the potential energies [B] (kJ/mol) of the conformations x
// [B, N, 3] (nm) as part of the caller's graph, in x's dtype (Float32 or
// Float64). It is differentiable with respect to x; the forces are the
// negative gradient of the sum of its outputs. Build panics (GoMLX style)
// on a shape or dtype it cannot handle.
func (e *Energy) Build(x *graph.Node) *graph.Node {
	terms := e.BuildTerms(x)
	total := terms[0]
	for _, t := range terms[1:] {
		total = graph.Add(total, t)
	}
	return total
}

// BuildTerms is Build split by force type, in the order of native.Term:
// each entry has shape [B] (zeros for a force the System lacks).
func (e *Energy) BuildTerms(x *graph.Node) [native.NumTerms]*graph.Node {
	s := x.Shape()
	if s.Rank() != 3 || s.Dimensions[1] != e.p.n || s.Dimensions[2] != 3 {
		panic(fmt.Errorf("nativegraph: positions have shape %s, want [batch, %d, 3]", s, e.p.n))
	}
	if dt := x.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		panic(fmt.Errorf("nativegraph: positions have dtype %s, want Float32 or Float64", dt))
	}
	b := &builder{g: x.Graph(), dt: x.DType(), batch: s.Dimensions[0], p: e.p}
	// Components [N, B]: every term gathers atoms along the leading axis,
	// which copies contiguous rows of B values.
	comps := graphops.Unstack(graph.TransposeAllAxes(x, 2, 1, 0), 0)
	b.pos = vec{comps[0], comps[1], comps[2]}

	var out [native.NumTerms]*graph.Node
	zero := graph.Zeros(b.g, shapes.Make(b.dt, b.batch))
	for t := range out {
		out[t] = zero
	}
	if len(e.p.bondI) > 0 {
		out[native.TermBond] = b.bonds()
	}
	if len(e.p.angI) > 0 {
		out[native.TermAngle] = b.angles()
	}
	if e.p.torConst != 0 || len(e.p.torI) > 0 {
		out[native.TermTorsion] = b.torsions()
	}
	if e.p.numPairs() > 0 {
		out[native.TermNonbonded], out[native.TermGBSA] = b.pairs()
		if !e.p.hasNB {
			out[native.TermNonbonded] = zero
		}
		if !e.p.hasGB {
			out[native.TermGBSA] = zero
		}
	}
	return out
}

// builder holds what the term builders share while one graph is built.
type builder struct {
	g     *graph.Graph
	dt    dtypes.DType
	batch int
	p     *params
	pos   vec // [N, B] per component
}

// vec is a 3-vector of nodes of equal shape.
type vec struct{ x, y, z *graph.Node }

func sub(a, b vec) vec {
	return vec{graph.Sub(a.x, b.x), graph.Sub(a.y, b.y), graph.Sub(a.z, b.z)}
}

func dot(a, b vec) *graph.Node {
	return graph.Add(graph.Add(graph.Mul(a.x, b.x), graph.Mul(a.y, b.y)), graph.Mul(a.z, b.z))
}

func cross(a, b vec) vec {
	return vec{
		graph.Sub(graph.Mul(a.y, b.z), graph.Mul(a.z, b.y)),
		graph.Sub(graph.Mul(a.z, b.x), graph.Mul(a.x, b.z)),
		graph.Sub(graph.Mul(a.x, b.y), graph.Mul(a.y, b.x)),
	}
}

// indices returns idx as a [K, 1] index node for Gather and ScatterSum.
func (b *builder) indices(idx []int32) *graph.Node {
	return graph.Reshape(graph.Const(b.g, idx), len(idx), 1)
}

// gather returns the positions of the atoms idx, each component [K, B].
func (b *builder) gather(idx *graph.Node, sorted bool) vec {
	return vec{graph.Gather(b.pos.x, idx, sorted), graph.Gather(b.pos.y, idx, sorted), graph.Gather(b.pos.z, idx, sorted)}
}

// perItem returns the constants v [K] broadcast to [K, B]: elementwise ops
// of equal shapes take the backend's fast path, broadcasting ones an
// iterator per element, so each constant is broadcast once.
func (b *builder) perItem(v []float64) *graph.Node {
	return graph.BroadcastToDims(graph.ConstAsDType(b.g, b.dt, v), len(v), b.batch)
}

func (b *builder) scalar(v float64) *graph.Node { return graph.Scalar(b.g, b.dt, v) }

// safeSqrt is √x for x > 0 and 0 elsewhere, with a zero (not NaN) gradient
// where x ≤ 0: the inner Where keeps Sqrt's derivative away from 0.
func (b *builder) safeSqrt(x *graph.Node) *graph.Node {
	zero := graph.ZerosLike(x)
	pos := graph.GreaterThan(x, zero)
	return graph.Where(pos, graph.Sqrt(graph.Where(pos, x, graph.OnesLike(x))), zero)
}

// bonds: E = K/2 (r - r0)².
func (b *builder) bonds() *graph.Node {
	p := b.p
	d := sub(b.gather(b.indices(p.bondI), false), b.gather(b.indices(p.bondJ), false))
	r := b.safeSqrt(dot(d, d))
	dr := graph.Sub(r, b.perItem(p.bondLen))
	return sumItems(graph.Mul(b.perItem(p.bondHalf), graph.Mul(dr, dr)))
}

// angles: E = K/2 (θ - θ0)², θ = atan2(|u×v|, u·v) (accurate at every
// angle, and the pure-Go backend has no Acos).
func (b *builder) angles() *graph.Node {
	p := b.p
	xj := b.gather(b.indices(p.angJ), false)
	u := sub(b.gather(b.indices(p.angI), false), xj)
	v := sub(b.gather(b.indices(p.angK), false), xj)
	c := cross(u, v)
	theta := graphops.Atan2(b.safeSqrt(dot(c, c)), dot(u, v))
	d := graph.Sub(theta, b.perItem(p.angTheta))
	return sumItems(graph.Mul(b.perItem(p.angHalfK), graph.Mul(d, d)))
}

// torsions: E = Σ K (1 + cos(nφ - φ0)), written as a constant plus
// Σ_k (A_k cos kφ + B_k sin kφ) with cos kφ and sin kφ from cos φ and sin φ
// by the angle-addition recurrence (no atan2). φ follows OpenMM's (IUPAC)
// convention: with b1 = x2-x1, b2 = x3-x2, b3 = x4-x3, m = b1×b2, n = b2×b3,
// cos φ = m·n/(|m||n|) and sin φ = |b2| b1·n/(|m||n|). Collinear atoms get
// φ = 0 and no force, like the CPU path.
func (b *builder) torsions() *graph.Node {
	p := b.p
	constant := graph.BroadcastToDims(b.scalar(p.torConst), b.batch)
	if len(p.torI) == 0 {
		return constant
	}
	x1 := b.gather(b.indices(p.torI), false)
	x2 := b.gather(b.indices(p.torJ), false)
	x3 := b.gather(b.indices(p.torK), false)
	x4 := b.gather(b.indices(p.torL), false)
	b1, b2, b3 := sub(x2, x1), sub(x3, x2), sub(x4, x3)
	m, n := cross(b1, b2), cross(b2, b3)
	mn := graph.Mul(dot(m, m), dot(n, n))
	zero := graph.ZerosLike(mn)
	ok := graph.GreaterThan(mn, zero)
	inv := graph.Where(ok, graph.Reciprocal(graph.Sqrt(graph.Where(ok, mn, graph.OnesLike(mn)))), zero)
	cos1 := graph.Where(ok, graph.Mul(dot(m, n), inv), graph.OnesLike(mn))
	sin1 := graph.Mul(graph.Mul(b.safeSqrt(dot(b2, b2)), dot(b1, n)), inv)
	var sum *graph.Node
	cn, sn := cos1, sin1
	for k := range p.torCos {
		if k > 0 {
			cn, sn = graph.Sub(graph.Mul(cn, cos1), graph.Mul(sn, sin1)), graph.Add(graph.Mul(sn, cos1), graph.Mul(cn, sin1))
		}
		if !anyNonZero(p.torCos[k]) && !anyNonZero(p.torSin[k]) {
			continue
		}
		t := graph.Add(graph.Mul(b.perItem(p.torCos[k]), cn), graph.Mul(b.perItem(p.torSin[k]), sn))
		if sum == nil {
			sum = t
		} else {
			sum = graph.Add(sum, t)
		}
	}
	if sum == nil {
		return constant
	}
	return graph.Add(constant, sumItems(sum))
}

// sumItems returns Σ_k x[k, b]: [K, B] → [B]. The backend accumulates a
// reduction sequentially, so a sum over the hundreds of thousands of pairs
// of a protein would lose about log10(K) digits; summing blocks of
// sumBlock items first and then the block sums keeps float32 energies
// near 1e-6 relative. (In float64 it changes nothing measurable.)
func sumItems(x *graph.Node) *graph.Node {
	k, b := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	q := k / sumBlock
	if q < 2 {
		return graph.ReduceSum(x, 0)
	}
	head := x
	if q*sumBlock < k {
		head = graph.SliceAxis(x, 0, graph.AxisRange(0, q*sumBlock))
	}
	s := graph.ReduceSum(graph.ReduceSum(graph.Reshape(head, q, sumBlock, b), 1), 0)
	if q*sumBlock < k {
		s = graph.Add(s, graph.ReduceSum(graph.SliceAxis(x, 0, graph.AxisRange(q*sumBlock, k)), 0))
	}
	return s
}

// sumBlock is the block length of sumItems.
const sumBlock = 256

func anyNonZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
}

// pairs returns the NonbondedForce and GBSAOBCForce energies [B]: Coulomb
// and Lennard-Jones over the pair list (exceptions carry their own
// parameters, excluded pairs zeros), and the OBC generalized Born energy
// with the ACE surface term (see package native for the formulas):
//
//	Ψ_i = ½ ρ_i Σ_{j≠i} T(r_ij; ρ_i, s_j)
//	1/B_i = 1/ρ_i - tanh(αΨ_i - βΨ_i² + γΨ_i³)/R_i
//	E_GB = Σ_i (½Pq_i²/B_i + ace_i/B_i⁶) + Σ_{i<j} P q_i q_j / √(r² + B_iB_j e^(-r²/(4B_iB_j)))
//
// All pairs i < j are evaluated once; the Born sums take both directions of
// each pair and scatter them onto their atoms.
func (b *builder) pairs() (enb, egb *graph.Node) {
	p := b.p
	pi, pj := b.indices(p.pairI), b.indices(p.pairJ)
	d := sub(b.gather(pi, true), b.gather(pj, false))
	r2 := dot(d, d)
	// GoMLX v0.26.0 has no gradient for Rsqrt: 1/√ is written out.
	r := graph.Sqrt(r2)
	rinv := graph.Reciprocal(r)
	rinv2 := graph.Mul(rinv, rinv)
	if p.hasNB {
		s2 := graph.Mul(b.perItem(p.sig2), rinv2)
		s6 := graph.Mul(graph.Mul(s2, s2), s2)
		lj := graph.Mul(b.perItem(p.eps4), graph.Mul(s6, graph.Sub(s6, graph.OnesLike(s6))))
		coul := graph.Mul(b.perItem(p.qq), rinv)
		enb = sumItems(graph.Add(lj, coul))
	}
	if !p.hasGB {
		return enb, nil
	}
	tij := b.hct(r, rinv, b.perItem(p.rhoI), b.perItem(p.fourInvRhoI), b.perItem(p.sJ))
	tji := b.hct(r, rinv, b.perItem(p.rhoJ), b.perItem(p.fourInvRhoJ), b.perItem(p.sI))
	zeros := graph.Zeros(b.g, shapes.Make(b.dt, p.n, b.batch))
	psi := graph.Add(graph.ScatterSum(zeros, pi, tij, true, false), graph.ScatterSum(zeros, pj, tji, false, false))
	rho := b.perItem(p.rho)
	psi = graph.Mul(graph.MulScalar(rho, 0.25), psi) // ½ρ times the sum of T, from the sums of 2T
	poly := graph.Mul(psi, graph.AddScalar(graph.Mul(psi, graph.AddScalar(graph.MulScalar(psi, obcGamma), -obcBeta)), obcAlpha))
	invB := graph.Sub(graph.Reciprocal(rho), graph.Div(graph.Tanh(poly), b.perItem(p.rad)))
	born := graph.Reciprocal(invB)
	invB2 := graph.Mul(invB, invB)
	invB6 := graph.Mul(graph.Mul(invB2, invB2), invB2)
	selfAce := graph.Add(graph.Mul(b.perItem(p.self), invB), graph.Mul(b.perItem(p.aceC), invB6))
	egb = sumItems(selfAce)

	bb := graph.Mul(graph.Gather(born, pi, true), graph.Gather(born, pj, false))
	ex := graph.Exp(graph.Neg(graph.Div(graph.MulScalar(r2, 0.25), bb)))
	gbPair := graph.Mul(b.perItem(p.gbqq), graph.Reciprocal(graph.Sqrt(graph.Add(r2, graph.Mul(bb, ex)))))
	egb = graph.Add(egb, sumItems(gbPair))
	return enb, egb
}

// hct is twice the HCT integral T(r; ρ, s) of OpenMM's GBSAOBCForce: the
// integral of 1/|x|⁴ over the part of the sphere of radius s at distance r
// that lies outside the sphere of radius ρ, zero when it lies inside:
//
//	a = max(ρ, |r - s|), b = r + s, l = 1/a, u = 1/b
//	T = l - u + ¼(u² - l²)(r - s²/r) + ½ log(a/b)/r  [+ 2(1/ρ - l) if ρ < s - r]
//	2T = (l - u)(2 - ½(l + u)(r - s²/r)) + log(a·u)/r  [+ 4/ρ - 4l]
//
// (the second form has a few graph ops less; on the pure-Go backend that
// did not change the measured cost). fourInvRho is 4/ρ. Every branch is finite at every r > 0, so
// plain Wheres keep the gradient finite.
func (b *builder) hct(r, rinv, rho, fourInvRho, s *graph.Node) *graph.Node {
	a := graph.Max(rho, graph.Abs(graph.Sub(r, s)))
	bsum := graph.Add(r, s)
	l, u := graph.Reciprocal(a), graph.Reciprocal(bsum)
	q := graph.Sub(r, graph.Mul(graph.Mul(s, s), rinv))
	t := graph.Mul(graph.Sub(l, u), graph.AddScalar(graph.MulScalar(graph.Mul(graph.Add(l, u), q), -0.5), 2))
	t = graph.Add(t, graph.Mul(rinv, graph.Log(graph.Mul(a, u))))
	zero := graph.ZerosLike(t)
	engulfed := graph.LessThan(rho, graph.Sub(s, r))
	t = graph.Add(t, graph.Where(engulfed, graph.Sub(fourInvRho, graph.MulScalar(l, 4)), zero))
	return graph.Where(graph.LessThan(rho, bsum), t, zero)
}
