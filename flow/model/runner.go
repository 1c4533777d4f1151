package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Runner evaluates a flow on the host with one fixed batch size: every call
// is cut into batches of that size and the last partial one is padded (with
// copies of its first row), so each executor compiles exactly once. Data
// are row-major [n, D] float64 slices in layout order. A Runner is not safe
// for concurrent use.
type Runner struct {
	f     *Flow
	batch int
	execs map[string]*context.Exec
}

// NewRunner returns a runner with the given batch size.
func (f *Flow) NewRunner(batch int) (*Runner, error) {
	if batch < 1 {
		return nil, fmt.Errorf("flow: batch size %d must be positive", batch)
	}
	return &Runner{f: f, batch: batch, execs: map[string]*context.Exec{}}, nil
}

// Batch is the runner's batch size.
func (r *Runner) Batch() int { return r.batch }

// Close releases the compiled executors.
func (r *Runner) Close() {
	for _, e := range r.execs {
		e.Finalize()
	}
	r.execs = map[string]*context.Exec{}
}

// Forward maps base samples z to x and returns log|det ∂x/∂z| per row.
func (r *Runner) Forward(z []float64) (x, logDet []float64, err error) {
	out, err := r.run("forward", z, func(ctx *context.Context, in *graph.Node) []*graph.Node {
		x, ld := r.f.Forward(ctx, in)
		return []*graph.Node{x, ld}
	})
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// Inverse maps x to base space and returns log|det ∂z/∂x| per row.
func (r *Runner) Inverse(x []float64) (z, logDet []float64, err error) {
	out, err := r.run("inverse", x, func(ctx *context.Context, in *graph.Node) []*graph.Node {
		z, ld := r.f.Inverse(ctx, in)
		return []*graph.Node{z, ld}
	})
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// LogProb returns the flow's log-density of each row of x.
func (r *Runner) LogProb(x []float64) ([]float64, error) {
	out, err := r.run("logprob", x, func(ctx *context.Context, in *graph.Node) []*graph.Node {
		return []*graph.Node{r.f.LogProb(ctx, in)}
	})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Sample draws n samples x with their log-densities log q(x), from base
// samples drawn on the host with a PCG generator seeded by seed (the same
// seed gives the same samples).
func (r *Runner) Sample(n int, seed uint64) (x, logQ []float64, err error) {
	z, err := r.f.SampleBase(rand.New(rand.NewPCG(seed, seed+1)), n)
	if err != nil {
		return nil, nil, err
	}
	out, err := r.run("sample", z, func(ctx *context.Context, in *graph.Node) []*graph.Node {
		x, lq := r.f.SampleGraph(ctx, in)
		return []*graph.Node{x, lq}
	})
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// run evaluates fn (cached under key) on the rows of in, batch by batch,
// and returns each output concatenated over the rows (outputs are [batch]
// or [batch, ...]).
func (r *Runner) run(key string, in []float64, fn func(*context.Context, *graph.Node) []*graph.Node) ([][]float64, error) {
	return r.runWith(key, in, r.f.Dim(), fn)
}

func (r *Runner) runWith(key string, in []float64, width int, fn any) ([][]float64, error) {
	if len(in)%width != 0 {
		return nil, fmt.Errorf("flow: %s: %d values is not a whole number of rows of %d", key, len(in), width)
	}
	n := len(in) / width
	exec, ok := r.execs[key]
	if !ok {
		var err error
		if exec, err = context.NewExecAny(r.f.backend, r.f.ctx, fn); err != nil {
			return nil, fmt.Errorf("flow: %s: %w", key, err)
		}
		r.execs[key] = exec
	}
	var outs [][]float64
	buf := make([]float64, r.batch*width)
	for start := 0; start < n; start += r.batch {
		m := min(r.batch, n-start)
		copy(buf, in[start*width:(start+m)*width])
		for k := m; k < r.batch; k++ {
			copy(buf[k*width:(k+1)*width], in[start*width:(start+1)*width])
		}
		res, err := exec.Exec(r.f.tensor(buf, r.batch, width))
		if err != nil {
			return nil, fmt.Errorf("flow: %s rows %d-%d: %w", key, start, start+m-1, err)
		}
		if outs == nil {
			outs = make([][]float64, len(res))
		}
		for j, t := range res {
			vals := graphops.Float64s(t)
			per := len(vals) / r.batch
			outs[j] = append(outs[j], vals[:m*per]...)
			_ = t.FinalizeAll()
		}
	}
	return outs, nil
}

// LogProbDefensive returns the log-density of each row of x under the
// defensive mixture d of the flow (model.Defensive): the flow's LogProb
// when d is inactive, else the flow's density times the ratio of the
// mixture's base density to the flow's at the row's base vector, from one
// pass of the inverse flow.
func (r *Runner) LogProbDefensive(x []float64, d Defensive) ([]float64, error) {
	if !d.Active() {
		if err := d.Validate(); err != nil {
			return nil, err
		}
		return r.LogProb(x)
	}
	out, err := r.run("logprob-base", x, func(ctx *context.Context, in *graph.Node) []*graph.Node {
		z, ld := r.f.Inverse(ctx, in)
		return []*graph.Node{graph.Add(r.f.BaseLogProb(ctx, z), ld), z}
	})
	if err != nil {
		return nil, err
	}
	ratio, err := r.f.DefensiveLogRatio(out[1], d)
	if err != nil {
		return nil, err
	}
	for i := range ratio {
		out[0][i] += ratio[i]
	}
	return out[0], nil
}
