package eval

import (
	"math"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
)

// clashTopology: C1-C2-C3-C4 bonded in a chain, H6 bonded to C1, and two
// unbonded atoms O5 and N7.
func clashTopology() *molecule.Topology {
	top := &molecule.Topology{}
	r := top.AddResidue(top.AddChain("A"), "UNK", 1, "")
	for _, a := range []struct{ name, el string }{
		{"C1", "C"}, {"C2", "C"}, {"C3", "C"}, {"C4", "C"}, {"O5", "O"}, {"H6", "H"}, {"N7", "N"},
	} {
		top.AddAtom(r, a.name, molecule.ElementBySymbol(a.el), 0)
	}
	top.AddBond(0, 1)
	top.AddBond(1, 2)
	top.AddBond(2, 3)
	top.AddBond(0, 5)
	return top
}

func TestClashes(t *testing.T) {
	top := clashTopology()
	// Every pair at least 1 nm apart.
	base := []molecule.Vec3{{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0, 0}, {0, 5, 0}, {0, 0, 5}, {5, 5, 5}}
	// Bondi radii: C 0.17, O 0.152, N 0.155 nm; thresholds at factor 0.7:
	// C-C 0.238, C-O 0.2254, N-O 0.2149 nm.
	near := func(of int, d float64) molecule.Vec3 { // d nm from atom `of` along +z
		p := base[of]
		return molecule.Vec3{p[0], p[1], p[2] + d}
	}
	for _, c := range []struct {
		name  string
		move  int
		to    molecule.Vec3
		pairs [][2]int
		ratio float64 // expected d/(ri+rj) of the closest checked pair when the move makes it
	}{
		{"far apart", -1, molecule.Vec3{}, nil, 0},
		{"1-2 close", 1, near(0, 0.05), nil, 0},
		{"1-3 close", 2, near(0, 0.10), nil, 0},
		{"1-4 below threshold", 3, near(0, 0.20), [][2]int{{0, 3}}, 0.20 / 0.34},
		{"1-4 above threshold", 3, near(0, 0.245), nil, 0.245 / 0.34},
		{"C-O at 0.22", 4, near(1, 0.22), [][2]int{{1, 4}}, 0.22 / 0.322},
		{"C-O at 0.23", 4, near(1, 0.23), nil, 0.23 / 0.322},
		{"H on O", 5, near(4, 0.05), nil, 0},
		{"N-O at 0.20", 6, near(4, 0.20), [][2]int{{4, 6}}, 0.20 / 0.307},
		{"N-O at 0.22", 6, near(4, 0.22), nil, 0.22 / 0.307},
	} {
		x := append([]molecule.Vec3(nil), base...)
		if c.move >= 0 {
			x[c.move] = c.to
		}
		cc, err := NewClashChecker(top, 0)
		if err != nil {
			t.Fatal(err)
		}
		if cc.NumPairs() != 10 { // 6 heavy atoms: 15 pairs, less 3 bonds and 2 1-3 pairs (C1-C3, C2-C4)
			t.Fatalf("%d pairs checked, want 10", cc.NumPairs())
		}
		cl, mr, err := cc.Check(x)
		if err != nil {
			t.Fatal(err)
		}
		var got [][2]int
		for _, k := range cl {
			got = append(got, [2]int{k.I, k.J})
		}
		if len(got) != len(c.pairs) || len(got) > 0 && got[0] != c.pairs[0] {
			t.Errorf("%s: clashes %v, want %v", c.name, got, c.pairs)
		}
		if c.ratio > 0 && math.Abs(mr-c.ratio) > 1e-12 {
			t.Errorf("%s: min ratio %g, want %g", c.name, mr, c.ratio)
		}
		st, err := cc.Stats([][]molecule.Vec3{x, base})
		if err != nil {
			t.Fatal(err)
		}
		wantClashing := 0
		if len(c.pairs) > 0 {
			wantClashing = 1
		}
		if st.Clashing != wantClashing || st.Flags[0] != (wantClashing == 1) || st.Flags[1] {
			t.Errorf("%s: stats %v flags %v", c.name, st, st.Flags)
		}
	}
}

func TestClashStatsNonFinite(t *testing.T) {
	top := clashTopology()
	good := []molecule.Vec3{{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0, 0}, {0, 5, 0}, {0, 0, 5}, {5, 5, 5}}
	bad := append([]molecule.Vec3(nil), good...)
	bad[2][1] = math.NaN()
	cc, err := NewClashChecker(top, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cc.Stats([][]molecule.Vec3{good, bad, good, good})
	if err != nil {
		t.Fatal(err)
	}
	if st.NonFinite != 1 || st.Clashing != 1 || st.Fraction != 0.25 || !st.Flags[1] {
		t.Errorf("stats %v", st)
	}
	if _, _, err := cc.Check(bad); err == nil {
		t.Error("Check of a NaN position: no error")
	}
	if _, err := cc.Stats([][]molecule.Vec3{good[:3]}); err == nil {
		t.Error("Stats of a short frame: no error")
	}
	noBonds := &molecule.Topology{}
	r := noBonds.AddResidue(noBonds.AddChain("A"), "UNK", 1, "")
	noBonds.AddAtom(r, "C1", molecule.ElementBySymbol("C"), 0)
	noBonds.AddAtom(r, "C2", molecule.ElementBySymbol("C"), 0)
	if _, err := NewClashChecker(noBonds, 0); err == nil {
		t.Error("topology without bonds: no error")
	}
	noBonds.AddAtom(r, "X", nil, 0)
	noBonds.AddBond(0, 1)
	if _, err := NewClashChecker(noBonds, 0); err == nil {
		t.Error("atom without element: no error")
	}
}

// TestMDHasNoClashes: equilibrium MD at 300 K has no heavy atoms at 70 % of
// their contact distance, so every frame of the reference trajectories
// must be clash-free; MinRatio says how much room the threshold leaves.
func TestMDHasNoClashes(t *testing.T) {
	for _, sys := range []string{"ala2", "hp35", "protein_g"} {
		d := loadMD(t, sys)
		cc, err := NewClashChecker(d.top, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, err := cc.Stats(d.frames)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d frames, %d pairs: %v", sys, st.N, st.Pairs, st)
		if st.Clashing != 0 {
			t.Errorf("%s: %v, top pairs %v", sys, st, st.TopPairs)
		}
	}
}
