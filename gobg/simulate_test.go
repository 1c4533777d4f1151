package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/md"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/plugin"
)

// simRun runs gobg in-process with ctx and returns its exit code, stdout and
// stderr.
func simRun(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runMain(ctx, args, &cmdEnv{stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

// simArgs are the test runs' settings: 2 ps of alanine dipeptide, a frame
// every 0.1 ps, one CPU thread (bit-reproducible), a fixed seed.
func simArgs(t *testing.T, out string, ns string, extra ...string) []string {
	return append([]string{"simulate", "--pdb", filepath.Join(testenv.SharedData(t), "ala2.pdb"),
		"--ns", ns, "--save-ps", "0.1", "--out", out, "--seed", "7", "--threads", "1",
		"--python", testenv.Python(t), "--json"}, extra...)
}

func simOK(t *testing.T, ctx context.Context, args []string) simSummary {
	t.Helper()
	code, stdout, stderr := simRun(ctx, args...)
	if code != 0 {
		t.Fatalf("gobg %s: exit %d:\n%s", strings.Join(args, " "), code, stderr)
	}
	var s simSummary
	lastJSON(t, stdout, &s)
	return s
}

func simReadFrames(t *testing.T, path string) []molecule.Frame {
	t.Helper()
	f, err := molecule.ReadDCDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func simSameFrames(t *testing.T, what string, got, want []molecule.Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for k := range got {
		for a := range got[k].Positions {
			if got[k].Positions[a] != want[k].Positions[a] {
				t.Fatalf("%s: frame %d atom %d at %v, the uninterrupted run has %v", what, k, a, got[k].Positions[a], want[k].Positions[a])
			}
		}
	}
}

func simReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simCSVEnergies parses energies.csv.
func simCSVEnergies(t *testing.T, path string) []float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(simReadFile(t, path)))
	var e []float64
	for row := -1; sc.Scan(); row++ {
		if row < 0 {
			continue
		}
		k, v, _ := strings.Cut(sc.Text(), ",")
		n, err1 := strconv.Atoi(k)
		x, err2 := strconv.ParseFloat(v, 64)
		if err1 != nil || err2 != nil || n != row {
			t.Fatalf("%s: row %d is %q", path, row, sc.Text())
		}
		e = append(e, x)
	}
	return e
}

// simReferenceRun is the uninterrupted 2 ps run that the other runs are
// compared with.
func simReferenceRun(t *testing.T) (string, simSummary) {
	t.Helper()
	dir := t.TempDir()
	return dir, simOK(t, context.Background(), simArgs(t, dir, "0.002"))
}

// A 2 ps run: 20 frames that mdtraj reads as gobg does, energies.csv in the
// reference data's format holding the OpenMM energies of the saved frames
// (re-evaluated by the energy plugin, without constraints), and a meta.json
// that speaks the reference data's vocabulary. Re-running in its directory
// with other settings is refused.
func TestSimulateAla2(t *testing.T) {
	dir, s := simReferenceRun(t)
	if s.Frames != 20 || s.NewFrames != 20 || s.ResumedFrom != 0 || math.Abs(s.NS-0.002) > 1e-12 || s.Seed != 7 || !(s.NsPerDay > 0) {
		t.Fatalf("summary: %+v", s)
	}
	t.Logf("ala2, 2 ps: %.0f ns/day (CPU, 1 thread, includes the test machine's load)", s.NsPerDay)
	traj, top := filepath.Join(dir, "traj.dcd"), filepath.Join(dir, "top.pdb")

	// mdtraj, an independent reader, sees the same frames and times.
	script := `
import sys, mdtraj
t = mdtraj.load(sys.argv[1], top=sys.argv[2])
t.xyz.astype("<f8").tofile(sys.argv[3])
print(t.n_frames, t.n_atoms)
`
	xyz := filepath.Join(t.TempDir(), "xyz.bin")
	var nf, na int
	// VMD's dcdplugin inside mdtraj chats on stdout: the counts are the last line.
	lines := strings.Split(strings.TrimSpace(string(testenv.RunPython(t, script, traj, top, xyz))), "\n")
	if _, err := fmt.Sscan(lines[len(lines)-1], &nf, &na); err != nil {
		t.Fatal(err)
	}
	frames := simReadFrames(t, traj)
	if nf != 20 || na != 22 || len(frames) != 20 {
		t.Fatalf("mdtraj: %d frames of %d atoms; gobg: %d frames", nf, na, len(frames))
	}
	raw := simReadFile(t, xyz)
	for k, f := range frames {
		for a, p := range f.Positions {
			for c := range 3 {
				v := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*((k*na+a)*3+c):]))
				if math.Abs(v-p[c]) > 1e-6 {
					t.Fatalf("frame %d atom %d: mdtraj %v nm, gobg %v nm", k, a, v, p[c])
				}
			}
		}
	}
	r, err := molecule.OpenDCD(traj)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Header()
	r.Close()
	if h.FirstStep != 50 || h.Interval != 50 || math.Abs(h.Timestep()-0.002) > 1e-8 {
		t.Errorf("DCD header: first step %d, interval %d, time step %v ps; want 50, 50, 0.002", h.FirstStep, h.Interval, h.Timestep())
	}

	// The format of the reference data's energies.csv, read from its file.
	refHeader, _, _ := strings.Cut(string(simReadFile(t, filepath.Join(testenv.SharedData(t), "md", "ala2", "energies.csv"))), "\n")
	gotHeader, _, _ := strings.Cut(string(simReadFile(t, filepath.Join(dir, "energies.csv"))), "\n")
	if gotHeader != refHeader {
		t.Errorf("energies.csv header %q, the reference data's %q", gotHeader, refHeader)
	}
	recorded := simCSVEnergies(t, filepath.Join(dir, "energies.csv"))
	if len(recorded) != 20 || math.Abs(simMean(recorded)-s.MeanPotentialKJ) > 1e-9 {
		t.Fatalf("%d energies, mean %v; summary mean %v", len(recorded), simMean(recorded), s.MeanPotentialKJ)
	}
	pool, err := plugin.Start(context.Background(), plugin.Config{Python: testenv.Python(t), PDB: top, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pos := make([][]molecule.Vec3, len(frames))
	for k, f := range frames {
		pos[k] = f.Positions
	}
	res, err := pool.Evaluate(context.Background(), pos, false)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for k, e := range res.Energies {
		if res.Errors[k] != nil {
			t.Fatal(res.Errors[k])
		}
		worst = math.Max(worst, math.Abs(e-recorded[k])/math.Abs(e))
	}
	// The frames are float32 in the DCD, the energies 4 decimals in the CSV.
	t.Logf("energies.csv vs the energy plugin on the DCD frames: worst relative difference %.2e", worst)
	if worst > 1e-4 {
		t.Errorf("energies.csv differs from re-evaluated energies by %.2e relative", worst)
	}

	// meta.json holds every setting the reference data's meta.json records
	// (except equilibration, which simulate does not do), with the same JSON
	// types, and this run's values.
	var ref, got map[string]any
	if err := json.Unmarshal(simReadFile(t, filepath.Join(testenv.SharedData(t), "md", "ala2", "meta.json")), &ref); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(simReadFile(t, filepath.Join(dir, "meta.json")), &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range ref {
		if k == "equilibration_ps" {
			continue
		}
		g, ok := got[k]
		if !ok {
			t.Errorf("meta.json lacks %q", k)
			continue
		}
		if g != nil && fmt.Sprintf("%T", g) != fmt.Sprintf("%T", v) {
			t.Errorf("meta.json %q is %T, the reference data's %T", k, g, v)
		}
	}
	for k, v := range map[string]any{"source": "ala2.pdb", "constraints": "HBonds", "integrator": "LangevinMiddle",
		"timestep_ps": 0.002, "temperature_K": 300.0, "friction_per_ps": 1.0, "save_interval_ps": 0.1,
		"frames_planned": 20.0, "frames_written": 20.0, "hydrogen_mass_amu": nil, "nonbonded": "NoCutoff"} {
		if got[k] != v {
			t.Errorf("meta.json %q = %v, want %v", k, got[k], v)
		}
	}

	// A directory is continued only with its own settings; the refusals
	// come before anything is written.
	hp35 := filepath.Join(testenv.SharedData(t), "hp35.pdb")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"temperature", simArgs(t, dir, "0.003", "--temperature", "310"), "temperature_K (--temperature): 300 there, 310 here"},
		{"seed", simArgs(t, dir, "0.003", "--seed", "8"), "seed (--seed): 7 there, 8 here"},
		{"hmr", simArgs(t, dir, "0.003", "--hmr", "1.5"), "hydrogen_mass_amu (--hmr): null there, 1.5 here"},
		{"save interval", simArgs(t, dir, "0.003", "--save-ps", "0.2"), "save_interval_ps"},
		{"minimize", simArgs(t, dir, "0.003", "--minimize"), "minimized"},
		{"other structure", append(simArgs(t, dir, "0.003"), "--pdb", hp35), "source_sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := simRun(context.Background(), c.args...)
			if code != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "meta.json") {
				t.Fatalf("exit %d, want 1 with %q:\n%s", code, c.want, stderr)
			}
		})
	}
	if n := len(simReadFrames(t, filepath.Join(dir, "traj.dcd"))); n != 20 {
		t.Errorf("refused runs changed traj.dcd: %d frames", n)
	}
}

// Resumed runs equal the uninterrupted one, frame for frame (float32 bits)
// and energy for energy: extended from 1 ps to 2 ps; and interrupted by a
// cancelled context, by a "crash" between a frame and its checkpoint, and
// with a torn frame and a torn row appended.
func TestSimulateResume(t *testing.T) {
	refDir, _ := simReferenceRun(t)
	refFrames := simReadFrames(t, filepath.Join(refDir, "traj.dcd"))
	refCSV := simReadFile(t, filepath.Join(refDir, "energies.csv"))
	ctx := context.Background()

	t.Run("extend", func(t *testing.T) {
		dir := t.TempDir()
		if s := simOK(t, ctx, simArgs(t, dir, "0.001")); s.Frames != 10 {
			t.Fatalf("1 ps run: %d frames", s.Frames)
		}
		s := simOK(t, ctx, simArgs(t, dir, "0.002"))
		if s.Frames != 20 || s.NewFrames != 10 || s.ResumedFrom != 10 {
			t.Fatalf("extended run: %+v", s)
		}
		simSameFrames(t, "extended run", simReadFrames(t, filepath.Join(dir, "traj.dcd")), refFrames)
		if got := simReadFile(t, filepath.Join(dir, "energies.csv")); !bytes.Equal(got, refCSV) {
			t.Errorf("energies.csv differs from the uninterrupted run's:\n%s\nvs\n%s", got, refCSV)
		}
		// Asking for less than there is runs nothing and changes nothing.
		if s := simOK(t, ctx, simArgs(t, dir, "0.001")); s.Frames != 20 || s.NewFrames != 0 {
			t.Fatalf("shorter --ns: %+v", s)
		}
		simSameFrames(t, "after a shorter --ns", simReadFrames(t, filepath.Join(dir, "traj.dcd")), refFrames)
	})

	t.Run("interrupted", func(t *testing.T) {
		defer func() { simulateHook = nil }()
		dir := t.TempDir()
		// Ctrl-C after frame 5: frame 5 and its checkpoint are saved.
		cctx, cancel := context.WithCancel(ctx)
		simulateHook = func(k int) error {
			if k == 5 {
				cancel()
			}
			return nil
		}
		code, _, stderr := simRun(cctx, simArgs(t, dir, "0.002")...)
		cancel()
		if code != 1 || !strings.Contains(stderr, "interrupted after frame 6 of 20") || !errors.Is(cctx.Err(), context.Canceled) {
			t.Fatalf("cancelled run: exit %d:\n%s", code, stderr)
		}
		ck, err := md.ReadCheckpoint(filepath.Join(dir, "checkpoint"))
		if err != nil || ck.Frames != 6 || ck.Step != 300 {
			t.Fatalf("checkpoint after the cancel: %+v, %v", ck, err)
		}
		// A crash after frame 12 reached the files but before its checkpoint.
		crash := errors.New("simulated crash")
		simulateHook = func(k int) error {
			if k == 12 {
				return crash
			}
			return nil
		}
		code, _, stderr = simRun(ctx, simArgs(t, dir, "0.002")...)
		if code != 1 || !strings.Contains(stderr, "simulated crash") {
			t.Fatalf("crashed run: exit %d:\n%s", code, stderr)
		}
		simulateHook = nil
		if n := len(simReadFrames(t, filepath.Join(dir, "traj.dcd"))); n != 13 {
			t.Fatalf("after the crash traj.dcd has %d frames, want 13", n)
		}
		// And a torn frame and a torn row on top.
		for _, f := range []struct{ name, junk string }{{"traj.dcd", "\x54\x00\x00\x00torn frame"}, {"energies.csv", "13,-7"}} {
			fh, err := os.OpenFile(filepath.Join(dir, f.name), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.WriteString(f.junk)
			fh.Close()
		}
		code, stdout, stderr := simRun(ctx, simArgs(t, dir, "0.002")...)
		if code != 0 || !strings.Contains(stderr, "at frame 12 ") {
			t.Fatalf("resumed run: exit %d:\n%s", code, stderr)
		}
		var s simSummary
		lastJSON(t, stdout, &s)
		if s.Frames != 20 || s.ResumedFrom != 12 || s.NewFrames != 8 {
			t.Fatalf("resumed run: %+v", s)
		}
		simSameFrames(t, "interrupted run", simReadFrames(t, filepath.Join(dir, "traj.dcd")), refFrames)
		if got := simReadFile(t, filepath.Join(dir, "energies.csv")); !bytes.Equal(got, refCSV) {
			t.Errorf("energies.csv differs from the uninterrupted run's:\n%s\nvs\n%s", got, refCSV)
		}
	})
}

func TestSimulateUsageErrors(t *testing.T) {
	data := testenv.SharedData(t)
	pdb := filepath.Join(data, "ala2.pdb")
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "traj.dcd"), []byte("not ours"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no pdb", []string{"simulate", "--ns", "1", "--out", t.TempDir()}, 2, "--pdb is required"},
		{"no out", []string{"simulate", "--pdb", pdb, "--ns", "1"}, 2, "--out is required"},
		{"no ns", []string{"simulate", "--pdb", pdb, "--out", t.TempDir()}, 2, "--ns must be positive"},
		{"save not whole steps", []string{"simulate", "--pdb", pdb, "--ns", "1", "--save-ps", "0.003", "--out", t.TempDir()}, 2, "whole number of 2 fs time steps"},
		{"ns not whole frames", []string{"simulate", "--pdb", pdb, "--ns", "0.00105", "--save-ps", "0.1", "--out", t.TempDir()}, 2, "whole number of 0.1 ps frames"},
		{"bad seed", []string{"simulate", "--pdb", pdb, "--ns", "1", "--seed", "-3", "--out", t.TempDir()}, 2, "--seed"},
		{"missing pdb", []string{"simulate", "--pdb", "/nonexistent/x.pdb", "--ns", "1", "--out", t.TempDir()}, 1, "/nonexistent/x.pdb"},
		{"foreign directory", []string{"simulate", "--pdb", pdb, "--ns", "1", "--out", foreign}, 1, "not a gobg simulate directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := simRun(context.Background(), c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, stderr)
			}
		})
	}
}

// 10 ps with hydrogen mass repartitioning and 4 fs steps from a minimised
// structure: the mean temperature of the frames (from their kinetic
// energies, by equipartition) is the bath's within wide bounds (the standard
// error of a 10 ps mean for 51 degrees of freedom is about 15 K).
func TestSimulateTemperatureHMR(t *testing.T) {
	dir := t.TempDir()
	args := append(simArgs(t, dir, "0.01", "--hmr", "1.5", "--timestep-fs", "4", "--minimize"), "--save-ps", "0.2")
	s := simOK(t, context.Background(), args)
	if s.Frames != 50 || s.MeanTemperatureK == nil {
		t.Fatalf("summary: %+v", s)
	}
	t.Logf("10 ps at 4 fs with HMR: mean temperature %.1f K, %.0f ns/day", *s.MeanTemperatureK, s.NsPerDay)
	if T := *s.MeanTemperatureK; T < 240 || T > 360 {
		t.Errorf("mean temperature %.1f K, want about 300 K", T)
	}
	var meta md.Meta
	if err := json.Unmarshal(simReadFile(t, filepath.Join(dir, "meta.json")), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.HydrogenMassAMU == nil || *meta.HydrogenMassAMU != 1.5 || meta.TimestepPS != 0.004 || !meta.Minimized || meta.StepsPerFrame != 50 {
		t.Errorf("meta.json: %+v", meta)
	}
}

// simMean is the arithmetic mean of v.
func simMean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}
