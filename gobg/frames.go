package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gobg/gobg/energy/molecule"
)

// readFrames reads at most limit frames of a DCD checked against the topology
// (and refused if its last frame is torn, even when limit stops short of it).
func readFrames(ctx context.Context, path, pdbPath string, atoms, limit int) ([][]molecule.Vec3, error) {
	r, err := openDCD(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := r.CheckAtoms(pdbPath, atoms); err != nil {
		return nil, err
	}
	var frames [][]molecule.Vec3
	for len(frames) < limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		frames = append(frames, f.Positions)
	}
	return frames, nil
}

// readSpread reads n frames spread evenly from the first frame of the first
// DCD to the last frame of the last (all of them when there are fewer),
// each DCD checked against the topology (named by what, with atoms atoms).
// Only the chosen frames are read; a DCD whose last frame is torn is refused
// (see openDCD).
func readSpread(ctx context.Context, paths []string, what string, atoms, n int) ([][]molecule.Vec3, error) {
	src := make([]spreadSource, len(paths))
	for i, p := range paths {
		src[i] = spreadSource{dcd: p, top: what, atoms: atoms}
	}
	return readSpreadFrom(ctx, src, n)
}

// spreadSource is one trajectory of readSpreadFrom: the DCD, its topology
// file (named in errors) and atom count, and the pairing that puts its
// frames into another topology's atom order (nil: as read).
type spreadSource struct {
	dcd, top string
	atoms    int
	match    *molecule.AtomMatch
}

// readSpreadFrom is readSpread over trajectories of their own topologies,
// each frame reordered by its trajectory's pairing.
func readSpreadFrom(ctx context.Context, src []spreadSource, n int) ([][]molecule.Vec3, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: the number of frames must be at least 1, got %d", errUsage, n)
	}
	readers := make([]*molecule.DCDReader, 0, len(src))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	total := 0
	for _, s := range src {
		r, err := openDCD(s.dcd)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
		if err := r.CheckAtoms(s.top, s.atoms); err != nil {
			return nil, err
		}
		total += r.NumFrames()
	}
	if total == 0 {
		paths := make([]string, len(src))
		for i, s := range src {
			paths[i] = s.dcd
		}
		return nil, fmt.Errorf("no complete frame in %v", paths)
	}
	n = min(n, total)
	frames := make([][]molecule.Vec3, 0, n)
	for k := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := 0
		if n > 1 {
			idx = int(math.Round(float64(k) * float64(total-1) / float64(n-1)))
		}
		f := 0
		for idx >= readers[f].NumFrames() {
			idx -= readers[f].NumFrames()
			f++
		}
		if err := readers[f].Seek(idx); err != nil {
			return nil, err
		}
		fr, err := readers[f].Next()
		if err != nil {
			return nil, err
		}
		x := fr.Positions
		if m := src[f].match; m != nil {
			x = make([]molecule.Vec3, len(fr.Positions))
			m.ToRef(x, fr.Positions)
		}
		frames = append(frames, x)
	}
	return frames, nil
}
