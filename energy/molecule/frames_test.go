package molecule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestReadSpread checks which frames ReadSpreadFrom picks across files
// (evenly from the first frame of the first file to the last of the last),
// that a pairing reorders them, and that torn files and atom-count
// mismatches are refused.
func TestReadSpread(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.dcd"), filepath.Join(dir, "b.dcd")
	tr := randomTraj(7, 8, 4, nil)
	writeGobg(t, a, tr.slice(0, 5), DCDOptions{})
	writeGobg(t, b, tr.slice(5, 8), DCDOptions{})
	var all [][]Vec3
	for _, p := range []string{a, b} {
		fr, err := ReadDCDFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fr {
			all = append(all, f.Positions)
		}
	}
	swap := &AtomMatch{Order: []int{1, 0, 2, 3}}
	for _, tc := range []struct {
		name  string
		n     int
		match *AtomMatch
		want  []int // indices into the 8 frames of a then b
	}{
		{"one frame: the first", 1, nil, []int{0}},
		{"two: the ends", 2, nil, []int{0, 7}},
		{"four across the files", 4, nil, []int{0, 2, 5, 7}},
		{"more than there are: all", 20, nil, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"paired", 2, swap, []int{0, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := []SpreadSource{{DCD: a, Top: "top.pdb", Atoms: 4, Match: tc.match}, {DCD: b, Top: "top.pdb", Atoms: 4, Match: tc.match}}
			got, err := ReadSpreadFrom(context.Background(), src, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(got), len(tc.want))
			}
			for k, i := range tc.want {
				want := all[i]
				if tc.match != nil {
					want = make([]Vec3, 4)
					tc.match.ToRef(want, all[i])
				}
				if !slices.Equal(got[k], want) {
					t.Errorf("frame %d is not frame %d of the files", k, i)
				}
			}
		})
	}

	if _, err := ReadSpread(context.Background(), []string{a}, "top.pdb", 5, 3); err == nil {
		t.Error("atom-count mismatch accepted")
	}
	full, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.dcd")
	if err := os.WriteFile(torn, append(full, make([]byte, 20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() error{
		"ReadSpread": func() error {
			_, err := ReadSpread(context.Background(), []string{a, torn}, "top.pdb", 4, 2)
			return err
		},
		"ReadDCDFrames": func() error { _, err := ReadDCDFrames(context.Background(), torn, "top.pdb", 4, 1); return err },
	} {
		if err := read(); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s of a torn file: %v, want ErrTruncated", name, err)
		}
	}
}
