package ic

import (
	"fmt"
	"math"
)

// Mode chooses which coordinates the flow models.
type Mode uint8

const (
	// Reduced fixes every bond length and every side-chain angle at its
	// reference value; backbone angles, all torsions and the inter-chain
	// coordinates are free (the representation of Kim et al. 2024).
	Reduced Mode = iota
	// Full leaves every internal coordinate free.
	Full
)

func (m Mode) String() string {
	switch m {
	case Reduced:
		return "reduced"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode reads "reduced" or "full".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "reduced":
		return Reduced, nil
	case "full":
		return Full, nil
	}
	return 0, fmt.Errorf("ic: unknown mode %q (want reduced or full)", s)
}

// IsFree reports whether a coordinate of class c is free in mode m.
func (m Mode) IsFree(c Coord) bool {
	if m == Full {
		return true
	}
	switch c.Class {
	case ClassBond, ClassSideChainAngle:
		return false
	}
	return true
}

// Normalisation of the free coordinates into the flow's domain:
//   - torsions stay in radians on [-pi, pi) (circular; identity map),
//     unless FitTorsionWindows gave them a window [Lo, Hi] narrower than
//     the circle: then they are unwrapped around the window's centre and
//     mapped affinely onto [-1, 1] like angles;
//   - free angles and bonds map affinely from [Lo, Hi] onto [-1, 1].
//
// Lo and Hi come from the training frames: the observed range widened on
// each side by half its width (at least MinAngleMargin / MinBondMargin),
// then clipped to the physical range (angles inside (0, pi), bonds > 0).
const (
	MinAngleMargin = 0.1   // rad
	MinBondMargin  = 0.005 // nm
	angleClip      = 1e-3  // rad kept from 0 and pi
)

// Spec is the reduced (or full) internal-coordinate representation of a
// topology: which coordinates are free, the values of the fixed ones, and
// the normalisation of the free ones.
type Spec struct {
	Z    *ZMatrix
	Mode Mode
	// Free lists the free coordinates (indices into Z.Coords()), increasing.
	Free []int
	// Ref is the reference value of every coordinate (length D): the mean
	// over the fitting frames (the circular mean for torsions). Fixed
	// coordinates take this value.
	Ref []float64
	// Lo and Hi bound the normalisation of each free bond and angle (length
	// D). For torsions they are -pi and pi (circular), or a window of
	// width less than 2 pi around the torsion's circular mean
	// (FitTorsionWindows), whose ends may lie beyond ±pi.
	Lo, Hi []float64
	// Frames is the number of frames Ref was computed from.
	Frames int
}

// NewSpec returns an unfitted Spec for z; call Fit before using it.
func NewSpec(z *ZMatrix) *Spec { return &Spec{Z: z} }

// FitSpec builds and fits a Spec in one call.
func FitSpec(z *ZMatrix, frames [][]Vec3, mode Mode) (*Spec, error) {
	s := NewSpec(z)
	if err := s.Fit(frames, mode); err != nil {
		return nil, err
	}
	return s, nil
}

// Fit sets the mode, the reference values (means over frames; one frame
// gives that structure's values) and the normalisation bounds.
func (s *Spec) Fit(frames [][]Vec3, mode Mode) error {
	if len(frames) == 0 {
		return fmt.Errorf("ic: Fit needs at least one frame")
	}
	if mode != Reduced && mode != Full {
		return fmt.Errorf("ic: unknown mode %d", mode)
	}
	z := s.Z
	d := z.NumCoords()
	coords := z.Coords()
	sum := make([]float64, d)
	sumSin := make([]float64, d)
	lo := make([]float64, d)
	hi := make([]float64, d)
	for k := range lo {
		lo[k], hi[k] = math.Inf(1), math.Inf(-1)
	}
	if err := z.CheckBonds(frames[0]); err != nil {
		return fmt.Errorf("ic: fit frame 0: %w", err)
	}
	ic := make([]float64, d)
	for f, x := range frames {
		if err := z.Internal(x, ic); err != nil {
			return fmt.Errorf("ic: fit frame %d: %w", f, err)
		}
		for k, v := range ic {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("ic: fit frame %d: coordinate %s is %v (overlapping or collinear atoms)", f, coords[k].Name, v)
			}
			if coords[k].Kind == Torsion {
				sum[k] += math.Cos(v)
				sumSin[k] += math.Sin(v)
			} else {
				sum[k] += v
			}
			lo[k], hi[k] = min(lo[k], v), max(hi[k], v)
		}
	}
	nf := float64(len(frames))
	s.Mode, s.Frames = mode, len(frames)
	s.Ref = make([]float64, d)
	s.Lo, s.Hi = lo, hi
	s.Free = s.Free[:0]
	for k, c := range coords {
		switch c.Kind {
		case Torsion:
			s.Ref[k] = math.Atan2(sumSin[k], sum[k])
			lo[k], hi[k] = -math.Pi, math.Pi
		case Angle:
			s.Ref[k] = sum[k] / nf
			m := max(0.5*(hi[k]-lo[k]), MinAngleMargin)
			lo[k], hi[k] = max(lo[k]-m, angleClip), min(hi[k]+m, math.Pi-angleClip)
		case Bond:
			s.Ref[k] = sum[k] / nf
			m := max(0.5*(hi[k]-lo[k]), MinBondMargin)
			lo[k], hi[k] = max(lo[k]-m, 0.1*lo[k]), hi[k]+m
		}
		if mode.IsFree(c) {
			s.Free = append(s.Free, k)
		}
	}
	return nil
}

// NumFree is the number of free coordinates (the flow's dimension).
func (s *Spec) NumFree() int { return len(s.Free) }

// FreeCoords describes the free coordinates in the order of the flow's vector.
func (s *Spec) FreeCoords() []Coord {
	out := make([]Coord, len(s.Free))
	for j, k := range s.Free {
		out[j] = s.Z.coords[k]
	}
	return out
}

// Circular reports, for each free coordinate, whether it is a torsion on
// the whole circle (periodic on [-pi, pi)); the others, windowed torsions
// included, live on [-1, 1].
func (s *Spec) Circular() []bool {
	out := make([]bool, len(s.Free))
	for j, k := range s.Free {
		out[j] = s.circular(k)
	}
	return out
}

// circular says whether coordinate k is a torsion normalised on the whole
// circle (not windowed).
func (s *Spec) circular(k int) bool {
	return s.Z.coords[k].Kind == Torsion && s.Lo[k] == -math.Pi && s.Hi[k] == math.Pi
}

// windowed says whether coordinate k is a torsion that FitTorsionWindows
// put on an interval; its values are unwrapped around windowCentre(k).
func (s *Spec) windowed(k int) bool {
	return s.Z.coords[k].Kind == Torsion && !s.circular(k)
}

func (s *Spec) windowCentre(k int) float64 { return 0.5 * (s.Lo[k] + s.Hi[k]) }

// Windowed counts the free torsions that FitTorsionWindows put on an
// interval.
func (s *Spec) Windowed() int {
	n := 0
	for _, k := range s.Free {
		if s.windowed(k) {
			n++
		}
	}
	return n
}

// FitTorsionWindows puts every free torsion whose values in frames stay
// close to its circular mean on an interval instead of the circle: the
// observed range of deviations from the mean, widened on each side by half
// its width (at least MinAngleMargin), becomes [Lo, Hi] when it is at most
// maxWidth radians wide (maxWidth < 2 pi). Peptide bonds (omega), the
// impropers that place O, H, CB and HA, and the siblings of a methyl's
// first hydrogen qualify; phi, psi and rotors do not. A narrow torsion on
// the circle leaves most of a circular spline's bins where the torsion
// never goes; on its window the flow gets the whole spline and an affine
// scale, as for angles. It returns how many torsions were windowed. The
// density of a windowed torsion is zero outside its window, like that of
// a bond or an angle outside its [Lo, Hi].
func (s *Spec) FitTorsionWindows(frames [][]Vec3, maxWidth float64) (int, error) {
	if err := s.checkFitted(); err != nil {
		return 0, err
	}
	if !(maxWidth > 0) || !(maxWidth < 2*math.Pi) {
		return 0, fmt.Errorf("ic: torsion window %g rad: want 0 < width < 2 pi", maxWidth)
	}
	if len(frames) == 0 {
		return 0, fmt.Errorf("ic: FitTorsionWindows needs at least one frame")
	}
	var tors []int
	for _, k := range s.Free {
		if s.circular(k) {
			tors = append(tors, k)
		}
	}
	dlo, dhi := make([]float64, len(tors)), make([]float64, len(tors))
	ic := make([]float64, s.Z.NumCoords())
	for f, x := range frames {
		if err := s.Z.Internal(x, ic); err != nil {
			return 0, fmt.Errorf("ic: torsion windows, frame %d: %w", f, err)
		}
		for i, k := range tors {
			d := wrapAngle(ic[k] - s.Ref[k])
			if math.IsNaN(d) {
				return 0, fmt.Errorf("ic: torsion windows, frame %d: coordinate %s is NaN", f, s.Z.coords[k].Name)
			}
			dlo[i], dhi[i] = min(dlo[i], d), max(dhi[i], d)
		}
	}
	n := 0
	for i, k := range tors {
		m := max(0.5*(dhi[i]-dlo[i]), MinAngleMargin)
		lo, hi := s.Ref[k]+dlo[i]-m, s.Ref[k]+dhi[i]+m
		if hi-lo <= maxWidth {
			s.Lo[k], s.Hi[k] = lo, hi
			n++
		}
	}
	return n, nil
}

// normScale is dv/dz of the normalisation of coordinate k.
func (s *Spec) normScale(k int) float64 {
	if s.circular(k) {
		return 1
	}
	return 0.5 * (s.Hi[k] - s.Lo[k])
}

// LogDetNormalization is the log-determinant of the map from the
// normalised free vector z to the free internal coordinates (a constant).
func (s *Spec) LogDetNormalization() float64 {
	t := 0.0
	for _, k := range s.Free {
		t += math.Log(s.normScale(k))
	}
	return t
}

func (s *Spec) checkFitted() error {
	if s.Ref == nil {
		return fmt.Errorf("ic: Spec is not fitted (call Fit)")
	}
	return nil
}

// Normalize maps full internal coordinates ic (length D) to the flow's free
// vector z (length NumFree).
func (s *Spec) Normalize(ic, z []float64) {
	for j, k := range s.Free {
		v := ic[k]
		switch {
		case s.circular(k):
			z[j] = wrapAngle(v)
			continue
		case s.windowed(k):
			// The representative of v nearest the window's centre.
			c := s.windowCentre(k)
			v = c + wrapAngle(v-c)
		}
		z[j] = (v-s.Lo[k])/s.normScale(k) - 1
	}
}

// Denormalize maps the free vector z back to full internal coordinates ic
// (length D), filling the fixed coordinates with their reference values.
func (s *Spec) Denormalize(z, ic []float64) {
	copy(ic, s.Ref)
	for j, k := range s.Free {
		switch {
		case s.circular(k):
			ic[k] = z[j]
		case s.windowed(k):
			ic[k] = wrapAngle(s.Lo[k] + (z[j]+1)*s.normScale(k))
		default:
			ic[k] = s.Lo[k] + (z[j]+1)*s.normScale(k)
		}
	}
}

// LogDetJacobian is log of the volume factor of the map from the free
// internal coordinates (not normalised) to Cartesian positions in the
// canonical frame, at ic: the sum over free coordinates of the log of the
// length of that coordinate's column on its own atom, which is 1 for a bond,
// r for an angle and r sin(theta) for a torsion (r and theta are the bond and
// angle of the same entry). In Full mode this is exactly log|det J|. In
// Reduced mode it is log|det J| of the full map evaluated with the fixed
// coordinates at their values, up to a constant — the factor under which
// exp(-u(x)) becomes the marginal density of the free coordinates when the
// fixed ones are stiff (unconstrained MD). It is not the Gram volume
// sqrt(det(J^T J)) of the reduced manifold, which also depends on the
// positions of all downstream atoms (see GramLogDet).
func (s *Spec) LogDetJacobian(ic []float64) float64 {
	z := s.Z
	t := 0.0
	for _, k := range s.Free {
		c := z.coords[k]
		p := c.Entry
		switch c.Kind {
		case Angle:
			t += math.Log(ic[z.BondIndex(p)])
		case Torsion:
			t += math.Log(ic[z.BondIndex(p)]) + math.Log(math.Abs(math.Sin(ic[z.AngleIndex(p)])))
		}
	}
	return t
}

// ToInternal maps one structure to the flow's free vector z and returns
// log|dz/dx|, which is minus ToCartesian's logDet at z (with the fixed
// coordinates at their reference values).
func (s *Spec) ToInternal(x []Vec3) (z []float64, logDet float64, err error) {
	if err := s.checkFitted(); err != nil {
		return nil, 0, err
	}
	ic := make([]float64, s.Z.NumCoords())
	if err := s.Z.Internal(x, ic); err != nil {
		return nil, 0, err
	}
	z = make([]float64, len(s.Free))
	s.Normalize(ic, z)
	// The log-det is ToCartesian's at z: fixed coordinates at Ref.
	s.Denormalize(z, ic)
	return z, -(s.LogDetJacobian(ic) + s.LogDetNormalization()), nil
}

// ToCartesian maps the flow's free vector z to positions in the canonical
// frame and returns log|dx/dz| (see LogDetJacobian) including the
// normalisation.
func (s *Spec) ToCartesian(z []float64) (x []Vec3, logDet float64, err error) {
	if err := s.checkFitted(); err != nil {
		return nil, 0, err
	}
	if len(z) != len(s.Free) {
		return nil, 0, fmt.Errorf("ic: free vector has %d values, want %d", len(z), len(s.Free))
	}
	ic := make([]float64, s.Z.NumCoords())
	s.Denormalize(z, ic)
	x = make([]Vec3, s.Z.NumAtoms())
	if err := s.Z.Cartesian(ic, x); err != nil {
		return nil, 0, err
	}
	return x, s.LogDetJacobian(ic) + s.LogDetNormalization(), nil
}

// Reconstruct returns x rebuilt with its fixed coordinates replaced by the
// reference values (free coordinates kept), in the canonical frame. In Full
// mode it is x in the canonical frame.
func (s *Spec) Reconstruct(x []Vec3) ([]Vec3, error) {
	if err := s.checkFitted(); err != nil {
		return nil, err
	}
	ic := make([]float64, s.Z.NumCoords())
	if err := s.Z.Internal(x, ic); err != nil {
		return nil, err
	}
	full := append([]float64(nil), s.Ref...)
	for _, k := range s.Free {
		full[k] = ic[k]
	}
	out := make([]Vec3, len(x))
	if err := s.Z.Cartesian(full, out); err != nil {
		return nil, err
	}
	return out, nil
}
