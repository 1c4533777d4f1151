//go:build unix

package nativegraph

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// spreadFrames reads n frames spread evenly over a DCD.
func spreadFrames(tb testing.TB, path string, n int) [][]molecule.Vec3 {
	tb.Helper()
	r, err := molecule.OpenDCD(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	total := r.NumFrames()
	var out [][]molecule.Vec3
	for k := range n {
		if err := r.Seek(k * (total - 1) / max(1, n-1)); err != nil {
			tb.Fatal(err)
		}
		f, err := r.Next()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, f.Positions)
	}
	return out
}

var (
	benchSubBatches = []int{2, 4, 6, 8, 16, 32}
	benchWorkers    = []int{1, 2}
)

// BenchmarkEvaluate measures energies and forces of 64 MD conformations
// (reported as conf/s) for each dtype, sub-batch size and number of
// concurrent graph calls.
func BenchmarkEvaluate(b *testing.B) {
	backend := testenv.Backend(b)
	for _, system := range []string{"hp35", "protein_g"} {
		b.Run(system, func(b *testing.B) {
			ref := reference(b, system, 1)
			frames := spreadFrames(b, filepath.Join(filepathMD(b, system), "traj.dcd"), 64)
			for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
				for _, sub := range benchSubBatches {
					for _, workers := range benchWorkers {
						b.Run(fmt.Sprintf("%s/sub%d/workers%d", dt, sub, workers), func(b *testing.B) {
							g, err := New(ref.Sys, dt, backend, Options{SubBatch: sub, Workers: workers})
							if err != nil {
								b.Fatal(err)
							}
							if _, err := g.Evaluate(context.Background(), frames[:sub], true); err != nil {
								b.Fatal(err) // compile outside the timing
							}
							b.ResetTimer()
							cpu0 := cpuSeconds(b)
							for range b.N {
								if _, err := g.Evaluate(context.Background(), frames, true); err != nil {
									b.Fatal(err)
								}
							}
							b.ReportMetric(float64(len(frames)*b.N)/b.Elapsed().Seconds(), "conf/s")
							b.ReportMetric(1e3*(cpuSeconds(b)-cpu0)/float64(len(frames)*b.N), "cpu_ms/conf")
						})
					}
				}
			}
		})
	}
}

// cpuSeconds is the CPU time (user + system) this process has used: the
// measure to trust while other jobs share the machine.
func cpuSeconds(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func filepathMD(tb testing.TB, system string) string {
	return filepath.Join(testenv.SharedData(tb), "md", system)
}
