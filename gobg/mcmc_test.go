package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/mcmc"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/internal/testmodel"
)

// mcmcArgs are the test runs' settings: alanine dipeptide from the
// reference MD's topology, one CPU thread (reproducible), a fixed seed.
func mcmcArgs(t *testing.T, out, ns, every string, extra ...string) []string {
	return append([]string{"mcmc", "--pdb", filepath.Join(testenv.SharedData(t), "md", "ala2", "top.pdb"),
		"--ns", ns, "--every", every, "--out", out, "--seed", "11", "--threads", "1",
		"--python", testenv.Python(t), "--json"}, extra...)
}

func mcmcOK(t *testing.T, args []string) mcmcSummaryT {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("gobg %s: exit %d:\n%s", strings.Join(args, " "), code, stderr)
	}
	var s mcmcSummaryT
	lastJSON(t, stdout, &s)
	return s
}

// mcmcModel saves a tiny nsf generator (2 layers, hidden 16) for alanine
// dipeptide. Its internal coordinates are fitted in mode to frames of the
// reference MD (which cover phi/psi) together with unconstrained frames
// (whose bonds to hydrogen fluctuate, unlike the reference's constrained
// ones: a spec fitted without them puts the MD's bond lengths outside its
// range, and no move is ever accepted). With trainSteps > 0 its base is
// fitted to the unconstrained frames and it takes that many NLL steps on
// them (300 take about 3 s here), which gives an acceptance of about 2%:
// enough accepted moves to test with.
func mcmcModel(t *testing.T, mode ic.Mode, unconstrained [][]molecule.Vec3, trainSteps int) string {
	t.Helper()
	top, xs := testmodel.ALA2Frames(t, 500, 40)
	f, spec := testmodel.Build(t, top, append(xs, unconstrained...), testmodel.Options{Mode: mode, Layers: 2, Hidden: 16, Bins: 6})
	if trainSteps > 0 {
		d, n := f.Dim(), len(unconstrained)
		data := make([]float64, 0, n*d)
		for _, x := range unconstrained {
			zf, _, err := spec.ToInternal(x)
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, zf...)
		}
		if err := f.InitFromData(data, n); err != nil {
			t.Fatal(err)
		}
		const batch = 64
		tr, err := f.NewTrainer(batch, 5e-3)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		r := rand.New(rand.NewPCG(1, 2))
		rows := make([]float64, batch*d)
		var nll float64
		for range trainSteps {
			for i := range batch {
				j := r.IntN(n)
				copy(rows[i*d:(i+1)*d], data[j*d:(j+1)*d])
			}
			if nll, err = tr.Step(rows); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("model: %d NLL steps, last batch's NLL %.2f", trainSteps, nll)
	}
	return testmodel.Save(t, f, spec, "ala2-"+mode.String()+".gobg")
}

// mcmcReadMoves parses moves.csv.
func mcmcReadMoves(t *testing.T, path string) [][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var rows [][]float64
	for line := 1; sc.Scan(); line++ {
		if line == 1 {
			if sc.Text() != mcmc.MovesCSVHeader {
				t.Fatalf("%s: header %q", path, sc.Text())
			}
			continue
		}
		f := strings.Split(sc.Text(), ",")
		if len(f) != 8 {
			t.Fatalf("%s:%d: %d fields", path, line, len(f))
		}
		row := make([]float64, len(f))
		for i, s := range f {
			if row[i], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s:%d: field %d: %v", path, line, i+1, err)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// mcmcNoPartials fails if dir holds temporary files.
func mcmcNoPartials(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s holds a temporary file %s", dir, e.Name())
		}
	}
}

// TestMCMC runs plain MD (--every 0), builds a full-mode generator partly
// from its frames, runs flow-augmented MD with it and checks its files; and
// checks that a reduced-mode or foreign model is refused before anything
// is started or written.
func TestMCMC(t *testing.T) {
	var plain [][]molecule.Vec3
	t.Run("plain MD", func(t *testing.T) {
		dir := t.TempDir()
		// 20 ps, a frame every 0.02 ps: unconstrained frames for the model.
		s := mcmcOK(t, mcmcArgs(t, dir, "0.02", "0", "--save-ps", "0.02"))
		t.Logf("plain MD: %.1f s, %.0f ns/day; tau_int phi %.3g ps, psi %.3g ps",
			s.WallS, s.NsPerDay, s.Torsions[0].TauPS, s.Torsions[1].TauPS)
		if !s.Complete || s.Moves != 0 || s.Accepted != 0 || s.Frames != 1000 || s.Steps != 10000 || s.NS != 0.02 ||
			!(s.NsPerDay > 0) || s.Constraints != "None" || s.Seed != 11 {
			t.Fatalf("summary: %+v", s)
		}
		if rows := mcmcReadMoves(t, filepath.Join(dir, mcmc.MovesFile)); len(rows) != 0 {
			t.Fatalf("moves.csv has %d rows after plain MD", len(rows))
		}
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, mcmc.TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(fr) != s.Frames {
			t.Fatalf("traj.dcd has %d frames, the summary %d", len(fr), s.Frames)
		}
		// Unconstrained: the N-H bond of ALA2 (atoms 6, 7) fluctuates.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, f := range fr {
			plain = append(plain, f.Positions)
			a, b := f.Positions[6], f.Positions[7]
			d := math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
			lo, hi = min(lo, d), max(hi, d)
		}
		if hi-lo < 0.005 {
			t.Errorf("N-H bond spans %.4f..%.4f nm: constrained?", lo, hi)
		}
		if len(s.Torsions) != 2 || s.Torsions[0].Angle != "phi" || s.Torsions[1].Angle != "psi" || s.Torsions[0].Residue != "ALA2" {
			t.Fatalf("torsions: %+v", s.Torsions)
		}
		for _, tr := range s.Torsions {
			if tr.Error != "" || !(tr.TauFrames > 0) || math.Abs(tr.TauPS-tr.TauFrames*0.02) > 1e-9 ||
				math.Abs(tr.NEff-1000/tr.TauFrames) > 1e-6 || math.Abs(tr.NEffPerS-tr.NEff/s.WallS) > 1e-6*tr.NEffPerS {
				t.Errorf("torsion: %+v", tr)
			}
		}
		var onDisk mcmcSummaryT
		b, err := os.ReadFile(filepath.Join(dir, mcmc.SummaryFile))
		if err == nil {
			err = json.Unmarshal(b, &onDisk)
		}
		if err != nil || onDisk.Frames != s.Frames || !onDisk.Complete || onDisk.Torsions[0].TauFrames != s.Torsions[0].TauFrames {
			t.Errorf("summary.json: %v, %+v", err, onDisk)
		}
		mcmcNoPartials(t, dir)
		// The directory holds a run: a second one is refused.
		code, _, stderr := runCLI(t, mcmcArgs(t, dir, "0.02", "0")...)
		if code != 1 || !strings.Contains(stderr, "exists") {
			t.Errorf("second run in %s: exit %d, %s", dir, code, stderr)
		}
	})
	if len(plain) == 0 {
		t.Fatal("no frames from plain MD")
	}

	// Trained here, not in a subtest, so that it outlives the subtests
	// that use it.
	trained := mcmcModel(t, ic.Full, plain, 300)
	t.Run("moves", func(t *testing.T) {
		modelPath := trained
		dir := t.TempDir()
		// A move every 10 steps and a frame every 10 steps: frame k is the
		// state right after move k.
		const every = 10
		s := mcmcOK(t, mcmcArgs(t, dir, "0.02", strconv.Itoa(every), "--model", modelPath, "--save-ps", "0.02", "--batch", "128"))
		t.Logf("mcmc: %d moves, %d accepted (%.1f%%), mean acceptance probability %.3f, %.1f s (moves %.1f s), %.0f ns/day",
			s.Moves, s.Accepted, 100*s.AcceptanceRate, s.MeanAcceptanceProb, s.WallS, s.MovesS, s.NsPerDay)
		for _, p := range []string{mcmc.TrajFile, mcmc.TopFile, mcmc.MovesFile, mcmc.SummaryFile} {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				t.Error(err)
			}
		}
		mcmcNoPartials(t, dir)
		if !s.Complete || s.Moves != 999 || s.Frames != 1000 || s.Accepted < 1 || s.Accepted == s.Moves ||
			math.Abs(s.AcceptanceRate-float64(s.Accepted)/float64(s.Moves)) > 1e-12 {
			t.Fatalf("summary: %+v", s)
		}
		rows := mcmcReadMoves(t, filepath.Join(dir, mcmc.MovesFile))
		if len(rows) != s.Moves {
			t.Fatalf("moves.csv has %d rows, the summary %d moves", len(rows), s.Moves)
		}
		kT := energy.KT(300)
		accepted := 0
		var sumP float64
		for k, r := range rows {
			move, step, acc, uc, up, lqc, lqp, la := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
			if move != float64(k) || step != float64((k+1)*every) || (acc != 0 && acc != 1) {
				t.Fatalf("row %d: move %v, step %v, accepted %v", k, move, step, acc)
			}
			want := -(up-uc)/kT + lqc - lqp
			if math.IsNaN(la) || math.Abs(la-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Fatalf("row %d: log_acceptance %v, from the logged energies and log q %v", k, la, want)
			}
			if la >= 0 && acc != 1 {
				t.Fatalf("row %d: log acceptance %v >= 0 but rejected", k, la)
			}
			if acc == 1 {
				accepted++
			}
			sumP += math.Min(1, math.Exp(la))
		}
		if accepted != s.Accepted || math.Abs(sumP/float64(len(rows))-s.MeanAcceptanceProb) > 1e-9 {
			t.Errorf("moves.csv: %d accepted, mean probability %v; summary %d, %v", accepted, sumP/float64(len(rows)), s.Accepted, s.MeanAcceptanceProb)
		}

		// Frame k, saved right after move k, is the proposal where the
		// move was accepted and the state before it where it was not: its
		// log q (recomputed from the DCD's float32 coordinates) says which.
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, mcmc.TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		g, err := generator.Load(modelPath, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		var worst float64
		for k, r := range rows {
			lq, err := mcmc.LogQ(g, fr[k].Positions)
			if err != nil {
				t.Fatal(err)
			}
			want, other := r[5], r[6] // rejected: the current state's log q
			if r[2] == 1 {
				want, other = r[6], r[5]
			}
			worst = max(worst, math.Abs(lq-want))
			if math.Abs(lq-want) > 0.05 || math.Abs(lq-other) < math.Abs(lq-want) {
				t.Fatalf("move %d (accepted %v): frame %d has log q %.6f; logged current %.6f, proposal %.6f",
					k, r[2], k, lq, r[5], r[6])
			}
		}
		t.Logf("log q of the frames after moves: within %.2g of the logged value", worst)
	})

	// With --defensive and --symmetrize, both sides of the acceptance ratio
	// are the symmetrised mixture's density: the log q logged for the state
	// after each move is that (recomputed from the frame), not the flow's own.
	t.Run("defensive moves", func(t *testing.T) {
		dir := t.TempDir()
		s := mcmcOK(t, mcmcArgs(t, dir, "0.004", "10", "--model", trained, "--save-ps", "0.02", "--batch", "64",
			"--defensive", "0.3", "--widen", "2", "--symmetrize", "27"))
		if s.Defensive == nil || s.Defensive.Fraction != 0.3 || s.Symmetrized == nil || s.Symmetrized.Images != 27 || s.Moves != 199 || s.Accepted < 1 {
			t.Fatalf("summary: %+v, defensive %+v, symmetrized %+v", s, s.Defensive, s.Symmetrized)
		}
		rows := mcmcReadMoves(t, filepath.Join(dir, mcmc.MovesFile))
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, mcmc.TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		flow, err := generator.Load(trained, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		defer flow.Close()
		mix, err := generator.Load(trained, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		defer mix.Close()
		dims, err := model.WidenDims(mix.Flow().Layout(), model.WidenBackboneTorsions)
		if err != nil {
			t.Fatal(err)
		}
		if err := mix.SetDefensive(model.Defensive{Frac: 0.3, Widen: 2, Dims: dims}); err != nil {
			t.Fatal(err)
		}
		if _, err := mix.SetSymmetrize(27); err != nil {
			t.Fatal(err)
		}
		apart := 0
		for k, r := range rows {
			lm, err := mcmc.LogQ(mix, fr[k].Positions)
			if err != nil {
				t.Fatal(err)
			}
			lq, err := mcmc.LogQ(flow, fr[k].Positions)
			if err != nil {
				t.Fatal(err)
			}
			want := r[5]
			if r[2] == 1 {
				want = r[6]
			}
			if math.Abs(lm-want) > 0.05 {
				t.Fatalf("move %d: frame's mixture log q %.6f, logged %.6f (flow's own %.6f)", k, lm, want, lq)
			}
			if math.Abs(lq-want) > 0.1 {
				apart++
			}
		}
		if apart < len(rows)/2 {
			t.Errorf("only %d of %d logged densities differ from the flow's own: is the mixture used?", apart, len(rows))
		}
	})

	// A PDB that lists the atoms in another order under other names: the
	// MD runs in the PDB's order, the model sees its own. Wrongly paired,
	// proposals would have absurd energies (no move accepted) and the
	// logged log q of the current state would not be the frame's.
	t.Run("moves in another atom order", func(t *testing.T) {
		pdbPath, perm := testmodel.ALA2Renamed(t, t.TempDir())
		dir := t.TempDir()
		s := mcmcOK(t, mcmcArgs(t, dir, "0.004", "10", "--model", trained, "--save-ps", "0.02", "--batch", "64", "--pdb", pdbPath))
		if s.Moves != 199 || s.Accepted < 1 {
			t.Fatalf("summary: %+v", s)
		}
		rows := mcmcReadMoves(t, filepath.Join(dir, mcmc.MovesFile))
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, mcmc.TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		top, err := molecule.ReadPDBFile(filepath.Join(dir, mcmc.TopFile))
		if err != nil {
			t.Fatal(err)
		}
		g, err := generator.Load(trained, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		m, err := g.MatchAtoms(molecule.AtomSource{File: mcmc.TopFile, Top: top.Topology, Positions: top.Models[0]})
		if err != nil {
			t.Fatal(err)
		}
		if m.IsIdentity() {
			t.Fatalf("%s is in the model's order", mcmc.TopFile)
		}
		x := make([]molecule.Vec3, len(perm))
		for k, r := range rows {
			m.ToRef(x, fr[k].Positions)
			lq, err := mcmc.LogQ(g, x)
			if err != nil {
				t.Fatal(err)
			}
			want := r[5]
			if r[2] == 1 {
				want = r[6]
			}
			if math.Abs(lq-want) > 0.05 {
				t.Fatalf("move %d (accepted %v): frame's log q %.6f, logged %.6f", k, r[2], lq, want)
			}
		}
		t.Logf("%d of %d moves accepted", s.Accepted, s.Moves)
	})

	// Rejected moves restore the state before them exactly (positions,
	// velocities, the integrator's random state): with a generator whose
	// proposals are all rejected, the trajectory is the plain MD's, bit for
	// bit (one CPU thread, same seed).
	t.Run("rejected moves leave the dynamics unchanged", func(t *testing.T) {
		untrained := mcmcModel(t, ic.Full, plain[:100], 0)
		dir := t.TempDir()
		s := mcmcOK(t, mcmcArgs(t, dir, "0.002", "10", "--model", untrained, "--save-ps", "0.02", "--batch", "32"))
		if s.Moves != 99 || s.Accepted != 0 || s.Frames != 100 {
			t.Fatalf("summary: %+v (this test needs every move rejected)", s)
		}
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, mcmc.TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		for k, f := range fr {
			for a, p := range f.Positions {
				if p != plain[k][a] {
					t.Fatalf("frame %d atom %d at %v, plain MD's at %v", k, a, p, plain[k][a])
				}
			}
		}
	})

	// An interrupted run (Ctrl-C) still leaves whole, consistent files, and
	// no temporary ones. The interruption must come after the start-up,
	// which on XLA compiles graphs for seconds to minutes depending on the
	// machine's load; the pure-Go backend starts in well under the 3 s.
	t.Run("interrupted", func(t *testing.T) {
		untrained := mcmcModel(t, ic.Full, plain[:100], 0)
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		// On the pure-Go backend: XLA's compilation of the proposal graph can
		// outlast the 3 s before the interruption, and this test is about
		// where a run stops, not about the backend.
		code := runMain(ctx, mcmcArgs(t, dir, "1", "10", "--model", untrained, "--save-ps", "0.1", "--backend", nn.PureGoSpec), &cmdEnv{stdout: &out, stderr: &errb})
		if code != 1 || !strings.Contains(errb.String(), "interrupted") {
			t.Fatalf("exit %d, want 1 after an interruption:\n%s", code, errb.String())
		}
		mcmcNoPartials(t, dir)
		var s mcmcSummaryT
		b, err := os.ReadFile(filepath.Join(dir, mcmc.SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, mcmc.TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		rows := mcmcReadMoves(t, filepath.Join(dir, mcmc.MovesFile))
		t.Logf("interrupted at step %d: %d frames, %d moves", s.Steps, len(fr), len(rows))
		// It stopped in a segment of MD or in a move, after or before the
		// move's frame.
		if s.Complete || s.Steps <= 0 || s.Steps >= 500000 || len(fr) != s.Frames || len(rows) != s.Moves ||
			(int64(s.Frames) != s.Steps/50 && int64(s.Frames) != s.Steps/50-1) ||
			(int64(s.Moves) != s.Steps/10 && int64(s.Moves) != s.Steps/10-1) {
			t.Fatalf("summary %+v; traj.dcd %d frames, moves.csv %d rows", s, len(fr), len(rows))
		}
	})

	t.Run("refused models", func(t *testing.T) {
		data := testenv.SharedData(t)
		full := mcmcModel(t, ic.Full, plain[:100], 0)
		reduced := mcmcModel(t, ic.Reduced, plain[:100], 0)
		// ALA2 as in top.pdb but with an atom no convention knows.
		top, err := os.ReadFile(filepath.Join(data, "md", "ala2", "top.pdb"))
		if err != nil {
			t.Fatal(err)
		}
		unknown := filepath.Join(t.TempDir(), "unknown.pdb")
		if err := os.WriteFile(unknown, []byte(strings.Replace(string(top), " HA  ALA", " HQ  ALA", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, model, pdb, want string
		}{
			{"reduced", reduced, "", "reduced-mode generator"},
			{"other molecule", full, filepath.Join(data, "hp35.pdb"), `hp35.pdb: chain "A", LEU 1, atom N`},
			{"unknown atom", full, unknown, `chain "A", ALA 2, atom HQ`},
		} {
			t.Run(c.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "out")
				args := mcmcArgs(t, dir, "0.002", "10", "--model", c.model)
				if c.pdb != "" {
					args = append(args, "--pdb", c.pdb)
				}
				code, _, stderr := runCLI(t, args...)
				if code != 1 || !strings.Contains(stderr, c.want) {
					t.Fatalf("exit %d, want 1 and an error with %q:\n%s", code, c.want, stderr)
				}
				t.Logf("%s", strings.TrimSpace(stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:]))
				if _, err := os.Stat(dir); err == nil {
					t.Errorf("%s was created for a refused model", dir)
				}
			})
		}
	})
}

func TestMCMCUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --every", []string{"--pdb", "x.pdb", "--ns", "1", "--out", "d"}, "--every is required"},
		{"moves without model", []string{"--pdb", "x.pdb", "--ns", "1", "--out", "d", "--every", "5"}, "--model is required"},
		{"frames of no whole steps", []string{"--pdb", "x.pdb", "--ns", "1", "--out", "d", "--every", "0", "--save-ps", "0.003"}, "whole number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"mcmc"}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, want 2 and %q:\n%s", code, c.want, stderr)
			}
		})
	}
}
