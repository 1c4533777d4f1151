//go:build amd64 && !purego

package native

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedKernels checks that the kernels in the tree are what asmgen
// writes (run `go generate` in energy/native after changing it).
func TestGeneratedKernels(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run asmgen: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goTool, "run", ".", "-out", filepath.Join(dir, "k.s"), "-go", filepath.Join(dir, "k.go"))
	cmd.Dir = "asmgen"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asmgen: %v\n%s", err, out)
	}
	for _, f := range []struct{ tree, gen string }{
		{"pairs_avx512_amd64.s", "k.s"}, {"pairs_avx512_amd64.go", "k.go"},
	} {
		want, err := os.ReadFile(filepath.Join(dir, f.gen))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.tree)
		if err != nil {
			t.Fatal(err)
		}
		// The first line names the command's output paths.
		if !bytes.Equal(afterFirstLine(got), afterFirstLine(want)) {
			t.Errorf("%s is not what asmgen writes: run go generate in energy/native", f.tree)
		}
	}
}

func afterFirstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// TestVectorPieces checks the pieces of the AVX-512 kernels lane by lane
// against their scalar counterparts: the logarithm, the tables (both
// polynomials) and OpenMM's general HCT formula of overlapping pairs.
func TestVectorPieces(t *testing.T) {
	if why := KernelNotRun(); why != "" {
		t.Logf("kernel avx512 not run: %s", why)
		return
	}
	c := &kernelConsts[0]
	rng := rand.New(rand.NewPCG(1, 2))
	tabs := []struct {
		tab []float64
		f   func(float64) float64
	}{{newVecTable(0.4, hTaylor), hSeries}, {newVecTable(0.4, dTaylor), dSeries}}
	var worstLog, worstTab, worstT, worstD float64
	for iter := range 2000 {
		var x, y, r2, rho, s, out, tv, hv [8]float64
		for l := range 8 {
			x[l] = math.Exp(-7 * rng.Float64()) // (1e-3, 1]
			// Half of the blocks take the permute-free polynomial (all
			// y < fastY), the others the tables of their intervals.
			y[l] = 0.39 * rng.Float64()
			if iter%2 == 0 {
				y[l] = fastY * rng.Float64()
			}
			// hct serves pairs with overlapping spheres: r < ρ + s.
			rho[l] = 0.09 + 0.1*rng.Float64()
			s[l] = 0.08 + 0.1*rng.Float64()
			r2[l] = math.Pow((0.2+0.8*rng.Float64())*(rho[l]+s[l]), 2)
		}
		vlogAVX512(c, &x, &out)
		for l := range 8 {
			worstLog = max(worstLog, math.Abs(out[l]-math.Log(x[l]))/math.Abs(math.Log(x[l])))
		}
		for _, tb := range tabs {
			var in uint8
			tableAVX512(c, &tb.tab[0], &y, &out, &in)
			if in != 0xff {
				t.Fatalf("lanes %08b of y = %v in the table, want all", in, y)
			}
			for l := range 8 {
				worstTab = max(worstTab, math.Abs(out[l]/tb.f(y[l])-1))
			}
		}
		hctAVX512(c, &r2, &rho, &s, &tv, &hv)
		for l := range 8 {
			r := math.Sqrt(r2[l])
			want, wantD := hct(r, 1/r, rho[l], s[l]), hctDeriv(r, 1/r, rho[l], s[l])
			// The formula cancels terms of size 1/ρ ≈ 10 nm⁻¹ where T
			// is small, so its rounding is absolute: compare at that
			// scale.
			worstT = max(worstT, math.Abs(tv[l]-want)/max(math.Abs(want), 1))
			worstD = max(worstD, math.Abs(hv[l]-wantD)/hctDerivScale(r, rho[l], s[l]))
		}
	}
	t.Logf("max relative error: vlog %.2e, tables %.2e, hct T %.2e, dT %.2e", worstLog, worstTab, worstT, worstD)
	if worstLog > 1e-15 || worstTab > 5e-16 || worstT > 1e-14 || worstD > 1e-14 {
		t.Errorf("vector pieces differ from scalar: vlog %.3g, tables %.3g, T %.3g, dT %.3g", worstLog, worstTab, worstT, worstD)
	}

	// Lanes beyond the table, and NaN, are reported as outside it.
	y := [8]float64{0, 0.1, 0.49, 0.5, 0.9, math.NaN(), math.Inf(1), 0.2}
	var out [8]float64
	var in uint8
	tab := newVecTable(0.4, hTaylor) // 13 intervals: y < 13/32
	tableAVX512(c, &tab[0], &y, &out, &in)
	if want := uint8(0b10000011); in != want {
		t.Errorf("lanes in the table %08b, want %08b", in, want)
	}
}

// hctDerivScale is the size of the terms that hctDeriv adds and subtracts
// (1/L² and 1/U² in l² - u², which cancel as the sphere nears the atom's
// inside), the scale of its rounding errors.
func hctDerivScale(r, rho, s float64) float64 {
	l := 1 / max(rho, math.Abs(r-s))
	u := 1 / (r + s)
	return 0.125*(1+s*s/(r*r))*(l*l+u*u)/r + math.Abs(0.25*math.Log(u/l)/(r*r*r))
}
