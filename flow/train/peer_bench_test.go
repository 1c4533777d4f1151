package train

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gobg/gobg/flow/model"
)

// BenchmarkPeer is gobg's half of the side-by-side comparison with a PyTorch
// spline flow (scripts/bench-torch.sh, docs/flow-bench.md): alanine
// dipeptide from testdata in full internal coordinates, examples/ala2/long.json's
// flow (nsf, 6 couplings, hidden 128×128, 8 bins), batch 256, each case in
// float32 and in float64 (sub-benchmarks CASE/float32 and CASE/float64). It
// reports CPU milliseconds per operation (cpu-ms/op) counted over this
// process and its child processes (the OpenMM worker of the kl-openmm
// case), so that the energy's cost is counted as it is in the PyTorch
// process, which calls OpenMM in-process.
//
//   - nll: one maximum-likelihood step on MD frames;
//   - kl-openmm, kl-native: one reverse-KL step (samples, energies and
//     forces, gradient), with OpenMM's CPU platform or gobg's native energy;
//   - sample: 1,000 structures with log q (flow, internal → Cartesian).
func BenchmarkPeer(b *testing.B) {
	cfg, base := longBenchConfig(b, 10000)
	base.BatchSize = 256
	for _, tc := range []struct {
		name     string
		w        Weights
		provider string
	}{
		{"nll", Weights{NLL: 1}, ProviderNative},
		{"kl-openmm", Weights{KL: 1}, ProviderOpenMM},
		{"kl-native", Weights{KL: 1}, ProviderNative},
		{"sample", Weights{NLL: 1}, ProviderNative},
	} {
		for _, dt := range []string{DTypeFloat32, DTypeFloat64} {
			b.Run(tc.name+"/"+dt, func(b *testing.B) {
				s := base
				s.Weights = tc.w
				c := cfg
				c.DType = dt
				c.Stages = []Stage{s}
				c.Energy.Provider = tc.provider
				c.Energy.Workers = 1
				tr, err := New(context.Background(), c, Options{Energy: configEnergy(b, c)})
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
				op := func(k int) error {
					_, err := tr.step(context.Background(), s, k)
					return err
				}
				if tc.name == "sample" {
					smp, err := model.NewStructureSampler(tr.Flow(), tr.Data().Spec, 1000)
					if err != nil {
						b.Fatal(err)
					}
					defer smp.Close()
					op = func(k int) error {
						_, err := smp.Sample(1000, uint64(k))
						return err
					}
				}
				if err := op(0); err != nil { // compile
					b.Fatal(err)
				}
				cpu0 := treeCPU()
				b.ResetTimer()
				for k := 1; k <= b.N; k++ {
					if err := op(k); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric((treeCPU()-cpu0)*1e3/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// treeCPU is the user + system CPU time in seconds of this process and of
// its live descendants (read from /proc; only this process elsewhere).
func treeCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	sec := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)*1e-6
	return sec + descendantsCPU(os.Getpid())
}

func descendantsCPU(pid int) float64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	children := map[int][]int{}
	ticks := map[int]float64{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may hold spaces.
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		children[ppid] = append(children[ppid], p)
		ticks[p] = ut + st
	}
	const hz = 100 // USER_HZ on Linux
	var sum float64
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			sum += ticks[c] / hz
			walk(c)
		}
	}
	walk(pid)
	return sum
}
