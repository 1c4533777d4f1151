// Package nativegraph evaluates the potential energy of an OpenMM System
// (read by package energy/forcefield) as a GoMLX graph: the same physics as
// package energy/native (harmonic bonds and angles, periodic torsions,
// Coulomb plus Lennard-Jones without cutoff, OpenMM's GBSAOBCForce), written
// with graph ops so that training code can put the energy inside its own
// graph (Energy.Build) and differentiate through it without leaving the
// device. Forces are the negative gradient from GoMLX's autodiff.
//
// The package's directory is energy/native/graph; it is named nativegraph
// so that callers can import it beside GoMLX's graph package.
//
// Layout: positions [B, N, 3] are split into three [N, B] components; every
// term gathers the atoms of its index list along the leading axis ([K, B]),
// evaluates elementwise and sums over K. The non-bonded and generalized-Born
// terms use one list of all pairs i < j (exceptions and exclusions as
// per-pair parameters), so that each pair is computed once; the Born sums
// scatter both directions of each pair onto their atoms. The [P, B]
// intermediates (P = N(N-1)/2 pairs) bound the memory of a graph call,
// which is why Evaluate splits batches into sub-batches of fixed size.
//
// In float64 the energies agree with package native (and so with OpenMM's
// Reference platform) to rounding; float32 is for speed on accelerators.
package nativegraph

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Options configure Evaluate. Build ignores them.
type Options struct {
	// SubBatch is the number of conformations per graph call; batches are
	// split into sub-batches of this size, the last one padded, so that one
	// compiled graph serves every batch size. 0 picks DefaultPairBudget
	// divided by the number of pairs, between 1 and 64.
	SubBatch int
	// Workers is the number of sub-batches evaluated at once (the pure-Go
	// backend runs each graph on one core). 0 means runtime.GOMAXPROCS(0).
	Workers int
}

// DefaultPairBudget bounds sub-batch size × number of pairs when
// Options.SubBatch is 0. A graph call with forces keeps about 70 [P, B]
// arrays alive at its peak; at 2²⁰ pair-conformations an array is 8 MiB
// in float64, a call about 600 MiB. (Larger sub-batches were not faster on
// the pure-Go backend: HP35 cost 105-111 CPU ms per conformation for
// sub-batches of 4 to 16.)
const DefaultPairBudget = 1 << 20

// Energy evaluates one System with GoMLX. Evaluate is safe for concurrent
// use.
type Energy struct {
	p        *params
	dt       dtypes.DType
	backend  backends.Backend
	subBatch int
	workers  int

	mu   sync.Mutex
	exec [2]*graph.Exec // energies only, energies and forces
}

var _ energy.Energy = (*Energy)(nil)

// New prepares the parameters of sys for graphs in dtype (Float32 or
// Float64) on backend (see nn.NewBackend).
func New(sys *forcefield.System, dtype dtypes.DType, backend backends.Backend, opts Options) (*Energy, error) {
	if sys == nil || sys.NumParticles() == 0 {
		return nil, fmt.Errorf("graph energy: empty system")
	}
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return nil, fmt.Errorf("graph energy: dtype %s, want Float32 or Float64", dtype)
	}
	if backend == nil {
		return nil, fmt.Errorf("graph energy: no backend")
	}
	if opts.SubBatch < 0 || opts.Workers < 0 {
		return nil, fmt.Errorf("graph energy: sub-batch %d, workers %d", opts.SubBatch, opts.Workers)
	}
	p, err := newParams(sys)
	if err != nil {
		return nil, fmt.Errorf("graph energy: %w", err)
	}
	e := &Energy{p: p, dt: dtype, backend: backend, subBatch: opts.SubBatch, workers: opts.Workers}
	if e.subBatch == 0 {
		e.subBatch = min(64, max(1, DefaultPairBudget/max(1, p.numPairs())))
	}
	if e.workers == 0 {
		e.workers = runtime.GOMAXPROCS(0)
	}
	return e, nil
}

// NumAtoms is the number of atoms of the System.
func (e *Energy) NumAtoms() int { return e.p.n }

// NumPairs is the length of the all-pairs list of the non-bonded terms.
func (e *Energy) NumPairs() int { return e.p.numPairs() }

// SubBatch is the number of conformations per graph call of Evaluate.
func (e *Energy) SubBatch() int { return e.subBatch }

// DType is the dtype of Evaluate's graphs.
func (e *Energy) DType() dtypes.DType { return e.dt }

// executor returns the compiled-on-demand graph for energies (forces
// false) or energies and forces.
func (e *Energy) executor(forces bool) (*graph.Exec, error) {
	k := 0
	if forces {
		k = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exec[k] != nil {
		return e.exec[k], nil
	}
	var ex *graph.Exec
	var err error
	if forces {
		ex, err = graph.NewExec(e.backend, func(x *graph.Node) (*graph.Node, *graph.Node) {
			u := e.Build(x)
			grad := graph.Gradient(graph.ReduceAllSum(u), x)[0]
			return u, graph.Neg(grad)
		})
	} else {
		ex, err = graph.NewExec(e.backend, func(x *graph.Node) *graph.Node { return e.Build(x) })
	}
	if err != nil {
		return nil, fmt.Errorf("graph energy: %w", err)
	}
	e.exec[k] = ex
	return ex, nil
}

// Evaluate returns the energies (kJ/mol) and, if wantForces, the forces
// (kJ/mol/nm) of a batch of conformations, in sub-batches of SubBatch
// conformations. A conformation with a non-finite coordinate, energy or
// force gets an error in Result.Errors (wrapping energy.ErrNonFinite), NaN
// energy and zero forces; the others are unaffected.
func (e *Energy) Evaluate(ctx context.Context, positions [][]molecule.Vec3, wantForces bool) (energy.Result, error) {
	n := e.p.n
	if err := energy.CheckPositions(positions, n); err != nil {
		return energy.Result{}, fmt.Errorf("graph energy: %w", err)
	}
	nb := len(positions)
	res := energy.Result{Energies: make([]float64, nb), Errors: make([]error, nb)}
	if wantForces {
		res.Forces = make([][]molecule.Vec3, nb)
		backing := make([]molecule.Vec3, nb*n)
		for k := range res.Forces {
			res.Forces[k] = backing[k*n : (k+1)*n : (k+1)*n]
		}
	}
	// Conformations with non-finite coordinates never enter a graph.
	var valid []int
	for k, x := range positions {
		if a, ok := firstNonFinite(x); !ok {
			res.Energies[k] = math.NaN()
			res.Errors[k] = &energy.SampleError{Index: k, Reason: fmt.Sprintf("non-finite position (atom %d: %v)", a, x[a])}
			continue
		}
		valid = append(valid, k)
	}
	if len(valid) == 0 {
		return res, nil
	}
	ex, err := e.executor(wantForces)
	if err != nil {
		return energy.Result{}, err
	}
	chunks := (len(valid) + e.subBatch - 1) / e.subBatch
	workers := min(e.workers, chunks)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		next     int
		firstErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				c := next
				next++
				stop := firstErr != nil
				mu.Unlock()
				if c >= chunks || stop {
					return
				}
				if err := ctx.Err(); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				lo := c * e.subBatch
				idx := valid[lo:min(lo+e.subBatch, len(valid))]
				if err := e.runChunk(ex, positions, idx, &res); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return energy.Result{}, fmt.Errorf("graph energy: %w", firstErr)
	}
	return res, nil
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// firstNonFinite returns the first atom with a non-finite coordinate.
func firstNonFinite(x []molecule.Vec3) (int, bool) {
	for a, p := range x {
		if !finite(p[0]) || !finite(p[1]) || !finite(p[2]) {
			return a, false
		}
	}
	return 0, true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// runChunk evaluates the conformations idx (at most SubBatch) in one graph
// call, padding with copies of the last one, and stores the results.
func (e *Energy) runChunk(ex *graph.Exec, positions [][]molecule.Vec3, idx []int, res *energy.Result) (err error) {
	n, s := e.p.n, e.subBatch
	var in *tensors.Tensor
	if e.dt == dtypes.Float32 {
		flat := make([]float32, 0, s*n*3)
		for b := range s {
			for _, p := range positions[idx[min(b, len(idx)-1)]] {
				flat = append(flat, float32(p[0]), float32(p[1]), float32(p[2]))
			}
		}
		in = tensors.FromFlatDataAndDimensions(flat, s, n, 3)
	} else {
		flat := make([]float64, 0, s*n*3)
		for b := range s {
			for _, p := range positions[idx[min(b, len(idx)-1)]] {
				flat = append(flat, p[0], p[1], p[2])
			}
		}
		in = tensors.FromFlatDataAndDimensions(flat, s, n, 3)
	}
	defer func() {
		// Graph construction reports problems by panicking.
		if r := recover(); r != nil {
			err = fmt.Errorf("graph call: %v", r)
		}
	}()
	out, err := ex.Exec(in)
	if err != nil {
		return fmt.Errorf("graph call: %w", err)
	}
	defer func() {
		for _, t := range out {
			_ = t.FinalizeAll()
		}
	}()
	en := graphops.Float64s(out[0])
	var fo []float64
	if res.Forces != nil {
		fo = graphops.Float64s(out[1])
	}
	for b, k := range idx {
		u := en[b]
		res.Energies[k] = u
		if !finite(u) {
			res.Errors[k] = &energy.SampleError{Index: k, Reason: fmt.Sprintf("non-finite energy %v", u)}
			continue
		}
		if fo == nil {
			continue
		}
		f := fo[b*n*3 : (b+1)*n*3]
		bad := -1
		for a := range n {
			if !finite(f[3*a]) || !finite(f[3*a+1]) || !finite(f[3*a+2]) {
				bad = a
				break
			}
		}
		if bad >= 0 {
			res.Errors[k] = &energy.SampleError{Index: k, Reason: fmt.Sprintf("non-finite force on atom %d", bad)}
			continue
		}
		dst := res.Forces[k]
		for a := range n {
			dst[a] = molecule.Vec3{f[3*a], f[3*a+1], f[3*a+2]}
		}
	}
	return nil
}
