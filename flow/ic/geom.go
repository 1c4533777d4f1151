package ic

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/energy/molecule"
)

// Vec3 is a position in nm (the molecule package's type).
type Vec3 = molecule.Vec3

func sub(a, b Vec3) Vec3           { return Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func add(a, b Vec3) Vec3           { return Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func scale(s float64, a Vec3) Vec3 { return Vec3{s * a[0], s * a[1], s * a[2]} }
func dot(a, b Vec3) float64        { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a Vec3) float64          { return math.Sqrt(dot(a, a)) }
func cross(a, b Vec3) Vec3 {
	return Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func unit(a Vec3) Vec3 { return scale(1/norm(a), a) }

// Distance is |a - b|.
func Distance(a, b Vec3) float64 { return norm(sub(a, b)) }

// BondAngle is the angle at vertex b between a and c, in [0, pi]; atan2 of
// |u x v| and u.v keeps full precision near 0 and pi.
func BondAngle(a, b, c Vec3) float64 {
	u, v := sub(a, b), sub(c, b)
	return math.Atan2(norm(cross(u, v)), dot(u, v))
}

// Dihedral is the IUPAC dihedral p0-p1-p2-p3 in [-pi, pi): the angle from
// the p0 side to the p3 side looking down p1->p2, positive clockwise.
func Dihedral(p0, p1, p2, p3 Vec3) float64 {
	b0, b1, b2 := sub(p0, p1), sub(p2, p1), sub(p3, p2)
	e1 := unit(b1)
	v := sub(b0, scale(dot(b0, e1), e1))
	w := sub(b2, scale(dot(b2, e1), e1))
	return wrapAngle(math.Atan2(dot(cross(e1, v), w), dot(v, w)))
}

// wrapAngle maps an angle onto [-pi, pi).
func wrapAngle(x float64) float64 {
	if x >= -math.Pi && x < math.Pi {
		return x
	}
	x = math.Mod(x+math.Pi, 2*math.Pi)
	if x < 0 {
		x += 2 * math.Pi
	}
	return x - math.Pi
}

// placeAtom is one NeRF step: the position at distance r from b, angle theta
// at b from a, and dihedral phi(t, a, b, .).
func placeAtom(b, a, t Vec3, r, theta, phi float64) Vec3 {
	e1 := unit(sub(b, a))
	n := unit(cross(e1, sub(t, a)))
	m := cross(n, e1)
	st := math.Sin(theta)
	d := add(add(scale(-r*math.Cos(theta), e1), scale(r*st*math.Cos(phi), m)), scale(r*st*math.Sin(phi), n))
	return add(b, d)
}

// Internal computes all D internal coordinates of one structure x (one
// position per topology atom) into ic (length D), in the layout of Coords.
func (z *ZMatrix) Internal(x []Vec3, ic []float64) error {
	if len(x) != len(z.Entries) {
		return fmt.Errorf("ic: %d positions for a topology of %d atoms", len(x), len(z.Entries))
	}
	if len(ic) != len(z.coords) {
		return fmt.Errorf("ic: output has %d coordinates, want %d", len(ic), len(z.coords))
	}
	for p, e := range z.Entries {
		if k := z.BondIndex(p); k >= 0 {
			ic[k] = Distance(x[e.Atom], x[e.Bond])
		}
		if k := z.AngleIndex(p); k >= 0 {
			ic[k] = BondAngle(x[e.Atom], x[e.Bond], x[e.Angle])
		}
		if k := z.TorsionIndex(p); k >= 0 {
			ic[k] = Dihedral(x[e.Torsion], x[e.Angle], x[e.Bond], x[e.Atom])
		}
	}
	return nil
}

// Cartesian rebuilds positions from all D internal coordinates (NeRF, in
// placement order) into x (length N, topology order). The result lies in the
// canonical frame: the first atom at the origin, the second on +x, the third
// in the xy-plane with y > 0 (see CanonicalFrame).
func (z *ZMatrix) Cartesian(ic []float64, x []Vec3) error {
	if len(x) != len(z.Entries) {
		return fmt.Errorf("ic: %d positions for a topology of %d atoms", len(x), len(z.Entries))
	}
	if len(ic) != len(z.coords) {
		return fmt.Errorf("ic: input has %d coordinates, want %d", len(ic), len(z.coords))
	}
	for p, e := range z.Entries {
		switch p {
		case 0:
			x[e.Atom] = Vec3{}
		case 1:
			x[e.Atom] = Vec3{ic[z.BondIndex(1)], 0, 0}
		case 2:
			x[e.Atom] = placeThird(x[e.Bond], x[e.Angle], ic[z.BondIndex(2)], ic[z.AngleIndex(2)])
		default:
			x[e.Atom] = placeAtom(x[e.Bond], x[e.Angle], x[e.Torsion], ic[z.BondIndex(p)], ic[z.AngleIndex(p)], ic[z.TorsionIndex(p)])
		}
	}
	return nil
}

// placeThird puts the third frame atom in the xy-plane (y > 0) at distance r
// from b and angle theta at b from a, where a and b lie on the x axis.
func placeThird(b, a Vec3, r, theta float64) Vec3 {
	u := Vec3{1, 0, 0}
	if a[0] < b[0] {
		u[0] = -1
	}
	return Vec3{b[0] + r*math.Cos(theta)*u[0], r * math.Sin(theta), 0}
}

// CanonicalFrame returns x moved into the frame that Cartesian builds: the
// Z-matrix's first atom at the origin, the second on +x, the third in the
// xy-plane with y > 0. Rot and origin give the rigid motion: canon[k] =
// Rot (x[k] - origin).
func (z *ZMatrix) CanonicalFrame(x []Vec3) (canon []Vec3, rot [3]Vec3, origin Vec3) {
	a0, a1, a2 := z.Entries[0].Atom, z.Entries[1].Atom, z.Entries[2].Atom
	origin = x[a0]
	e1 := unit(sub(x[a1], origin))
	v := sub(x[a2], origin)
	e2 := unit(sub(v, scale(dot(v, e1), e1)))
	e3 := cross(e1, e2)
	rot = [3]Vec3{e1, e2, e3}
	canon = make([]Vec3, len(x))
	for k, p := range x {
		d := sub(p, origin)
		canon[k] = Vec3{dot(e1, d), dot(e2, d), dot(e3, d)}
	}
	return canon, rot, origin
}

// LogDetJacobian is log |det J| of the map from all D internal coordinates
// to the 3N-6 free Cartesian coordinates of the canonical frame, at ic:
// the sum over entries of log(r^2 sin theta), plus log r for the third frame
// atom (its placement in the plane is polar) and nothing for the second.
// See Spec.LogDetJacobian for the free-coordinate version.
func (z *ZMatrix) LogDetJacobian(ic []float64) float64 {
	s := 0.0
	for p := 2; p < len(z.Entries); p++ {
		r := ic[z.BondIndex(p)]
		s += math.Log(r)
		if p >= 3 {
			s += math.Log(r) + math.Log(math.Abs(math.Sin(ic[z.AngleIndex(p)])))
		}
	}
	return s
}

// MaxBondSlack is how much longer than the sum of covalent radii a bond may
// be in CheckBonds (nm).
const MaxBondSlack = 0.05

// CheckBonds refuses a structure in which a bond of the topology is longer
// than the two atoms' covalent radii plus MaxBondSlack: a gap in the chain
// (missing residues that the PDB reader bonded across, as OpenMM does), or
// positions that do not belong to the topology. The error names both
// residues and atoms. Spec.Fit checks the first frame.
func (z *ZMatrix) CheckBonds(x []Vec3) error {
	if len(x) != len(z.Top.Atoms) {
		return fmt.Errorf("ic: %d positions for a topology of %d atoms", len(x), len(z.Top.Atoms))
	}
	for _, b := range z.Top.Bonds {
		ai, aj := z.Top.Atoms[b.I], z.Top.Atoms[b.J]
		if ai.Element == nil || aj.Element == nil {
			continue
		}
		d := Distance(x[b.I], x[b.J])
		if lim := ai.Element.CovalentRadius + aj.Element.CovalentRadius + MaxBondSlack; d > lim || math.IsNaN(d) {
			what := "bond"
			if ai.Residue != aj.Residue {
				what = "chain broken"
			}
			return fmt.Errorf("ic: %s between residue %s (atom %s) and residue %s (atom %s): distance %.3f nm > %.3f nm",
				what, ai.Residue, ai.Name, aj.Residue, aj.Name, d, lim)
		}
	}
	return nil
}
