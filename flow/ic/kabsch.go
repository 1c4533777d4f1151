package ic

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Superpose moves x onto ref by the rigid motion (rotation and translation,
// no reflection) that minimises the weighted RMSD (Kabsch), and returns that
// RMSD and the moved copy of x. w holds one weight per atom (nil: all 1).
func Superpose(x, ref []Vec3, w []float64) (rmsd float64, moved []Vec3, err error) {
	n := len(x)
	if n != len(ref) || n == 0 {
		return 0, nil, fmt.Errorf("ic: superpose %d atoms onto %d", n, len(ref))
	}
	if w != nil && len(w) != n {
		return 0, nil, fmt.Errorf("ic: superpose: %d weights for %d atoms", len(w), n)
	}
	weight := func(i int) float64 {
		if w == nil {
			return 1
		}
		return w[i]
	}
	var cx, cr Vec3
	tw := 0.0
	for i := range x {
		wi := weight(i)
		cx, cr = add(cx, scale(wi, x[i])), add(cr, scale(wi, ref[i]))
		tw += wi
	}
	if tw <= 0 {
		return 0, nil, fmt.Errorf("ic: superpose: weights sum to %g", tw)
	}
	cx, cr = scale(1/tw, cx), scale(1/tw, cr)
	// H = sum_i w_i (x_i - cx)(ref_i - cr)^T
	h := mat.NewDense(3, 3, nil)
	for i := range x {
		p, q := sub(x[i], cx), sub(ref[i], cr)
		wi := weight(i)
		for a := 0; a < 3; a++ {
			for b := 0; b < 3; b++ {
				h.Set(a, b, h.At(a, b)+wi*p[a]*q[b])
			}
		}
	}
	var svd mat.SVD
	if !svd.Factorize(h, mat.SVDFull) {
		return 0, nil, fmt.Errorf("ic: superpose: SVD failed")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	// R = V diag(1, 1, d) U^T with d = sign(det(V U^T)) to exclude reflections.
	var vut mat.Dense
	vut.Mul(&v, u.T())
	d := 1.0
	if mat.Det(&vut) < 0 {
		d = -1
	}
	var r [3][3]float64
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			r[a][b] = v.At(a, 0)*u.At(b, 0) + v.At(a, 1)*u.At(b, 1) + d*v.At(a, 2)*u.At(b, 2)
		}
	}
	moved = make([]Vec3, n)
	sum := 0.0
	for i := range x {
		p := sub(x[i], cx)
		var q Vec3
		for a := 0; a < 3; a++ {
			q[a] = r[a][0]*p[0] + r[a][1]*p[1] + r[a][2]*p[2]
		}
		moved[i] = add(q, cr)
		dd := sub(moved[i], ref[i])
		sum += weight(i) * dot(dd, dd)
	}
	return math.Sqrt(sum / tw), moved, nil
}

// ReductionCost measures what the reduction does to one structure x: x is
// rebuilt with its fixed coordinates set to the reference values (Spec.Ref)
// and its free coordinates kept, the rebuilt structure is superposed onto x
// (all atoms, equal weights), and the RMSD in nm is returned with the
// superposed reconstruction (in x's frame, ready for an energy evaluation)
// and the RMSD of the heavy atoms alone under that same superposition. In
// Full mode the RMSD is round-off.
func (s *Spec) ReductionCost(x []Vec3) (rmsd, heavyRMSD float64, recon []Vec3, err error) {
	rebuilt, err := s.Reconstruct(x)
	if err != nil {
		return 0, 0, nil, err
	}
	rmsd, recon, err = Superpose(rebuilt, x, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	sum, n := 0.0, 0
	for i, a := range s.Z.Top.Atoms {
		if !isHydrogen(a) {
			d := sub(recon[i], x[i])
			sum += dot(d, d)
			n++
		}
	}
	if n > 0 {
		heavyRMSD = math.Sqrt(sum / float64(n))
	}
	return rmsd, heavyRMSD, recon, nil
}
