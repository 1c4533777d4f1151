package ic

import (
	"math"
	"slices"
	"testing"
)

func TestSpecModes(t *testing.T) {
	s := loadSystem(t, "hp35", false)
	for _, mode := range []Mode{Reduced, Full} {
		spec, err := FitSpec(s.z, [][]Vec3{s.pdb}, mode)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[Class]int{}
		for _, c := range spec.FreeCoords() {
			counts[c.Class]++
		}
		all := map[Class]int{}
		for _, c := range s.z.Coords() {
			all[c.Class]++
		}
		if mode == Full && spec.NumFree() != s.z.NumCoords() {
			t.Errorf("full: %d free of %d", spec.NumFree(), s.z.NumCoords())
		}
		if mode == Reduced {
			if counts[ClassBond] != 0 || counts[ClassSideChainAngle] != 0 {
				t.Errorf("reduced frees fixed classes: %v", counts)
			}
			for _, c := range []Class{ClassBackboneAngle, ClassBackboneTorsion, ClassSideChainTorsion} {
				if counts[c] != all[c] {
					t.Errorf("reduced: class %s has %d free of %d", c, counts[c], all[c])
				}
			}
		}
		circ := spec.Circular()
		for j, c := range spec.FreeCoords() {
			if circ[j] != (c.Kind == Torsion) {
				t.Fatalf("Circular()[%d] wrong", j)
			}
		}
		t.Logf("hp35 %s: %d free coordinates (%v)", mode, spec.NumFree(), counts)
	}
	if _, err := ParseMode("half"); err == nil {
		t.Error("ParseMode accepted nonsense")
	}
}

func TestFitErrors(t *testing.T) {
	s := loadSystem(t, "ala2", false)
	if _, err := FitSpec(s.z, nil, Full); err == nil {
		t.Error("fit without frames accepted")
	}
	if _, err := FitSpec(s.z, [][]Vec3{s.pdb[:5]}, Full); err == nil {
		t.Error("fit with a short frame accepted")
	}
	if _, _, err := NewSpec(s.z).ToCartesian(nil); err == nil {
		t.Error("unfitted spec used")
	}
}

// TestFitAndNormalize: one frame gives that frame's values as references;
// the training frames normalise into [-1, 1] (bonds, angles) and [-pi, pi)
// (torsions), and Denormalize inverts Normalize.
func TestFitAndNormalize(t *testing.T) {
	s := loadSystem(t, "hp35", true)
	ic := make([]float64, s.z.NumCoords())
	if err := s.z.Internal(s.pdb, ic); err != nil {
		t.Fatal(err)
	}
	one, err := FitSpec(s.z, [][]Vec3{s.pdb}, Reduced)
	if err != nil {
		t.Fatal(err)
	}
	for k := range ic {
		if math.Abs(wrapAngle(one.Ref[k]-ic[k])) > 1e-12 {
			t.Fatalf("%s: Ref %v, structure %v", s.z.Coords()[k].Name, one.Ref[k], ic[k])
		}
	}
	spec, err := FitSpec(s.z, sample(s.frames, 200), Full)
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float64, spec.NumFree())
	back := make([]float64, s.z.NumCoords())
	for _, x := range sample(s.frames, 50) {
		if err := s.z.Internal(x, ic); err != nil {
			t.Fatal(err)
		}
		spec.Normalize(ic, z)
		for j, c := range spec.FreeCoords() {
			lim := 1.0
			if c.Kind == Torsion {
				lim = math.Pi
			}
			if z[j] < -lim || z[j] > lim || (c.Kind == Torsion && z[j] == math.Pi) {
				t.Fatalf("%s normalised to %v", c.Name, z[j])
			}
		}
		spec.Denormalize(z, back)
		for k := range ic {
			if math.Abs(back[k]-ic[k]) > 1e-12 {
				t.Fatalf("%s: %v -> %v", s.z.Coords()[k].Name, ic[k], back[k])
			}
		}
	}
}

// TestReconstructReduced: the reduced reconstruction keeps the structure's
// free coordinates and sets the fixed ones to their references.
func TestReconstructReduced(t *testing.T) {
	s := loadSystem(t, "hp35", true)
	spec, err := FitSpec(s.z, s.frames, Reduced)
	if err != nil {
		t.Fatal(err)
	}
	isFree := map[int]bool{}
	for _, k := range spec.Free {
		isFree[k] = true
	}
	ic := make([]float64, s.z.NumCoords())
	got := make([]float64, s.z.NumCoords())
	for _, x := range sample(s.frames, 10) {
		y, err := spec.Reconstruct(x)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.z.Internal(x, ic)
		_ = s.z.Internal(y, got)
		for k := range ic {
			want := spec.Ref[k]
			if isFree[k] {
				want = ic[k]
			}
			if math.Abs(wrapAngle(got[k]-want)) > 1e-9 {
				t.Fatalf("%s: %v, want %v", s.z.Coords()[k].Name, got[k], want)
			}
		}
		// CPU ToInternal/ToCartesian agree with Reconstruct, and their log-dets are opposite.
		zf, ldIn, err := spec.ToInternal(x)
		if err != nil {
			t.Fatal(err)
		}
		xc, ldOut, err := spec.ToCartesian(zf)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDev(xc, y); d > 1e-12 {
			t.Fatalf("ToCartesian(ToInternal(x)) differs from Reconstruct by %g", d)
		}
		if math.Abs(ldIn+ldOut) > 1e-9 {
			t.Fatalf("log-dets %v and %v are not opposite", ldIn, ldOut)
		}
	}
}

// TestFitTorsionWindows fits windows on alanine dipeptide's MD frames and
// checks which torsions get them (the peptide bonds and the impropers, not
// phi, psi or the methyl rotors), that every frame normalises inside
// [-1, 1] and back (torsions compared on the circle), that the
// normalisation's log-det gains the log of each window's half-width, and
// the argument errors.
func TestFitTorsionWindows(t *testing.T) {
	s := loadSystem(t, "ala2", true)
	spec, err := FitSpec(s.z, s.frames, Full)
	if err != nil {
		t.Fatal(err)
	}
	ld0 := spec.LogDetNormalization()
	for _, w := range []float64{0, -1, 2 * math.Pi, math.NaN()} {
		if _, err := spec.FitTorsionWindows(s.frames, w); err == nil {
			t.Errorf("width %g: no error", w)
		}
	}
	n, err := spec.FitTorsionWindows(s.frames, math.Pi)
	if err != nil {
		t.Fatal(err)
	}
	if n != spec.Windowed() {
		t.Errorf("FitTorsionWindows says %d, Windowed %d", n, spec.Windowed())
	}
	want := 0.0
	circ := spec.Circular()
	var windowed, circular []string
	for j, c := range spec.FreeCoords() {
		if c.Kind != Torsion {
			continue
		}
		k := spec.Free[j]
		if circ[j] {
			circular = append(circular, c.Name)
			continue
		}
		windowed = append(windowed, c.Name)
		want += math.Log(0.5 * (spec.Hi[k] - spec.Lo[k]))
		if !(spec.Hi[k]-spec.Lo[k] <= math.Pi) {
			t.Errorf("%s: window [%g, %g] wider than pi", c.Name, spec.Lo[k], spec.Hi[k])
		}
		switch c.Torsion {
		case Phi, Psi, Rotor:
			t.Errorf("%s (%s) got a window [%g, %g]", c.Name, c.Torsion, spec.Lo[k], spec.Hi[k])
		}
	}
	t.Logf("windowed %d: %v; on the circle: %v", n, windowed, circular)
	for _, c := range spec.FreeCoords() {
		if c.Torsion == Omega && slices.Contains(circular, c.Name) {
			t.Errorf("peptide bond %s stayed on the circle", c.Name)
		}
	}
	if got := spec.LogDetNormalization() - ld0; math.Abs(got-want) > 1e-12 {
		t.Errorf("log-det of the normalisation changed by %g, want %g", got, want)
	}
	ic := make([]float64, s.z.NumCoords())
	back := make([]float64, s.z.NumCoords())
	z := make([]float64, spec.NumFree())
	for f, x := range s.frames {
		if err := s.z.Internal(x, ic); err != nil {
			t.Fatal(err)
		}
		spec.Normalize(ic, z)
		for j := range z {
			if !circ[j] && (z[j] < -1 || z[j] > 1) {
				t.Fatalf("frame %d: %s normalised to %g", f, spec.FreeCoords()[j].Name, z[j])
			}
		}
		spec.Denormalize(z, back)
		for k := range ic {
			if d := math.Abs(wrapAngle(back[k] - ic[k])); d > 1e-12 {
				t.Fatalf("frame %d: %s: %v -> %v", f, s.z.Coords()[k].Name, ic[k], back[k])
			}
		}
	}
}
