package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// The worker's energies and forces must be OpenMM's own, evaluated in a
// separate Python process on a System that script builds itself; and, as a
// sanity check of the physics, the energies recorded by the reference MD.
func TestEnergiesMatchOpenMM(t *testing.T) {
	for _, sys := range []string{"ala2", "hp35"} {
		t.Run(sys, func(t *testing.T) {
			recorded := recordedEnergies(t, sys)
			idx := spread(8, len(recorded))
			pos, nframes := mdFrames(t, sys, idx)
			if nframes != len(recorded) {
				t.Fatalf("traj.dcd has %d frames, energies.csv %d", nframes, len(recorded))
			}
			directE, directF := directOpenMM(t, mdTop(t, sys), pos)
			pool := sharedPool(t, sys)
			if pool.NumAtoms() != len(pos[0]) {
				t.Fatalf("pool has %d atoms, the trajectory %d", pool.NumAtoms(), len(pos[0]))
			}
			if info := pool.Info(); info.Platform != "Reference" || info.ProtocolVersion != ProtocolVersion {
				t.Fatalf("info: %v", info)
			}
			res, err := pool.Evaluate(context.Background(), pos, true)
			if err != nil {
				t.Fatal(err)
			}
			var worstDirect, worstForce, worstMD float64
			differ := 0 // values whose bits differ from direct OpenMM's
			for i, frame := range idx {
				if res.Errors[i] != nil {
					t.Fatalf("frame %d: %v", frame, res.Errors[i])
				}
				if !sameBits(res.Energies[i], directE[i]) {
					differ++
				}
				worstDirect = math.Max(worstDirect, relDiff(res.Energies[i], directE[i]))
				scale := maxAbsVec(directF[i])
				for a, f := range res.Forces[i] {
					for k := range 3 {
						if !sameBits(f[k], directF[i][a][k]) {
							differ++
						}
						worstForce = math.Max(worstForce, math.Abs(f[k]-directF[i][a][k])/scale)
					}
				}
				worstMD = math.Max(worstMD, relDiff(res.Energies[i], recorded[frame]))
			}
			t.Logf("%s (%d atoms, %d frames): frames %v: max relative difference to direct OpenMM: energy %.3g, force %.3g; to the MD's energies.csv %.3g",
				sys, len(pos[0]), nframes, idx, worstDirect, worstForce, worstMD)
			// docs/status.md: bit-identical to OpenMM called directly on the
			// same platform (same System, same float64 positions).
			if differ != 0 {
				t.Errorf("plugin differs from direct OpenMM in %d energies and force components, want bit-identical "+
					"(largest relative difference: energy %.3g, force %.3g of the largest force component)", differ, worstDirect, worstForce)
			}
			// energies.csv comes from OpenMM 7.7's CPU platform (single-precision
			// non-bonded terms), printed to 4 decimals, for positions that the
			// DCD then rounded to float32: 7e-7 (HP35) and 1.6e-6 (ala2).
			if worstMD > 2e-5 {
				t.Errorf("plugin differs from the MD's recorded energies by %.3g relative (limit 2e-5)", worstMD)
			}
		})
	}
}

// Forces must be the negative gradient of the energies: central differences
// of plugin energies, all displaced coordinates in one batch.
func TestForcesMatchFiniteDifferences(t *testing.T) {
	const h = 1e-5 // nm: truncation error ~h^2 f''' and rounding ~1e-16 E/h
	frames, _ := mdFrames(t, "ala2", []int{0, 7777})
	pool := sharedPool(t, "ala2")
	ctx := context.Background()
	for fi, x := range frames {
		n := len(x)
		batch := make([][]molecule.Vec3, 0, 6*n)
		for a := range n {
			for k := range 3 {
				for _, s := range []float64{h, -h} {
					y := append([]molecule.Vec3(nil), x...)
					y[a][k] += s
					batch = append(batch, y)
				}
			}
		}
		exact, err := pool.Evaluate(ctx, [][]molecule.Vec3{x}, true)
		if err != nil {
			t.Fatal(err)
		}
		disp, err := pool.Evaluate(ctx, batch, false)
		if err != nil {
			t.Fatal(err)
		}
		var num, den float64
		for a := range n {
			for k := range 3 {
				i := 2 * (3*a + k)
				fd := -(disp.Energies[i] - disp.Energies[i+1]) / (2 * h)
				d := exact.Forces[0][a][k] - fd
				num += d * d
				den += fd * fd
			}
		}
		rel := math.Sqrt(num / den)
		t.Logf("ala2 frame %d: relative RMS force error against central differences (h = %g nm): %.3g", fi, h, rel)
		// docs/status.md: 5.6e-8 relative RMS on these two frames.
		if rel > 1e-6 {
			t.Errorf("frame %d: forces differ from finite differences by %.3g relative RMS (limit 1e-6)", fi, rel)
		}
	}
}

// A sample with NaN or Inf positions must get its own error while the rest
// of the batch comes back exactly as it would alone.
func TestNonFiniteSample(t *testing.T) {
	frames, _ := mdFrames(t, "ala2", []int{10, 20, 30, 40, 50})
	pool := sharedPool(t, "ala2")
	ctx := context.Background()
	clean, err := pool.Evaluate(ctx, frames, true)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]float64{1: math.NaN(), 3: math.Inf(1)}
	batch := make([][]molecule.Vec3, len(frames))
	for i, x := range frames {
		batch[i] = append([]molecule.Vec3(nil), x...)
		if v, ok := bad[i]; ok {
			batch[i][5][1] = v
		}
	}
	res, err := pool.Evaluate(ctx, batch, true)
	if err != nil {
		t.Fatalf("a non-finite sample failed the batch: %v", err)
	}
	if got := res.Failed(); got != len(bad) {
		t.Errorf("%d samples failed, want %d", got, len(bad))
	}
	for i := range batch {
		if _, isBad := bad[i]; isBad {
			var se *energy.SampleError
			if !errors.Is(res.Errors[i], energy.ErrNonFinite) || !errors.As(res.Errors[i], &se) || se.Index != i {
				t.Errorf("sample %d: error %v, want a SampleError for index %d wrapping ErrNonFinite", i, res.Errors[i], i)
			} else {
				t.Logf("sample %d: %v", i, res.Errors[i])
			}
			if maxAbsVec(res.Forces[i]) != 0 {
				t.Errorf("sample %d: forces of a failed sample are not zero", i)
			}
			continue
		}
		if res.Errors[i] != nil {
			t.Errorf("sample %d: unexpected error %v", i, res.Errors[i])
		}
		if !sameBits(res.Energies[i], clean.Energies[i]) {
			t.Errorf("sample %d: energy %v, alone %v", i, res.Energies[i], clean.Energies[i])
		}
	}
}

// Killing a worker in the middle of a batch must cost time, not
// correctness: the pool restarts it, retries its chunk, and returns what an
// undisturbed run returns, bit for bit (Reference platform).
func TestWorkerDeathMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes: seconds")
	}
	frames, _ := mdFrames(t, "hp35", spread(64, 200))
	pool := startPool(t, Config{PDB: mdTop(t, "hp35"), Platform: "Reference", Workers: 2})
	ctx := context.Background()
	want, err := pool.Evaluate(ctx, frames, true)
	if err != nil {
		t.Fatal(err)
	}
	before := pool.PIDs()

	got := evaluateKilling(t, pool, frames, &pool.workers[1].inflight, "worker 1", func() error {
		return syscall.Kill(before[1], syscall.SIGKILL)
	})
	t.Logf("pids now %v", pool.PIDs())
	if n := pool.Restarts(); n != 1 {
		t.Errorf("pool restarted %d workers, want 1", n)
	}
	after := pool.PIDs()
	if after[0] != before[0] || after[1] == before[1] || after[1] == 0 {
		t.Errorf("pids before %v, after %v: want worker 1 replaced, worker 0 kept", before, after)
	}
	if err := syscall.Kill(before[1], 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("killed worker %d still exists (kill 0: %v)", before[1], err)
	}
	if n := got.Failed(); n != 0 {
		t.Fatalf("%d samples failed after the restart", n)
	}
	sameResult(t, got, want)
}

// evaluateKilling evaluates frames on pool while kill ends the worker or
// server whose calls in progress inflight counts, once its chunk has
// reached it, and returns the batch's result; what is an error of the
// batch fails the test.
func evaluateKilling(t *testing.T, pool *Pool, frames [][]molecule.Vec3, inflight *atomic.Int32, what string, kill func() error) energy.Result {
	t.Helper()
	type answer struct {
		res energy.Result
		err error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		r, err := pool.Evaluate(context.Background(), frames, true)
		done <- answer{r, err}
	}()
	for inflight.Load() == 0 {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s never received its chunk", what)
		}
		time.Sleep(time.Millisecond)
	}
	// Let it get into its chunk (32 HP35 samples with forces take about
	// half a second on Reference).
	time.Sleep(50 * time.Millisecond)
	if err := kill(); err != nil {
		t.Fatal(err)
	}
	got := <-done
	t.Logf("batch with %s killed in flight: %v", what, time.Since(start))
	if got.err != nil {
		t.Fatal(got.err)
	}
	return got.res
}

// A worker that stops answering (SIGSTOP) must be timed out, killed and
// replaced.
func TestHungWorkerTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes: seconds")
	}
	frames, _ := mdFrames(t, "ala2", []int{1, 2, 3})
	pool := startPool(t, Config{PDB: mdTop(t, "ala2"), Platform: "Reference", Timeout: time.Second})
	want, err := pool.Evaluate(context.Background(), frames, false)
	if err != nil {
		t.Fatal(err)
	}
	pid := pool.PIDs()[0]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid)
	start := time.Now()
	got, err := pool.Evaluate(context.Background(), frames, false)
	t.Logf("evaluate with a stopped worker: %v", time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if pool.Restarts() != 1 || pool.PIDs()[0] == pid {
		t.Errorf("restarts %d, pid %d -> %d: want the stopped worker replaced", pool.Restarts(), pid, pool.PIDs()[0])
	}
	for i := range want.Energies {
		if !sameBits(got.Energies[i], want.Energies[i]) {
			t.Errorf("sample %d: %v, want %v", i, got.Energies[i], want.Energies[i])
		}
	}
}

// waitStopped returns once every thread of pid is in the stopped state:
// kill(2) only queues SIGSTOP, and a worker that is still running when the
// next request arrives answers it, which is the race this waits out.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("threads of worker %d: %v (found %d)", pid, err, len(tasks))
		}
		stopped := 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // a thread that exited meanwhile
			}
			// The state is the field after the parenthesised command name.
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
				stopped++
			}
		}
		if stopped == len(tasks) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d: %d of %d threads stopped 10 s after SIGSTOP", pid, stopped, len(tasks))
		}
		time.Sleep(time.Millisecond)
	}
}

// Without restarts allowed, a dead worker is an error that says which worker
// and which attempt failed.
func TestDeadWorkerErrorNamesWorker(t *testing.T) {
	frames, _ := mdFrames(t, "ala2", []int{1})
	pool := startPool(t, Config{PDB: mdTop(t, "ala2"), Platform: "Reference", MaxRestarts: -1})
	pid := pool.PIDs()[0]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Evaluate(context.Background(), frames, false)
	if err == nil {
		t.Fatal("evaluate on a killed worker without restarts succeeded")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"worker 0", "attempt 1 of 1", "samples 0-0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// Close must leave no worker process behind, reaped or not.
func TestCloseLeavesNoProcesses(t *testing.T) {
	pool := startPool(t, Config{PDB: mdTop(t, "ala2"), Platform: "Reference", Workers: 2})
	pids := pool.PIDs()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("worker %d not running before Close: %v", pid, err)
		}
	}
	start := time.Now()
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close of 2 workers: %v", time.Since(start))
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker %d still exists after Close (kill 0: %v)", pid, err)
		}
	}
	if err := pool.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := pool.Evaluate(context.Background(), nil, false); err == nil {
		t.Error("Evaluate after Close succeeded")
	}
}

// Concurrent callers share the workers and each get their own answers.
func TestConcurrentEvaluate(t *testing.T) {
	frames, _ := mdFrames(t, "ala2", spread(24, 20000))
	pool := sharedPool(t, "ala2")
	ctx := context.Background()
	want, err := pool.Evaluate(ctx, frames, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			part := frames[6*g : 6*g+6]
			res, err := pool.Evaluate(ctx, part, false)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range part {
				if !sameBits(res.Energies[i], want.Energies[6*g+i]) {
					t.Errorf("caller %d sample %d: %v, want %v", g, i, res.Energies[i], want.Energies[6*g+i])
				}
			}
		})
	}
	wg.Wait()
}

// The System XML must describe the System the worker evaluates: OpenMM,
// given only that XML, must reproduce the worker's energy.
func TestSystemXML(t *testing.T) {
	frames, _ := mdFrames(t, "ala2", []int{123})
	pool := sharedPool(t, "ala2")
	xml, err := pool.SystemXML(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Each atom is one <Particle mass=...> of the System (forces list their
	// per-particle parameters as <Particle> too, without mass).
	if n := strings.Count(xml, "<Particle mass="); !strings.Contains(xml, "<System") || n != pool.NumAtoms() {
		t.Fatalf("System XML has %d particles, pool %d atoms", n, pool.NumAtoms())
	}
	path := filepath.Join(t.TempDir(), "system.xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	fromXML := startPool(t, Config{SystemXML: path, Platform: "Reference"})
	a, err := pool.Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fromXML.Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(a.Energies[0], b.Energies[0]) {
		t.Errorf("energy from the PDB-built System %v, from its XML %v", a.Energies[0], b.Energies[0])
	}
	if len(fromXML.Info().ForceField) != 0 || fromXML.Info().Source != path {
		t.Errorf("info of an XML-built worker: %v", fromXML.Info())
	}
}

// The embedded worker is the checkout's, and an installed binary can run it.
func TestExtractServer(t *testing.T) {
	path, err := ExtractServer()
	if err != nil {
		t.Fatal(err)
	}
	root := testenv.Root()
	for _, f := range []string{"plugin/openmm/server.py", "plugin/openmm/energy_pb2.py", "plugin/openmm/energy_pb2_grpc.py", "plugin/proto/energy.proto"} {
		want, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(filepath.Dir(path), filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("extracted %s differs from the checkout's", f)
		}
	}
	again, err := ExtractServer()
	if err != nil || again != path {
		t.Errorf("second extraction: %q, %v; first %q", again, err, path)
	}
	frames, _ := mdFrames(t, "ala2", []int{5})
	pool := startPool(t, Config{Server: path, PDB: mdTop(t, "ala2"), Platform: "Reference"})
	got, err := pool.Evaluate(context.Background(), frames, false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sharedPool(t, "ala2").Evaluate(context.Background(), frames, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(got.Energies[0], want.Energies[0]) {
		t.Errorf("extracted worker: %v, checkout's worker: %v", got.Energies[0], want.Energies[0])
	}
}

// Bad configurations and inputs fail with errors, not hangs or panics.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pdb")
	if err := os.WriteFile(garbage, []byte("not a pdb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no structure", Config{}, "exactly one of"},
		{"both structures", Config{PDB: garbage, SystemXML: garbage}, "exactly one of"},
		{"missing pdb", Config{PDB: filepath.Join(dir, "missing.pdb")}, "no such file"},
		{"unparsable pdb", Config{PDB: garbage, Platform: "Reference"}, "garbage.pdb: OpenMM cannot read it"},
		{"unknown platform", Config{PDB: mdTop(t, "ala2"), Platform: "Abacus"}, "Abacus"},
		{"unknown force field", Config{PDB: mdTop(t, "ala2"), ForceField: []string{"nonesuch.xml"}, Platform: "Reference"}, "nonesuch.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Start(context.Background(), testConfig(t, tc.cfg))
			if err == nil {
				p.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}

	t.Run("wrong atom count", func(t *testing.T) {
		pool := sharedPool(t, "ala2")
		_, err := pool.Evaluate(context.Background(), [][]molecule.Vec3{make([]molecule.Vec3, 21)}, false)
		if err == nil || !strings.Contains(err.Error(), "sample 0 has 21 atoms") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		pool := sharedPool(t, "ala2")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := pool.Evaluate(ctx, [][]molecule.Vec3{make([]molecule.Vec3, pool.NumAtoms())}, false)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if pool.Restarts() != 0 {
			t.Errorf("a cancelled call restarted a worker")
		}
	})

	t.Run("run by hand", func(t *testing.T) {
		// Without go-plugin's magic cookie the worker explains itself and
		// exits instead of serving.
		cmd := exec.Command(testenv.Python(t), "-u", filepath.Join(testenv.Root(), "plugin", "openmm", "server.py"), "--pdb", mdTop(t, "ala2"))
		cmd.Env = append(os.Environ(), Handshake.MagicCookieKey+"=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not meant to be run by hand") {
			t.Errorf("err %v, output %q", err, out)
		}
	})
}

// Empty batches are valid and cost nothing.
func TestEmptyBatch(t *testing.T) {
	pool := sharedPool(t, "ala2")
	res, err := pool.Evaluate(context.Background(), nil, true)
	if err != nil || len(res.Energies) != 0 || len(res.Forces) != 0 {
		t.Errorf("empty batch: %+v, %v", res, err)
	}
}

// The CPU platform (the default) evaluates non-bonded terms in single
// precision; its energies must still agree with the Reference platform's to
// well within what training and reweighting can resolve.
func TestCPUPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes: seconds")
	}
	frames, _ := mdFrames(t, "hp35", spread(8, 200))
	pool := startPool(t, Config{PDB: mdTop(t, "hp35"), Threads: 1})
	if info := pool.Info(); info.Platform != "CPU" || info.Properties["Threads"] != "1" {
		t.Fatalf("info: platform %q, properties %v", info.Platform, info.Properties)
	}
	cpu, err := pool.Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := sharedPool(t, "hp35").Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	var worstE, worstF float64
	for i := range frames {
		worstE = math.Max(worstE, relDiff(cpu.Energies[i], ref.Energies[i]))
		scale := maxAbsVec(ref.Forces[i])
		for a := range ref.Forces[i] {
			for k := range 3 {
				worstF = math.Max(worstF, math.Abs(cpu.Forces[i][a][k]-ref.Forces[i][a][k])/scale)
			}
		}
	}
	t.Logf("hp35, CPU against Reference platform: max relative difference energy %.3g, force %.3g", worstE, worstF)
	// Measured 9.3e-7 and 6.1e-7 (single-precision non-bonded terms).
	if worstE > 1e-5 || worstF > 1e-5 {
		t.Errorf("CPU platform differs from Reference: energy %.3g relative (limit 1e-5), force %.3g relative to the largest component (limit 1e-5)", worstE, worstF)
	}
}

// Stubs that do not fit the installed grpcio/protobuf (here: missing) are
// regenerated from energy.proto at start-up.
func TestStubFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes: seconds")
	}
	dir := t.TempDir()
	root := testenv.Root()
	for src, dst := range map[string]string{"plugin/openmm/server.py": "server.py", "plugin/proto/energy.proto": "energy.proto"} {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	frames, _ := mdFrames(t, "ala2", []int{9})
	pool := startPool(t, Config{Server: filepath.Join(dir, "server.py"), PDB: mdTop(t, "ala2"), Platform: "Reference"})
	got, err := pool.Evaluate(context.Background(), frames, false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sharedPool(t, "ala2").Evaluate(context.Background(), frames, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(got.Energies[0], want.Energies[0]) {
		t.Errorf("worker with regenerated stubs: %v, with committed stubs: %v", got.Energies[0], want.Energies[0])
	}
}

// A worker whose host dies without closing it (crash, SIGKILL) exits by
// itself. Here the "host" is a shell that starts the worker and exits.
func TestOrphanedWorkerExits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes: seconds")
	}
	server := filepath.Join(testenv.Root(), "plugin", "openmm", "server.py")
	cmd := exec.Command("sh", "-c", `"$0" -u "$1" --pdb "$2" --platform Reference --host-pid $$ >/dev/null 2>&1 & echo $!`,
		testenv.Python(t), server, mdTop(t, "ala2"))
	cmd.Env = append(os.Environ(), Handshake.MagicCookieKey+"="+Handshake.MagicCookieValue)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("shell printed %q", out)
	}
	start := time.Now()
	for processAlive(pid) {
		if time.Since(start) > 30*time.Second {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("orphaned worker %d still running after %v", pid, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("orphaned worker exited after %v", time.Since(start))
}

// processAlive is false for a process that is gone or a zombie (dead, not
// yet reaped by whoever adopted it).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
