//go:build goexperiment.simd && amd64

package native

// AVX-512 versions of the three O(N²) pair loops (Born sums, the fused
// Coulomb + Lennard-Jones + GB pair pass, Born forces), built only with
// GOEXPERIMENT=simd and used only on CPUs with AVX-512. Each takes atom i
// against eight partners j at a time, with the formulas of the portable loops:
// the tables of hcttable.go (with wider intervals, so that one two-register
// permute selects a coefficient, and a permute-free polynomial for the far
// pairs that dominate), expNeg's exponential, and IEEE division and square
// root.
//
// The kernels contain no scalar floating-point code. Go 1.26 compiles scalar
// float operations to legacy SSE instructions, and an SSE instruction after
// 512-bit code pays an AVX-SSE transition penalty (golang/go#80835); on the
// machines measured here a few of them per row made the vector loops slower
// than the scalar ones. So constants are loaded from memory, atom i's values
// are broadcast with a permute, per-row sums are stored as vectors and added
// up after the loop (also energies), pairs whose spheres overlap take a
// vector version of the general HCT formula (with a vector logarithm), and
// each kernel ends with VZEROUPPER before any scalar code runs.

import (
	"math"
	"simd/archsimd"
)

var simdAvailable = archsimd.X86.AVX512()

// vzeroupper clears the upper halves of the vector registers
// (vzeroupper_amd64.s), so that the scalar code after a kernel runs without
// transition penalties.
func vzeroupper()

// clearUpper clears the upper halves of the vector registers on CPUs with
// AVX. Go 1.26's runtime, in GOEXPERIMENT=simd builds, restores all vector
// registers at full width after an asynchronous preemption and leaves them
// dirty, and the scalar (legacy SSE) float code that runs next pays an
// AVX-SSE penalty until something clears them: measured here, the portable
// loops ran 40% slower (10.3 instead of 7.4 ms per HP35 conformation). The
// energy calls it before each conformation; the vector kernels end with it.
func clearUpper() {
	if hasAVX {
		vzeroupper()
	}
}

var hasAVX = archsimd.X86.AVX()

type vec = archsimd.Float64x8

// cvec is a constant vector kept in memory: loading it is a vector load,
// where a broadcast of a scalar constant may compile to SSE code.
type cvec [8]float64

func splatConst(v float64) *cvec {
	var c cvec
	for i := range c {
		c[i] = v
	}
	return &c
}

func (c *cvec) v() vec { return archsimd.LoadFloat64x8((*[8]float64)(c)) }

var (
	cOne       = splatConst(1)
	cQuarter   = splatConst(0.25)
	cMinusHalf = splatConst(-0.5)
	cMinusOne  = splatConst(-1)
	cEighth    = splatConst(0.125)
	cEight     = splatConst(8)
	cTwelve    = splatConst(12)
	cSix       = splatConst(6)
	cExpMax    = splatConst(700)
	cExpScale  = splatConst(8 * math.Log2E)
	cHalf      = splatConst(0.5)
	cLn2Hi     = splatConst(ln2Hi / 8)
	cLn2Lo     = splatConst(ln2Lo / 8)
	cInvStep   = splatConst(1 / vecStep)
	cFrac      = (*cvec)(&exp2Eighths)
	// cExp[c] = 1/c!, the Taylor coefficients of expNeg.
	cExp = func() (t [8]*cvec) {
		f := 1.0
		for c := range t {
			if c > 0 {
				f *= float64(c)
			}
			t[c] = splatConst(1 / f)
		}
		return t
	}()
)

// ld loads s[j:j+8]; the per-atom arrays have room for eight values past
// their length (see padded).
func ld(s []float64, j int) vec { return archsimd.LoadFloat64x8((*[8]float64)(s[j : j+8])) }

// st stores v into s[j:j+8].
func st(v vec, s []float64, j int) { v.Store((*[8]float64)(s[j : j+8])) }

// bc broadcasts s[i] to all lanes (a load and a permute: no SSE code).
func bc(s []float64, i int) vec { return ld(s, i).Permute(archsimd.Uint64x8{}) }

// recip and rsqrt are 1/x and 1/√x with IEEE division and square root.
// (The hardware estimates refined by Newton steps were no faster here.)
func recip(x vec) vec { return cOne.v().Div(x) }

func rsqrt(x vec) vec { return cOne.v().Div(x.Sqrt()) }

// icvec is an integer constant vector in memory.
type icvec [8]int64

func splatInt(v int64) *icvec {
	var c icvec
	for i := range c {
		c[i] = v
	}
	return &c
}

func (c *icvec) v() archsimd.Int64x8 { return archsimd.LoadInt64x8((*[8]int64)(c)) }

var (
	c52       = splatInt(52)
	c1023     = splatInt(1023)
	cMantMask = splatInt(1<<52 - 1)
	cOneBits  = splatInt(int64(math.Float64bits(1)))
	cSqrt2    = splatConst(math.Sqrt2)
	cTwo      = splatConst(2)
	cLn2HiF   = splatConst(ln2Hi)
	cLn2LoF   = splatConst(ln2Lo)
	// cLog[k] = 1/(2k+1), the series of atanh.
	cLog = func() (t [10]*cvec) {
		for k := range t {
			t[k] = splatConst(1 / float64(2*k+1))
		}
		return t
	}()
)

// vlog is the natural logarithm of positive normal x to a few ulp:
// x = 2^e·m with m in [√½, √2), log m = 2 atanh((m-1)/(m+1)) from its series
// (|t| ≤ 0.172, ten terms, truncation below 1e-17).
func vlog(x vec) vec {
	b := x.AsInt64x8()
	ef := b.ShiftRight(c52.v()).Sub(c1023.v()).ConvertToFloat64()
	// The mantissa with the exponent of 1: [1, 2). (Add, not Or: the bits
	// do not overlap, and Go 1.26 mis-encodes the And-Or pair it fuses
	// into VPTERNLOGQ with a memory operand.)
	m := b.And(cMantMask.v()).Add(cOneBits.v()).AsFloat64x8()
	big := m.Greater(cSqrt2.v())
	m = m.Mul(cHalf.v()).Merge(m, big)
	ef = ef.Add(cOne.v()).Merge(ef, big)
	t := m.Sub(cOne.v()).Mul(recip(m.Add(cOne.v())))
	t2 := t.Mul(t)
	p := cLog[9].v()
	for k := 8; k >= 0; k-- {
		p = p.MulAdd(t2, cLog[k].v())
	}
	return ef.MulAdd(cLn2HiF.v(), cTwo.v().Mul(t).MulAdd(p, ef.Mul(cLn2LoF.v())))
}

// hctVec is hct and hctDeriv (OpenMM's general formula, with a logarithm)
// for eight lanes: the vector loops use it in the blocks that hold pairs
// with overlapping spheres.
func hctVec(r2, rho, s vec) (t, hd vec) {
	one := cOne.v()
	r := r2.Sqrt()
	rinv := recip(r)
	rps := r.Add(s)
	// T = 0 where the sphere lies inside the atom; written as "not ρ ≥ r+s"
	// so that NaN lanes (r = 0) stay NaN, as in OpenMM.
	outside := archsimd.Mask64x8FromBits(^rho.GreaterEqual(rps).ToBits())
	rms := r.Sub(s)
	L := rho.Max(rms).Max(rms.Mul(cMinusOne.v())) // max(ρ, |r-s|)
	l, u := recip(L), recip(rps)
	lg := vlog(L.Mul(u)) // log(u/l)
	l2, u2 := l.Mul(l), u.Mul(u)
	d2 := l2.Sub(u2)
	s2r := s.Mul(s).Mul(rinv)
	t = l.Sub(u).Sub(cQuarter.v().Mul(r).Mul(d2)).Add(cHalf.v().Mul(rinv).Mul(lg)).Add(cQuarter.v().Mul(s2r).Mul(d2))
	engulfed := rho.Less(s.Sub(r))
	t = t.Add(cTwo.v().Mul(recip(rho).Sub(l)).Masked(engulfed)).Masked(outside)
	rinv2 := rinv.Mul(rinv)
	hd = cEighth.v().Mul(one.Add(s.Mul(s).Mul(rinv2))).Mul(d2).Add(cQuarter.v().Mul(lg).Mul(rinv2)).Mul(rinv).Masked(outside)
	return t, hd
}

// full extends a per-atom slice to its padded capacity.
func full(s []float64) []float64 { return s[:cap(s)] }

// The j loops run over blocks j..j+7 aligned to 8 (the per-atom arrays are
// 64-byte aligned, see padded, so no load straddles two cache lines): the
// first block of row i also holds atoms ≤ i, the last one padding.

// firstBlock is the aligned block that holds atom i+1.
func firstBlock(i int) int { return (i + 1) &^ 7 }

// lanes has a bit for each lane of block j that is a partner of atom i:
// i < j+l < n.
func lanes(i, j, n int) uint8 {
	b := uint8(0xff)
	if rem := n - j; rem < 8 {
		b = uint8(1)<<rem - 1
	}
	if lo := i + 1 - j; lo > 0 {
		b &^= uint8(1)<<lo - 1
	}
	return b
}

// vecDegree and vecStep define the vector tables: at most 16 intervals of
// width 1/32 in y (y < 0.5), degree 10, Taylor remainder below 1e-16 there.
const (
	vecDegree    = 10
	vecStep      = 1.0 / 32
	vecIntervals = 16
)

// vecTable holds coefficient d of intervals 0-7 in lo[d] and of intervals
// 8-15 in hi[d]; index vecDegree+1 holds the centres. Most blocks of eight
// partners are far enough for all their y to lie below fastY (88% of them in
// folded HP35): they take one polynomial about fastY/2, fast[d], without the
// permutes.
type vecTable struct {
	lo, hi [vecDegree + 2]cvec
	m      [8]uint64 // the number of intervals in use, in every lane
	fast   [fastDegree + 1]cvec
}

// fastY and fastDegree define the permute-free polynomial: an economized
// polynomial on [0, fastY] (error below 5e-16, see TestPolynomials).
const (
	fastY      = 1.0 / 16
	fastDegree = 9
)

var cFastY, cFastCentre = splatConst(fastY), splatConst(fastY / 2)

type vecTables struct{ h, d *vecTable }

func newVecTables(yMax float64) *vecTables {
	return &vecTables{h: newVecTable(yMax, hTaylor), d: newVecTable(yMax, dTaylor)}
}

func newVecTable(yMax float64, taylor func(y0 float64, d int) float64) *vecTable {
	m := min(int(yMax/vecStep)+1, vecIntervals)
	t := &vecTable{}
	for l := range t.m {
		t.m[l] = uint64(m)
	}
	for d, a := range economized(taylor, 0, fastY, fastDegree) {
		t.fast[d] = *splatConst(a)
	}
	for k := range m {
		y0 := (float64(k) + 0.5) * vecStep
		for d := 0; d <= vecDegree+1; d++ {
			c := y0
			if d <= vecDegree {
				c = taylor(y0, d)
			}
			if k < 8 {
				t.lo[d][k] = c
			} else {
				t.hi[d][k-8] = c
			}
		}
	}
	return t
}

// index returns the interval of each lane's y and the lanes whose
// interval is in the table.
func (t *vecTable) index(y vec) (archsimd.Uint64x8, archsimd.Mask64x8) {
	k := y.Mul(cInvStep.v()).ConvertToInt64().AsUint64x8()
	return k, k.Less(archsimd.LoadUint64x8(&t.m))
}

// eval evaluates the table at y; k is the interval of each lane.
func (t *vecTable) eval(k archsimd.Uint64x8, y vec) vec {
	if y.Less(cFastY.v()).ToBits() == 0xff {
		// Estrin's scheme: the same work as Horner's in a dependency
		// chain of depth 5 instead of 9.
		u := y.Sub(cFastCentre.v())
		p := t.fast[fastDegree].v()
		for d := fastDegree - 1; d >= 0; d-- {
			p = p.MulAdd(u, t.fast[d].v())
		}
		return p
	}
	u := y.Sub(t.lo[vecDegree+1].v().ConcatPermute(t.hi[vecDegree+1].v(), k))
	p := t.lo[vecDegree].v().ConcatPermute(t.hi[vecDegree].v(), k)
	for d := vecDegree - 1; d >= 0; d-- {
		p = p.MulAdd(u, t.lo[d].v().ConcatPermute(t.hi[d].v(), k))
	}
	return p
}

// simdScratch is the workspace of the vector kernels.
type simdScratch struct {
	rows []float64 // per-row vector sums, 8 values per row and quantity
}

// newSIMDScratch allocates the scratch of the kernels for n atoms (at most
// four per-row quantities, in fusedSIMD).
func newSIMDScratch(n int) simdScratch { return simdScratch{rows: make([]float64, 4*8*n)} }

func (w *workspace) simdRows(n, quantities int) []float64 {
	if len(w.vs.rows) < n*quantities*8 {
		w.vs.rows = make([]float64, n*quantities*8) // not reached after newSIMDScratch
	}
	return w.vs.rows
}

// sum8 adds the eight values at s[k:k+8] in a fixed order (scalar code:
// call it only after vzeroupper).
func sum8(s []float64, k int) float64 {
	a := s[k : k+8 : k+8]
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

// bornSumsSIMD is bornSums with eight partners at a time.
func (g *gbsa) bornSumsSIMD(w *workspace) {
	n := len(g.q)
	x, y, z := full(w.x), full(w.y), full(w.z)
	psi := full(w.gb.psi)
	rho, sr, s2, s3 := full(g.rho), full(g.sr), full(g.s2), full(g.s3)
	rows := w.simdRows(n, 1)
	t := g.vec.h
	clear(psi)
	one := cOne.v()
	for i := range n {
		xi, yi, zi := bc(x, i), bc(y, i), bc(z, i)
		rhoi, si, s2i, s3i := bc(rho, i), bc(sr, i), bc(s2, i), bc(s3, i)
		var acc vec
		for j := firstBlock(i); j < n; j += 8 {
			valid := lanes(i, j, n)
			vm := archsimd.Mask64x8FromBits(valid)
			dx, dy, dz := xi.Sub(ld(x, j)), yi.Sub(ld(y, j)), zi.Sub(ld(z, j))
			r2 := dz.MulAdd(dz, dy.MulAdd(dy, dx.Mul(dx)))
			if valid != 0xff {
				r2 = r2.Merge(one, vm)
			}
			rinv2 := recip(r2)
			rinv4 := rinv2.Mul(rinv2)

			// i's sum over the spheres of the j.
			c := rhoi.Add(ld(sr, j))
			yij := ld(s2, j).Mul(rinv2)
			k, in := t.index(yij)
			far := r2.GreaterEqual(c.Mul(c)).And(in).And(vm)
			acc = ld(s3, j).Mul(rinv4).Mul(t.eval(k, yij)).Masked(far).Add(acc)

			// The j's sums over the sphere of i.
			c = ld(rho, j).Add(si)
			yji := s2i.Mul(rinv2)
			k, in = t.index(yji)
			far2 := r2.GreaterEqual(c.Mul(c)).And(in).And(vm)
			st(s3i.Mul(rinv4).Mul(t.eval(k, yji)).Masked(far2).Add(ld(psi, j)), psi, j)

			// Lanes with overlapping spheres (or beyond the table)
			// take the general formula.
			if near := ^far.ToBits() & valid; near != 0 {
				tv, _ := hctVec(r2, rhoi, ld(sr, j))
				acc = tv.Masked(archsimd.Mask64x8FromBits(near)).Add(acc)
			}
			if near := ^far2.ToBits() & valid; near != 0 {
				tv, _ := hctVec(r2, ld(rho, j), si)
				st(tv.Masked(archsimd.Mask64x8FromBits(near)).Add(ld(psi, j)), psi, j)
			}
		}
		st(acc, rows, 8*i)
	}
	vzeroupper()
	for i := range n {
		psi[i] += sum8(rows, 8*i)
	}
}

// bornForcePairsSIMD is bornForcePairs with eight partners at a time.
func (g *gbsa) bornForcePairsSIMD(w *workspace) {
	n := len(g.q)
	x, y, z := full(w.x), full(w.y), full(w.z)
	fx, fy, fz := full(w.fx), full(w.fy), full(w.fz)
	dEdB := full(w.gb.dEdB)
	rho, sr, s2, hs3 := full(g.rho), full(g.sr), full(g.s2), full(g.hs3)
	rows := w.simdRows(n, 3)
	t := g.vec.d
	one := cOne.v()
	for i := range n {
		xi, yi, zi := bc(x, i), bc(y, i), bc(z, i)
		rhoi, si, s2i, hs3i, ci := bc(rho, i), bc(sr, i), bc(s2, i), bc(hs3, i), bc(dEdB, i)
		var fxi, fyi, fzi vec
		for j := firstBlock(i); j < n; j += 8 {
			valid := lanes(i, j, n)
			vm := archsimd.Mask64x8FromBits(valid)
			dx, dy, dz := xi.Sub(ld(x, j)), yi.Sub(ld(y, j)), zi.Sub(ld(z, j))
			r2 := dz.MulAdd(dz, dy.MulAdd(dy, dx.Mul(dx)))
			if valid != 0xff {
				r2 = r2.Merge(one, vm)
			}
			rinv2 := recip(r2)
			rinv6 := rinv2.Mul(rinv2).Mul(rinv2)

			c := rhoi.Add(ld(sr, j))
			yij := ld(s2, j).Mul(rinv2)
			k, in := t.index(yij)
			far := r2.GreaterEqual(c.Mul(c)).And(in).And(vm)
			gr := ci.Mul(ld(hs3, j)).Mul(rinv6).Mul(t.eval(k, yij)).Masked(far)

			c = ld(rho, j).Add(si)
			yji := s2i.Mul(rinv2)
			k, in = t.index(yji)
			far2 := r2.GreaterEqual(c.Mul(c)).And(in).And(vm)
			gr = ld(dEdB, j).Mul(hs3i).Mul(rinv6).Mul(t.eval(k, yji)).Masked(far2).Add(gr)

			if near := ^far.ToBits() & valid; near != 0 {
				_, hd := hctVec(r2, rhoi, ld(sr, j))
				gr = ci.Mul(hd).Masked(archsimd.Mask64x8FromBits(near)).Add(gr)
			}
			if near := ^far2.ToBits() & valid; near != 0 {
				_, hd := hctVec(r2, ld(rho, j), si)
				gr = ld(dEdB, j).Mul(hd).Masked(archsimd.Mask64x8FromBits(near)).Add(gr)
			}
			fxi, fyi, fzi = gr.MulAdd(dx, fxi), gr.MulAdd(dy, fyi), gr.MulAdd(dz, fzi)
			st(ld(fx, j).Sub(gr.Mul(dx)), fx, j)
			st(ld(fy, j).Sub(gr.Mul(dy)), fy, j)
			st(ld(fz, j).Sub(gr.Mul(dz)), fz, j)
		}
		st(fxi, rows, 24*i)
		st(fyi, rows, 24*i+8)
		st(fzi, rows, 24*i+16)
	}
	vzeroupper()
	for i := range n {
		fx[i] += sum8(rows, 24*i)
		fy[i] += sum8(rows, 24*i+8)
		fz[i] += sum8(rows, 24*i+16)
	}
}

// fusedSIMD is the pair pass of nonbondedGB (fusedScalar) with eight
// partners at a time: every pair j > i gets its GB energy, and the pairs
// that are not exceptions also Coulomb and Lennard-Jones.
func (e *Energy) fusedSIMD(w *workspace) (enb, egb float64) {
	nb, g, sc := e.nb, e.gb, &w.gb
	n := e.n
	x, y, z := full(w.x), full(w.y), full(w.z)
	fx, fy, fz := full(w.fx), full(w.fy), full(w.fz)
	cq, hs, e4 := full(nb.cq), full(nb.hs), full(nb.e4)
	born, invB, dEdB, q, pq := full(sc.born), full(sc.invB), full(sc.dEdB), full(g.q), full(g.pq)
	rows := w.simdRows(n, 4)
	one := cOne.v()
	var accNB, accGB vec
	for i := range n {
		xi, yi, zi := bc(x, i), bc(y, i), bc(z, i)
		cqi, hsi, e4i := bc(cq, i), bc(hs, i), bc(e4, i)
		bi, qi4, pqi := bc(born, i), bc(invB, i).Mul(cQuarter.v()), bc(pq, i)
		var fxi, fyi, fzi, dbi vec
		skips := nb.skip[nb.skipStart[i]:nb.skipStart[i+1]]
		p := 0
		for j := firstBlock(i); j < n; j += 8 {
			valid := lanes(i, j, n)
			// Exceptions in this block lose their Coulomb and LJ
			// terms here (nonbonded.exceptions adds theirs).
			var excl uint8
			for p < len(skips) && int(skips[p]) < j+8 {
				excl |= 1 << (int(skips[p]) - j)
				p++
			}
			dx, dy, dz := xi.Sub(ld(x, j)), yi.Sub(ld(y, j)), zi.Sub(ld(z, j))
			r2 := dz.MulAdd(dz, dy.MulAdd(dy, dx.Mul(dx)))
			if valid != 0xff {
				// Lanes that are not partners (atoms ≤ i, padding)
				// get a harmless distance and, below, no share.
				r2 = r2.Merge(one, archsimd.Mask64x8FromBits(valid))
			}

			// Coulomb and Lennard-Jones.
			rinv := rsqrt(r2)
			inv2 := rinv.Mul(rinv)
			sig := hsi.Add(ld(hs, j))
			s2 := sig.Mul(sig).Mul(inv2)
			s6 := s2.Mul(s2).Mul(s2)
			lj6 := e4i.Mul(ld(e4, j)).Mul(s6)
			lj12 := lj6.Mul(s6)
			ec := cqi.Mul(ld(cq, j)).Mul(rinv)
			enbv := lj12.Sub(lj6).Add(ec)
			gr := cTwelve.v().Mul(lj12).Sub(cSix.v().Mul(lj6)).Add(ec).Mul(inv2)
			if keepBits := valid &^ excl; keepBits != 0xff {
				keep := archsimd.Mask64x8FromBits(keepBits)
				enbv, gr = enbv.Masked(keep), gr.Masked(keep)
			}
			accNB = accNB.Add(enbv)

			// Generalized Born; e^(-d) as in expNeg, with 2^(-k/8)
			// from a permute of 2^(-(k mod 8)/8) and a scale by
			// 2^(-floor(k/8)).
			bj := ld(born, j)
			d := r2.Mul(qi4).Mul(ld(invB, j))
			dc := d.Min(cExpMax.v())
			ekf := dc.MulAdd(cExpScale.v(), cHalf.v()).FloorScaled(0)
			er := ekf.MulAdd(cLn2Hi.v(), dc.Mul(cMinusOne.v())).Add(ekf.Mul(cLn2Lo.v()))
			ep := cExp[7].v()
			for c := 6; c >= 0; c-- {
				ep = ep.MulAdd(er, cExp[c].v())
			}
			kq := ekf.Mul(cEighth.v()).FloorScaled(0)
			frac := cFrac.v().Permute(ekf.Sub(kq.Mul(cEight.v())).ConvertToInt64().AsUint64x8())
			ex := ep.Mul(frac).Scale(kq.Mul(cMinusOne.v()))
			finv := rsqrt(bi.Mul(bj).MulAdd(ex, r2))
			eg := pqi.Mul(ld(q, j)).Mul(finv)
			if valid != 0xff {
				eg = eg.Masked(archsimd.Mask64x8FromBits(valid))
			}
			accGB = accGB.Add(eg)
			h := eg.Mul(finv).Mul(finv)
			dA := h.Mul(ex).Mul(one.Add(d)).Mul(cMinusHalf.v())
			dbi = dA.MulAdd(bj, dbi)
			st(dA.MulAdd(bi, ld(dEdB, j)), dEdB, j)
			gr = h.Mul(one.Sub(cQuarter.v().Mul(ex))).Add(gr)

			fxi, fyi, fzi = gr.MulAdd(dx, fxi), gr.MulAdd(dy, fyi), gr.MulAdd(dz, fzi)
			st(ld(fx, j).Sub(gr.Mul(dx)), fx, j)
			st(ld(fy, j).Sub(gr.Mul(dy)), fy, j)
			st(ld(fz, j).Sub(gr.Mul(dz)), fz, j)
		}
		st(fxi, rows, 32*i)
		st(fyi, rows, 32*i+8)
		st(fzi, rows, 32*i+16)
		st(dbi, rows, 32*i+24)
	}
	var sums [16]float64
	st(accNB, sums[:], 0)
	st(accGB, sums[:], 8)
	vzeroupper()
	for i := range n {
		fx[i] += sum8(rows, 32*i)
		fy[i] += sum8(rows, 32*i+8)
		fz[i] += sum8(rows, 32*i+16)
		dEdB[i] += sum8(rows, 32*i+24)
	}
	return sum8(sums[:], 0), sum8(sums[:], 8)
}
