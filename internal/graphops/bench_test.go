package graphops_test

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// mlpStep is one training step's worth of computation for an MLP
// 64-256-256-64 (tanh): the loss and its gradients w.r.t. all weights.
func mlpStep(inputs []*graph.Node) []*graph.Node {
	x, target, params := inputs[0], inputs[1], inputs[2:]
	h := x
	for l := 0; l < len(params); l += 2 {
		h = graph.Add(graph.Dot(h, params[l]), graph.InsertAxes(params[l+1], 0))
		if l+2 < len(params) {
			h = graph.Tanh(h)
		}
	}
	loss := graph.ReduceAllMean(graph.Square(graph.Sub(h, target)))
	return append([]*graph.Node{loss}, graph.Gradient(loss, params...)...)
}

// BenchmarkMLPStep compares GoMLX's own matmul VJPs with ours on the same
// graph. Run with: go test -run '^$' -bench MLPStep ./internal/graphops/
func BenchmarkMLPStep(b *testing.B) {
	be := testenv.PureGo(b)
	r := rand.New(rand.NewPCG(7, 8))
	const batch = 256
	sizes := []int{64, 256, 256, 64}
	args := []any{randF32(r, 0.5, batch, sizes[0]), randF32(r, 0.5, batch, sizes[len(sizes)-1])}
	for l := 0; l+1 < len(sizes); l++ {
		args = append(args, randF32(r, 0.1, sizes[l], sizes[l+1]), randF32(r, 0.1, sizes[l+1]))
	}
	for _, variant := range []struct {
		name string
		fast bool
	}{{"gomlx-vjp", false}, {"matmul-vjp", true}} {
		b.Run(variant.name, func(b *testing.B) {
			exec := graph.MustNewExec(be, mlpStep)
			// The graph (and so its gradient) is built at the first call.
			graphops.SetMatmulVJPs(variant.fast)
			_, err := exec.Exec(args...)
			graphops.SetMatmulVJPs(true)
			if err != nil {
				b.Fatalf("step: %v", err)
			}
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := exec.Exec(args...); err != nil {
					b.Fatalf("step: %v", err)
				}
			}
			// CPU time per step is steadier than wall time on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

func randF32(r *rand.Rand, scale float64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(scale * r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
