//go:build amd64 && !purego

package native

//go:generate sh -c "cd asmgen && go run . -out ../pairs_avx512_amd64.s -go ../pairs_avx512_amd64.go"

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The AVX-512 kernels (pairs_avx512_amd64.s, written by asmgen) run the three
// O(N²) pair passes eight partners at a time. They are part of every amd64
// build and chosen at run time: avx512Available says whether this CPU and its
// operating system run them (AVX-512 F for the vector code, DQ for the
// conversions between float64 and int64 and the byte-wide mask operations;
// x/sys/cpu checks that the OS saves the vector state). Elsewhere the portable
// loops run.
var avx512Available = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// avx512NotRun says why the AVX-512 kernels do not run here ("" if they
// do).
func avx512NotRun() string {
	switch {
	case !cpu.X86.HasAVX512F:
		return "this CPU (or its OS) lacks AVX-512 F"
	case !cpu.X86.HasAVX512DQ:
		return "this CPU lacks AVX-512 DQ"
	}
	return ""
}

// vecDegree and vecStep define the vector tables: at most 16 intervals of
// width 1/32 in y (y < 0.5), degree 10, Taylor remainder below 1e-16 there.
const (
	vecDegree    = 10
	vecStep      = 1.0 / 32
	vecIntervals = 16
)

// fastY and fastDegree define the permute-free polynomial: an economized
// polynomial on [0, fastY] (error below 5e-16, see TestPolynomials). Most
// blocks of eight partners are far enough for all their y to lie below fastY
// (88% of them in folded HP35).
const (
	fastY      = 1.0 / 16
	fastDegree = 9
)

// newVecTable lays out the table of the function whose d-th Taylor
// coefficient at y0 is taylor(y0, d) on [0, yMax] for the kernels: interval
// k's coefficient d in lane k%8 of vector d of the first (k < 8) or second
// half, so that one two-register permute selects it, the centres as vector
// vecDegree+1, the number of intervals in use in every lane of vtM, and the
// permute-free polynomial in powers of y.
func newVecTable(yMax float64, taylor func(y0 float64, d int) float64) []float64 {
	m := min(int(yMax/vecStep)+1, vecIntervals)
	t := padded(vtWords)
	for l := range 8 {
		t[vtM+l] = math.Float64frombits(uint64(m))
	}
	for d, a := range powersOfY(economized(taylor, 0, fastY, fastDegree), fastY/2) {
		t[vtFast+d] = a
	}
	for k := range m {
		y0 := (float64(k) + 0.5) * vecStep
		for d := 0; d <= vecDegree+1; d++ {
			c := y0
			if d <= vecDegree {
				c = taylor(y0, d)
			}
			if k < 8 {
				t[vtLo+8*d+k] = c
			} else {
				t[vtHi+8*d+k-8] = c
			}
		}
	}
	return t
}

// powersOfY rewrites the polynomial Σ a_k (y-c)^k as Σ b_j y^j, which
// the kernels evaluate without subtracting the centre. For the economized
// polynomials (c = fastY/2 = 1/32) the terms a_k C(k,j) (-c)^(k-j) fall by a
// factor of about 1/32 each, so the rewriting costs no accuracy, and on
// [0, fastY] all powers of y are positive.
func powersOfY(a []float64, c float64) []float64 {
	b := make([]float64, len(a))
	for k := range a {
		f := 1.0 // C(k,j)·(-c)^(k-j)
		for j := k; j >= 0; j-- {
			b[j] += a[k] * f
			f *= -c * float64(j) / float64(k-j+1)
		}
	}
	return b
}

// kernelConsts are the constants of the kernels, 64-byte aligned.
var kernelConsts = func() []uint64 {
	buf := make([]uint64, numKernelConsts+8)
	off := 0
	if a := uintptr(unsafe.Pointer(&buf[0])) % 64; a != 0 {
		off = int(64-a) / 8
	}
	c := buf[off : off+numKernelConsts]
	setKernelConsts(c)
	return c
}()

// avxEnergy is what the kernels read of an Energy: the per-atom parameters
// in blocks of eight atoms (fields p*) and the vector tables.
type avxEnergy struct {
	p          []float64
	hTab, dTab []float64
}

func newAVXEnergy(e *Energy) *avxEnergy {
	a := &avxEnergy{p: padded(blocks(e.n) * blockWords)}
	set := func(f, i int, v float64) { a.p[at(f, i)] = v }
	if nb := e.nb; nb != nil {
		for i := range e.n {
			set(pCQ, i, nb.cq[i])
			set(pHS, i, nb.hs[i])
			set(pE4, i, nb.e4[i])
		}
	}
	if g := e.gb; g != nil {
		for i := range e.n {
			set(pQ, i, g.q[i])
			set(pPQ, i, g.pq[i])
			set(pRho, i, g.rho[i])
			set(pSR, i, g.sr[i])
			set(pS2, i, g.s2[i])
			set(pS3, i, g.s3[i])
			set(pHS3, i, g.hs3[i])
		}
		a.hTab = newVecTable(g.yMax, hTaylor)
		a.dTab = newVecTable(g.yMax, dTaylor)
	}
	return a
}

// blocks is the number of blocks of eight that hold n atoms.
func blocks(n int) int { return (n + 7) / 8 }

// at is the index of field f of atom i in a buffer of blocks.
func at(f, i int) int { return (i>>3)*blockWords + f*8 + (i & 7) }

// avxScratch is one worker's memory for the kernels: the workspace buffer
// (fields w*), the vector sums of each row and the exception lanes of the
// current row.
type avxScratch struct {
	args kernelArgs
	w    []float64
	rows []float64 // 6 vectors per row at most (fusedRowAVX512)
	excl []uint8
}

func newAVXScratch(e *Energy) *avxScratch {
	nb := blocks(e.n)
	s := &avxScratch{w: padded(nb * blockWords), rows: padded(6 * 8 * e.n), excl: make([]uint8, nb)}
	s.args = kernelArgs{w: &s.w[0], p: &e.avx.p[0], c: &kernelConsts[0], rows: &s.rows[0], excl: &s.excl[0],
		last: (nb - 1) * blockWords * 8, tail: 0xff >> ((8 - e.n%8) % 8)}
	if e.avx.hTab != nil {
		s.args.hTab, s.args.dTab = &e.avx.hTab[0], &e.avx.dTab[0]
	}
	return s
}

// load copies the positions into the workspace buffer.
func (s *avxScratch) load(w *workspace) {
	for i := range w.x {
		s.w[at(wX, i)] = w.x[i]
		s.w[at(wY, i)] = w.y[i]
		s.w[at(wZ, i)] = w.z[i]
	}
}

// clear zeroes field f of every block.
func (s *avxScratch) clear(fs ...int) {
	for b := 0; b < len(s.w); b += blockWords {
		for _, f := range fs {
			clear(s.w[b+f*8 : b+f*8+8])
		}
	}
}

// sum8 adds the eight values at s[k:k+8] in a fixed order.
func sum8(s []float64, k int) float64 {
	a := s[k : k+8 : k+8]
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

// bornSumsAVX is bornSums with the kernels.
func (g *gbsa) bornSumsAVX(w *workspace) {
	s, n := w.avx, len(g.q)
	s.clear(wPsi)
	for i := range n {
		bornSumsRowAVX512(&s.args, i)
	}
	psi := w.gb.psi[:n]
	for i := range n {
		psi[i] = s.w[at(wPsi, i)] + sum8(s.rows, 8*i)
	}
}

// bornForcePairsAVX is bornForcePairs with the kernels.
func (g *gbsa) bornForcePairsAVX(w *workspace) {
	s, n := w.avx, len(g.q)
	for i := range n {
		s.w[at(wDEdB, i)] = w.gb.dEdB[i]
	}
	s.clear(wFX, wFY, wFZ)
	for i := range n {
		bornForceRowAVX512(&s.args, i)
	}
	for i := range n {
		w.fx[i] += s.w[at(wFX, i)] + sum8(s.rows, 24*i)
		w.fy[i] += s.w[at(wFY, i)] + sum8(s.rows, 24*i+8)
		w.fz[i] += s.w[at(wFZ, i)] + sum8(s.rows, 24*i+16)
	}
}

// fusedAVX is fusedScalar with the kernels.
func (e *Energy) fusedAVX(w *workspace) (enb, egb float64) {
	s, n, nb, sc := w.avx, e.n, e.nb, &w.gb
	for i := range n {
		s.w[at(wBorn, i)] = sc.born[i]
		s.w[at(wInvB, i)] = sc.invB[i]
	}
	s.clear(wDEdB, wFX, wFY, wFZ)
	for i := range n {
		skips := nb.skip[nb.skipStart[i]:nb.skipStart[i+1]]
		for _, j := range skips {
			s.excl[j>>3] |= 1 << (j & 7)
		}
		fusedRowAVX512(&s.args, i)
		for _, j := range skips {
			s.excl[j>>3] = 0
		}
	}
	for i := range n {
		r := s.rows[48*i : 48*i+48]
		w.fx[i] += s.w[at(wFX, i)] + sum8(r, 0)
		w.fy[i] += s.w[at(wFY, i)] + sum8(r, 8)
		w.fz[i] += s.w[at(wFZ, i)] + sum8(r, 16)
		sc.dEdB[i] += s.w[at(wDEdB, i)] + sum8(r, 24)
		enb += sum8(r, 32)
		egb += sum8(r, 40)
	}
	return enb, egb
}
