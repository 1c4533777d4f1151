package ic

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// benchInput returns the free vectors of 256 MD frames as a [256, NumFree] tensor.
func benchInput(b *testing.B, s *system, spec *Spec, dt dtypes.DType) *tensors.Tensor {
	const batch = 256
	frames := sample(s.frames, batch)
	for len(frames) < batch {
		frames = append(frames, frames[len(frames)%len(s.frames)])
	}
	var zs []float64
	for _, x := range frames {
		z, _, err := spec.ToInternal(x)
		if err != nil {
			b.Fatal(err)
		}
		zs = append(zs, z...)
	}
	return tensorOf(dt, zs, batch, spec.NumFree())
}

// BenchmarkToCartesian times the graph internal -> Cartesian map (with its
// log-det) for a batch of 256 frames; ".../grad" adds the backward pass of
// a scalar loss of the positions, as training through the transform needs.
func BenchmarkToCartesian(b *testing.B) {
	for _, name := range []string{"hp35", "protein_g"} {
		for _, mode := range []Mode{Reduced, Full} {
			for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
				for _, grad := range []bool{false, true} {
					label := fmt.Sprintf("%s/%s/%s", name, mode, dt)
					if grad {
						label += "/grad"
					}
					b.Run(label, func(b *testing.B) {
						s := loadSystem(b, name, true)
						spec, err := FitSpec(s.z, s.frames, mode)
						if err != nil {
							b.Fatal(err)
						}
						tr, err := NewTransform(spec, dt)
						if err != nil {
							b.Fatal(err)
						}
						var exec *Exec
						if grad {
							exec = MustNewExec(testenv.Backend(b), func(z *Node) (*Node, *Node) {
								x, ld := tr.ToCartesian(z)
								l := Add(ReduceAllSum(Square(x)), ReduceAllSum(ld))
								return l, Gradient(l, z)[0]
							})
						} else {
							exec = MustNewExec(testenv.Backend(b), func(z *Node) (*Node, *Node) { return tr.ToCartesian(z) })
						}
						in := benchInput(b, s, spec, dt)
						exec.MustExec(in) // compile
						b.ResetTimer()
						c0 := cpuTime()
						for i := 0; i < b.N; i++ {
							out := exec.MustExec(in)
							for _, o := range out {
								o.FinalizeAll()
							}
						}
						// CPU time of the process per batch: on a shared machine it is
						// steadier than the wall time that ns/op reports.
						b.ReportMetric(float64(cpuTime()-c0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
					})
				}
			}
		}
	}
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
