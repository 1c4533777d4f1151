package ic

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// maxLogDetFDErr bounds the relative difference between the analytic
// log-det and the one of a finite-difference Jacobian (h = 1e-6), which the
// differences limit: docs/status.md reports 3e-11 (ala2, full mode) and
// 4e-11 (HP35, reduced).
const maxLogDetFDErr = 1e-9

// TestLogDetFull: in Full mode the analytic log-det (sum of log r^2 sin
// theta) equals log|det J| of an independent finite-difference Jacobian.
func TestLogDetFull(t *testing.T) {
	cases := []struct {
		sys    string
		frames int
	}{{"ala2", 5}, {"hp35", 1}}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, tc := range cases {
		s := loadSystem(t, tc.sys, true)
		spec, err := FitSpec(s.z, s.frames, Full)
		if err != nil {
			t.Fatal(err)
		}
		ic := make([]float64, s.z.NumCoords())
		worst := 0.0
		for _, x := range sample(s.frames, tc.frames) {
			_ = s.z.Internal(x, ic)
			analytic := spec.LogDetJacobian(ic)
			if d := math.Abs(analytic - s.z.LogDetJacobian(ic)); d > 1e-9 {
				t.Fatalf("Spec and ZMatrix log-dets differ by %g in Full mode", d)
			}
			fd, err := spec.logDetFD(ic)
			if err != nil {
				t.Fatal(err)
			}
			rel := math.Abs(analytic-fd) / math.Abs(fd)
			worst = math.Max(worst, rel)
			t.Logf("%s: analytic %.10f, finite differences %.10f, relative difference %.2e", tc.sys, analytic, fd, rel)
		}
		if worst > maxLogDetFDErr {
			t.Errorf("%s: log-det differs from log|det J| of finite differences by %.3g (relative, limit %g)", tc.sys, worst, maxLogDetFDErr)
		}
	}
}

// TestLogDetReduced: in Reduced mode the log-det is the sum of the log
// lengths of each free coordinate's Jacobian column on its own atom;
// measured here from finite-difference columns. The Gram volume
// 0.5 log det(J^T J) of the reduced map differs (it is logged, with its
// spread over frames, and checked against LogDetJacobian in Full mode,
// where the two must agree).
func TestLogDetReduced(t *testing.T) {
	s := loadSystem(t, "hp35", true)
	spec, err := FitSpec(s.z, s.frames, Reduced)
	if err != nil {
		t.Fatal(err)
	}
	nFrames := 3
	if n := os.Getenv("IC_GRAM_FRAMES"); n != "" { // more frames for a report
		nFrames, _ = strconv.Atoi(n)
	}
	if testing.Short() {
		nFrames = 1
	}
	gaps := []float64{}
	for _, x := range sample(s.frames, nFrames) {
		zf, _, _ := spec.ToInternal(x)
		ic := make([]float64, s.z.NumCoords())
		spec.Denormalize(zf, ic)
		fd, err := spec.logDetFD(ic)
		if err != nil {
			t.Fatal(err)
		}
		analytic := spec.LogDetJacobian(ic)
		rel := math.Abs(analytic-fd) / math.Abs(fd)
		t.Logf("hp35 reduced: log-det against FD column norms: relative difference %.2e", rel)
		if rel > maxLogDetFDErr {
			t.Errorf("reduced log-det %v, FD column norms %v (relative %.3g, limit %g)", analytic, fd, rel, maxLogDetFDErr)
		}
		if !testing.Short() {
			gram, err := spec.GramLogDet(ic, nil)
			if err != nil {
				t.Fatal(err)
			}
			gaps = append(gaps, gram-analytic)
			t.Logf("hp35 reduced: log-det %.6f (FD columns %.6f), Gram 0.5 log det(J^T J) %.6f, gap %.4f",
				analytic, fd, gram, gram-analytic)
			// docs/status.md: 248.6-251.9 nats over 20 MD frames.
			if gap := gram - analytic; gap < 245 || gap > 255 {
				t.Errorf("Gram minus column-norm log-det %.4f nats, want 245-255 (248.6-251.9 on 20 MD frames)", gap)
			}
		}
	}
	if len(gaps) > 1 {
		lo, hi := gaps[0], gaps[0]
		for _, g := range gaps {
			lo, hi = math.Min(lo, g), math.Max(hi, g)
		}
		t.Logf("Gram minus column-norm log-det over %d frames: %.4f .. %.4f", len(gaps), lo, hi)
	}
	// GramLogDet itself, in Full mode on alanine dipeptide, must equal the exact log-det.
	a := loadSystem(t, "ala2", false)
	full, _ := FitSpec(a.z, [][]Vec3{a.pdb}, Full)
	ic := make([]float64, a.z.NumCoords())
	_ = a.z.Internal(a.pdb, ic)
	gram, err := full.GramLogDet(ic, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel := math.Abs(gram-full.LogDetJacobian(ic)) / math.Abs(gram)
	t.Logf("ala2 full: Gram log-det against the analytic one: relative difference %.2e", rel)
	if rel > maxLogDetFDErr { // GramLogDet differentiates numerically too: 3.2e-11 here
		t.Errorf("Full-mode Gram log-det %v, analytic %v (relative difference %.3g, limit %g)", gram, full.LogDetJacobian(ic), rel, maxLogDetFDErr)
	}
}

// TestTransformGradients compares GoMLX gradients (float64) of
// L(z) = sum w.x(z) + 0.5 logDet(z) and of L(x) = sum v.z(x) + 0.5 logDet(x)
// with central finite differences of the CPU reference.
func TestTransformGradients(t *testing.T) {
	for _, tc := range []struct {
		sys  string
		mode Mode
	}{{"ala2", Full}, {"hp35", Reduced}} {
		t.Run(tc.sys+"/"+tc.mode.String(), func(t *testing.T) {
			s := loadSystem(t, tc.sys, true)
			spec, err := FitSpec(s.z, s.frames, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			tr, _ := NewTransform(spec, dtypes.Float64)
			n, nf := s.z.NumAtoms(), spec.NumFree()
			rng := rand.New(rand.NewPCG(3, 4))
			w := make([]float64, 3*n)
			for i := range w {
				w[i] = rng.NormFloat64()
			}
			v := make([]float64, nf)
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			frames := sample(s.frames, 2) // two samples: the batch dimension must not mix them
			zs := make([]float64, 0, 2*nf)
			for _, x := range frames {
				zf, _, _ := spec.ToInternal(x)
				zs = append(zs, zf...)
			}
			b := testenv.Backend(t)
			gradZ := MustNewExec(b, func(z, wt *Node) *Node {
				x, ld := tr.ToCartesian(z)
				l := Add(ReduceAllSum(Mul(Reshape(x, 2, 3*n), wt)), MulScalar(ReduceAllSum(ld), 0.5))
				return Gradient(l, z)[0]
			})
			gradX := MustNewExec(b, func(x, vt *Node) *Node {
				z, ld := tr.ToInternal(x)
				l := Add(ReduceAllSum(Mul(z, vt)), MulScalar(ReduceAllSum(ld), 0.5))
				return Gradient(l, x)[0]
			})
			gz := flat64(t, gradZ.MustExec(tensorOf(dtypes.Float64, zs, 2, nf), tensorOf(dtypes.Float64, w, 1, 3*n))[0])
			gx := flat64(t, gradX.MustExec(tensorOf(dtypes.Float64, positionsFlat(frames), 2, n, 3),
				tensorOf(dtypes.Float64, v, 1, nf))[0])
			lossZ := func(z []float64) float64 {
				x, ld, err := spec.ToCartesian(z)
				if err != nil {
					t.Fatal(err)
				}
				l := 0.5 * ld
				for i, p := range x {
					l += w[3*i]*p[0] + w[3*i+1]*p[1] + w[3*i+2]*p[2]
				}
				return l
			}
			lossX := func(x []Vec3) float64 {
				z, ld, err := spec.ToInternal(x)
				if err != nil {
					t.Fatal(err)
				}
				l := 0.5 * ld
				for j := range z {
					l += v[j] * z[j]
				}
				return l
			}
			const h = 1e-5 // rounding error eps*|L|/h ~ 2e-8 for |L| ~ 1e3; truncation ~h^2
			worstZ, worstX := 0.0, 0.0
			for f := range frames {
				z := append([]float64(nil), zs[f*nf:(f+1)*nf]...)
				for j := range z {
					z0 := z[j]
					z[j] = z0 + h
					lp := lossZ(z)
					z[j] = z0 - h
					lm := lossZ(z)
					z[j] = z0
					fd := (lp - lm) / (2 * h)
					worstZ = math.Max(worstZ, math.Abs(gz[f*nf+j]-fd)/math.Max(1, math.Abs(fd)))
				}
				x := append([]Vec3(nil), frames[f]...)
				for i := 0; i < n; i += max(1, n/100) { // every atom of ala2, ~100 atoms of hp35
					for d := 0; d < 3; d++ {
						x0 := x[i][d]
						x[i][d] = x0 + h
						lp := lossX(x)
						x[i][d] = x0 - h
						lm := lossX(x)
						x[i][d] = x0
						fd := (lp - lm) / (2 * h)
						worstX = math.Max(worstX, math.Abs(gx[(f*n+i)*3+d]-fd)/math.Max(1, math.Abs(fd)))
					}
				}
			}
			t.Logf("max gradient disagreement with finite differences: dL/dz %.3g, dL/dx %.3g", worstZ, worstX)
			if worstZ > 1e-6 || worstX > 1e-6 {
				t.Errorf("gradient disagreement dz %g, dx %g", worstZ, worstX)
			}
		})
	}
}
