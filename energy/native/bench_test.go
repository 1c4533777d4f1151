//go:build unix

package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/reftest"
	"github.com/gobg/gobg/internal/testenv"
	"golang.org/x/sys/unix"
)

// benchThreads is the OpenMM CPU thread count the benchmark compares with;
// the native side uses GOMAXPROCS workers (run with -cpu 2 for a like-for-like
// comparison on two cores).
const benchThreads = 2

// benchData loads frames of one MD system and times OpenMM's CPU platform
// on them (testdata/bench.py): it returns OpenMM's wall-clock and CPU seconds
// for the batch.
func benchData(b *testing.B, system string, frames int) (sys *forcefield.System, pos [][]molecule.Vec3, ommWall, ommCPU float64) {
	b.Helper()
	md := filepath.Join(testenv.SharedData(b), "md", system)
	script, err := os.ReadFile(filepath.Join("testdata", "bench.py"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	testenv.RunPython(b, string(script), filepath.Join(md, "top.pdb"), filepath.Join(md, "traj.dcd"),
		strconv.Itoa(frames), dir, strconv.Itoa(benchThreads))
	sys, err = forcefield.ReadSystemXMLFile(filepath.Join(dir, "system.xml"))
	if err != nil {
		b.Fatal(err)
	}
	shape, err := os.ReadFile(filepath.Join(dir, "shape.txt"))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(shape))
	nf, _ := strconv.Atoi(f[0])
	n, _ := strconv.Atoi(f[1])
	flat := testenv.ReadFloat64s(b, filepath.Join(dir, "pos.bin"))
	if len(flat) != nf*n*3 || n != sys.NumParticles() {
		b.Fatalf("pos.bin has %d values for %d frames of %d atoms", len(flat), nf, n)
	}
	pos = make([][]molecule.Vec3, nf)
	for k := range pos {
		pos[k] = reftest.ToVec3(flat[k*n*3 : (k+1)*n*3])
	}
	secs, err := os.ReadFile(filepath.Join(dir, "openmm_seconds.txt"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscan(string(secs), &ommWall, &ommCPU); err != nil {
		b.Fatalf("openmm_seconds.txt: %v", err)
	}
	return sys, pos, ommWall, ommCPU
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNative measures energies and forces of a batch of 256 MD
// conformations (each kernel this machine runs: avx512 where it can, and
// scalar) and reports conformations
// per second, OpenMM CPU's rate on the same frames (measured in the same run,
// benchThreads threads) and their ratio, by wall clock and by CPU time per
// conformation. The CPU-time ratio is the one to trust when other jobs share
// the machine; the wall-clock ratio is what a user sees on an idle machine
// with -cpu 2.
func BenchmarkNative(b *testing.B) {
	for _, system := range []string{"ala2", "hp35", "protein_g"} {
		b.Run(system, func(b *testing.B) {
			sys, pos, ommWall, ommCPU := benchData(b, system, 256)
			for _, v := range variants(b) {
				b.Run(v.name, func(b *testing.B) {
					e, err := New(sys, v.opts)
					if err != nil {
						b.Fatal(err)
					}
					ctx := context.Background()
					b.ReportAllocs() // B/op: the memory a batch allocates
					b.ResetTimer()
					cpu0 := cpuTime(b)
					for range b.N {
						if _, err := e.Evaluate(ctx, pos, true); err != nil {
							b.Fatal(err)
						}
					}
					cpu := (cpuTime(b) - cpu0).Seconds()
					confs := float64(len(pos) * b.N)
					rate := confs / b.Elapsed().Seconds()
					ommRate := float64(len(pos)) / ommWall
					b.ReportMetric(rate, "conf/s")
					b.ReportMetric(ommRate, "openmm_conf/s")
					b.ReportMetric(rate/ommRate, "x_openmm_wall")
					b.ReportMetric(1e3*cpu/confs, "cpu_ms/conf")
					b.ReportMetric(1e3*ommCPU/float64(len(pos)), "openmm_cpu_ms/conf")
					b.ReportMetric(ommCPU/float64(len(pos))/(cpu/confs), "x_openmm_cpu")
				})
			}
		})
	}
}

// threadCPU is the CPU time of the calling thread (lock it first).
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// BenchmarkPasses splits the CPU time of one conformation (energies and
// forces, one goroutine) into its parts for each kernel: the bonded terms,
// the Born radii (their pair pass and the per-atom step), the fused pair
// pass of Coulomb, Lennard-Jones and GB energies (with the exceptions), and
// the Born-radius forces. Times are the thread's CPU time, so other jobs on
// the machine change them less than wall-clock times.
func BenchmarkPasses(b *testing.B) {
	for _, system := range []string{"ala2", "hp35", "protein_g"} {
		b.Run(system, func(b *testing.B) {
			sys, pos, _, _ := benchData(b, system, 50)
			for _, v := range variants(b) {
				b.Run(v.name, func(b *testing.B) {
					v.opts.Workers = 1
					e, err := New(sys, v.opts)
					if err != nil {
						b.Fatal(err)
					}
					w := e.getWorkspace()
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					var bonded, radii, pairs, born time.Duration
					b.ResetTimer()
					for k := range b.N {
						if err := w.load(pos[k%len(pos)]); err != nil {
							b.Fatal(err)
						}
						t0 := threadCPU(b)
						e.bondEnergy(w, true)
						e.angleEnergy(w, true)
						e.torsionEnergy(w, true)
						t1 := threadCPU(b)
						e.gb.bornRadii(w)
						t2 := threadCPU(b)
						if w.avx != nil {
							e.fusedAVX(w)
						} else {
							e.fusedScalar(w, 0, 0)
						}
						e.nb.exceptions(w, true)
						t3 := threadCPU(b)
						e.gb.bornForces(w)
						t4 := threadCPU(b)
						bonded += t1 - t0
						radii += t2 - t1
						pairs += t3 - t2
						born += t4 - t3
					}
					us := func(d time.Duration) float64 { return float64(d) / 1e3 / float64(b.N) }
					b.ReportMetric(us(bonded), "bonded_us")
					b.ReportMetric(us(radii), "born_radii_us")
					b.ReportMetric(us(pairs), "pair_pass_us")
					b.ReportMetric(us(born), "born_forces_us")
					b.ReportMetric(us(bonded+radii+pairs+born), "total_us")
				})
			}
		})
	}
}
