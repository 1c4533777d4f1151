package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// runCLI runs gobg in-process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(context.Background(), args, &cmdEnv{stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

// lastJSON decodes the last line of stdout, where --json puts its summary.
func lastJSON(t *testing.T, stdout string, v any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		t.Fatalf("last line of stdout is not JSON: %v\n%s", err, stdout)
	}
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, name, "--help")
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			if !strings.Contains(stderr, "Example") || !strings.Contains(stderr, "gobg "+name) {
				t.Errorf("--help lacks an example:\n%s", stderr)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := runCLI(t, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestInfoMatchesOpenMM checks the `gobg info` summary against OpenMM's own
// Topology for the reference structures: residue, atom and bond counts.
func TestInfoMatchesOpenMM(t *testing.T) {
	data := testenv.SharedData(t)
	files := []string{"ala2.pdb", "hp35.pdb", "protein_g.pdb"}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(data, f)
	}
	script := `
import sys
from openmm import app
for p in sys.argv[1:]:
    t = app.PDBFile(p).topology
    print(t.getNumChains(), t.getNumResidues(), t.getNumAtoms(), t.getNumBonds())
`
	lines := strings.Split(strings.TrimSpace(string(testenv.RunPython(t, script, paths...))), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("python printed %d lines for %d files", len(lines), len(paths))
	}
	for i, p := range paths {
		t.Run(files[i], func(t *testing.T) {
			var want [4]int
			for j, f := range strings.Fields(lines[i]) {
				want[j], _ = strconv.Atoi(f)
			}
			code, stdout, stderr := runCLI(t, "info", "--pdb", p, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var s infoSummary
			lastJSON(t, stdout, &s)
			got := [4]int{s.Chains, s.Residues, s.Atoms, s.Bonds}
			if got != want {
				t.Errorf("chains, residues, atoms, bonds = %v, OpenMM has %v", got, want)
			}
		})
	}
	// The acceptance numbers for protein G, independent of OpenMM.
	code, stdout, _ := runCLI(t, "info", "--pdb", paths[2], "--json")
	var s infoSummary
	lastJSON(t, stdout, &s)
	if code != 0 || s.Residues != 56 || s.Atoms != 855 {
		t.Errorf("protein G: %d residues, %d atoms, want 56 and 855", s.Residues, s.Atoms)
	}
}

func TestInfoTrajectory(t *testing.T) {
	data := testenv.SharedData(t)
	md := filepath.Join(data, "md", "ala2")
	code, stdout, stderr := runCLI(t, "info", "--pdb", filepath.Join(md, "top.pdb"), "--traj", filepath.Join(md, "traj.dcd"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s infoSummary
	lastJSON(t, stdout, &s)
	if s.Frames != 20000 || len(s.Trajectories) != 1 || s.Trajectories[0].Atoms != 22 {
		t.Errorf("frames %d, trajectories %+v; want 20000 frames of 22 atoms", s.Frames, s.Trajectories)
	}
}

func TestInfoErrors(t *testing.T) {
	data := testenv.SharedData(t)
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no pdb", []string{"info"}, 2, []string{"--pdb is required"}},
		{"missing file", []string{"info", "--pdb", "/nonexistent/x.pdb"}, 1, []string{"/nonexistent/x.pdb"}},
		{"atom count mismatch", []string{"info", "--pdb", filepath.Join(data, "ala2.pdb"), "--traj", filepath.Join(data, "md", "hp35", "traj.dcd")},
			1, []string{"hp35", "582", "ala2.pdb", "22"}},
		{"stray argument", []string{"info", "--pdb", "x.pdb", "extra"}, 2, []string{`unexpected argument "extra"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestRunEmbeddedDefault runs the whole main job with short settings and
// checks that every stage left its product, then that a second run resumes
// rather than redoing the work.
func TestRunEmbeddedDefault(t *testing.T) {
	py := testenv.Python(t)
	out := t.TempDir()
	args := []string{"run", "--out", out, "--ns", "0.3", "--nll-steps", "30", "--kl-steps", "5", "--samples", "300", "--python", py, "--json"}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s runSummary
	lastJSON(t, stdout, &s)
	if s.MDFrames != 1200 || s.TrainSteps != 35 {
		t.Errorf("md frames %d, train steps %d; want 1200 (0.3 ns, a frame every 0.25 ps) and 35", s.MDFrames, s.TrainSteps)
	}
	e := s.Eval
	if e.Samples != 300 || math.IsNaN(float64(e.NLL)) || math.IsNaN(float64(e.ESS)) {
		t.Errorf("evaluation incomplete: %+v", e)
	}
	for _, f := range []string{"ala2.pdb", "md/traj.dcd", "train.json", "train/model.gobg", "eval.json", "plots/ramachandran.png", "plots/fes.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	code, stdout, stderr = runCLI(t, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	var again runSummary
	lastJSON(t, stdout, &again)
	if again.MDFrames != 1200 || !strings.Contains(stderr, "resuming training") {
		t.Errorf("second run did not resume: %d frames\n%s", again.MDFrames, stderr)
	}
}

// TestPanicIsOneLine: a panic in a command is one line naming the command,
// with exit status 1; --debug or GOBG_DEBUG=1 adds the stack trace.
func TestPanicIsOneLine(t *testing.T) {
	const name = "zz-panic"
	register(&command{name: name, summary: "panics (test only)", usage: "Example: gobg zz-panic",
		run: func(_ context.Context, _ *cmdEnv, args []string) error {
			var s []int
			_ = s[len(args)+2] // index out of range
			return nil
		}})
	t.Cleanup(func() { delete(commands, name) })

	code, stdout, stderr := runCLI(t, name)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	want := "gobg zz-panic: internal error: runtime error: index out of range [2] with length 0"
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "goroutine") {
		t.Errorf("stderr %q, want one line starting %q", stderr, want)
	}
	for _, debug := range [][]string{{"--debug", name}, {name}} {
		if len(debug) == 1 {
			t.Setenv("GOBG_DEBUG", "1")
		}
		code, _, stderr := runCLI(t, debug...)
		if code != 1 || !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, "goroutine ") || !strings.Contains(stderr, "main_test.go") {
			t.Errorf("%v: exit %d, stderr lacks the stack trace:\n%s", debug, code, stderr)
		}
	}
}
