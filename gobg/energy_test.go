package main

import (
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/internal/testenv"
)

// TestEnergyCheck runs `gobg energy check` on MD frames of alanine
// dipeptide and HP35 and holds every path to the precision that
// docs/energy-bench.md reports (checkEnergyPaths).
func TestEnergyCheck(t *testing.T) {
	py := testenv.Python(t)
	data := testenv.SharedData(t)
	cases := []struct {
		system      string
		short, long int
	}{
		{"ala2", 10, 50},
		{"hp35", 3, 50},
	}
	for _, c := range cases {
		t.Run(c.system, func(t *testing.T) {
			n := c.long
			if testing.Short() {
				n = c.short
			}
			md := filepath.Join(data, "md", c.system)
			code, stdout, stderr := runCLI(t, "energy", "check", "--pdb", filepath.Join(md, "top.pdb"),
				"--traj", filepath.Join(md, "traj.dcd"), "--n", strconv.Itoa(n), "--python", py, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var s energyCheckSummary
			lastJSON(t, stdout, &s)
			if s.Frames != n || s.Atoms == 0 {
				t.Fatalf("checked %d frames of %d atoms, want %d frames", s.Frames, s.Atoms, n)
			}
			checkEnergyPaths(t, s)
		})
	}
}

// checkEnergyPaths holds every path of an energy check to limits on the
// relative energy error and the relative RMS force error against OpenMM's
// Reference platform. docs/energy-bench.md reports, worst over 50 frames of
// ala2, HP35 and protein G: native-cpu 1.4e-13 / 3.1e-15, native-cpu-scalar
// 1.1e-13 / 3.4e-15, graph-f64 1.2e-13 / 3.1e-15, graph-f32 5.6e-6 / 4.6e-5
// (the float32 forces are mostly the rounding of the positions to float32).
// The limits leave 10-30x.
//
// The first row, openmm-reference, is the reference itself (its time only):
// it must be there, with no error of its own. What checks OpenMM's
// Reference platform against something independent is package native's
// TestAgainstOpenMMReference (a System built by OpenMM in a Python process
// of its own) and, through the plugin, the native-cpu row here.
func checkEnergyPaths(t *testing.T, s energyCheckSummary) {
	t.Helper()
	limits := map[string][2]float64{
		"native-cpu":        {2e-12, 1e-13},
		"native-cpu-scalar": {2e-12, 1e-13},
		"graph-f64":         {2e-12, 1e-13},
		"graph-f32":         {5e-5, 5e-4},
	}
	if want := native.DefaultKernel(); s.Kernel != want {
		t.Errorf("native-cpu kernel %q, want %q", s.Kernel, want)
	}
	if len(s.Paths) == 0 || s.Paths[0].Path != s.Reference || s.Reference != "openmm-reference" {
		t.Fatalf("reference %q, paths %+v: want openmm-reference first", s.Reference, s.Paths)
	}
	if ref := s.Paths[0]; ref.EnergyError != 0 || ref.ForceError != 0 || ref.Failed != 0 || !(ref.Seconds > 0) {
		t.Errorf("the reference's own row %+v: want no error and a positive time", ref)
	}
	seen := map[string]bool{}
	for _, p := range s.Paths[1:] {
		lim, ok := limits[p.Path]
		if !ok {
			t.Errorf("unexpected path %q", p.Path)
			continue
		}
		seen[p.Path] = true
		t.Logf("%-16s relative energy error %.2e, relative RMS force error %.2e, %.2f s", p.Path, p.EnergyError, p.ForceError, p.Seconds)
		if p.Failed != 0 || p.EnergyError > lim[0] || p.ForceError > lim[1] {
			t.Errorf("%s: relative energy error %.3g (limit %g), relative RMS force error %.3g (limit %g), %d failed frames",
				p.Path, p.EnergyError, lim[0], p.ForceError, lim[1], p.Failed)
		}
	}
	if len(seen) != len(limits) {
		t.Errorf("paths %v, want %d paths besides the reference", seen, len(limits))
	}
}

// TestEnergyCheckUnseenPeptide: a peptide nobody chose (random sequence from
// the builder), a few MD frames of it, and every native path against
// OpenMM's Reference platform.
func TestEnergyCheckUnseenPeptide(t *testing.T) {
	py := testenv.Python(t)
	const letters = "ACDEFGHIKLMNPQRSTVWY"
	rng := rand.New(rand.NewPCG(2026, 11))
	seq := make([]byte, 7)
	for i := range seq {
		seq[i] = letters[rng.IntN(len(letters))]
	}
	dir := t.TempDir()
	pdb := filepath.Join(dir, "pep.pdb")
	if code, _, stderr := runCLI(t, "build", "--sequence", string(seq), "--caps", "none", "--phi", "-120", "--psi", "130", "--out", pdb); code != 0 {
		t.Fatalf("build %s: %s", seq, stderr)
	}
	md := filepath.Join(dir, "md")
	if code, _, stderr := runCLI(t, "simulate", "--pdb", pdb, "--ns", "0.01", "--save-ps", "1", "--minimize", "--seed", "3",
		"--constraints", "None", "--timestep-fs", "1", "--out", md, "--python", py); code != 0 {
		t.Fatalf("simulate %s: %s", seq, stderr)
	}
	code, stdout, stderr := runCLI(t, "energy", "check", "--pdb", pdb, "--traj", filepath.Join(md, "traj.dcd"), "--n", "10", "--python", py, "--json")
	if code != 0 {
		t.Fatalf("energy check %s: exit %d: %s", seq, code, stderr)
	}
	var s energyCheckSummary
	lastJSON(t, stdout, &s)
	if s.Frames != 10 {
		t.Fatalf("%s: checked %d frames, want 10", seq, s.Frames)
	}
	t.Logf("sequence %s (%d atoms)", seq, s.Atoms)
	checkEnergyPaths(t, s)
}

// TestEnergySystem exports alanine dipeptide's System and reads it back with
// gobg's parser: every particle and the force terms are there (training on
// such a file is checked in flow/train's TestSystemXMLProvider).
func TestEnergySystem(t *testing.T) {
	py := testenv.Python(t)
	md := filepath.Join(testenv.SharedData(t), "md", "ala2")
	out := filepath.Join(t.TempDir(), "ala2-system.xml")
	code, stdout, stderr := runCLI(t, "energy", "system", "--pdb", filepath.Join(md, "top.pdb"), "--out", out, "--python", py, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s energySystemSummary
	lastJSON(t, stdout, &s)
	sys, err := forcefield.ReadSystemXMLFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Particles != 22 || sys.NumParticles() != 22 || s.Out != out {
		t.Errorf("summary %+v; the file has %d particles, want 22", s, sys.NumParticles())
	}
	if len(sys.Forces) < 4 || len(sys.Bonds) != 21 || len(sys.Torsions) == 0 {
		t.Errorf("the System has %d forces, %d bonds, %d torsions; want the bonded, non-bonded and GB terms of 21 bonds",
			len(sys.Forces), len(sys.Bonds), len(sys.Torsions))
	}
}

func TestEnergyUsageErrors(t *testing.T) {
	md := filepath.Join(testenv.Root(), "..", "shared", "data", "md", "ala2")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"energy"}, "subcommand"},
		{"unknown subcommand", []string{"energy", "frobnicate"}, "unknown subcommand"},
		{"check without traj", []string{"energy", "check", "--pdb", filepath.Join(md, "top.pdb")}, "--traj"},
		{"bench is a Go benchmark now", []string{"energy", "bench", "--pdb", "x.pdb"}, "unknown subcommand"},
		{"system without out", []string{"energy", "system", "--pdb", filepath.Join(md, "top.pdb")}, "--out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", code, stderr, c.want)
			}
		})
	}
}
