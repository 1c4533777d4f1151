package model

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// benchSystem fits a reduced spec to a system's MD frames and returns it
// with the free vectors of 256 frames spread over the trajectory.
func benchSystem(b *testing.B, name string) (*ic.Spec, []float64) {
	b.Helper()
	dir := testenv.SharedData(b)
	p, err := molecule.ReadPDBFile(filepath.Join(dir, name+".pdb"))
	if err != nil {
		b.Fatal(err)
	}
	z, err := ic.NewZMatrix(p.Topology)
	if err != nil {
		b.Fatal(err)
	}
	fr, err := molecule.ReadDCDFile(filepath.Join(dir, "md", name, "traj.dcd"))
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]ic.Vec3, len(fr))
	for i, f := range fr {
		frames[i] = f.Positions
	}
	spec, err := ic.FitSpec(z, frames, ic.Reduced)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 256
	var x []float64
	for i := range batch {
		v, _, err := spec.ToInternal(frames[i*len(frames)/batch])
		if err != nil {
			b.Fatal(err)
		}
		x = append(x, v...)
	}
	return spec, x
}

// BenchmarkFlow times, with the default configurations in float32 on the
// reduced coordinates of HP35 and protein G: one NLL training step (Adam)
// at batch 256 on MD frames, and sampling 1,000 structures (base samples,
// the flow's generative map and ic's ToCartesian, in batches of 250).
func BenchmarkFlow(b *testing.B) {
	for _, sys := range []string{"hp35", "protein_g"} {
		for _, arch := range []string{ArchNSF, ArchSplitGAU} {
			var spec *ic.Spec
			var data []float64
			var f *Flow
			setup := func(b *testing.B) {
				if f != nil {
					return
				}
				spec, data = benchSystem(b, sys)
				l, err := LayoutFromSpec(spec)
				if err != nil {
					b.Fatal(err)
				}
				if f, err = New(testenv.Backend(b), DefaultConfig(arch), l, dtypes.Float32); err != nil {
					b.Fatal(err)
				}
				if err := f.InitFromData(data, len(data)/f.Dim()); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("train/%s/%s", arch, sys), func(b *testing.B) {
				setup(b)
				tr, err := f.NewTrainer(256, 1e-4)
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
				if _, err := tr.Step(data); err != nil { // compile
					b.Fatal(err)
				}
				b.ReportMetric(float64(f.NumParams()), "params")
				timeIt(b, func() {
					if _, err := tr.Step(data); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run(fmt.Sprintf("sample1000/%s/%s", arch, sys), func(b *testing.B) {
				setup(b)
				ss, err := NewStructureSampler(f, spec, 250)
				if err != nil {
					b.Fatal(err)
				}
				defer ss.Close()
				if _, err := ss.Sample(250, 1); err != nil { // compile
					b.Fatal(err)
				}
				seed := uint64(2)
				timeIt(b, func() {
					if _, err := ss.Sample(1000, seed); err != nil {
						b.Fatal(err)
					}
					seed++
				})
			})
		}
	}
}

// timeIt runs fn b.N times and reports the process CPU time per call
// beside the wall time (steadier on a shared machine).
func timeIt(b *testing.B, fn func()) {
	c0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
