package ic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rotation returns the rotation matrix about unit axis u by angle a.
func rotation(u Vec3, a float64) [3]Vec3 {
	c, s := math.Cos(a), math.Sin(a)
	var r [3]Vec3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			r[i][j] = u[i] * u[j] * (1 - c)
			if i == j {
				r[i][j] += c
			}
		}
	}
	r[0][1] -= u[2] * s
	r[0][2] += u[1] * s
	r[1][0] += u[2] * s
	r[1][2] -= u[0] * s
	r[2][0] -= u[1] * s
	r[2][1] += u[0] * s
	return r
}

func TestSuperpose(t *testing.T) {
	s := loadSystem(t, "hp35", false)
	rng := rand.New(rand.NewPCG(5, 6))
	for k := 0; k < 10; k++ {
		u := unit(Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()})
		r := rotation(u, 2*math.Pi*rng.Float64())
		shift := Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		moved := make([]Vec3, len(s.pdb))
		for i, p := range s.pdb {
			moved[i] = add(Vec3{dot(r[0], p), dot(r[1], p), dot(r[2], p)}, shift)
		}
		rmsd, back, err := Superpose(moved, s.pdb, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rmsd > 1e-12 || maxDev(back, s.pdb) > 1e-12 {
			t.Fatalf("rigid copy superposes with RMSD %g", rmsd)
		}
	}
	// A mirror image must not be superposed by a reflection.
	mirror := make([]Vec3, len(s.pdb))
	for i, p := range s.pdb {
		mirror[i] = Vec3{-p[0], p[1], p[2]}
	}
	if rmsd, _, _ := Superpose(mirror, s.pdb, nil); rmsd < 0.1 {
		t.Errorf("mirror image superposed with RMSD %g nm: reflection not excluded", rmsd)
	}
	// Weights: RMSD of a perturbed structure with weight only on unperturbed atoms is 0.
	pert := append([]Vec3(nil), s.pdb...)
	w := make([]float64, len(pert))
	for i := range pert {
		if i%2 == 0 {
			pert[i] = add(pert[i], Vec3{0.1, 0, 0})
		} else {
			w[i] = 1
		}
	}
	if rmsd, _, _ := Superpose(pert, s.pdb, w); rmsd > 1e-12 {
		t.Errorf("weighted RMSD %g, want 0", rmsd)
	}
	if _, _, err := Superpose(pert[:3], s.pdb, nil); err == nil {
		t.Error("mismatched sizes accepted")
	}
}

// TestReductionCost reports what fixing bonds and side-chain angles does to
// MD frames (RMSD after superposition), and checks that Full mode costs
// nothing and Reduced mode reproduces the free coordinates.
func TestReductionCost(t *testing.T) {
	for _, name := range []string{"hp35", "protein_g"} {
		s := loadSystem(t, name, true)
		frames := sample(s.frames, 20)
		for _, mode := range []Mode{Full, Reduced} {
			spec, err := FitSpec(s.z, s.frames, mode)
			if err != nil {
				t.Fatal(err)
			}
			sum, sumHeavy, worst := 0.0, 0.0, 0.0
			for _, x := range frames {
				rmsd, heavy, recon, err := spec.ReductionCost(x)
				if err != nil {
					t.Fatal(err)
				}
				// The reconstruction is returned in x's frame: its RMSD to x is the reported one.
				direct := 0.0
				for i := range x {
					d := sub(recon[i], x[i])
					direct += dot(d, d)
				}
				if math.Abs(math.Sqrt(direct/float64(len(x)))-rmsd) > 1e-12 {
					t.Fatal("reported RMSD does not match the returned reconstruction")
				}
				sum, sumHeavy, worst = sum+rmsd, sumHeavy+heavy, math.Max(worst, rmsd)
			}
			nf := float64(len(frames))
			t.Logf("%s %s: RMSD of reconstruction after superposition: mean %.4g nm (heavy atoms %.4g), max %.4g nm over %d frames",
				name, mode, sum/nf, sumHeavy/nf, worst, len(frames))
			if mode == Full && worst > 1e-9 {
				t.Errorf("Full mode reconstruction RMSD %g", worst)
			}
			if mode == Reduced && (worst == 0 || worst > 0.1) {
				t.Errorf("Reduced mode reconstruction RMSD %g nm: implausible", worst)
			}
		}
	}
}
