package ic

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Transform is the batched, differentiable internal <-> Cartesian map of a
// fitted Spec as GoMLX graph code, in float32 or float64. The fixed
// coordinates and the normalisation are constants of the graphs it builds.
//
// Shapes: positions x are [B, N, 3] (topology atom order, nm); the flow's
// free vector z is [B, NumFree] (Spec.Free order; torsions in radians on
// [-pi, pi), bonds and angles normalised to [-1, 1]); all internal
// coordinates are [B, D] (ZMatrix.Coords order).
//
// ToCartesian places atoms layer by layer (ZMatrix.Entries[].Layer): each
// layer gathers its reference positions from the layers they were placed
// in, places all its atoms with one vectorised NeRF step, and is kept as its
// own tensor, so the graph has one block per layer (about 3 per residue
// along the backbone) rather than one per atom, and no op copies all
// positions per layer. Slice, Pad, Rsqrt and Atan2 are avoided (missing or
// without gradients on the pure-Go backend of GoMLX v0.26.0): components are
// kept as separate tensors, sub-arrays are taken with Gather, and angles use
// Atan2 from this package. Trigonometric functions run on free coordinates
// only; fixed ones enter as constants.
//
// NewTransform reads the Spec once: refitting the Spec needs a new Transform.
type Transform struct {
	Spec  *Spec
	DType dtypes.DType

	n, d, nf int
	// Per kind (Bond, Angle, Torsion): the free-vector positions of the free
	// coordinates of that kind and the fixed coordinates of that kind. The
	// NeRF tables of a kind stack the free rows, then the fixed ones.
	freeOf  [3][]int
	fixedOf [3][]int
	rowOf   []int // rowOf[k]: row of coordinate k in its kind's table
	freePos []int // freePos[k]: position of coordinate k in the free vector, -1 if fixed
	// Log-det = ldConst + sum log r[free positions ldR] + sum log|sin theta[free positions ldS]|:
	// the terms whose r or theta is fixed are folded into ldConst.
	ldConst  float64
	ldR, ldS []int
	layers   [][]int // placement positions per layer
	layerOf  []int   // layer of each placement position
	idxInLay []int   // index of each placement position inside its layer
	outPerm  []int   // for each atom, its row in the layer-ordered concatenation
}

// NewTransform prepares the graph transform of a fitted spec.
func NewTransform(s *Spec, dtype dtypes.DType) (*Transform, error) {
	if err := s.checkFitted(); err != nil {
		return nil, err
	}
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return nil, fmt.Errorf("ic: transform dtype %s: only float32 and float64 are supported", dtype)
	}
	z := s.Z
	t := &Transform{Spec: s, DType: dtype, n: z.NumAtoms(), d: z.NumCoords(), nf: len(s.Free)}
	freePos := make([]int, t.d)
	t.freePos = freePos
	for k := range freePos {
		freePos[k] = -1
	}
	for j, k := range s.Free {
		freePos[k] = j
	}
	t.rowOf = make([]int, t.d)
	for k, c := range z.coords {
		if j := freePos[k]; j >= 0 {
			t.rowOf[k] = len(t.freeOf[c.Kind])
			t.freeOf[c.Kind] = append(t.freeOf[c.Kind], j)
		}
	}
	for k, c := range z.coords {
		if freePos[k] < 0 {
			t.rowOf[k] = len(t.freeOf[c.Kind]) + len(t.fixedOf[c.Kind])
			t.fixedOf[c.Kind] = append(t.fixedOf[c.Kind], k)
		}
	}
	t.ldConst = s.LogDetNormalization()
	addR := func(p int) {
		if k := z.BondIndex(p); freePos[k] >= 0 {
			t.ldR = append(t.ldR, freePos[k])
		} else {
			t.ldConst += math.Log(s.Ref[k])
		}
	}
	for _, k := range s.Free {
		c := z.coords[k]
		switch c.Kind {
		case Angle:
			addR(c.Entry)
		case Torsion:
			addR(c.Entry)
			if a := z.AngleIndex(c.Entry); freePos[a] >= 0 {
				t.ldS = append(t.ldS, freePos[a])
			} else {
				t.ldConst += math.Log(math.Abs(math.Sin(s.Ref[a])))
			}
		}
	}
	t.layerOf = make([]int, t.n)
	t.idxInLay = make([]int, t.n)
	t.layers = make([][]int, z.NumLayers())
	for p, e := range z.Entries {
		t.layerOf[p] = e.Layer
		t.idxInLay[p] = len(t.layers[e.Layer])
		t.layers[e.Layer] = append(t.layers[e.Layer], p)
	}
	offset := make([]int, len(t.layers))
	for l := 1; l < len(t.layers); l++ {
		offset[l] = offset[l-1] + len(t.layers[l-1])
	}
	t.outPerm = make([]int, t.n)
	for p, e := range z.Entries {
		t.outPerm[e.Atom] = offset[e.Layer] + t.idxInLay[p]
	}
	return t, nil
}

// NumAtoms, NumCoords and NumFree give N, D and the flow's dimension.
func (t *Transform) NumAtoms() int  { return t.n }
func (t *Transform) NumCoords() int { return t.d }
func (t *Transform) NumFree() int   { return t.nf }

func (t *Transform) constant(g *Graph, vals []float64, dims ...int) *Node {
	if t.DType == dtypes.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return ConstTensor(g, tensors.FromFlatDataAndDimensions(f, dims...))
	}
	return ConstTensor(g, tensors.FromFlatDataAndDimensions(append([]float64(nil), vals...), dims...))
}

// rows gathers rows idx of a [R, B] tensor: [len(idx), B].
func rows(x *Node, idx []int) *Node {
	ix := make([]int32, len(idx))
	for i, v := range idx {
		ix[i] = int32(v)
	}
	return Gather(x, ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(ix, len(ix), 1)))
}

// normAffine returns per-free-coordinate (scale, offset) of v = z*scale + offset.
func (t *Transform) normAffine() (sc, off []float64) {
	s := t.Spec
	sc, off = make([]float64, t.nf), make([]float64, t.nf)
	for j, k := range s.Free {
		sc[j] = s.normScale(k)
		if !s.circular(k) {
			off[j] = s.Lo[k] + sc[j]
		}
	}
	return sc, off
}

// logDet is log|dx/dz| from the free internal coordinates [nf, B] (not
// normalised): [B].
func (t *Transform) logDet(free *Node) *Node {
	g := free.Graph()
	total := Zeros(g, shapes.Make(t.DType, free.Shape().Dimensions[1]))
	if len(t.ldR) > 0 {
		total = Add(total, ReduceSum(Log(rows(free, t.ldR)), 0))
	}
	if len(t.ldS) > 0 {
		total = Add(total, ReduceSum(Log(Abs(Sin(rows(free, t.ldS)))), 0))
	}
	return AddScalar(total, t.ldConst)
}

// coordSource reads internal-coordinate values inside one ToCartesian graph.
type coordSource struct {
	t      *Transform
	free   *Node
	tables map[Kind]*Node
}

// values returns the values of coordinates ks (all of one kind) as
// [len(ks), B], or [len(ks), 1] when all are fixed (constants, broadcast by
// the ops that use them), transformed by each of fns (fncs: the same on
// float64 constants). All free: one gather from the free vector. Mixed: a
// gather from the kind's table of free-then-fixed values, built once per
// graph.
func (cs *coordSource) values(ks []int, fns []func(*Node) *Node, fncs []func(float64) float64) []*Node {
	t := cs.t
	g := cs.free.Graph()
	nFree := 0
	for _, k := range ks {
		if t.freePos[k] >= 0 {
			nFree++
		}
	}
	out := make([]*Node, len(fns))
	if nFree == 0 {
		for i, f := range fncs {
			v := make([]float64, len(ks))
			for j, k := range ks {
				v[j] = f(t.Spec.Ref[k])
			}
			out[i] = t.constant(g, v, len(ks), 1)
		}
		return out
	}
	var raw *Node
	if nFree == len(ks) {
		pos := make([]int, len(ks))
		for j, k := range ks {
			pos[j] = t.freePos[k]
		}
		raw = rows(cs.free, pos)
	} else {
		kind := t.Spec.Z.coords[ks[0]].Kind
		tab, ok := cs.tables[kind]
		if !ok {
			parts := []*Node{}
			if len(t.freeOf[kind]) > 0 {
				parts = append(parts, rows(cs.free, t.freeOf[kind]))
			}
			nfix := len(t.fixedOf[kind])
			v := make([]float64, nfix)
			for i, k := range t.fixedOf[kind] {
				v[i] = t.Spec.Ref[k]
			}
			parts = append(parts, BroadcastToDims(t.constant(g, v, nfix, 1), nfix, cs.free.Shape().Dimensions[1]))
			tab = Concatenate(parts, 0)
			cs.tables[kind] = tab
		}
		idx := make([]int, len(ks))
		for j, k := range ks {
			idx[j] = t.rowOf[k]
		}
		raw = rows(tab, idx)
	}
	for i, f := range fns {
		out[i] = f(raw)
	}
	return out
}

var (
	identity  = func(x *Node) *Node { return x }
	identityF = func(x float64) float64 { return x }
)

// ToCartesian maps the flow's free vector z [B, NumFree] to positions
// [B, N, 3] in the canonical frame and log|dx/dz| [B] (the volume factor of
// Spec.LogDetJacobian plus the normalisation's constant).
func (t *Transform) ToCartesian(z *Node) (x, logDet *Node) {
	g := z.Graph()
	if z.Rank() != 2 || z.Shape().Dimensions[1] != t.nf {
		panic(fmt.Errorf("ic.Transform.ToCartesian: z has shape %s, want [B, %d]", z.Shape(), t.nf))
	}
	if z.DType() != t.DType {
		z = ConvertDType(z, t.DType)
	}
	bsz := z.Shape().Dimensions[0]
	zt := Transpose(z, 0, 1) // [nf, B]
	sc, off := t.normAffine()
	free := Add(Mul(zt, t.constant(g, sc, t.nf, 1)), t.constant(g, off, t.nf, 1))
	logDet = t.logDet(free)

	// Bond lengths, cos/sin of angles and torsions are read per layer:
	// constants where the coordinates are fixed, so trigonometric functions
	// run only on free coordinates.
	cs := &coordSource{t: t, free: free, tables: map[Kind]*Node{}}
	trig := []func(*Node) *Node{Cos, Sin}
	trigF := []func(float64) float64{math.Cos, math.Sin}
	one := []func(*Node) *Node{identity}
	oneF := []func(float64) float64{identityF}
	zm := t.Spec.Z

	// Frame layers 0, 1, 2.
	zeros1 := Zeros(g, shapes.Make(t.DType, 1, bsz))
	out := make([][3]*Node, len(t.layers)) // per layer: x, y, z components [n_l, B]
	out[0] = [3]*Node{zeros1, zeros1, zeros1}
	r1 := cs.values([]int{zm.BondIndex(1)}, one, oneF)[0]
	r2 := cs.values([]int{zm.BondIndex(2)}, one, oneF)[0]
	th2 := cs.values([]int{zm.AngleIndex(2)}, trig, trigF)
	x2 := Mul(r2, th2[0])
	if e2 := zm.Entries[2]; e2.Bond == zm.Entries[1].Atom {
		x2 = Sub(r1, x2) // the angle reference (atom 0) lies on -x as seen from atom 1
	}
	y2 := Mul(r2, th2[1])
	out[1] = [3]*Node{Add(r1, zeros1), zeros1, zeros1} // the adds broadcast constants to [1, B]
	out[2] = [3]*Node{Add(x2, zeros1), Add(y2, zeros1), zeros1}

	for l := 3; l < len(t.layers); l++ {
		entries := t.layers[l]
		// The layers this layer's references live in, and each reference's
		// row in the concatenation of those layers.
		used := map[int]bool{}
		for _, p := range entries {
			e := zm.Entries[p]
			for _, a := range []int{e.Bond, e.Angle, e.Torsion} {
				used[t.layerOf[zm.pos[a]]] = true
			}
		}
		var srcLayers []int
		for k := 0; k < l; k++ {
			if used[k] {
				srcLayers = append(srcLayers, k)
			}
		}
		base := map[int]int{}
		acc := 0
		for _, k := range srcLayers {
			base[k] = acc
			acc += len(t.layers[k])
		}
		row := func(atom int) int {
			p := zm.pos[atom]
			return base[t.layerOf[p]] + t.idxInLay[p]
		}
		var bi, ai, ti, rk, ak, tk []int
		for _, p := range entries {
			e := zm.Entries[p]
			bi, ai, ti = append(bi, row(e.Bond)), append(ai, row(e.Angle)), append(ti, row(e.Torsion))
			rk, ak, tk = append(rk, zm.BondIndex(p)), append(ak, zm.AngleIndex(p)), append(tk, zm.TorsionIndex(p))
		}
		// Local displacement in the reference frame:
		// d = (-r cos theta, r sin theta cos phi, r sin theta sin phi).
		r := cs.values(rk, one, oneF)[0]
		th := cs.values(ak, trig, trigF)
		ph := cs.values(tk, trig, trigF)
		var D [3]*Node
		if r.Shape().Dimensions[1] == 1 && th[0].Shape().Dimensions[1] == 1 {
			// r and theta fixed for the whole layer: fold the products into constants.
			var c0, c1 []float64
			for j := range rk {
				rv, tv := t.Spec.Ref[rk[j]], t.Spec.Ref[ak[j]]
				c0, c1 = append(c0, -rv*math.Cos(tv)), append(c1, rv*math.Sin(tv))
			}
			rs := t.constant(g, c1, len(c1), 1)
			D = [3]*Node{t.constant(g, c0, len(c0), 1), Mul(rs, ph[0]), Mul(rs, ph[1])}
		} else {
			rs := Mul(r, th[1])
			D = [3]*Node{Neg(Mul(r, th[0])), Mul(rs, ph[0]), Mul(rs, ph[1])}
		}
		var B, A, T [3]*Node
		for c := 0; c < 3; c++ {
			var comp *Node
			if len(srcLayers) == 1 {
				comp = out[srcLayers[0]][c]
			} else {
				parts := make([]*Node, len(srcLayers))
				for i, k := range srcLayers {
					parts[i] = out[k][c]
				}
				comp = Concatenate(parts, 0)
			}
			B[c], A[c], T[c] = rows(comp, bi), rows(comp, ai), rows(comp, ti)
		}
		e1 := sub3(B, A)
		e1 = scale3(Reciprocal(Sqrt(dot3(e1, e1))), e1)
		nv := cross3(e1, sub3(T, A))
		nv = scale3(Reciprocal(Sqrt(dot3(nv, nv))), nv)
		m := cross3(nv, e1)
		var pos [3]*Node
		for c := 0; c < 3; c++ {
			pos[c] = Add(Add(B[c], Mul(D[0], e1[c])), Add(Mul(D[1], m[c]), Mul(D[2], nv[c])))
		}
		out[l] = pos
	}
	var comps [3]*Node
	for c := 0; c < 3; c++ {
		parts := make([]*Node, len(out))
		for l := range out {
			parts[l] = out[l][c]
		}
		comps[c] = rows(Concatenate(parts, 0), t.outPerm) // [N, B]
	}
	x = Stack(comps[:], 2)           // [N, B, 3]
	x = TransposeAllAxes(x, 1, 0, 2) // [B, N, 3]
	return x, logDet
}

func sub3(a, b [3]*Node) [3]*Node { return [3]*Node{Sub(a[0], b[0]), Sub(a[1], b[1]), Sub(a[2], b[2])} }
func dot3(a, b [3]*Node) *Node {
	return Add(Add(Mul(a[0], b[0]), Mul(a[1], b[1])), Mul(a[2], b[2]))
}
func scale3(s *Node, a [3]*Node) [3]*Node { return [3]*Node{Mul(s, a[0]), Mul(s, a[1]), Mul(s, a[2])} }
func cross3(a, b [3]*Node) [3]*Node {
	return [3]*Node{
		Sub(Mul(a[1], b[2]), Mul(a[2], b[1])),
		Sub(Mul(a[2], b[0]), Mul(a[0], b[2])),
		Sub(Mul(a[0], b[1]), Mul(a[1], b[0])),
	}
}

// components splits x [B, N, 3] into three [N, B] tensors.
func components(x *Node) [3]*Node {
	xt := TransposeAllAxes(x, 2, 1, 0) // [3, N, B]
	n, b := xt.Shape().Dimensions[1], xt.Shape().Dimensions[2]
	var out [3]*Node
	for c := 0; c < 3; c++ {
		out[c] = Reshape(rows(xt, []int{c}), n, b)
	}
	return out
}

// Internal computes all D internal coordinates [B, D] of positions
// x [B, N, 3] (bonds in nm, angles and torsions in radians, torsions on
// [-pi, pi)).
func (t *Transform) Internal(x *Node) *Node {
	return Transpose(t.internalRows(x), 0, 1)
}

// internalRows is Internal transposed: [D, B].
func (t *Transform) internalRows(x *Node) *Node {
	if x.Rank() != 3 || x.Shape().Dimensions[1] != t.n || x.Shape().Dimensions[2] != 3 {
		panic(fmt.Errorf("ic.Transform.Internal: x has shape %s, want [B, %d, 3]", x.Shape(), t.n))
	}
	if x.DType() != t.DType {
		x = ConvertDType(x, t.DType)
	}
	zm := t.Spec.Z
	X := components(x)
	gather := func(idx []int) [3]*Node {
		return [3]*Node{rows(X[0], idx), rows(X[1], idx), rows(X[2], idx)}
	}
	var bi, bb, ai, ab, aa, ti, tb, ta, tt []int
	for p, e := range zm.Entries {
		if p >= 1 {
			bi, bb = append(bi, e.Atom), append(bb, e.Bond)
		}
		if p >= 2 {
			ai, ab, aa = append(ai, e.Atom), append(ab, e.Bond), append(aa, e.Angle)
		}
		if p >= 3 {
			ti, tb, ta, tt = append(ti, e.Atom), append(tb, e.Bond), append(ta, e.Angle), append(tt, e.Torsion)
		}
	}
	// Bonds.
	v := sub3(gather(bi), gather(bb))
	bonds := Sqrt(dot3(v, v))
	// Angles at the bond reference: atan2(|u x w|, u.w).
	pb := gather(ab)
	u, w := sub3(gather(ai), pb), sub3(gather(aa), pb)
	cr := cross3(u, w)
	angles := graphops.Atan2(Sqrt(dot3(cr, cr)), dot3(u, w))
	// Torsions dihedral(t, a, b, i).
	pa, pbt := gather(ta), gather(tb)
	b0, b1, b2 := sub3(gather(tt), pa), sub3(pbt, pa), sub3(gather(ti), pbt)
	e1 := scale3(Reciprocal(Sqrt(dot3(b1, b1))), b1)
	vv := sub3(b0, scale3(dot3(b0, e1), e1))
	ww := sub3(b2, scale3(dot3(b2, e1), e1))
	tors := graphops.Atan2(dot3(cross3(e1, vv), ww), dot3(vv, ww))
	return Concatenate([]*Node{bonds, angles, tors}, 0)
}

// unwrapWindowed replaces each windowed torsion of the free coordinates
// [nf, B] by its representative nearest its window's centre (as
// Spec.Normalize does); the other rows pass unchanged.
func (t *Transform) unwrapWindowed(free *Node) *Node {
	s := t.Spec
	cen, mask := make([]float64, t.nf), make([]float64, t.nf)
	any := false
	for j, k := range s.Free {
		if s.windowed(k) {
			cen[j], mask[j], any = s.windowCentre(k), 1, true
		}
	}
	if !any {
		return free
	}
	g := free.Graph()
	c := t.constant(g, cen, t.nf, 1)
	d := Sub(free, c)
	wrapped := Sub(d, MulScalar(Floor(DivScalar(AddScalar(d, math.Pi), 2*math.Pi)), 2*math.Pi))
	return Add(free, Mul(t.constant(g, mask, t.nf, 1), Sub(Add(c, wrapped), free)))
}

// ToInternal maps positions x [B, N, 3] to the flow's free vector
// z [B, NumFree] and returns log|dz/dx| [B]: minus ToCartesian's logDet at
// z (the fixed coordinates enter at their reference values, as in
// ToCartesian), the term that turns the flow's density of z into a density
// of positions.
func (t *Transform) ToInternal(x *Node) (z, logDet *Node) {
	all := t.internalRows(x) // [D, B]
	g := all.Graph()
	free := t.unwrapWindowed(rows(all, t.Spec.Free))
	sc, off := t.normAffine()
	inv := make([]float64, len(sc))
	for i, v := range sc {
		inv[i] = 1 / v
	}
	zr := Mul(Sub(free, t.constant(g, off, t.nf, 1)), t.constant(g, inv, t.nf, 1))
	return Transpose(zr, 0, 1), Neg(t.logDet(free))
}
