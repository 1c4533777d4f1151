package train

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/testenv"
)

// dataParallelTol is the relative difference allowed between a run on
// several devices and one on a single device: the devices sum their shares
// of the batch and then add the partial sums, so only the rounding of
// float64 sums differs (docs/backends.md, "Several devices").
const dataParallelTol = 1e-10

// cpuPluginSpec is the backend spec of the PJRT CPU plugin, which makes as
// many devices as asked; the tests of several devices need it.
func cpuPluginSpec(t *testing.T) string {
	t.Helper()
	p := nn.CPUPlugin()
	if p == "" {
		t.Fatal("no PJRT CPU plugin found (run scripts/setup.sh)")
	}
	return "xla:" + p
}

// relDiff is the largest difference between the variables of a and b, each
// relative to the variable's largest magnitude (and the number compared).
func relDiff(a, b map[string][]float64) (float64, int) {
	worst, n := 0.0, 0
	for k, va := range a {
		vb, ok := b[k]
		if !ok || len(vb) != len(va) {
			return math.Inf(1), n
		}
		scale := 0.0
		for _, v := range va {
			scale = max(scale, math.Abs(v))
		}
		for i := range va {
			if d := math.Abs(va[i] - vb[i]); d > 0 {
				worst = max(worst, d/scale)
			}
		}
		n++
	}
	if len(b) != len(a) {
		return math.Inf(1), n
	}
	return worst, n
}

// compareLosses reports the losses of got that differ from want by more
// than dataParallelTol relative.
func compareLosses(t *testing.T, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d losses, want %d", len(got), len(want))
	}
	for i := range got {
		if !(math.Abs(got[i]-want[i]) <= dataParallelTol*math.Abs(want[i])) {
			t.Errorf("step %d: loss %.17g, one device %.17g (relative difference %.3g)", i, got[i], want[i], math.Abs(got[i]-want[i])/math.Abs(want[i]))
		}
	}
}

// runDevices trains cfg on n devices and checks that it ran there and that
// its losses and final variables agree with the one-device run's (want,
// wantLosses) to dataParallelTol.
func runDevices(t *testing.T, cfg Config, n int, want map[string][]float64, wantLosses []float64) {
	t.Helper()
	cfg.Output, cfg.Devices = t.TempDir(), n
	tr := newTrainer(t, cfg, Options{})
	if got := tr.flow.Backend().NumDevices(); got != n {
		t.Fatalf("backend has %d devices, want %d", got, n)
	}
	s, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.execs) != len(cfg.Stages) {
		t.Errorf("%d step graphs, want %d", len(tr.execs), len(cfg.Stages))
	}
	for k, e := range tr.execs {
		if e.NumDevices() != n {
			t.Errorf("step graph %s runs on %d devices, want %d", k, e.NumDevices(), n)
		}
	}
	compareLosses(t, s.Losses, wantLosses)
	diff, nv := relDiff(want, snapshot(t, tr.flow.Context()))
	if nv == 0 || !(diff <= dataParallelTol) {
		t.Errorf("final variables differ by %.3g relative (%d variables)", diff, nv)
	}
	t.Logf("losses %v; largest relative difference of the final variables to one device: %.3g (%d variables)", s.Losses, diff, nv)
}

// referenceRun trains cfg on one device: its losses and final variables.
func referenceRun(t *testing.T, cfg Config) (map[string][]float64, []float64) {
	t.Helper()
	ref := newTrainer(t, cfg, Options{})
	s, err := ref.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	return snapshot(t, ref.flow.Context()), s.Losses
}

// TestDataParallel trains 3 NLL steps and 2 steps of every term at once
// (NLL, W2, KL with the path gradient, FKL, log-variance, ESS; native
// energy), so that every kind of step input is split or replicated, on
// one device and on 2 (the batch of 32 split over them): the losses and
// the final variables (weights, frozen copy and Adam moments) must agree
// to dataParallelTol.
func TestDataParallel(t *testing.T) {
	cfg := tinyConfig(t, 3, 2)
	cfg.Backend = cpuPluginSpec(t)
	cfg.Stages[1].Weights = Weights{NLL: 1, W2: 10, KL: 0.1, FKL: 0.5, LogVar: 0.5, ESS: 0.5}
	cfg.Stages[1].KLGradient = KLGradientPath
	want, losses := referenceRun(t, cfg)
	runDevices(t, cfg, 2, want, losses)
}

// TestDataParallelResume trains 4 NLL steps on one device and on 4, and
// then stops runs after step 2 and resumes them from their checkpoint on
// another number of devices: every run must give the one-device run's
// losses and final variables.
func TestDataParallelResume(t *testing.T) {
	cfg := tinyConfig(t, 4, 0)
	cfg.Backend = cpuPluginSpec(t)
	want, losses := referenceRun(t, cfg)
	t.Run("devices=4", func(t *testing.T) { runDevices(t, cfg, 4, want, losses) })
	for _, tc := range []struct{ before, after int }{{2, 1}, {1, 4}} {
		t.Run(fmt.Sprintf("resume %d→%d devices", tc.before, tc.after), func(t *testing.T) {
			c := cfg
			c.Output, c.Devices = t.TempDir(), tc.before
			a := newTrainer(t, c, Options{StopAfter: 2})
			s1, err := a.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
			c.Devices = tc.after
			b := newTrainer(t, c, Options{Resume: true})
			s2, err := b.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if s1.Steps != 2 || s2.Resumed != 2 {
				t.Fatalf("stopped after %d steps, resumed at %d; want 2 and 2", s1.Steps, s2.Resumed)
			}
			compareLosses(t, append(s1.Losses, s2.Losses...), losses)
			diff, nv := relDiff(want, snapshot(t, b.flow.Context()))
			if nv == 0 || !(diff <= dataParallelTol) {
				t.Errorf("final variables differ by %.3g relative (%d variables)", diff, nv)
			}
		})
	}
}

// TestDevicesRefused checks the clear refusals: a batch that does not
// divide by the devices, and several devices on the pure-Go backend.
func TestDevicesRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend string
		devices int
		batch   int
		wantErr string
	}{
		{"batch", cpuPluginSpec(t), 3, 32, "stages[0] (nll): batch_size 32 does not divide by devices 3"},
		{"negative", cpuPluginSpec(t), -1, 32, "devices -1 is negative"},
		{"pure Go", nn.PureGoSpec, 2, 32, `backend "go:ops_sequential" (from argument) has one device, 2 were asked for`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t, 1, 0)
			cfg.Backend, cfg.Devices, cfg.Stages[0].BatchSize = tc.backend, tc.devices, tc.batch
			tr, err := New(context.Background(), cfg, Options{})
			if err == nil {
				tr.Close()
				t.Fatalf("New accepted %d devices with batch %d on %s", tc.devices, tc.batch, tc.backend)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// BenchmarkDataParallel times the NLL step of examples/ala2/long.json's flow
// (nsf, 6 layers, hidden 128×128, batch 256) on 1, 2 and 4 devices of the
// PJRT CPU plugin, which share the machine's cores (docs/backends.md,
// "Several devices").
func BenchmarkDataParallel(b *testing.B) {
	long, err := ReadConfig(filepath.Join(testenv.Root(), "examples", "ala2", "long.json"))
	if err != nil {
		b.Fatal(err)
	}
	p := nn.CPUPlugin()
	if p == "" {
		b.Fatal("no PJRT CPU plugin found (run scripts/setup.sh)")
	}
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			cfg := tinyConfig(b, 1, 0)
			cfg.Data.MaxFrames = 0
			cfg.Model = long.Model
			cfg.Backend, cfg.Devices = "xla:"+p, n
			s := long.Stages[0]
			s.WarmupSteps, s.Schedule, s.Steps = 0, ScheduleConstant, 1000000
			cfg.Stages = []Stage{s}
			tr, err := New(context.Background(), cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			if _, err := tr.step(context.Background(), s, 0); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for k := 1; k <= b.N; k++ {
				if _, err := tr.step(context.Background(), s, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			b.ReportMetric(float64(b.N*s.BatchSize)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
