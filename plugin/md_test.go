package plugin

import (
	"context"
	"encoding/xml"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// startMD starts an MD worker on alanine dipeptide that the test owns. One
// CPU thread: OpenMM's CPU platform is then deterministic, which the
// exactness checks below rely on.
func startMD(t testing.TB, cfg MDConfig) *MD {
	t.Helper()
	if cfg.PDB == "" {
		cfg.PDB = filepath.Join(testenv.SharedData(t), "ala2.pdb")
	}
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	cfg.Config = testConfig(t, cfg.Config)
	m, err := StartMD(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// runFrames runs and collects every frame.
func runFrames(t testing.TB, m *MD, opt RunOptions) []MDState {
	t.Helper()
	var frames []MDState
	if err := m.Run(context.Background(), opt, func(s MDState) error {
		frames = append(frames, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return frames
}

func samePositions(a, b []molecule.Vec3) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// hydrogens counts the hydrogen atoms of a PDB file (read by gobg's own
// reader, not by OpenMM), from which constraints and degrees of freedom of
// an HBonds system follow: one constraint per hydrogen.
func hydrogens(t testing.TB, path string) (atoms, h int) {
	t.Helper()
	pdb, err := molecule.ReadPDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pdb.Topology.Atoms {
		if a.Element != nil && a.Element.Symbol == "H" {
			h++
		}
	}
	return len(pdb.Topology.Atoms), h
}

// A checkpoint taken mid-run and restored, in the same worker and in a new
// process, continues the run bit for bit; frames come at the asked steps and
// times; the mean temperature of a long run is the bath's.
func TestMDCheckpointRestoreAndTemperature(t *testing.T) {
	cfg := MDConfig{Seed: 11, TimestepPS: 0.002}
	m := startMD(t, cfg)
	ctx := context.Background()
	natoms, nh := hydrogens(t, m.cfg.PDB)
	info := m.Info()
	if m.NumAtoms() != natoms || int(info.NumConstraints) != nh || m.DegreesOfFreedom() != 3*natoms-nh-3 {
		t.Fatalf("atoms %d, constraints %d, dof %d; the PDB has %d atoms and %d hydrogens (dof %d)",
			m.NumAtoms(), info.NumConstraints, m.DegreesOfFreedom(), natoms, nh, 3*natoms-nh-3)
	}
	if info.Seed != 11 || info.Constraints != "HBonds" || info.TemperatureK != 300 || info.TimestepPs != 0.002 || info.Platform != "CPU" {
		t.Fatalf("info: %v", info)
	}
	if _, err := m.SetVelocities(ctx, 300, 5); err != nil {
		t.Fatal(err)
	}
	first := runFrames(t, m, RunOptions{Steps: 100, ReportInterval: 50, CheckpointEvery: 1})
	if len(first) != 2 || first[0].Step != 50 || first[1].Step != 100 || math.Abs(first[1].TimePS-0.2) > 1e-12 {
		t.Fatalf("frames at steps/times %d/%v, %d/%v; want 50/0.1 and 100/0.2", first[0].Step, first[0].TimePS, first[1].Step, first[1].TimePS)
	}
	if len(first[0].Checkpoint) == 0 || len(first[0].Positions) != natoms {
		t.Fatalf("frame 0 has %d checkpoint bytes and %d positions", len(first[0].Checkpoint), len(first[0].Positions))
	}
	more := runFrames(t, m, RunOptions{Steps: 100, ReportInterval: 100})
	want := more[0] // step 200
	if want.Step != 200 || want.Checkpoint != nil {
		t.Fatalf("continued run ends at step %d with %d checkpoint bytes", want.Step, len(want.Checkpoint))
	}

	check := func(t *testing.T, m *MD) {
		s, err := m.Restore(ctx, first[0].Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		if s.Step != 50 || !samePositions(s.Positions, first[0].Positions) {
			t.Fatalf("restored step %d; positions identical to the checkpointed frame: %v", s.Step, samePositions(s.Positions, first[0].Positions))
		}
		again := runFrames(t, m, RunOptions{Steps: 150, ReportInterval: 50})
		if !samePositions(again[0].Positions, first[1].Positions) || again[0].PotentialKJ != first[1].PotentialKJ {
			t.Errorf("step 100 after restore differs: U %v vs %v", again[0].PotentialKJ, first[1].PotentialKJ)
		}
		if last := again[2]; last.Step != 200 || !samePositions(last.Positions, want.Positions) || last.KineticKJ != want.KineticKJ {
			t.Errorf("step %d after restore: positions identical %v, K %v vs %v",
				last.Step, samePositions(last.Positions, want.Positions), last.KineticKJ, want.KineticKJ)
		}
	}
	t.Run("same worker", func(t *testing.T) { check(t, m) })
	t.Run("new process", func(t *testing.T) { check(t, startMD(t, cfg)) })

	t.Run("temperature", func(t *testing.T) {
		// 20 ps, a frame every 0.1 ps. Equipartition: <K> = f R T / 2. The
		// bounds are wide (about 4 standard errors of the mean for 51
		// degrees of freedom and ~1 ps correlation): a wrong degree-of-
		// freedom count or a broken thermostat is far outside them.
		frames := runFrames(t, m, RunOptions{Steps: 10000, ReportInterval: 50, NoPositions: true})
		var sum float64
		for _, f := range frames {
			if f.Positions != nil {
				t.Fatal("NoPositions frame carries positions")
			}
			sum += m.Temperature(f.KineticKJ)
		}
		mean := sum / float64(len(frames))
		t.Logf("mean temperature over %d frames (20 ps): %.1f K", len(frames), mean)
		if len(frames) != 200 || mean < 255 || mean > 345 {
			t.Errorf("%d frames, mean temperature %.1f K; want 200 frames near 300 K", len(frames), mean)
		}
	})
}

// With hydrogen mass repartitioning the masses move onto the hydrogens (the
// total is kept), and the frames' potential energies are OpenMM's for their
// positions, evaluated independently on the Reference platform without
// constraints (a satisfied constraint holds its bond at the length where the
// bond term is zero).
func TestMDHydrogenMassAndEnergies(t *testing.T) {
	ctx := context.Background()
	m := startMD(t, MDConfig{Seed: 3, TimestepPS: 0.004, HydrogenMassAMU: 1.5})
	if m.Info().HydrogenMassAmu != 1.5 {
		t.Fatalf("info: %v", m.Info())
	}
	heavy := startPool(t, Config{PDB: m.cfg.PDB, Platform: "Reference"})
	masses := func(p interface {
		SystemXML(context.Context) (string, error)
	}) []float64 {
		s, err := p.SystemXML(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var sys struct {
			Particles []struct {
				Mass float64 `xml:"mass,attr"`
			} `xml:"Particles>Particle"`
		}
		if err := xml.Unmarshal([]byte(s), &sys); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(sys.Particles))
		for i, p := range sys.Particles {
			out[i] = p.Mass
		}
		return out
	}
	hmr, plain := masses(m), masses(heavy)
	_, nh := hydrogens(t, m.cfg.PDB)
	var n15 int
	var sumHMR, sumPlain float64
	for i := range hmr {
		if hmr[i] == 1.5 {
			n15++
		}
		sumHMR += hmr[i]
		sumPlain += plain[i]
	}
	if n15 != nh || math.Abs(sumHMR-sumPlain) > 1e-9 {
		t.Errorf("%d particles of 1.5 amu (want %d hydrogens); total mass %v, without HMR %v", n15, nh, sumHMR, sumPlain)
	}

	start, err := m.Minimize(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetVelocities(ctx, 300, 9); err != nil {
		t.Fatal(err)
	}
	frames := runFrames(t, m, RunOptions{Steps: 500, ReportInterval: 50}) // 2 ps at 4 fs
	pos := make([][]molecule.Vec3, 0, len(frames)+1)
	pos = append(pos, start.Positions)
	for _, f := range frames {
		pos = append(pos, f.Positions)
	}
	ref, _ := directOpenMM(t, m.cfg.PDB, pos)
	worst := relDiff(start.PotentialKJ, ref[0])
	for i, f := range frames {
		worst = math.Max(worst, relDiff(f.PotentialKJ, ref[i+1]))
	}
	t.Logf("minimised U %.4f kJ/mol; worst relative difference of %d MD energies from OpenMM Reference: %.2e", start.PotentialKJ, len(pos), worst)
	// CPU platform: single-precision non-bonded terms (~1e-7 relative).
	if worst > 1e-5 {
		t.Errorf("MD energies differ from OpenMM Reference by %.2e relative", worst)
	}
}

// A cancelled run returns context.Canceled and frees the worker; its state
// may be past the last frame, and restoring that frame's checkpoint puts it
// back. Bad requests are refused with the reason; a killed worker is named.
func TestMDCancelErrorsAndDeath(t *testing.T) {
	ctx := context.Background()
	m := startMD(t, MDConfig{Seed: 2})
	if _, err := m.SetVelocities(ctx, 300, 1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	var last MDState
	err := m.Run(cctx, RunOptions{Steps: 1_000_000, ReportInterval: 10, CheckpointEvery: 1}, func(s MDState) error {
		last = s
		if s.Step == 30 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || last.Step < 30 || last.Step > 1000 {
		t.Fatalf("run after cancel: %v (last frame at step %d)", err, last.Step)
	}
	now, err := m.State(ctx, true)
	if err != nil {
		t.Fatalf("worker not usable after a cancelled run: %v", err)
	}
	t.Logf("cancelled at the frame of step %d; the worker stopped at step %d", last.Step, now.Step)
	if now.Step < last.Step || len(now.Velocities) != m.NumAtoms() {
		t.Fatalf("state at step %d (last frame %d), %d velocities", now.Step, last.Step, len(now.Velocities))
	}
	back, err := m.Restore(ctx, last.Checkpoint)
	if err != nil || back.Step != last.Step || !samePositions(back.Positions, last.Positions) {
		t.Fatalf("restore to step %d: step %d, err %v", last.Step, back.Step, err)
	}
	errStop := errors.New("enough")
	if err := m.Run(ctx, RunOptions{Steps: 100, ReportInterval: 10}, func(MDState) error { return errStop }); err != errStop {
		t.Fatalf("callback error: got %v", err)
	}

	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"garbage checkpoint", func() error { _, err := m.Restore(ctx, []byte("not a checkpoint")); return err }, "load checkpoint"},
		{"wrong atom count", func() error { _, err := m.SetPositions(ctx, make([]molecule.Vec3, 3)); return err }, "3 positions for 22 atoms"},
		{"NaN position", func() error {
			x := append([]molecule.Vec3(nil), last.Positions...)
			x[4][1] = math.NaN()
			_, err := m.SetPositions(ctx, x)
			return err
		}, "atom 4"},
		{"interval does not divide steps", func() error {
			return m.Run(ctx, RunOptions{Steps: 15, ReportInterval: 10}, func(MDState) error { return nil })
		}, "must divide"},
		{"zero temperature", func() error { _, err := m.SetVelocities(ctx, 0, 1); return err }, "not positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
	// The worker still works after the refusals.
	if s, err := m.State(ctx, false); err != nil || s.Step < last.Step {
		t.Fatalf("state after refusals: step %d, %v", s.Step, err)
	}

	pid, n := m.PID(), 0
	err = m.Run(ctx, RunOptions{Steps: 1_000_000, ReportInterval: 10}, func(s MDState) error {
		if n++; n == 3 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "pid") || errors.Is(err, context.Canceled) {
		t.Fatalf("run on a killed worker: %v", err)
	}
	t.Logf("killed worker: %v", err)
}

func TestStartMDErrors(t *testing.T) {
	data := testenv.SharedData(t)
	cases := []struct {
		name string
		cfg  MDConfig
		want string
	}{
		{"no pdb", MDConfig{}, "needs MDConfig.PDB"},
		{"system xml", MDConfig{Config: Config{SystemXML: "x.xml"}}, "not SystemXML"},
		{"negative friction", MDConfig{Config: Config{PDB: filepath.Join(data, "ala2.pdb")}, FrictionPerPS: -1}, "friction"},
		{"missing file", MDConfig{Config: Config{PDB: "/nonexistent/a.pdb"}}, "/nonexistent/a.pdb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := StartMD(context.Background(), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}
