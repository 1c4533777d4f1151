package train

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
)

// Each trajectory is strided from its own first frame and split into its
// own blocks, so a short run listed after a long one is not strided out of
// phase and does not fall into the last validation block.
func TestLoadDataSplitsEachTrajectory(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	top := filepath.Join(dir, "top.pdb")
	all, err := molecule.ReadDCDFile(filepath.Join(dir, "traj.dcd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 53 {
		t.Fatalf("reference MD has only %d frames", len(all))
	}
	var src [][]molecule.Vec3
	for _, f := range all[:53] {
		src = append(src, f.Positions)
	}
	tmp := t.TempDir()
	write := func(name string, frames [][]molecule.Vec3) string {
		p := filepath.Join(tmp, name)
		w, err := molecule.CreateDCD(p, len(frames[0]), molecule.DCDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := w.Write(f, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("a.dcd", src[:41]), write("b.dcd", src[41:53])
	// index finds which source frame a loaded frame is (DCDs store float32).
	index := func(f []molecule.Vec3) int {
		for i, s := range src {
			if float32(s[0][0]) == float32(f[0][0]) && float32(s[5][1]) == float32(f[5][1]) {
				return i
			}
		}
		return -1
	}
	indices := func(frames [][]molecule.Vec3) []int {
		var out []int
		for _, f := range frames {
			out = append(out, index(f))
		}
		return out
	}
	rangeStep := func(lo, hi, step int, skip ...int) []int {
		var out []int
		for i := lo; i < hi; i += step {
			if !slices.Contains(skip, i) {
				out = append(out, i)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		maxFrames  int
		train, val []int
	}{
		{
			// a: 0, 2, …, 40 (21 frames; blocks of 10 and 11, their last 3 held
			// out); b: 41, 43, …, 51 (6 frames; blocks of 3, the last one held out).
			name:  "all",
			train: append(rangeStep(0, 41, 2, 14, 16, 18, 36, 38, 40), 41, 43, 47, 49),
			val:   []int{14, 16, 18, 36, 38, 40, 45, 51},
		},
		{
			// max_frames counts over both: b gives 41, 43, 45, 47.
			name:      "max_frames",
			maxFrames: 25,
			train:     append(rangeStep(0, 41, 2, 14, 16, 18, 36, 38, 40), 41, 45),
			val:       []int{14, 16, 18, 36, 38, 40, 43, 47},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DataConfig{Topology: top, Trajectories: []string{a, b}, Stride: 2, MaxFrames: tc.maxFrames, ValFraction: 0.25, ValBlocks: 2}
			d, err := LoadData(context.Background(), c, ic.Full, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := indices(d.Train); !slices.Equal(got, tc.train) {
				t.Errorf("training frames %v, want %v", got, tc.train)
			}
			if got := indices(d.Val); !slices.Equal(got, tc.val) {
				t.Errorf("validation frames %v, want %v", got, tc.val)
			}
		})
	}
}
