package main

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/eval"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/internal/testmodel"
)

// TestEvalPairsAtomsByName evaluates the committed alanine dipeptide model
// against the shared MD, whose top.pdb orders and names the caps' atoms
// otherwise than the model (CH3 H1 H2 H3 against HH31 CH3 HH32 HH33, and
// NME's methyl hydrogens named in the mirrored order). Paired by count, the
// test NLL was +2164 nats; paired by name alone, with NME's methyl mirrored,
// about +300. Paired by identity it must be near the model's own -mean log q,
// which is what a test NLL of frames from the model's target gives up to
// KL(p‖q) and the constrained X-H bonds of that MD.
func TestEvalPairsAtomsByName(t *testing.T) {
	py := testenv.Python(t)
	data := filepath.Join(testenv.SharedData(t), "md", "ala2")
	modelPath := filepath.Join(testenv.Root(), "examples", "ala2", "model.gobg")
	gen, err := generator.Load(modelPath, "", 256)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	const nSamples = 512
	pos, lq := make([]float64, nSamples*gen.NumAtoms()*3), make([]float64, nSamples)
	if err := gen.Sample(nSamples, 1, pos, lq); err != nil {
		t.Fatal(err)
	}
	var entropy float64
	for _, v := range lq {
		entropy -= v / nSamples
	}

	evalCLI := func(t *testing.T, args ...string) evalSummary {
		t.Helper()
		args = append([]string{"eval", "--model", modelPath, "--n", "64", "--batch", "64", "--python", py,
			"--out", filepath.Join(t.TempDir(), "report.json"), "--json"}, args...)
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("eval: exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "reordered into its order") || !strings.Contains(stderr, "NME 3") {
			t.Errorf("eval does not say that it reordered the atoms and paired NME's methyl by geometry:\n%s", stderr)
		}
		var s evalSummary
		lastJSON(t, stdout, &s)
		return s
	}

	t.Run("shared MD", func(t *testing.T) {
		const frames = 300
		s := evalCLI(t, "--data", filepath.Join(data, "traj.dcd"), "--md-frames", strconv.Itoa(frames))
		nll := float64(s.NLL)
		t.Logf("test NLL %.3f, -mean log q of %d samples %.3f; MD lower-half energy %.3f kJ/mol", nll, nSamples, entropy, s.MDLowerHalf)
		if math.Abs(nll-entropy) > 20 {
			t.Errorf("test NLL %.3f, want within 20 nats of the model's -mean log q %.3f", nll, entropy)
		}
		// The MD frames' energies, recomputed on the model's topology after
		// reordering, are those OpenMM reported during the MD.
		want := eval.LowerHalfMean(spreadEnergies(t, filepath.Join(data, "energies.csv"), frames))
		if d := math.Abs(float64(s.MDLowerHalf) - want); d > 1e-3 {
			t.Errorf("MD lower-half energy %.6f kJ/mol, energies.csv gives %.6f for the same frames", s.MDLowerHalf, want)
		}
	})

	// The same frames in another atom order under other names: the test
	// NLL is that of the frames in the model's order.
	t.Run("renamed and reordered", func(t *testing.T) {
		dir := t.TempDir()
		pdbPath, perm := testmodel.ALA2Renamed(t, dir)
		top, err := molecule.ReadPDBFile(filepath.Join(data, "top.pdb"))
		if err != nil {
			t.Fatal(err)
		}
		frames, err := molecule.ReadSpread(context.Background(), []string{filepath.Join(data, "traj.dcd")}, "top.pdb", len(perm), 120)
		if err != nil {
			t.Fatal(err)
		}
		dcdPath := filepath.Join(dir, "shuffled.dcd")
		w, err := molecule.CreateDCD(dcdPath, len(perm), molecule.DCDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := w.Write(testmodel.Permute(f, perm), nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// Without the renamed file: the frames as top.pdb orders them,
		// paired with the model through top.pdb (whose pairing
		// energy/molecule's tests check).
		m, err := gen.MatchAtoms(molecule.AtomSource{File: "top.pdb", Top: top.Topology, Positions: top.Models[0]})
		if err != nil {
			t.Fatal(err)
		}
		inModel := make([][]molecule.Vec3, len(frames))
		for k, f := range frames {
			inModel[k] = make([]molecule.Vec3, len(f))
			m.ToRef(inModel[k], f)
		}
		want, err := gen.NLL(inModel)
		if err != nil {
			t.Fatal(err)
		}
		s := evalCLI(t, "--data", dcdPath, "--data-top", pdbPath, "--md-frames", "120")
		if got := float64(s.NLL); math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("test NLL %.9f of the renamed, reordered file; %.9f in the model's order", got, want)
		}
	})

	t.Run("refused", func(t *testing.T) {
		dir := t.TempDir()
		lone := filepath.Join(dir, "lone.dcd")
		b, err := os.ReadFile(filepath.Join(data, "traj.dcd"))
		if err != nil {
			t.Fatal(err)
		}
		// Whole, so that the refusals below are about pairing, not a torn file.
		if err := os.WriteFile(lone, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"no topology beside", []string{"--data", lone}, 2, "--data-top"},
			{"other molecule", []string{"--data", lone, "--data-top", filepath.Join(testenv.SharedData(t), "hp35.pdb")}, 1,
				`hp35.pdb: chain "A", LEU 1, atom N`},
			{"topologies for some", []string{"--data", lone, "--data", lone, "--data", lone, "--data-top", "a.pdb", "--data-top", "b.pdb"}, 2,
				"2 --data-top for 3 --data"},
		} {
			t.Run(c.name, func(t *testing.T) {
				code, _, stderr := runCLI(t, append([]string{"eval", "--model", modelPath, "--n", "8"}, c.args...)...)
				if code != c.code || !strings.Contains(stderr, c.want) {
					t.Fatalf("exit %d, want %d and an error with %q:\n%s", code, c.code, c.want, stderr)
				}
				t.Logf("%s", strings.SplitN(strings.TrimSpace(stderr), "\n", 2)[0])
			})
		}
	})
}

// spreadEnergies returns the energies.csv values of the n frames molecule.ReadSpread
// picks from the trajectory of that MD.
func spreadEnergies(t *testing.T, path string, n int) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows = rows[1:]
	out := make([]float64, n)
	for k := range n {
		i := int(math.Round(float64(k) * float64(len(rows)-1) / float64(n-1)))
		if out[k], err = strconv.ParseFloat(rows[i][1], 64); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
