// Command asmgen writes the AVX-512 pair kernels of package native with avo
// (github.com/mmcloughlin/avo): the assembly, pairs_avx512_amd64.s, and
// pairs_avx512_amd64.go with their Go declarations, the memory layout they
// read and the constants they use. It is a module of its own so that package
// native and its users do not depend on avo.
//
//	cd energy/native && go generate
//
// runs it; TestGeneratedKernels in package native checks that the files in
// the tree are what it writes.
//
// The kernels are package native's portable pair loops (gbsa.go, pairs.go)
// eight partners at a time, with the same formulas: the tables of
// hcttable.go (with wider intervals so that one two-register permute selects
// a coefficient, and a permute-free polynomial for the far pairs that
// dominate), expNeg's exponential, IEEE division in the Born passes and
// Newton-refined estimates of 1/√x and 1/x elsewhere (within 2 ulp).
// Each call evaluates one row i of the pair matrix (the pairs (i, j > i)),
// so that the goroutine can be preempted between rows: Go never preempts
// assembly. The row's own sums are stored as vectors and added up by the Go
// caller in a fixed order.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

var goOut = flag.String("go", "", "write the Go declarations, layout and constants to `file`")

// Every per-atom quantity the kernels read or write lives in one of two
// buffers of blocks of eight atoms: a block holds eight values of each field
// in turn (64 bytes a field), so one base register and one running offset
// address every field of a block. The workspace buffer holds positions, the
// pair passes' share of the forces and the generalized Born scratch; the
// parameter buffer holds the per-atom constants of the System.
var (
	wFields = []field{
		{"wX", "x"}, {"wY", "y"}, {"wZ", "z"},
		{"wFX", "force x, the partners' share of a pair pass"}, {"wFY", "force y"}, {"wFZ", "force z"},
		{"wPsi", "HCT sum, the partners' share"}, {"wBorn", "Born radius B"}, {"wInvB", "1/B"},
		{"wDEdB", "dE/dB: the partners' share in the pair pass, then dE/dΨ·ρ in the Born-force pass"},
	}
	pFields = []field{
		{"pCQ", "charge·√(1/(4πε₀))"}, {"pHS", "σ/2"}, {"pE4", "2√ε"},
		{"pQ", "GB charge"}, {"pPQ", "P·charge"}, {"pRho", "offset radius ρ"}, {"pSR", "scaled offset radius s"},
		{"pS2", "s²"}, {"pS3", "s³"}, {"pHS3", "s³/2"},
	}
)

type field struct{ name, doc string }

// blockBytes is the size of one block of eight atoms in either buffer.
var blockBytes = 64 * max(len(wFields), len(pFields))

func fieldIndex(fs []field, name string) int {
	for k, f := range fs {
		if f.name == name {
			return k
		}
	}
	log.Fatalf("no field %s", name)
	return 0
}

// The vector tables of hcttable.go's h(y) and h(y) + 2/(1-y)²: vecDegree+2
// vectors of the coefficients of intervals 0-7 (coefficient d of interval
// l in lane l; the last vector holds the centres), as many of intervals
// 8-15, the number of intervals in use in all eight lanes, and the
// coefficients of the permute-free polynomial about fastY/2.
const (
	vecDegree  = 10
	fastDegree = 9
	vtLo       = 0
	vtHi       = vtLo + 8*(vecDegree+2)
	vtM        = vtHi + 8*(vecDegree+2)
	vtFast     = vtM + 8
	vtWords    = vtFast + fastDegree + 1
)

// The arguments of a row kernel: a pointer to kernelArgs and the row i.
var argFields = []field{
	{"w", "workspace buffer"}, {"p", "parameter buffer"}, {"c", "kernelConsts"},
	{"hTab", "vector table of h"}, {"dTab", "vector table of h + 2/(1-y)²"},
	{"rows", "per-row vector sums"}, {"excl", "per block of the row: bit l set if atom 8·block+l is an exception partner of i"},
	{"last", "byte offset of the last block"}, {"tail", "lanes of the last block that hold atoms"},
}

func argOffset(name string) int {
	for k, f := range argFields {
		if f.name == name {
			return 8 * k
		}
	}
	log.Fatalf("no argument %s", name)
	return 0
}

// Constants, 8 bytes each, indexed from kernelConsts: the vector ones
// first (64-byte aligned), then scalars that the kernels broadcast.
type constant struct {
	name, expr string // Go expression of the uint64 bits
}

var consts = func() []constant {
	var c []constant
	for k := range 8 {
		c = append(c, constant{fmt.Sprintf("kcExp2Eighths%d", k), fmt.Sprintf("math.Float64bits(exp2Eighths[%d])", k)})
	}
	for lo := range 8 {
		c = append(c, constant{fmt.Sprintf("kcFirstMask%d", lo), fmt.Sprintf("%#x", (0xff<<lo)&0xff)})
	}
	f := func(name, expr string) { c = append(c, constant{name, "math.Float64bits(" + expr + ")"}) }
	f("kcOne", "1")
	f("kcHalf", "0.5")
	f("kcQuarter", "0.25")
	f("kcEighth", "0.125")
	f("kcMinusHalf", "-0.5")
	f("kcMinusOne", "-1")
	f("kcTwo", "2")
	f("kcMinusSix", "-6")
	f("kcTwelve", "12")
	f("kcExpMax", "700")
	f("kcExpScale", "8 * math.Log2E")
	f("kcLn2Hi8", "ln2Hi / 8")
	f("kcLn2Lo8", "ln2Lo / 8")
	f("kcLn2Hi", "ln2Hi")
	f("kcLn2Lo", "ln2Lo")
	f("kcInvStep", "1 / vecStep")
	f("kcFastY", "fastY")
	f("kcSqrt2", "math.Sqrt2")
	// (-1)^k/k!: e^(-x) = Σ kcExpNeg[k] x^k.
	fact := 1
	for k := range 8 {
		if k > 0 {
			fact *= k
		}
		f(fmt.Sprintf("kcExpNeg%d", k), fmt.Sprintf("%s1.0 / %d", map[bool]string{true: "-", false: ""}[k%2 == 1], fact))
	}
	for k := range 10 {
		f(fmt.Sprintf("kcLog%d", k), fmt.Sprintf("1.0 / %d", 2*k+1))
	}
	c = append(c, constant{"kcExp1023", "1023"}, constant{"kcMantMask", "1<<52 - 1"}, constant{"kcOneBits", "math.Float64bits(1)"})
	return c
}()

// Comparison predicates of VCMPPD.
const (
	cmpLT     = 0x11 // less than, ordered, quiet
	cmpNGE    = 0x19 // not greater or equal, unordered, quiet
	cmpGE     = 0x1d // greater or equal, ordered, quiet
	cmpGT     = 0x1e // greater than, ordered, quiet
	ucmpLT    = 0x01 // VPCMPUQ: less than
	nearestRS = 0x08 // VRNDSCALEPD: round to nearest (even), no precision exception
)

// gen emits one function; c holds the address of kernelConsts.
type gen struct {
	c      reg.GPVirtual
	labels int
}

func (g *gen) cst(name string) Mem {
	for k, c := range consts {
		if c.name == name {
			return Mem{Base: g.c, Disp: 8 * k}
		}
	}
	log.Fatalf("no constant %s", name)
	return Mem{}
}

func (g *gen) label(s string) string {
	g.labels++
	return fmt.Sprintf("%s_%d", s, g.labels)
}

// bcst returns a register holding constant name in every lane.
func (g *gen) bcst(name string) reg.VecVirtual {
	z := ZMM()
	VBROADCASTSD(g.cst(name), z)
	return z
}

// reg returns op in a register, loading it if it is memory.
func inReg(op Op) reg.VecVirtual {
	if z, ok := op.(reg.VecVirtual); ok {
		return z
	}
	z := ZMM()
	VMOVUPD(op, z)
	return z
}

// recip returns 1/x with IEEE division. (Where the kernels divide once
// per block, the estimate refined by Newton steps was no faster.)
func (g *gen) recip(x Op) reg.VecVirtual {
	r := g.bcst("kcOne")
	VDIVPD(x, r, r)
	return r
}

// fastRecip returns 1/x for positive normal x from the 14-bit estimate and
// two Newton steps r += r·(1 - x·r) (within 2 ulp; zero gives NaN).
func (g *gen) fastRecip(x reg.VecVirtual) reg.VecVirtual {
	r, e := ZMM(), ZMM()
	VRCP14PD(x, r)
	for range 2 {
		VBROADCASTSD(g.cst("kcOne"), e)
		VFNMADD231PD(r, x, e) // 1 - x·r
		VFMADD231PD(e, r, r)
	}
	return r
}

// fastRsqrt returns 1/√x for positive normal x from the 14-bit estimate
// and two Newton steps y += y·(½ - (x/2)·y²) (within 2 ulp; zero gives
// NaN): eight FMA-unit operations in place of a square root and a division
// that hold the divider for about 30 cycles. The fused pass needs two per
// block, and the divider limited it: this made the pass 20% faster.
func (g *gen) fastRsqrt(x reg.VecVirtual) reg.VecVirtual {
	y, hx, t, e := ZMM(), ZMM(), ZMM(), ZMM()
	VRSQRT14PD(x, y)
	VMULPD_BCST(g.cst("kcHalf"), x, hx)
	for range 2 {
		VMULPD(y, hx, t)
		VBROADCASTSD(g.cst("kcHalf"), e)
		VFNMADD231PD(y, t, e) // ½ - (x/2)·y²
		VFMADD231PD(e, y, y)
	}
	return y
}

// evalTable returns table tab's polynomial at y: the permute-free one
// when the eight y lie below fastY (most blocks; lanes in ignore do not
// count), else the one of each lane's interval; then it also removes from
// far the lanes whose interval is beyond the table.
func (g *gen) evalTable(tab reg.GPVirtual, y reg.VecVirtual, far, ignore reg.OpmaskVirtual) reg.VecVirtual {
	p, u, t := ZMM(), ZMM(), ZMM()
	fast := K()
	VCMPPD_BCST(U8(cmpLT), g.cst("kcFastY"), y, fast)
	KORTESTB(fast, ignore)
	lFast, lDone := g.label("fast"), g.label("done")
	JCS(LabelRef(lFast))
	k := ZMM()
	VMULPD_BCST(g.cst("kcInvStep"), y, k)
	VCVTTPD2QQ(k, k)
	VPCMPUQ(U8(ucmpLT), Mem{Base: tab, Disp: 8 * vtM}, k, far, far)
	coef := func(d int, dst reg.VecVirtual) {
		VMOVUPD(Mem{Base: tab, Disp: 8 * (vtLo + 8*d)}, dst)
		VPERMT2PD(Mem{Base: tab, Disp: 8 * (vtHi + 8*d)}, k, dst)
	}
	coef(vecDegree+1, u) // the centres
	VSUBPD(u, y, u)
	coef(vecDegree, p)
	for d := vecDegree - 1; d >= 0; d-- {
		coef(d, t)
		VFMADD213PD(t, u, p)
	}
	JMP(LabelRef(lDone))
	Label(lFast)
	VBROADCASTSD(Mem{Base: tab, Disp: 8 * (vtFast + fastDegree)}, p)
	for d := fastDegree - 1; d >= 0; d-- {
		VFMADD213PD_BCST(Mem{Base: tab, Disp: 8 * (vtFast + d)}, y, p)
	}
	Label(lDone)
	return p
}

// vlog returns the natural logarithm of positive normal x to a few ulp:
// x = 2^e·m with m in [√½, √2), log m = 2 atanh((m-1)/(m+1)) from its
// series (|t| ≤ 0.172, ten terms, truncation below 1e-17).
func (g *gen) vlog(x reg.VecVirtual) reg.VecVirtual {
	e, ef, m := ZMM(), ZMM(), ZMM()
	VPSRLQ(U8(52), x, e)
	VPSUBQ_BCST(g.cst("kcExp1023"), e, e)
	VCVTQQ2PD(e, ef)
	VPANDQ_BCST(g.cst("kcMantMask"), x, m)
	VPADDQ_BCST(g.cst("kcOneBits"), m, m) // the mantissa with the exponent of 1: [1, 2)
	big := K()
	VCMPPD_BCST(U8(cmpGT), g.cst("kcSqrt2"), m, big)
	VMULPD_BCST(g.cst("kcHalf"), m, big, m)
	VADDPD_BCST(g.cst("kcOne"), ef, big, ef)
	a, b := ZMM(), ZMM()
	VSUBPD_BCST(g.cst("kcOne"), m, a)
	VADDPD_BCST(g.cst("kcOne"), m, b)
	t := g.fastRecip(b)
	VMULPD(t, a, t)
	t2 := ZMM()
	VMULPD(t, t, t2)
	p := g.bcst("kcLog9")
	for k := 8; k >= 0; k-- {
		VFMADD213PD_BCST(g.cst(fmt.Sprintf("kcLog%d", k)), t2, p)
	}
	res, tt := ZMM(), ZMM()
	VMULPD_BCST(g.cst("kcLn2Lo"), ef, res)
	VADDPD(t, t, tt)
	VFMADD231PD(p, tt, res)
	VFMADD231PD_BCST(g.cst("kcLn2Hi"), ef, res)
	return res
}

// hct returns the HCT integral T(r; ρ, s) (wantT) or -(dT/dr)/(2r) of
// OpenMM's general formula for eight pairs at squared distances r2: the
// kernels use it for the lanes whose spheres overlap (see hct and
// hctDeriv in gbsa.go). Its reciprocals and square root are Newton-refined
// estimates: with IEEE division and square root, the blocks that take it
// (a few percent) held the divider for about 200 cycles each.
func (g *gen) hct(r2 reg.VecVirtual, rhoOp, sOp Op, wantT bool) reg.VecVirtual {
	rho, s := inReg(rhoOp), inReg(sOp)
	rinv, r := g.fastRsqrt(r2), ZMM()
	VMULPD(rinv, r2, r)
	rps := ZMM()
	VADDPD(s, r, rps)
	// T = 0 where the sphere lies inside the atom; written as "not ρ ≥
	// r+s" so that NaN lanes (r = 0) stay NaN, as in OpenMM.
	outside := K()
	VCMPPD(U8(cmpNGE), rps, rho, outside)
	rms, nrms, L := ZMM(), ZMM(), ZMM()
	VSUBPD(s, r, rms)
	VMULPD_BCST(g.cst("kcMinusOne"), rms, nrms)
	VMAXPD(rms, rho, L)
	VMAXPD(nrms, L, L) // max(ρ, |r-s|)
	l, u := g.fastRecip(L), g.fastRecip(rps)
	x := ZMM()
	VMULPD(u, L, x)
	lg := g.vlog(x) // log(u/l)
	l2, u2, d2 := ZMM(), ZMM(), ZMM()
	VMULPD(l, l, l2)
	VMULPD(u, u, u2)
	VSUBPD(u2, l2, d2)
	if wantT {
		t, a := ZMM(), ZMM()
		VSUBPD(u, l, t)
		VMULPD_BCST(g.cst("kcQuarter"), r, a)
		VMULPD(d2, a, a)
		VSUBPD(a, t, t)
		VMULPD_BCST(g.cst("kcHalf"), rinv, a)
		VMULPD(lg, a, a)
		VADDPD(a, t, t)
		VMULPD(s, s, a)
		VMULPD(rinv, a, a)
		VMULPD_BCST(g.cst("kcQuarter"), a, a)
		VMULPD(d2, a, a)
		VADDPD(a, t, t)
		// The atom lies inside the other sphere: add the part of the
		// integral between ρ and s - r.
		smr := ZMM()
		VSUBPD(r, s, smr)
		engulfed := K()
		VCMPPD(U8(cmpLT), smr, rho, engulfed)
		e := g.fastRecip(rho)
		VSUBPD(l, e, e)
		VMULPD_BCST(g.cst("kcTwo"), e, e)
		VADDPD(e, t, engulfed, t)
		VMOVAPD_Z(t, outside, t)
		return t
	}
	rinv2, a, b := ZMM(), ZMM(), ZMM()
	VMULPD(rinv, rinv, rinv2)
	VMULPD(s, s, a)
	VMULPD(rinv2, a, a)
	VADDPD_BCST(g.cst("kcOne"), a, a)
	VMULPD_BCST(g.cst("kcEighth"), a, a)
	VMULPD(d2, a, a)
	VMULPD_BCST(g.cst("kcQuarter"), lg, b)
	VMULPD(rinv2, b, b)
	VADDPD(b, a, a)
	VMULPD(rinv, a, a)
	VMOVAPD_Z(a, outside, a)
	return a
}

// row is the frame of a row kernel: the registers that address row i and
// the blocks j of its partners.
type row struct {
	g           *gen
	a, w, p     reg.GPVirtual
	ioff        reg.GPVirtual     // byte offset of atom i in its block's first field
	off, jb     reg.GPVirtual     // byte offset and index of block j
	kValid      reg.OpmaskVirtual // the lanes of block j that are partners of i
	kOthers     reg.OpmaskVirtual // the other lanes
	lLoop, lEnd string
}

func (g *gen) rowPrologue(name, doc string) *row {
	TEXT(name, NOSPLIT, "func(a *byte, i int)")
	Doc(doc)
	r := &row{g: g, lLoop: g.label("loop"), lEnd: g.label("end")}
	r.a = Load(Param("a"), GP64()).(reg.GPVirtual)
	i := Load(Param("i"), GP64()).(reg.GPVirtual)
	g.c = GP64()
	MOVQ(Mem{Base: r.a, Disp: argOffset("c")}, g.c)
	r.w, r.p = GP64(), GP64()
	MOVQ(Mem{Base: r.a, Disp: argOffset("w")}, r.w)
	MOVQ(Mem{Base: r.a, Disp: argOffset("p")}, r.p)
	// ioff = (i/8)·blockBytes + (i%8)·8.
	t := GP64()
	r.ioff = GP64()
	MOVQ(i, t)
	SHRQ(U8(3), t)
	IMUL3Q(U32(blockBytes), t, t)
	MOVQ(i, r.ioff)
	ANDQ(U32(7), r.ioff)
	LEAQ(Mem{Base: t, Index: r.ioff, Scale: 8}, r.ioff)
	// The first block holds atom i+1; its lanes ≤ i are not partners.
	r.jb, r.off, r.kValid = GP64(), GP64(), K()
	LEAQ(Mem{Base: i, Disp: 1}, r.jb)
	MOVQ(r.jb, t)
	ANDQ(U32(7), t)
	KMOVB(Mem{Base: g.c, Index: t, Scale: 8, Disp: 8 * constIndex("kcFirstMask0")}, r.kValid)
	SHRQ(U8(3), r.jb)
	IMUL3Q(U32(blockBytes), r.jb, r.off)
	return r
}

func constIndex(name string) int {
	for k, c := range consts {
		if c.name == name {
			return k
		}
	}
	log.Fatalf("no constant %s", name)
	return 0
}

// bi broadcasts workspace field f of atom i.
func (r *row) wi(f string) reg.VecVirtual {
	z := ZMM()
	VBROADCASTSD(Mem{Base: r.w, Index: r.ioff, Scale: 1, Disp: 64 * fieldIndex(wFields, f)}, z)
	return z
}

// pi broadcasts parameter field f of atom i.
func (r *row) pi(f string) reg.VecVirtual {
	z := ZMM()
	VBROADCASTSD(Mem{Base: r.p, Index: r.ioff, Scale: 1, Disp: 64 * fieldIndex(pFields, f)}, z)
	return z
}

// wj and pj address field f of block j.
func (r *row) wj(f string) Mem {
	return Mem{Base: r.w, Index: r.off, Scale: 1, Disp: 64 * fieldIndex(wFields, f)}
}

func (r *row) pj(f string) Mem {
	return Mem{Base: r.p, Index: r.off, Scale: 1, Disp: 64 * fieldIndex(pFields, f)}
}

// loopStart begins the loop over blocks j; kValid has the lanes that are
// partners of i (i < j+l < n): those past i in the first block, all of the
// blocks in between, those before n in the last.
func (r *row) loopStart() {
	last := Mem{Base: r.a, Disp: argOffset("last")}
	CMPQ(r.off, last)
	JGT(LabelRef(r.lEnd))
	JNE(LabelRef(r.lLoop))
	tail := K()
	KMOVB(Mem{Base: r.a, Disp: argOffset("tail")}, tail)
	KANDB(tail, r.kValid, r.kValid)
	Label(r.lLoop)
	// Atom i itself (r = 0) and the atoms before it in the first block
	// must not send the block to the tables' slow path.
	r.kOthers = K()
	KNOTB(r.kValid, r.kOthers)
}

func (r *row) loopEnd() {
	ADDQ(U32(blockBytes), r.off)
	INCQ(r.jb)
	CMPQ(r.off, Mem{Base: r.a, Disp: argOffset("last")})
	JGT(LabelRef(r.lEnd))
	KXNORB(r.kValid, r.kValid, r.kValid)
	JLT(LabelRef(r.lLoop))
	KMOVB(Mem{Base: r.a, Disp: argOffset("tail")}, r.kValid)
	JMP(LabelRef(r.lLoop))
	Label(r.lEnd)
}

// storeRows stores the row's vector sums at rows[len(sums)·8·i:].
func (r *row) storeRows(sums ...reg.VecVirtual) {
	rows, i := GP64(), GP64()
	MOVQ(Mem{Base: r.a, Disp: argOffset("rows")}, rows)
	Load(Param("i"), i)
	IMUL3Q(U32(64*len(sums)), i, i)
	for k, s := range sums {
		VMOVUPD(s, Mem{Base: rows, Index: i, Scale: 1, Disp: 64 * k})
	}
	VZEROUPPER()
	RET()
}

// delta returns dx, dy, dz = position i - position j and r2 = dx²+dy²+dz².
// The lanes that are not partners hold whatever follows from their
// positions (r2 = 0 for atom i itself, and for the lanes past the last atom
// when atom i sits at the origin): every quantity that reaches a sum or a
// store is masked by the partner lanes (zero-masking where it is multiplied
// on), so that no infinity or NaN of those lanes gets in (TestAtomAtOrigin).
func (r *row) delta(xi, yi, zi reg.VecVirtual) (dx, dy, dz, r2 reg.VecVirtual) {
	dx, dy, dz, r2 = ZMM(), ZMM(), ZMM(), ZMM()
	VSUBPD(r.wj("wX"), xi, dx)
	VSUBPD(r.wj("wY"), yi, dy)
	VSUBPD(r.wj("wZ"), zi, dz)
	VMULPD(dx, dx, r2)
	VFMADD231PD(dy, dy, r2)
	VFMADD231PD(dz, dz, r2)
	return dx, dy, dz, r2
}

// tableTerm returns table tab's polynomial at y and the partner lanes
// that take it: r ≥ c (the spheres do not overlap; c is clobbered) and y
// inside the table.
func (r *row) tableTerm(tab reg.GPVirtual, r2, c, y reg.VecVirtual) (p reg.VecVirtual, far reg.OpmaskVirtual) {
	VMULPD(c, c, c)
	far = K()
	VCMPPD(U8(cmpGE), c, r2, r.kValid, far)
	return r.g.evalTable(tab, y, far, r.kOthers), far
}

// near runs emit (which adds the general formula's share of the lanes
// given to each direction) if some partner lanes are in neither far1 nor
// far2.
func (r *row) near(far1, far2 reg.OpmaskVirtual, emit func(near1, near2 reg.OpmaskVirtual)) {
	near1, near2 := K(), K()
	KANDNB(r.kValid, far1, near1)
	KANDNB(r.kValid, far2, near2)
	KORTESTB(near1, near2)
	skip := r.g.label("far")
	JEQ(LabelRef(skip))
	emit(near1, near2)
	Label(skip)
}

// bornSums: psi[j] += T(r; ρ_j, s_i) into the workspace, and the row's
// Σ_j T(r; ρ_i, s_j) into rows.
func bornSums() {
	g := &gen{}
	r := g.rowPrologue("bornSumsRowAVX512", "bornSumsRowAVX512 is row i of gbsa.bornSums.")
	tab := GP64()
	MOVQ(Mem{Base: r.a, Disp: argOffset("hTab")}, tab)
	xi, yi, zi := r.wi("wX"), r.wi("wY"), r.wi("wZ")
	rhoi, si, s2i, s3i := r.pi("pRho"), r.pi("pSR"), r.pi("pS2"), r.pi("pS3")
	acc := ZMM()
	VXORPD(acc, acc, acc)
	r.loopStart()
	_, _, _, r2 := r.delta(xi, yi, zi)
	rinv2 := g.recip(r2)
	rinv4 := ZMM()
	VMULPD(rinv2, rinv2, rinv4)

	// i's sum over the spheres of the j.
	c, y := ZMM(), ZMM()
	VADDPD(r.pj("pSR"), rhoi, c)
	VMULPD(r.pj("pS2"), rinv2, y)
	v, far := r.tableTerm(tab, r2, c, y)
	t := ZMM()
	VMULPD(r.pj("pS3"), rinv4, t)
	VFMADD231PD(v, t, far, acc)

	// The j's sums over the sphere of i.
	c2, y2 := ZMM(), ZMM()
	VADDPD(r.pj("pRho"), si, c2)
	VMULPD(s2i, rinv2, y2)
	v2, far2 := r.tableTerm(tab, r2, c2, y2)
	t2, psi := ZMM(), ZMM()
	VMULPD(s3i, rinv4, t2)
	VMOVUPD(r.wj("wPsi"), psi)
	VFMADD231PD(v2, t2, far2, psi)

	// Lanes with overlapping spheres (or beyond the table) take the
	// general formula.
	r.near(far, far2, func(near, near2 reg.OpmaskVirtual) {
		tv := g.hct(r2, rhoi, r.pj("pSR"), true)
		VADDPD(tv, acc, near, acc)
		tv = g.hct(r2, r.pj("pRho"), si, true)
		VADDPD(tv, psi, near2, psi)
	})
	VMOVUPD(psi, r.wj("wPsi"))
	r.loopEnd()
	r.storeRows(acc)
}

// bornForces: the forces through the Born radii, wDEdB holding dE/dΨ·ρ.
func bornForces() {
	g := &gen{}
	r := g.rowPrologue("bornForceRowAVX512", "bornForceRowAVX512 is row i of gbsa.bornForcePairs.")
	tab := GP64()
	MOVQ(Mem{Base: r.a, Disp: argOffset("dTab")}, tab)
	xi, yi, zi := r.wi("wX"), r.wi("wY"), r.wi("wZ")
	rhoi, si, s2i, hs3i, ci := r.pi("pRho"), r.pi("pSR"), r.pi("pS2"), r.pi("pHS3"), r.wi("wDEdB")
	fxi, fyi, fzi := ZMM(), ZMM(), ZMM()
	VXORPD(fxi, fxi, fxi)
	VXORPD(fyi, fyi, fyi)
	VXORPD(fzi, fzi, fzi)
	r.loopStart()
	dx, dy, dz, r2 := r.delta(xi, yi, zi)
	rinv2 := g.recip(r2)
	rinv6 := ZMM()
	VMULPD(rinv2, rinv2, rinv6)
	VMULPD(rinv2, rinv6, rinv6)

	c, y := ZMM(), ZMM()
	VADDPD(r.pj("pSR"), rhoi, c)
	VMULPD(r.pj("pS2"), rinv2, y)
	v, far := r.tableTerm(tab, r2, c, y)
	gr := ZMM()
	VMULPD(r.pj("pHS3"), ci, gr)
	VMULPD(rinv6, gr, gr)
	VMULPD_Z(v, gr, far, gr)

	c2, y2 := ZMM(), ZMM()
	VADDPD(r.pj("pRho"), si, c2)
	VMULPD(s2i, rinv2, y2)
	v2, far2 := r.tableTerm(tab, r2, c2, y2)
	t := ZMM()
	VMULPD(r.wj("wDEdB"), hs3i, t)
	VMULPD(rinv6, t, t)
	VFMADD231PD(v2, t, far2, gr)

	r.near(far, far2, func(near, near2 reg.OpmaskVirtual) {
		hd := g.hct(r2, rhoi, r.pj("pSR"), false)
		VFMADD231PD(hd, ci, near, gr)
		hd = g.hct(r2, r.pj("pRho"), si, false)
		VFMADD231PD(r.wj("wDEdB"), hd, near2, gr)
	})
	forces(r, gr, dx, dy, dz, fxi, fyi, fzi)
	r.loopEnd()
	r.storeRows(fxi, fyi, fzi)
}

// forces adds gr·(dx, dy, dz) to atom i's sums and subtracts it from the
// forces of block j.
func forces(r *row, gr, dx, dy, dz, fxi, fyi, fzi reg.VecVirtual) {
	VFMADD231PD(dx, gr, fxi)
	VFMADD231PD(dy, gr, fyi)
	VFMADD231PD(dz, gr, fzi)
	for _, c := range []struct {
		f string
		d reg.VecVirtual
	}{{"wFX", dx}, {"wFY", dy}, {"wFZ", dz}} {
		t := ZMM()
		VMOVUPD(r.wj(c.f), t)
		VFNMADD231PD(c.d, gr, t)
		VMOVUPD(t, r.wj(c.f))
	}
}

// fused: the pair pass of nonbondedGB, every pair j > i with its GB
// energy and, unless it is an exception, Coulomb and Lennard-Jones.
func fused() {
	g := &gen{}
	r := g.rowPrologue("fusedRowAVX512", "fusedRowAVX512 is row i of Energy.fusedScalar.")
	excl := GP64()
	MOVQ(Mem{Base: r.a, Disp: argOffset("excl")}, excl)
	xi, yi, zi := r.wi("wX"), r.wi("wY"), r.wi("wZ")
	cqi, hsi, e4i := r.pi("pCQ"), r.pi("pHS"), r.pi("pE4")
	bi, qi4, pqi := r.wi("wBorn"), r.wi("wInvB"), r.pi("pPQ")
	VMULPD_BCST(g.cst("kcQuarter"), qi4, qi4)
	sums := make([]reg.VecVirtual, 6) // fxi, fyi, fzi, dE/dB_i, Coulomb+LJ, GB
	for k := range sums {
		sums[k] = ZMM()
		VXORPD(sums[k], sums[k], sums[k])
	}
	fxi, fyi, fzi, dbi, accNB, accGB := sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]
	r.loopStart()
	// Exceptions in this block lose their Coulomb and LJ terms here
	// (nonbonded.exceptions adds theirs).
	kExcl, kKeep := K(), K()
	KMOVB(Mem{Base: excl, Index: r.jb, Scale: 1}, kExcl)
	KANDNB(r.kValid, kExcl, kKeep)
	dx, dy, dz, r2 := r.delta(xi, yi, zi)

	// Coulomb and Lennard-Jones.
	rinv := g.fastRsqrt(r2)
	inv2, sig, s6, lj6, lj12, ec := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
	VMULPD(rinv, rinv, inv2)
	VADDPD(r.pj("pHS"), hsi, sig)
	VMULPD(sig, sig, sig)
	VMULPD(inv2, sig, sig) // (σ/r)²
	VMULPD(sig, sig, s6)
	VMULPD(sig, s6, s6)
	VMULPD(r.pj("pE4"), e4i, lj6)
	VMULPD(s6, lj6, lj6)
	VMULPD(s6, lj6, lj12)
	VMULPD(r.pj("pCQ"), cqi, ec)
	VMULPD(rinv, ec, ec)
	enb := ZMM()
	VSUBPD(lj6, lj12, enb)
	VADDPD_Z(ec, enb, kKeep, enb)
	VADDPD(enb, accNB, accNB)
	gr := lj12
	VFMADD132PD_BCST(g.cst("kcTwelve"), ec, gr) // 12·lj12 + ec
	VFMADD231PD_BCST(g.cst("kcMinusSix"), lj6, gr)
	VMULPD_Z(inv2, gr, kKeep, gr)

	// Generalized Born; e^(-d) as in expNeg: d = k·ln2/8 + x with
	// |x| ≤ ln2/16, e^(-d) = 2^(-(k mod 8)/8)·2^(-floor(k/8))·e^(-x), the
	// first factor from a permute of a table, the second from exponent
	// bits.
	bj, d, dc, ekf := ZMM(), ZMM(), g.bcst("kcExpMax"), ZMM()
	VMOVUPD(r.wj("wBorn"), bj)
	VMULPD(qi4, r2, d)
	VMULPD(r.wj("wInvB"), d, d)
	VMINPD(d, dc, dc) // NaN stays NaN
	VMULPD_BCST(g.cst("kcExpScale"), dc, ekf)
	VRNDSCALEPD(U8(nearestRS), ekf, ekf)
	VFNMADD231PD_BCST(g.cst("kcLn2Hi8"), ekf, dc)
	VFNMADD231PD_BCST(g.cst("kcLn2Lo8"), ekf, dc) // x = d - k·ln2/8, |x| ≤ ln2/16
	ep := g.bcst("kcExpNeg7")
	for c := 6; c >= 0; c-- {
		VFMADD213PD_BCST(g.cst(fmt.Sprintf("kcExpNeg%d", c)), dc, ep)
	}
	ki, frac, scale := ZMM(), ZMM(), ZMM()
	VCVTTPD2QQ(ekf, ki)
	VPERMPD(g.cst("kcExp2Eighths0"), ki, frac) // the index's low three bits: k mod 8
	VPSRLQ(U8(3), ki, ki)
	VPBROADCASTQ(g.cst("kcExp1023"), scale)
	VPSUBQ(ki, scale, scale)
	VPSLLQ(U8(52), scale, scale) // 2^(-floor(k/8))
	ex := ep
	VMULPD(frac, ex, ex)
	VMULPD(scale, ex, ex)
	f := ZMM()
	VMULPD(bj, bi, f)
	VFMADD213PD(r2, ex, f)
	finv := g.fastRsqrt(f)
	eg := ZMM()
	VMULPD(r.pj("pQ"), pqi, eg)
	VMULPD_Z(finv, eg, r.kValid, eg)
	VADDPD(eg, accGB, accGB)
	// h = E_ij/f², zero outside the partner lanes: past the last atom
	// (zero radii) f is 0 when atom i sits at the origin, and 0·(1/0)
	// must not reach dE/dB.
	h := ZMM()
	VMULPD(finv, eg, h)
	VMULPD_Z(finv, h, r.kValid, h)
	// dE/dA = -½ h e^(-d) (1+d) with A = B_i B_j.
	dA, t := ZMM(), g.bcst("kcMinusHalf")
	VFMADD231PD_BCST(g.cst("kcMinusHalf"), d, t)
	VMULPD(ex, h, dA)
	VMULPD(t, dA, dA)
	VFMADD231PD(bj, dA, dbi)
	db := ZMM()
	VMOVUPD(r.wj("wDEdB"), db)
	VFMADD231PD(bi, dA, db)
	VMOVUPD(db, r.wj("wDEdB"))
	// -dE/dr / r = h (1 - e^(-d)/4).
	t = g.bcst("kcOne")
	VFNMADD231PD_BCST(g.cst("kcQuarter"), ex, t)
	VFMADD231PD(t, h, gr)

	forces(r, gr, dx, dy, dz, fxi, fyi, fzi)
	r.loopEnd()
	r.storeRows(sums...)
}

// Entry points for the tests of the pieces.
func pieces() {
	g := &gen{}
	TEXT("vlogAVX512", NOSPLIT, "func(c *uint64, x, out *[8]float64)")
	Doc("vlogAVX512 is the kernels' logarithm of eight values (for the tests).")
	g.c = Load(Param("c"), GP64()).(reg.GPVirtual)
	x, out := Load(Param("x"), GP64()), Load(Param("out"), GP64())
	v := ZMM()
	VMOVUPD(Mem{Base: x}, v)
	VMOVUPD(g.vlog(v), Mem{Base: out})
	VZEROUPPER()
	RET()

	g = &gen{}
	TEXT("hctAVX512", NOSPLIT, "func(c *uint64, r2, rho, s, t, hd *[8]float64)")
	Doc("hctAVX512 is the kernels' general HCT formula and its derivative for eight pairs (for the tests).")
	g.c = Load(Param("c"), GP64()).(reg.GPVirtual)
	p := map[string]reg.Register{}
	for _, n := range []string{"r2", "rho", "s", "t", "hd"} {
		p[n] = Load(Param(n), GP64())
	}
	r2 := ZMM()
	VMOVUPD(Mem{Base: p["r2"]}, r2)
	VMOVUPD(g.hct(r2, Mem{Base: p["rho"]}, Mem{Base: p["s"]}, true), Mem{Base: p["t"]})
	VMOVUPD(g.hct(r2, Mem{Base: p["rho"]}, Mem{Base: p["s"]}, false), Mem{Base: p["hd"]})
	VZEROUPPER()
	RET()

	g = &gen{}
	TEXT("tableAVX512", NOSPLIT, "func(c *uint64, tab *float64, y, out *[8]float64, in *uint8)")
	Doc("tableAVX512 evaluates a vector table at eight values and sets in to the lanes whose interval is in the table (for the tests).")
	g.c = Load(Param("c"), GP64()).(reg.GPVirtual)
	tab := Load(Param("tab"), GP64()).(reg.GPVirtual)
	y, o, inp := Load(Param("y"), GP64()), Load(Param("out"), GP64()), Load(Param("in"), GP64())
	yv := ZMM()
	VMOVUPD(Mem{Base: y}, yv)
	in, none, gp := K(), K(), GP32()
	MOVL(U32(0xff), gp)
	KMOVB(gp, in)
	KXORB(none, none, none)
	VMOVUPD(g.evalTable(tab, yv, in, none), Mem{Base: o})
	KMOVB(in, Mem{Base: inp})
	VZEROUPPER()
	RET()
}

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	bornSums()
	fused()
	bornForces()
	pieces()
	if *goOut != "" {
		if err := writeGo(*goOut); err != nil {
			log.Fatal(err)
		}
	}
	Generate()
}

// writeGo writes the Go side of the kernels.
func writeGo(path string) error {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// Code generated by command: go run . %s. DO NOT EDIT.\n\n", strings.Join(os.Args[1:], " "))
	p("//go:build amd64 && !purego\n\npackage native\n\nimport \"math\"\n\n")
	p("// The fields of a block of eight atoms in the kernels' workspace buffer\n// (64 bytes each).\nconst (\n")
	for k, f := range wFields {
		p("\t%s = %d // %s\n", f.name, k, f.doc)
	}
	p(")\n\n// The fields of a block of eight atoms in the parameter buffer.\nconst (\n")
	for k, f := range pFields {
		p("\t%s = %d // %s\n", f.name, k, f.doc)
	}
	p(")\n\n// blockWords is the size of a block of eight atoms in either buffer (float64s).\nconst blockWords = %d\n\n", blockBytes/8)
	p("// The layout of a vector table (see newVecTable).\nconst (\n\tvtLo = %d\n\tvtHi = %d\n\tvtM = %d\n\tvtFast = %d\n\tvtWords = %d\n)\n\n",
		vtLo, vtHi, vtM, vtFast, vtWords)
	p("// The kernels were generated for these degrees.\nconst _ = uint(vecDegree-%d) + uint(%d-vecDegree) + uint(fastDegree-%d) + uint(%d-fastDegree)\n\n",
		vecDegree, vecDegree, fastDegree, fastDegree)
	p("// kernelArgs are what a row kernel reads besides the row.\ntype kernelArgs struct {\n")
	for _, f := range argFields {
		typ := "*float64"
		switch f.name {
		case "c":
			typ = "*uint64"
		case "excl":
			typ = "*uint8"
		case "last", "tail":
			typ = "int"
		}
		p("\t%s %s // %s\n", f.name, typ, f.doc)
	}
	p("}\n\n// Indices of the kernels' constants in kernelConsts.\nconst (\n")
	for k, c := range consts {
		p("\t%s = %d\n", c.name, k)
	}
	p("\tnumKernelConsts = %d\n)\n\n", len(consts))
	p("// setKernelConsts writes the kernels' constants into c.\nfunc setKernelConsts(c []uint64) {\n")
	for _, c := range consts {
		p("\tc[%s] = %s\n", c.name, c.expr)
	}
	p("}\n\n")
	decls := []struct{ name, sig string }{
		{"bornSumsRowAVX512", "a *kernelArgs, i int"},
		{"bornForceRowAVX512", "a *kernelArgs, i int"},
		{"fusedRowAVX512", "a *kernelArgs, i int"},
		{"vlogAVX512", "c *uint64, x, out *[8]float64"},
		{"hctAVX512", "c *uint64, r2, rho, s, t, hd *[8]float64"},
		{"tableAVX512", "c *uint64, tab *float64, y, out *[8]float64, in *uint8"},
	}
	for _, d := range decls {
		p("//go:noescape\nfunc %s(%s)\n\n", d.name, d.sig)
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return fmt.Errorf("format %s: %w\n%s", path, err, b.Bytes())
	}
	return os.WriteFile(path, src, 0o644)
}
