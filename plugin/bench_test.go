package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkEvaluate measures energies and forces of 256 conformations of
// each fixture system (its frames, some twice) on the CPU platform with one
// and two workers; the CPU threads are divided among the workers
// (Config.Threads default). conf/s is the throughput a training loop sees,
// transport included; cpu_ms/conf counts the CPU time of this process and
// of the workers, which moves far less than conf/s when other jobs share
// the machine (compare it with energy/native's BenchmarkNative, whose
// openmm_cpu_ms/conf is OpenMM called directly from Python).
func BenchmarkEvaluate(b *testing.B) {
	for _, sys := range []struct {
		name   string
		frames int
	}{{"ala2", 20000}, {"hp35", 200}, {"protein_g", 94}} {
		frames, _ := mdFrames(b, sys.name, spread(256, sys.frames))
		for _, workers := range []int{1, 2} {
			threads := max(1, runtime.NumCPU()/workers)
			b.Run(fmt.Sprintf("%s/workers=%d/threads=%d", sys.name, workers, threads), func(b *testing.B) {
				pool := startPool(b, Config{PDB: mdTop(b, sys.name), Workers: workers, Threads: threads})
				ctx := context.Background()
				if _, err := pool.Evaluate(ctx, frames[:2], true); err != nil {
					b.Fatal(err)
				}
				cpu0, ok0 := processesCPU(pool.PIDs())
				b.ResetTimer()
				for b.Loop() {
					res, err := pool.Evaluate(ctx, frames, true)
					if err != nil {
						b.Fatal(err)
					}
					if n := res.Failed(); n != 0 {
						b.Fatalf("%d samples failed", n)
					}
				}
				confs := float64(len(frames) * b.N)
				b.ReportMetric(confs/b.Elapsed().Seconds(), "conf/s")
				if cpu1, ok1 := processesCPU(pool.PIDs()); ok0 && ok1 {
					b.ReportMetric(1e3*(cpu1-cpu0)/confs, "cpu_ms/conf")
				}
			})
		}
	}
}

// processesCPU returns the CPU seconds (user + system, all threads) used so
// far by this process and the processes pids, from /proc; false where it
// cannot be read.
func processesCPU(pids []int) (float64, bool) {
	total, ok := procCPU("self")
	for _, pid := range pids {
		v, pok := procCPU(fmt.Sprint(pid))
		total += v
		ok = ok && pok
	}
	return total, ok
}

// procCPU reads utime + stime of /proc/PID/stat, in seconds (Linux reports
// them in USER_HZ = 100 ticks per second on every architecture it runs on).
func procCPU(pid string) (float64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after the last ')' start with field 3, the state.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	var utime, stime float64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, false
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, false
	}
	return (utime + stime) / 100, true
}
