package md

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// TestRunResumesExactly runs 10 frames of alanine dipeptide in one go, and
// again with a crash after frame 6 reached the files but not its
// checkpoint, then resumes: the resumed run's frames equal the
// uninterrupted run's bit for bit (one CPU thread), and the resume drops
// the frame saved after the checkpoint.
func TestRunResumesExactly(t *testing.T) {
	opt := func(dir string) Options {
		return Options{PDB: filepath.Join(testenv.SharedData(t), "ala2.pdb"), Out: dir, Python: testenv.Python(t),
			Platform: "CPU", Threads: 1, Constraints: "HBonds", TemperatureK: 300, FrictionPerPS: 1, TimestepPS: 0.002,
			Seed: 5, SavePS: 0.1, StepsPerFrame: 50, Frames: 10}
	}
	ctx := context.Background()
	whole := t.TempDir()
	s, err := Run(ctx, opt(whole))
	if err != nil {
		t.Fatal(err)
	}
	if s.Frames != 10 || s.NewFrames != 10 || s.MeanTemperatureK == nil {
		t.Fatalf("summary %+v", s)
	}

	dir := t.TempDir()
	crash := errors.New("crash")
	o := opt(dir)
	o.BeforeCheckpoint = func(k int) error {
		if k == 6 {
			return crash
		}
		return nil
	}
	if s, err := Run(ctx, o); !errors.Is(err, crash) || s.Frames != 6 {
		t.Fatalf("crashed run: %+v, %v", s, err)
	}
	ck, err := ReadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil || ck.Frames != 6 || ck.Step != 300 {
		t.Fatalf("checkpoint %+v, %v", ck, err)
	}
	s, err = Run(ctx, opt(dir))
	if err != nil {
		t.Fatal(err)
	}
	if s.Frames != 10 || s.NewFrames != 4 || s.ResumedFrom != 6 {
		t.Fatalf("resumed run: %+v", s)
	}
	want, err := molecule.ReadDCDFile(filepath.Join(whole, TrajFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := molecule.ReadDCDFile(filepath.Join(dir, TrajFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for k := range want {
		for a := range want[k].Positions {
			if got[k].Positions[a] != want[k].Positions[a] {
				t.Fatalf("frame %d atom %d: %v after the resume, %v in one go", k, a, got[k].Positions[a], want[k].Positions[a])
			}
		}
	}
	// With the settings changed, the directory is refused.
	o = opt(dir)
	o.TemperatureK = 310
	o.Frames = 12
	if _, err := Run(ctx, o); err == nil {
		t.Fatal("a run with another temperature continued the directory")
	}
}

func TestWholeRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		n    int
		ok   bool
	}{
		{0.1, 0.002, 50, true}, // 0.1/0.002 is 50.000000000000007 in float64
		{1000 * 0.3, 0.25, 1200, true},
		{1, 0.004, 250, true},
		{0.1, 0.003, 0, false},   // 33.3
		{0.001, 0.002, 0, false}, // a half: not a positive whole number
		{0, 1, 0, false},
		{math.MaxInt32 + 1, 1, 0, false},
		{math.NaN(), 1, 0, false},
	} {
		n, ok := WholeRatio(tc.a, tc.b)
		if n != tc.n || ok != tc.ok {
			t.Errorf("WholeRatio(%g, %g) = %d, %v; want %d, %v", tc.a, tc.b, n, ok, tc.n, tc.ok)
		}
	}
}
