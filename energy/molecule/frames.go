package molecule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// OpenCompleteDCD opens a trajectory for reading and refuses one that ends
// inside a frame (an interrupted writer): a reader that seeks to chosen
// frames, or stops early, would otherwise drop the torn frame without a
// word.
func OpenCompleteDCD(path string) (*DCDReader, error) {
	r, err := OpenDCD(path)
	if err != nil {
		return nil, err
	}
	if err := r.CheckComplete(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// ReadDCDFrames reads at most limit frames from the start of a DCD whose
// atom count is checked against the topology topPath of atoms atoms (and
// which is refused if its last frame is torn, even when limit stops short
// of it).
func ReadDCDFrames(ctx context.Context, path, topPath string, atoms, limit int) ([][]Vec3, error) {
	r, err := OpenCompleteDCD(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := r.CheckAtoms(topPath, atoms); err != nil {
		return nil, err
	}
	var frames [][]Vec3
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

// SpreadSource is one trajectory of ReadSpreadFrom: the DCD, its topology
// file (named in errors) and atom count, and the pairing that puts its
// frames into another topology's atom order (nil: as read).
type SpreadSource struct {
	DCD, Top string
	Atoms    int
	Match    *AtomMatch
}

// ReadSpread reads n frames spread evenly from the first frame of the first
// DCD to the last frame of the last (all of them when there are fewer), each
// DCD checked against the topology topPath of atoms atoms.
func ReadSpread(ctx context.Context, paths []string, topPath string, atoms, n int) ([][]Vec3, error) {
	src := make([]SpreadSource, len(paths))
	for i, p := range paths {
		src[i] = SpreadSource{DCD: p, Top: topPath, Atoms: atoms}
	}
	return ReadSpreadFrom(ctx, src, n)
}

// ReadSpreadFrom is ReadSpread over trajectories of their own topologies,
// each frame reordered by its source's pairing. Only the chosen frames are
// read, so that a few hundred frames of a long trajectory cost a few
// hundred reads; a DCD whose last frame is torn is refused
// (OpenCompleteDCD).
func ReadSpreadFrom(ctx context.Context, src []SpreadSource, n int) ([][]Vec3, error) {
	if n < 1 {
		return nil, fmt.Errorf("the number of frames must be at least 1, got %d", n)
	}
	readers := make([]*DCDReader, 0, len(src))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	total := 0
	for _, s := range src {
		r, err := OpenCompleteDCD(s.DCD)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
		if err := r.CheckAtoms(s.Top, s.Atoms); err != nil {
			return nil, err
		}
		total += r.NumFrames()
	}
	if total == 0 {
		paths := make([]string, len(src))
		for i, s := range src {
			paths[i] = s.DCD
		}
		return nil, fmt.Errorf("no complete frame in %v", paths)
	}
	n = min(n, total)
	frames := make([][]Vec3, 0, n)
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
		if m := src[f].Match; m != nil {
			x = make([]Vec3, len(fr.Positions))
			m.ToRef(x, fr.Positions)
		}
		frames = append(frames, x)
	}
	return frames, nil
}
