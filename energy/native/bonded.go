package native

import (
	"math"

	"github.com/gobg/gobg/energy/forcefield"
)

type bond struct {
	i, j   int32
	length float64
	halfK  float64 // K/2
	k      float64 // K, for the force
}

type angle struct {
	i, j, k int32
	theta   float64
	k2      float64 // K/2
	kf      float64 // K
}

type torsion struct {
	i, j, k, l int32
	n          int // periodicity
	kf         float64
	// cos and sin of the phase: cos(nφ - φ0) = cos nφ cos φ0 + sin nφ sin φ0.
	cosPh, sinPh float64
}

func newBonds(src []forcefield.Bond) []bond {
	out := make([]bond, len(src))
	for a, b := range src {
		out[a] = bond{i: int32(b.Atoms[0]), j: int32(b.Atoms[1]), length: b.Length, halfK: b.K / 2, k: b.K}
	}
	return out
}

func newAngles(src []forcefield.Angle) []angle {
	out := make([]angle, len(src))
	for a, t := range src {
		out[a] = angle{i: int32(t.Atoms[0]), j: int32(t.Atoms[1]), k: int32(t.Atoms[2]), theta: t.Theta, k2: t.K / 2, kf: t.K}
	}
	return out
}

func newTorsions(src []forcefield.Torsion) []torsion {
	out := make([]torsion, len(src))
	for a, t := range src {
		out[a] = torsion{i: int32(t.Atoms[0]), j: int32(t.Atoms[1]), k: int32(t.Atoms[2]), l: int32(t.Atoms[3]),
			n: t.Periodicity, kf: t.K, cosPh: math.Cos(t.Phase), sinPh: math.Sin(t.Phase)}
	}
	return out
}

// bondEnergy: E = K/2 (r - r0)².
func (e *Energy) bondEnergy(w *workspace, forces bool) float64 {
	x, y, z := w.x, w.y, w.z
	en := 0.0
	for _, b := range e.bonds {
		dx, dy, dz := x[b.i]-x[b.j], y[b.i]-y[b.j], z[b.i]-z[b.j]
		r := math.Sqrt(dx*dx + dy*dy + dz*dz)
		d := r - b.length
		en += b.halfK * d * d
		if forces && r > 0 {
			// -dE/dr along the unit vector from j to i.
			g := -b.k * d / r
			w.fx[b.i] += g * dx
			w.fy[b.i] += g * dy
			w.fz[b.i] += g * dz
			w.fx[b.j] -= g * dx
			w.fy[b.j] -= g * dy
			w.fz[b.j] -= g * dz
		}
	}
	return en
}

// angleEnergy: E = K/2 (θ - θ0)², θ the angle at the middle atom, computed
// with atan2 so that it stays accurate near 0 and π.
func (e *Energy) angleEnergy(w *workspace, forces bool) float64 {
	x, y, z := w.x, w.y, w.z
	en := 0.0
	for _, a := range e.angles {
		ux, uy, uz := x[a.i]-x[a.j], y[a.i]-y[a.j], z[a.i]-z[a.j]
		vx, vy, vz := x[a.k]-x[a.j], y[a.k]-y[a.j], z[a.k]-z[a.j]
		px, py, pz := uy*vz-uz*vy, uz*vx-ux*vz, ux*vy-uy*vx
		pn := math.Sqrt(px*px + py*py + pz*pz)
		dot := ux*vx + uy*vy + uz*vz
		theta := math.Atan2(pn, dot)
		d := theta - a.theta
		en += a.k2 * d * d
		if !forces || pn == 0 {
			// A straight or collapsed angle has no defined gradient
			// direction; its force is left at zero.
			continue
		}
		dEdT := a.kf * d
		// dθ/dx_i = (u × p)/(|u|²|p|), dθ/dx_k = -(v × p)/(|v|²|p|).
		cu := -dEdT / ((ux*ux + uy*uy + uz*uz) * pn)
		cv := dEdT / ((vx*vx + vy*vy + vz*vz) * pn)
		fix, fiy, fiz := cu*(uy*pz-uz*py), cu*(uz*px-ux*pz), cu*(ux*py-uy*px)
		fkx, fky, fkz := cv*(vy*pz-vz*py), cv*(vz*px-vx*pz), cv*(vx*py-vy*px)
		w.fx[a.i] += fix
		w.fy[a.i] += fiy
		w.fz[a.i] += fiz
		w.fx[a.k] += fkx
		w.fy[a.k] += fky
		w.fz[a.k] += fkz
		w.fx[a.j] -= fix + fkx
		w.fy[a.j] -= fiy + fky
		w.fz[a.j] -= fiz + fkz
	}
	return en
}

// torsionEnergy: E = K (1 + cos(nφ - φ0)). φ follows the IUPAC convention
// that OpenMM uses: with b1 = x2-x1, b2 = x3-x2, b3 = x4-x3, m = b1×b2 and
// n = b2×b3, cos φ = m·n/(|m||n|) and sin φ = |b2| b1·n/(|m||n|), 180° for a
// trans chain. cos nφ and sin nφ follow from cos φ and sin φ by the angle
// addition recurrence, which avoids atan2, cos and sin per term.
func (e *Energy) torsionEnergy(w *workspace, forces bool) float64 {
	x, y, z := w.x, w.y, w.z
	en := 0.0
	for _, t := range e.torsions {
		b1x, b1y, b1z := x[t.j]-x[t.i], y[t.j]-y[t.i], z[t.j]-z[t.i]
		b2x, b2y, b2z := x[t.k]-x[t.j], y[t.k]-y[t.j], z[t.k]-z[t.j]
		b3x, b3y, b3z := x[t.l]-x[t.k], y[t.l]-y[t.k], z[t.l]-z[t.k]
		mx, my, mz := b1y*b2z-b1z*b2y, b1z*b2x-b1x*b2z, b1x*b2y-b1y*b2x
		nx, ny, nz := b2y*b3z-b2z*b3y, b2z*b3x-b2x*b3z, b2x*b3y-b2y*b3x
		b2sq := b2x*b2x + b2y*b2y + b2z*b2z
		b2n := math.Sqrt(b2sq)
		m2 := mx*mx + my*my + mz*mz
		n2 := nx*nx + ny*ny + nz*nz
		cosPhi, sinPhi := 1.0, 0.0 // φ = 0 for collinear atoms, like atan2(0, 0)
		if mn := math.Sqrt(m2 * n2); mn > 0 {
			inv := 1 / mn
			cosPhi = (mx*nx + my*ny + mz*nz) * inv
			sinPhi = b2n * (b1x*nx + b1y*ny + b1z*nz) * inv
		}
		cn, sn := cosPhi, sinPhi // cos kφ, sin kφ for k = 1..n
		if t.n == 0 {
			cn, sn = 1, 0
		}
		for range t.n - 1 {
			cn, sn = cn*cosPhi-sn*sinPhi, sn*cosPhi+cn*sinPhi
		}
		en += t.kf * (1 + cn*t.cosPh + sn*t.sinPh)
		if !forces || m2 == 0 || n2 == 0 || b2sq == 0 {
			// Three collinear atoms: the gradient of φ is undefined,
			// the force is left at zero.
			continue
		}
		// dE/dφ = -K n sin(nφ - φ0).
		dEdPhi := -t.kf * float64(t.n) * (sn*t.cosPh - cn*t.sinPh)
		// Gradient of φ (Blondel & Karplus 1996):
		// dφ/dx1 = -|b2|/|m|² m, dφ/dx4 = |b2|/|n|² n.
		g1 := dEdPhi * b2n / m2
		g4 := -dEdPhi * b2n / n2
		f1x, f1y, f1z := g1*mx, g1*my, g1*mz
		f4x, f4y, f4z := g4*nx, g4*ny, g4*nz
		p := (b1x*b2x + b1y*b2y + b1z*b2z) / b2sq
		q := (b3x*b2x + b3y*b2y + b3z*b2z) / b2sq
		// Atom 1 sits at -p and atom 4 at 1+q along the axis (in units
		// of |b2| from atom 2); zero net force and zero torque give
		// F3 = p F1 - (1+q) F4 and F2 = -(1+p) F1 + q F4.
		f2x, f2y, f2z := -(1+p)*f1x+q*f4x, -(1+p)*f1y+q*f4y, -(1+p)*f1z+q*f4z
		f3x, f3y, f3z := -f1x-f2x-f4x, -f1y-f2y-f4y, -f1z-f2z-f4z
		w.fx[t.i] += f1x
		w.fy[t.i] += f1y
		w.fz[t.i] += f1z
		w.fx[t.j] += f2x
		w.fy[t.j] += f2y
		w.fz[t.j] += f2z
		w.fx[t.k] += f3x
		w.fy[t.k] += f3y
		w.fz[t.k] += f3z
		w.fx[t.l] += f4x
		w.fy[t.l] += f4y
		w.fz[t.l] += f4z
	}
	return en
}
