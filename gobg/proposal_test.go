package main

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/internal/testenv"
)

// TestSampleDefensive: with --defensive, the CSV's log q is the mixture's
// density, which lies between log((1-F) q) and higher values for the
// samples of the widened part (q recomputed from the DCD by the model), and
// the summary records the mixture; bad settings are usage errors.
func TestSampleDefensive(t *testing.T) {
	modelPath := smallModel(t)
	out := filepath.Join(t.TempDir(), "d.dcd")
	code, stdout, stderr := runCLI(t, "sample", "--model", modelPath, "--n", "64", "--batch", "32", "--out", out,
		"--seed", "3", "--energy", "none", "--defensive", "0.4", "--widen", "3", "--json")
	if code != 0 {
		t.Fatalf("sample: exit %d: %s", code, stderr)
	}
	gen, err := generator.Load(modelPath, "", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	l := gen.Flow().Layout()
	var bbTorsions int
	for i := range l.Circular {
		if l.Circular[i] && l.Backbone[i] {
			bbTorsions++
		}
	}
	var s sampleSummary
	lastJSON(t, stdout, &s)
	if d := s.Defensive; d == nil || d.Fraction != 0.4 || d.Widen != 3 || d.Dims != "backbone-torsions" || d.Widened != bbTorsions {
		t.Fatalf("summary's defensive mixture %+v, want fraction 0.4, widen 3, the %d periodic backbone torsions", s.Defensive, bbTorsions)
	}
	frames, err := molecule.ReadDCDFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lq := framesLogProb(t, gen, frames)
	floor := math.Log(0.6)
	raised := 0
	for i, r := range readCSV(t, s.CSV)[1:] {
		lm, _ := strconv.ParseFloat(r[1], 64)
		// DCD positions are float32: allow 1e-3 in the recomputed q.
		if lm-lq[i] < floor-1e-3 {
			t.Errorf("sample %d: mixture log density %.6f below log(0.6 q) = %.6f", i, lm, floor+lq[i])
		}
		if lm-lq[i] > 0.1 {
			raised++
		}
	}
	if raised == 0 {
		t.Errorf("no sample's mixture density is above the flow's: the widened part is missing")
	}
	// gobg eval weighs the mixture's samples by the mixture's density and
	// says so. The committed model's weights are far from degenerate, so the
	// ESS tells the mixture's density from the flow's.
	committed := filepath.Join(testenv.Root(), "examples", "ala2", "model.gobg")
	md := filepath.Join(testenv.SharedData(t), "md", "ala2", "traj.dcd")
	code, stdout, stderr = runCLI(t, "eval", "--model", committed, "--data", md, "--n", "64", "--md-frames", "200",
		"--batch", "32", "--python", testenv.Python(t), "--defensive", "0.25", "--widen-dims", "torsions", "--out",
		filepath.Join(t.TempDir(), "r.json"), "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var e evalSummary
	lastJSON(t, stdout, &e)
	if d := e.Defensive; d == nil || d.Fraction != 0.25 || d.Dims != "torsions" {
		t.Errorf("eval summary: defensive %+v", e.Defensive)
	}
	// Its ESS is that of the mixture's samples that gobg sample draws with
	// the same seed (1) and batch, weighted by the mixture's density.
	mix := filepath.Join(t.TempDir(), "m.dcd")
	if code, _, stderr := runCLI(t, "sample", "--model", committed, "--n", "64", "--batch", "32", "--out", mix, "--seed", "1",
		"--python", testenv.Python(t), "--defensive", "0.25", "--widen-dims", "torsions"); code != 0 {
		t.Fatalf("sample the mixture: %s", stderr)
	}
	var lw []float64
	for _, r := range readCSV(t, strings.TrimSuffix(mix, ".dcd")+".csv")[1:] {
		v, _ := strconv.ParseFloat(r[3], 64)
		lw = append(lw, v)
	}
	var sw, sw2 float64
	for _, v := range kishWeights(lw) {
		sw += v
		sw2 += v * v
	}
	t.Logf("Kish ESS of the mixture's samples: eval %.6g, recomputed %.6g", e.ESS, sw*sw/sw2)
	if want := sw * sw / sw2; math.Abs(float64(e.ESS)-want) > 1e-9*want {
		t.Errorf("eval's Kish ESS of the mixture %.12g, recomputed from gobg sample's log-weights %.12g (relative limit 1e-9)", e.ESS, want)
	}
	if !strings.Contains(stderr, "defensive mixture: 25% from the flow widened 2 times") {
		t.Errorf("eval's report does not name the mixture:\n%s", stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--symmetrize", "-1"}, "symmetrize"},
		{[]string{"--defensive", "1"}, "fraction"},
		{[]string{"--defensive", "0.1", "--widen", "0.5"}, "widening"},
		{[]string{"--defensive", "0.1", "--widen-dims", "sidechains"}, "sidechains"},
	} {
		args := append([]string{"sample", "--model", modelPath, "--n", "4", "--out", filepath.Join(t.TempDir(), "x.dcd"), "--energy", "none"}, tc.args...)
		if code, _, stderr := runCLI(t, args...); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error about %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestSampleSymmetrize: with --symmetrize, the CSV's log q is the density
// averaged over the relabellings (recomputed from the DCD by a generator
// set up alike), and the summary names the groups.
func TestSampleSymmetrize(t *testing.T) {
	modelPath := smallModel(t)
	out := filepath.Join(t.TempDir(), "y.dcd")
	code, stdout, stderr := runCLI(t, "sample", "--model", modelPath, "--n", "40", "--batch", "32", "--out", out,
		"--seed", "4", "--energy", "none", "--symmetrize", "27", "--json")
	if code != 0 {
		t.Fatalf("sample: exit %d: %s", code, stderr)
	}
	var s sampleSummary
	lastJSON(t, stdout, &s)
	if y := s.Symmetrized; y == nil || y.Images != 27 || len(y.Centres) != 3 || y.Centres[1] != "ALA2:CB" || y.Skipped != 0 {
		t.Fatalf("summary's symmetrisation %+v, want 27 images of 3 groups", s.Symmetrized)
	}
	frames, err := molecule.ReadDCDFile(out)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := generator.Load(modelPath, "", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	if _, err := gen.SetSymmetrize(27); err != nil {
		t.Fatal(err)
	}
	lq := framesLogProb(t, gen, frames)
	for i, r := range readCSV(t, s.CSV)[1:] {
		v, _ := strconv.ParseFloat(r[1], 64)
		if math.Abs(v-lq[i]) > 1e-3*math.Max(1, math.Abs(v)) { // float32 positions in the DCD
			t.Errorf("sample %d: csv log q %.6f, symmetrised density of the frame %.6f", i, v, lq[i])
		}
	}
}

// TestSymmetricGroupsKeepEnergy: turning any symmetric group found in the
// reference proteins by one step leaves the Amber energy (OpenMM's System,
// evaluated natively) unchanged, on MD frames of each; that is what makes
// the relabelling average an exact proposal.
func TestSymmetricGroupsKeepEnergy(t *testing.T) {
	py := testenv.Python(t)
	for _, name := range []string{"ala2", "hp35", "protein_g"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(testenv.SharedData(t), "md", name)
			pdb, err := molecule.ReadPDBFile(filepath.Join(dir, "top.pdb"))
			if err != nil {
				t.Fatal(err)
			}
			frames, err := molecule.ReadDCDFile(filepath.Join(dir, "traj.dcd"))
			if err != nil {
				t.Fatal(err)
			}
			top := pdb.Topology
			e, stop, err := startEnergy(context.Background(), "native", top, frames[0].Positions, py, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			groups := top.SymmetricGroups()
			var batch [][]molecule.Vec3
			for _, f := range []int{0, len(frames) - 1} {
				x := f64(frames[f].Positions)
				batch = append(batch, x)
				for _, g := range groups {
					y := append([]molecule.Vec3(nil), x...)
					for j, a := range g.Atoms {
						y[a] = x[g.Atoms[(j+1)%len(g.Atoms)]]
					}
					batch = append(batch, y)
				}
			}
			res, err := e.Evaluate(context.Background(), batch, false)
			if err != nil {
				t.Fatal(err)
			}
			per := len(groups) + 1
			var worst float64
			for f := range 2 {
				u0 := res.Energies[f*per]
				for k, g := range groups {
					d := math.Abs(res.Energies[f*per+1+k] - u0)
					worst = max(worst, d)
					// docs/status.md: 1e-11 kJ/mol (9.1e-12 on protein G), the
					// rounding of sums of thousands of kJ/mol.
					if d > 2e-10 {
						a := top.Atoms[g.Centre]
						t.Errorf("frame %d: turning the group on %s %s changes U by %.3g kJ/mol (absolute, limit 2e-10)", f, a.Residue, a.Name, d)
					}
				}
			}
			t.Logf("%d groups, largest |ΔU| %.2g kJ/mol", len(groups), worst)
		})
	}
}

func f64(p []molecule.Vec3) []molecule.Vec3 { return append([]molecule.Vec3(nil), p...) }

// framesLogProb is the generator's log-density of each frame read from a DCD.
func framesLogProb(t *testing.T, g *generator.Generator, frames []molecule.Frame) []float64 {
	t.Helper()
	pos := make([]float64, 0, len(frames)*g.NumAtoms()*3)
	for _, f := range frames {
		for _, p := range f.Positions {
			pos = append(pos, p[0], p[1], p[2])
		}
	}
	lq := make([]float64, len(frames))
	if err := g.LogProb(len(frames), pos, lq); err != nil {
		t.Fatal(err)
	}
	return lq
}
