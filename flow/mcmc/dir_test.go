package mcmc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
)

// TestRunDir runs the double-well chain into a directory and checks that
// the files agree with the chain: one DCD frame per FrameEvery steps and
// one moves.csv row per move; and
// that an interrupted run still renames its files into place, holding what
// it did, with no temporary file left behind.
func TestRunDir(t *testing.T) {
	top := &molecule.Topology{}
	top.AddAtom(top.AddResidue(top.AddChain("A"), "X", 1, ""), "X", nil, 1)
	run := func(t *testing.T, ctx context.Context, started func(*Chain)) (string, *Record, error) {
		dir := t.TempDir()
		rec, err := RunDir(ctx, newWellDynamics(1, 7), wellProposer{}, DirConfig{Dir: dir, Top: top, TimestepPS: 0.002,
			SavePS: 0.02, Title: "test", Started: started,
			Chain: ChainConfig{Steps: 2000, Every: 20, FrameEvery: 10, Temperature: wellT, Seed: 3, Batch: 16}})
		return dir, rec, err
	}
	t.Run("complete", func(t *testing.T) {
		var ch *Chain
		dir, rec, err := run(t, context.Background(), func(c *Chain) { ch = c })
		if err != nil {
			t.Fatal(err)
		}
		if ch == nil || !rec.Complete || rec.Steps != 2000 || rec.Frames != 200 || rec.Moves != ch.Sampler().Moves() || rec.Moves != 99 {
			t.Fatalf("record %+v", rec)
		}
		frames, err := molecule.ReadDCDFile(filepath.Join(dir, TrajFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != rec.Frames {
			t.Errorf("%d DCD frames, %d recorded", len(frames), rec.Frames)
		}
		csv, err := os.ReadFile(filepath.Join(dir, MovesFile))
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSpace(csv), []byte("\n"))
		if string(lines[0]) != MovesCSVHeader || len(lines)-1 != rec.Moves {
			t.Errorf("moves.csv: header %q, %d rows for %d moves", lines[0], len(lines)-1, rec.Moves)
		}
		if rec.Accepted == 0 || rec.Accepted == rec.Moves || rec.Warning != "" {
			t.Errorf("%d of %d moves accepted, warning %q: the test needs moves that both succeed and fail", rec.Accepted, rec.Moves, rec.Warning)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dir, rec, err := run(t, ctx, func(*Chain) { cancel() })
		if err == nil || rec == nil || rec.Complete || rec.Steps == 2000 {
			t.Fatalf("cancelled run: record %+v, error %v", rec, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if len(names) != 2 || names[0] != MovesFile || names[1] != TrajFile {
			t.Errorf("directory holds %q, want just %s and %s", names, MovesFile, TrajFile)
		}
	})
}
