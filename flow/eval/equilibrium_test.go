package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
)

// mirrored returns x reflected through the yz plane: every dihedral changes
// sign, so a beta frame (phi < 0) becomes an alpha-L-like one (phi > 0).
func mirrored(x []molecule.Vec3) []molecule.Vec3 {
	y := make([]molecule.Vec3, len(x))
	for i, v := range x {
		y[i] = molecule.Vec3{-v[0], v[1], v[2]}
	}
	return y
}

func TestCheckMD(t *testing.T) {
	d := loadMD(t, "ala2")
	all := d.frames[:4000] // a 4-ns run
	// The last quarter mirrored: 25% of frames with phi > 0, all late.
	late := append([][]molecule.Vec3(nil), all...)
	for i := 3000; i < 4000; i++ {
		late[i] = mirrored(all[i])
	}
	// Every 50th frame mirrored: 2% with phi > 0, spread evenly.
	spread := append([][]molecule.Vec3(nil), all...)
	for i := 0; i < 4000; i += 50 {
		spread[i] = mirrored(all[i])
	}
	for _, tc := range []struct {
		name     string
		frames   [][]molecule.Vec3
		posPhi   float64 // expected fraction with phi > 0
		ok       bool
		noteWant string
	}{
		{"reference MD", all, 0, true, ""},
		{"2% alpha-L spread over the run", spread, 0.02, true, ""},
		{"last quarter in alpha-L", late, 0.25, false, "phi > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CheckMD(d.top, tc.frames, 1, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("phi>0 %.4f (quarters %.3f), halves TV %.3f, notes %q", c.PositivePhi, c.PositivePhiQuarters, c.HalvesTV, c.Notes)
			// The reference run has 3 of 20,000 frames with phi > 0, none in
			// its first 4,000 (mdtraj agrees); the mirrored frames add theirs.
			if math.Abs(c.PositivePhi-tc.posPhi) > 0.5/float64(len(tc.frames)) {
				t.Errorf("phi > 0 fraction %g, want %g", c.PositivePhi, tc.posPhi)
			}
			if c.Equilibrated != tc.ok {
				t.Errorf("equilibrated %v, want %v", c.Equilibrated, tc.ok)
			}
			if tc.noteWant != "" && !strings.Contains(strings.Join(c.Notes, "\n"), tc.noteWant) {
				t.Errorf("notes %q lack %q", c.Notes, tc.noteWant)
			}
		})
	}
	c, err := CheckMD(d.top, late, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := [4]float64{0, 0, 0, 1}; c.PositivePhiQuarters != want {
		t.Errorf("quarters %v, want %v", c.PositivePhiQuarters, want)
	}
	// The halves of the late-mirrored run: the second half has 50% of its
	// frames mirrored, so its histogram moves half its mass.
	if !(c.HalvesTV > 0.4) {
		t.Errorf("halves TV %g for a run that moved half its second half", c.HalvesTV)
	}
	if _, err := CheckMD(d.top, all, 0, 0, 0); err == nil || !strings.Contains(err.Error(), "residue 0") {
		t.Errorf("cap residue: %v", err)
	}
	if _, err := CheckMD(d.top, all[:5], 1, 0, 0); err == nil {
		t.Error("5 frames: no error")
	}
}
