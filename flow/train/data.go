package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
)

// Data are the MD frames of a run, split into training and validation
// frames, with their free internal coordinates.
type Data struct {
	Top    *molecule.Topology
	Spec   *ic.Spec
	Train  [][]molecule.Vec3
	Val    [][]molecule.Vec3
	TrainZ []float64 // [len(Train), D]
	TrainL []float64 // log|dz/dx| per training frame
	ValZ   []float64
	ValL   []float64
	// Backbone are the atoms whose pair distances enter the W2 term, and
	// TrainDist the training frames' distances ([len(Train), pairs]).
	Backbone  []int
	TrainDist []float64
	// Match pairs Top's atoms (the initial model's) with those of the
	// configured topology, which lists them in another order; nil when
	// the two orders are one. Frames are in Top's order; an energy of the
	// configured topology's system needs energy.Reordered.
	Match *molecule.AtomMatch
}

// LoadData reads the topology and trajectories, splits the frames and fits
// the internal-coordinate spec on the training frames (with torsion
// windows when torsionWindow > 0), or, with spec not nil (fine-tuning a
// saved model), uses that spec: the configured topology's atoms are paired
// with the model's by identity (molecule.MatchAtoms), so that it may name
// and order them otherwise, and the frames are reordered into the model's
// atom order.
func LoadData(ctx context.Context, c DataConfig, mode ic.Mode, torsionWindow float64, spec *ic.Spec) (*Data, error) {
	pdb, err := molecule.ReadPDBFile(c.Topology)
	if err != nil {
		return nil, err
	}
	top := pdb.Topology
	var match *molecule.AtomMatch
	if spec != nil {
		if spec.Mode != mode {
			return nil, fmt.Errorf("data: the initial model uses %s internal coordinates, the configuration %s", spec.Mode, mode)
		}
		ref := make([]molecule.Vec3, spec.Z.NumAtoms())
		if err := spec.Z.Cartesian(spec.Ref, ref); err != nil {
			return nil, fmt.Errorf("data: the initial model's reference structure: %w", err)
		}
		m, err := molecule.MatchAtoms(molecule.AtomSource{File: "the initial model (init_model)", Top: spec.Z.Top, Positions: ref},
			molecule.AtomSource{File: c.Topology, Top: top, Positions: pdb.Models[0]})
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if !m.IsIdentity() {
			match = m
		}
	}
	// Each trajectory is strided and split on its own: separate runs are
	// not one time series, and a short run appended after a long one would
	// otherwise land mostly in the last validation block.
	var trajs [][][]molecule.Vec3
	total := 0
	for _, path := range c.Trajectories {
		if c.MaxFrames > 0 && total >= c.MaxFrames {
			break
		}
		r, err := molecule.OpenDCD(path)
		if err != nil {
			return nil, err
		}
		if err := r.CheckAtoms(c.Topology, len(top.Atoms)); err != nil {
			r.Close()
			return nil, err
		}
		var frames [][]molecule.Vec3
		for k := 0; c.MaxFrames == 0 || total < c.MaxFrames; k++ {
			if err := ctx.Err(); err != nil {
				r.Close()
				return nil, err
			}
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if k%c.Stride == 0 {
				x := f.Positions
				if match != nil {
					x = make([]molecule.Vec3, len(f.Positions))
					match.ToRef(x, f.Positions)
				}
				frames = append(frames, x)
				total++
			}
		}
		r.Close()
		trajs = append(trajs, frames)
	}
	d := &Data{Top: top, Match: match}
	if spec != nil {
		d.Top = spec.Z.Top
	}
	for _, frames := range trajs {
		train, val := splitBlocks(frames, c.ValFraction, c.ValBlocks)
		d.Train, d.Val = append(d.Train, train...), append(d.Val, val...)
	}
	if len(d.Train) < 2 {
		return nil, fmt.Errorf("data: %d training frames (of %d read); need at least 2", len(d.Train), total)
	}
	if spec != nil {
		d.Spec = spec
	} else {
		z, err := ic.NewZMatrix(top)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Topology, err)
		}
		if d.Spec, err = ic.FitSpec(z, d.Train, mode); err != nil {
			return nil, fmt.Errorf("%s: fit internal coordinates: %w", c.Topology, err)
		}
		if torsionWindow > 0 {
			if _, err := d.Spec.FitTorsionWindows(d.Train, torsionWindow); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Topology, err)
			}
		}
	}
	if d.TrainZ, d.TrainL, err = toInternal(d.Spec, d.Train, "training"); err != nil {
		return nil, err
	}
	if d.ValZ, d.ValL, err = toInternal(d.Spec, d.Val, "validation"); err != nil {
		return nil, err
	}
	d.Backbone = BackboneAtoms(d.Top)
	if len(d.Backbone) < 2 {
		return nil, fmt.Errorf("%s: fewer than 2 backbone atoms for the W2 term", c.Topology)
	}
	for _, f := range d.Train {
		d.TrainDist = append(d.TrainDist, PairDistances(f, d.Backbone)...)
	}
	return d, nil
}

func toInternal(s *ic.Spec, frames [][]molecule.Vec3, what string) (z, ld []float64, err error) {
	for i, f := range frames {
		zi, l, err := s.ToInternal(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s frame %d: %w", what, i, err)
		}
		z = append(z, zi...)
		ld = append(ld, l)
	}
	return z, ld, nil
}

// splitBlocks cuts frames into blocks contiguous blocks and holds out the
// last fraction of each for validation: contiguous held-out stretches are
// less correlated with the training frames than a random split of a
// time series.
func splitBlocks(frames [][]molecule.Vec3, fraction float64, blocks int) (train, val [][]molecule.Vec3) {
	if fraction <= 0 || blocks < 1 {
		return frames, nil
	}
	n := len(frames)
	for b := range blocks {
		lo, hi := b*n/blocks, (b+1)*n/blocks
		cut := hi - int(math.Round(fraction*float64(hi-lo)))
		train = append(train, frames[lo:cut]...)
		val = append(val, frames[cut:hi]...)
	}
	return train, val
}

// BackboneAtoms are the atoms of the W2 term: the C-alpha atoms when
// there are at least 4, else the N, CA and C atoms of every residue (for
// dipeptides, whose single C-alpha gives no pair), in topology order.
func BackboneAtoms(top *molecule.Topology) []int {
	var ca, ncac []int
	for i, a := range top.Atoms {
		switch a.Name {
		case "CA":
			ca = append(ca, i)
			ncac = append(ncac, i)
		case "N", "C":
			ncac = append(ncac, i)
		}
	}
	if len(ca) >= 4 {
		return ca
	}
	return ncac
}

// PairDistances returns the distances |x_i - x_j| of atoms idx, pairs
// (i < j) in row-major upper-triangle order.
func PairDistances(x []molecule.Vec3, idx []int) []float64 {
	out := make([]float64, 0, len(idx)*(len(idx)-1)/2)
	for a := range idx {
		for b := a + 1; b < len(idx); b++ {
			p, q := x[idx[a]], x[idx[b]]
			out = append(out, math.Sqrt((p[0]-q[0])*(p[0]-q[0])+(p[1]-q[1])*(p[1]-q[1])+(p[2]-q[2])*(p[2]-q[2])))
		}
	}
	return out
}

// batchIndices returns the training frames of the batch that starts at
// data cursor (a count of frames drawn since the start of the run): epoch
// e = cursor / n reads a permutation of the frames seeded by (seed, e).
func batchIndices(seed uint64, cursor int64, n, batch int) []int {
	out := make([]int, 0, batch)
	var perm []int
	epoch := int64(-1)
	for k := range int64(batch) {
		c := cursor + k
		if e := c / int64(n); e != epoch {
			epoch = e
			perm = rand.New(rand.NewPCG(seed, 0x5eed0000+uint64(e))).Perm(n)
		}
		out = append(out, perm[c%int64(n)])
	}
	return out
}
