package main

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/eval"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/internal/testmodel"
)

// smallModel writes a randomly perturbed (not identity) nsf flow for alanine
// dipeptide in full mode, fitted on MD frames, and returns its path.
func smallModel(t *testing.T) string {
	t.Helper()
	top, frames := testmodel.ALA2Frames(t, 200, 1)
	f, spec := testmodel.Build(t, top, frames, testmodel.Options{Mode: ic.Full, Layers: 2, Hidden: 16, Bins: 4, Perturb: 0.05, Seed: 3})
	return testmodel.Save(t, f, spec, "ala2.gobg")
}

// TestSampleAndEval draws structures through the CLI and checks the per-sample
// table against independent computations: log q(x) from the model's
// log-density of the structures read back from the DCD, and log w from
// the energies; then evaluates the same model against MD.
func TestSampleAndEval(t *testing.T) {
	py := testenv.Python(t)
	modelPath := smallModel(t)
	out := filepath.Join(t.TempDir(), "s.dcd")
	code, stdout, stderr := runCLI(t, "sample", "--model", modelPath, "--n", "40", "--batch", "16", "--out", out,
		"--seed", "5", "--python", py, "--json")
	if code != 0 {
		t.Fatalf("sample: exit %d: %s", code, stderr)
	}
	var s sampleSummary
	lastJSON(t, stdout, &s)
	frames, err := molecule.ReadDCDFile(out)
	if err != nil || len(frames) != 40 {
		t.Fatalf("read %s: %d frames, %v", out, len(frames), err)
	}
	rows := readCSV(t, s.CSV)
	if len(rows) != 41 || rows[0][0] != "sample" || rows[0][3] != "log_w" {
		t.Fatalf("csv: %d rows, header %v", len(rows), rows[0])
	}
	// Independent log q: the model's log-density of the structures as
	// read back from the DCD (float32 positions), through the inverse flow.
	gen, err := generator.Load(modelPath, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	nll, err := gen.NLL([][]molecule.Vec3{frames[0].Positions})
	if err != nil {
		t.Fatal(err)
	}
	lq0, _ := strconv.ParseFloat(rows[1][1], 64)
	if d := math.Abs(-nll - lq0); d > 1e-3*math.Max(1, math.Abs(lq0)) {
		t.Errorf("log q of sample 0: csv %.6f, recomputed %.6f", lq0, -nll)
	}
	kT := energy.KT(300)
	for i, r := range rows[1:] {
		lq, _ := strconv.ParseFloat(r[1], 64)
		e, _ := strconv.ParseFloat(r[2], 64)
		lw, _ := strconv.ParseFloat(r[3], 64)
		if math.IsNaN(e) {
			continue
		}
		if d := math.Abs(lw - (-e/kT - lq)); d > 1e-9*math.Max(1, math.Abs(lw)) {
			t.Errorf("sample %d: log w %g, want %g", i, lw, -e/kT-lq)
		}
	}
	// Seeds reproduce.
	out2 := filepath.Join(t.TempDir(), "s2.dcd")
	if code, _, stderr := runCLI(t, "sample", "--model", modelPath, "--n", "40", "--batch", "16", "--out", out2,
		"--seed", "5", "--energy", "none"); code != 0 {
		t.Fatalf("sample again: %s", stderr)
	}
	again, _ := molecule.ReadDCDFile(out2)
	if again[39].Positions[5] != frames[39].Positions[5] {
		t.Errorf("same seed, different samples")
	}

	md := filepath.Join(testenv.SharedData(t), "md", "ala2", "traj.dcd")
	plots := t.TempDir()
	code, stdout, stderr = runCLI(t, "eval", "--model", modelPath, "--data", md, "--n", "200", "--md-frames", "2000",
		"--batch", "64", "--plots", plots, "--python", py, "--sets", "2", "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var e evalSummary
	lastJSON(t, stdout, &e)
	if e.MDFrames != 2000 || e.Samples != 200 || math.IsNaN(float64(e.NLL)) || math.IsNaN(float64(e.ESS)) || math.IsNaN(float64(e.DeltaD)) || math.IsNaN(float64(e.PhiRMSERaw)) {
		t.Errorf("eval summary incomplete: %+v", e)
	}
	checkEvalAgainstSamples(t, modelPath, py, e)
	// --sets 2: the first set is the evaluation's own, the second is what
	// gobg sample draws with the next seed (same batch size), weighted alike.
	if st := e.Sets; st == nil || len(st.Fraction) != 2 || st.Fraction[0] != e.ESSFraction ||
		st.Min != min(st.Fraction[0], st.Fraction[1]) || math.Abs(float64(st.Mean-(st.Fraction[0]+st.Fraction[1])/2)) > 1e-15 {
		t.Errorf("ESS of two sets: %+v, ESS fraction of the first %g", st, e.ESSFraction)
	} else {
		out3 := filepath.Join(t.TempDir(), "s3.dcd")
		if code, _, stderr := runCLI(t, "sample", "--model", modelPath, "--n", "200", "--batch", "64", "--out", out3,
			"--seed", "2", "--python", py); code != 0 {
			t.Fatalf("sample seed 2: %s", stderr)
		}
		// The small model's weights are degenerate (one sample carries
		// them, ESS 1/N), so the KL estimate log Z - mean(log w) is what
		// tells the sets apart.
		var lw []float64
		for _, r := range readCSV(t, strings.TrimSuffix(out3, ".dcd")+".csv")[1:] {
			v, _ := strconv.ParseFloat(r[3], 64)
			lw = append(lw, v)
		}
		w, logSum := eval.NormalizeLogWeights(lw)
		var s2, mean float64
		for i, v := range w {
			s2 += v * v
			mean += lw[i] / float64(len(lw))
		}
		kl := logSum - math.Log(float64(len(lw))) - mean
		if want := 1 / s2 / float64(len(w)); math.Abs(float64(st.Fraction[1])-want) > 1e-9 {
			t.Errorf("ESS of the second set %.12g, gobg sample --seed 2 gives %.12g", st.Fraction[1], want)
		}
		if got := float64(st.KL[1]); math.Abs(got-kl) > 1e-9*math.Abs(kl) {
			t.Errorf("KL of the second set %.12g, gobg sample --seed 2 gives %.12g", got, kl)
		}
	}
	for _, png := range []string{"energy.png", "ramachandran.png", "fes.png", "rmsf.png", "distance_diff.png"} {
		if st, err := os.Stat(filepath.Join(plots, png)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", png, err)
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestEvalESSOfCommittedModel evaluates the committed alanine dipeptide model
// on 200 samples. Its weights are far from degenerate (Kish ESS 54% of
// this set; docs/results.md: 22.9-50.9% over sets of 10,000), so the
// recomputation of the ESS and the largest weight from the written
// log-weights tells a wrong ESS formula from a right one, which the small
// model's single dominant weight (ESS 1) cannot.
func TestEvalESSOfCommittedModel(t *testing.T) {
	py := testenv.Python(t)
	modelPath := filepath.Join(testenv.Root(), "examples", "ala2", "model.gobg")
	md := filepath.Join(testenv.SharedData(t), "md", "ala2", "traj.dcd")
	code, stdout, stderr := runCLI(t, "eval", "--model", modelPath, "--data", md, "--n", "200", "--md-frames", "20",
		"--batch", "64", "--out", filepath.Join(t.TempDir(), "eval.json"), "--python", py, "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var e evalSummary
	lastJSON(t, stdout, &e)
	checkEvalAgainstSamples(t, modelPath, py, e)
	// A broken density or energy collapses the weights onto a few samples.
	if f := float64(e.ESSFraction); !(f > 0.1) {
		t.Errorf("Kish ESS fraction %.4g of the committed model, want > 0.1 (0.54 on this set when it was committed)", f)
	}
}

// checkEvalAgainstSamples recomputes what `gobg eval` reports about its own
// sample set (seed 1, batch 64, 200 structures) from the set that `gobg
// sample` writes with the same seed and batch: the Kish ESS and the largest
// normalised weight from the log-weights of the CSV, the raw and reweighted
// population of 0 <= phi < 120° from the structures of the DCD.
func checkEvalAgainstSamples(t *testing.T, modelPath, py string, e evalSummary) {
	t.Helper()
	out1 := filepath.Join(t.TempDir(), "s1.dcd")
	if code, _, stderr := runCLI(t, "sample", "--model", modelPath, "--n", "200", "--batch", "64", "--out", out1,
		"--seed", "1", "--python", py); code != 0 {
		t.Fatalf("sample seed 1: %s", stderr)
	}
	var lw1 []float64
	for _, r := range readCSV(t, strings.TrimSuffix(out1, ".dcd")+".csv")[1:] {
		v, _ := strconv.ParseFloat(r[3], 64)
		lw1 = append(lw1, v)
	}
	w1 := kishWeights(lw1)
	var sw, sw2, maxW float64
	for _, v := range w1 {
		sw += v
		sw2 += v * v
		maxW = max(maxW, v)
	}
	ess, maxW := sw*sw/sw2, maxW/sw
	t.Logf("eval's set: Kish ESS %.6g (recomputed %.6g), largest normalised weight %.6g (recomputed %.6g)", e.ESS, ess, e.MaxWeight, maxW)
	if math.Abs(float64(e.ESS)-ess) > 1e-9*ess || math.Abs(float64(e.ESSFraction)-ess/200) > 1e-9*ess/200 {
		t.Errorf("Kish ESS %.12g (fraction %.12g), recomputed from the log-weights of gobg sample --seed 1: %.12g (relative limit 1e-9)",
			e.ESS, e.ESSFraction, ess)
	}
	if math.Abs(float64(e.MaxWeight)-maxW) > 1e-9*maxW {
		t.Errorf("largest normalised weight %.12g, recomputed %.12g (relative limit 1e-9)", e.MaxWeight, maxW)
	}
	// mdtraj finds no frame of the shared MD with 0 <= phi < 120° (its only
	// phi > 0 frames sit at about +175°, the edge of the beta basin); a
	// flipped sign or a missing wrap would count the C7eq basin instead.
	s1, err := molecule.ReadDCDFile(out1)
	if err != nil || len(s1) != 200 {
		t.Fatalf("read %s: %d frames, %v", out1, len(s1), err)
	}
	gen, err := generator.Load(modelPath, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	top := gen.Topology()
	gen.Close()
	raw, rew, slack, slackW := phiPositive(t, top, s1, w1)
	p := e.PhiPositive
	t.Logf("0 <= phi < 120°: MD %v, samples %v (recomputed %v), reweighted %v (recomputed %v)", p[0], p[1], raw, p[2], rew)
	if p[0] != 0 || math.Abs(float64(p[1])-raw) > slack+1e-12 || math.Abs(float64(p[2])-rew) > slackW+1e-12 {
		t.Errorf("population of 0 <= phi < 120°: MD, samples, reweighted %v; want MD 0, samples %.12g, reweighted %.12g "+
			"(absolute limits %.3g and %.3g: structures at a boundary)", p, raw, rew, slack+1e-12, slackW+1e-12)
	}
}

// kishWeights are importance weights exp(log w - max log w), 0 where log w
// is not finite.
func kishWeights(logw []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range logw {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			mx = max(mx, v)
		}
	}
	w := make([]float64, len(logw))
	for i, v := range logw {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			w[i] = math.Exp(v - mx)
		}
	}
	return w
}

// phiPositive is the fraction of alanine dipeptide structures of topology
// top with 0 <= phi < 2π/3 (phi: C of ACE, N, CA, C of ALA, found by name), raw and
// weighted by w, and how far either could move by structures whose phi lies
// within 1e-4 rad of a boundary (a DCD holds float32 positions).
func phiPositive(t *testing.T, top *molecule.Topology, frames []molecule.Frame, w []float64) (raw, rew, slack, slackW float64) {
	t.Helper()
	at := map[string]int{}
	for _, a := range top.Atoms {
		at[a.Residue.Name+" "+a.Name] = a.Index
	}
	idx := [4]int{}
	for k, name := range []string{"ACE C", "ALA N", "ALA CA", "ALA C"} {
		i, ok := at[name]
		if !ok {
			t.Fatalf("no atom %s in the alanine dipeptide topology", name)
		}
		idx[k] = i
	}
	var in, inW, all, allW float64
	for f, fr := range frames {
		x := fr.Positions
		phi := ic.Dihedral(x[idx[0]], x[idx[1]], x[idx[2]], x[idx[3]])
		if math.IsNaN(phi) {
			continue
		}
		all++
		allW += w[f]
		if phi >= 0 && phi < 2*math.Pi/3 {
			in++
			inW += w[f]
		}
		if math.Abs(phi) < 1e-4 || math.Abs(phi-2*math.Pi/3) < 1e-4 {
			slack++
			slackW += w[f]
		}
	}
	return in / all, inW / allW, slack / all, slackW / allW
}
