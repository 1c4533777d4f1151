package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/gobg/gobg/flow/ic"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// StructureSampler draws Cartesian structures from a flow over a spec's
// free internal coordinates: base samples (host), the flow's generative
// map and ic's Transform.ToCartesian in one graph, with a fixed batch size.
type StructureSampler struct {
	f    *Flow
	tr   *ic.Transform
	run  *Runner
	nAtm int
	// Defensive, when active, makes Sample draw from a defensive mixture
	// (see Defensive); LogQ is then the mixture's log-density.
	Defensive Defensive
}

// Structures are samples from StructureSampler.Sample.
type Structures struct {
	// Positions [n][atoms] in nm, in the canonical frame of the Z-matrix.
	Positions [][]ic.Vec3
	// Z are the free vectors ([n, D] row-major).
	Z []float64
	// LogQ is the flow's log-density of each free vector; LogDetCart is
	// log|dx/dz| of the internal -> Cartesian map, so that the density of
	// the structure is LogQ - LogDetCart.
	LogQ, LogDetCart []float64
}

// NewStructureSampler prepares sampling of structures of spec.
func NewStructureSampler(f *Flow, spec *ic.Spec, batch int) (*StructureSampler, error) {
	if spec.NumFree() != f.Dim() {
		return nil, fmt.Errorf("flow: spec has %d free coordinates, flow has %d dimensions", spec.NumFree(), f.Dim())
	}
	tr, err := ic.NewTransform(spec, f.dtype)
	if err != nil {
		return nil, err
	}
	run, err := f.NewRunner(batch)
	if err != nil {
		return nil, err
	}
	return &StructureSampler{f: f, tr: tr, run: run, nAtm: spec.Z.NumAtoms()}, nil
}

// Close releases the compiled executor.
func (s *StructureSampler) Close() { s.run.Close() }

// Sample draws n structures; the same seed gives the same structures.
func (s *StructureSampler) Sample(n int, seed uint64) (*Structures, error) {
	z, ratio, err := s.f.SampleBaseDefensive(rand.New(rand.NewPCG(seed, seed+1)), n, s.Defensive)
	if err != nil {
		return nil, err
	}
	out, err := s.run.run("structures", z, func(ctx *context.Context, in *graph.Node) []*graph.Node {
		x, lq := s.f.SampleGraph(ctx, in)
		pos, ld := s.tr.ToCartesian(x)
		return []*graph.Node{x, lq, pos, ld}
	})
	if err != nil {
		return nil, err
	}
	st := &Structures{Z: out[0], LogQ: out[1], LogDetCart: out[3], Positions: make([][]ic.Vec3, n)}
	for i := range st.LogQ[:n] {
		st.LogQ[i] += ratio[i]
	}
	flat := out[2]
	for i := range n {
		p := make([]ic.Vec3, s.nAtm)
		for a := range p {
			o := (i*s.nAtm + a) * 3
			p[a] = ic.Vec3{flat[o], flat[o+1], flat[o+2]}
		}
		st.Positions[i] = p
	}
	return st, nil
}
