package plugin

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkEvaluateHP35 measures energies and forces of 256 HP35
// conformations (582 atoms) on the CPU platform with one and two workers;
// the CPU threads are divided among the workers (Config.Threads default).
// conf/s is the throughput a training loop sees, transport included.
func BenchmarkEvaluateHP35(b *testing.B) {
	frames, _ := mdFrames(b, "hp35", spread(256, 200)) // the 200 fixture frames, some twice
	for _, workers := range []int{1, 2} {
		threads := max(1, runtime.NumCPU()/workers)
		b.Run(fmt.Sprintf("workers=%d/threads=%d", workers, threads), func(b *testing.B) {
			pool := startPool(b, Config{PDB: mdTop(b, "hp35"), Workers: workers, Threads: threads})
			ctx := context.Background()
			for b.Loop() {
				res, err := pool.Evaluate(ctx, frames, true)
				if err != nil {
					b.Fatal(err)
				}
				if n := res.Failed(); n != 0 {
					b.Fatalf("%d samples failed", n)
				}
			}
			b.ReportMetric(float64(len(frames)*b.N)/b.Elapsed().Seconds(), "conf/s")
		})
	}
}
