package spline

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BenchmarkRQS times the splines on a [256, 800] float32 batch with K = 8
// (one flow layer's worth of elements), with the parameters in two layouts:
// "trailing" passes S+[K] tensors to RQS (split into columns by strided
// slices), "leading" packs all ParamsPerDim parameters as [P]+S and uses
// UnpackParams(axis 0) + RQSColumns (contiguous slices). Run with:
//
//	go test -run '^$' -bench RQS ./flow/spline/
func BenchmarkRQS(b *testing.B) {
	o := DefaultOptions()
	const k = 8
	for _, kd := range kinds {
		r := rand.New(rand.NewPCG(31, 32))
		p := newProblem(r, kd, o, k, 1, 0.5, 256, 800)
		trailing := p.args(dtypes.Float32, kd)
		leading := []any{trailing[0], leadingParams(p, kd)}
		type mapFn func(x *graph.Node, params []*graph.Node, inverse bool) (*graph.Node, *graph.Node)
		layouts := []struct {
			name string
			args []any
			fn   mapFn
		}{
			{"trailing", trailing, func(x *graph.Node, ps []*graph.Node, inverse bool) (*graph.Node, *graph.Node) {
				if inverse {
					return kd.inverse(x, ps[0], ps[1], ps[2], o)
				}
				return kd.forward(x, ps[0], ps[1], ps[2], o)
			}},
			{"leading", leading, func(x *graph.Node, ps []*graph.Node, inverse bool) (*graph.Node, *graph.Node) {
				c := UnpackParams(ps[0], k, kd.circular, 0)
				switch {
				case kd.circular && inverse:
					return CircularRQSInverseColumns(x, c, o)
				case kd.circular:
					return CircularRQSColumns(x, c, o)
				case inverse:
					return RQSInverseColumns(x, c, o)
				}
				return RQSColumns(x, c, o)
			}},
		}
		for _, layout := range layouts {
			f := layout.fn
			cases := []struct {
				name string
				fn   func(in []*graph.Node) []*graph.Node
			}{
				{"forward", func(in []*graph.Node) []*graph.Node {
					y, ld := f(in[0], in[1:], false)
					return []*graph.Node{y, ld}
				}},
				{"forward+inverse", func(in []*graph.Node) []*graph.Node {
					y, ld := f(in[0], in[1:], false)
					x2, ld2 := f(y, in[1:], true)
					return []*graph.Node{x2, ld, ld2}
				}},
				{"forward+gradient", func(in []*graph.Node) []*graph.Node {
					y, ld := f(in[0], in[1:], false)
					loss := graph.ReduceAllSum(graph.Add(y, ld))
					return append([]*graph.Node{loss}, graph.Gradient(loss, in...)...)
				}},
			}
			for _, c := range cases {
				b.Run(kd.name+"/"+layout.name+"/"+c.name, func(b *testing.B) {
					e := graph.MustNewExec(testenv.Backend(b), c.fn)
					if _, err := e.Exec(layout.args...); err != nil { // compile outside the timing
						b.Fatal(err)
					}
					cpu0 := cpuTime()
					for b.Loop() {
						if _, err := e.Exec(layout.args...); err != nil {
							b.Fatal(err)
						}
					}
					// The machine is shared: CPU time per op is steadier than
					// wall time when other processes compete for the cores.
					b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				})
			}
		}
	}
}

// leadingParams packs p's parameters as a [P, dims...] float32 tensor.
func leadingParams(p problem, kd kind) *tensors.Tensor {
	n := len(p.x)
	nd := len(p.d) / n
	pp := 2*p.k + nd
	data := make([]float32, pp*n)
	for i := range n {
		for j := range p.k {
			data[j*n+i] = float32(p.w[i*p.k+j])
			data[(p.k+j)*n+i] = float32(p.h[i*p.k+j])
		}
		for j := range nd {
			data[(2*p.k+j)*n+i] = float32(p.d[i*nd+j])
		}
	}
	return tensors.FromFlatDataAndDimensions(data, append([]int{pp}, p.dims...)...)
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCoupling times one coupling layer on [256, 800] float32 inputs
// (400 transformed coordinates, half of all coordinates circular), K = 8,
// conditioner hidden widths 256-256: the forward map alone and a training
// step's worth (forward + gradients w.r.t. all variables).
func BenchmarkCoupling(b *testing.B) {
	const batch, d = 256, 800
	transform, circular := make([]bool, d), make([]bool, d)
	for i := range d {
		transform[i] = i%2 == 0
		circular[i] = (i/2)%2 == 0
	}
	c, err := NewCoupling(CouplingConfig{Transform: transform, Circular: circular, Bins: 8, Hidden: []int{256, 256}, Options: DefaultOptions()})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(51, 52))
	x := tensorOf(randomInputs(r, circular, batch), dtypes.Float32, batch, d)
	cases := []struct {
		name string
		fn   func(ctx *context.Context, x *graph.Node) []*graph.Node
	}{
		{"forward", func(ctx *context.Context, x *graph.Node) []*graph.Node {
			y, ld := c.Forward(ctx, x)
			return []*graph.Node{y, ld}
		}},
		{"forward+gradient", func(ctx *context.Context, x *graph.Node) []*graph.Node {
			_, ld := c.Forward(ctx, x)
			loss := graph.ReduceAllMean(ld)
			return append([]*graph.Node{loss}, ctx.BuildTrainableVariablesGradientsGraph(loss)...)
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			e := context.MustNewExec(testenv.Backend(b), context.New(), tc.fn)
			if _, err := e.Exec(x); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := e.Exec(x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
