package train

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/nn"
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

// TestDataParallel trains 3 NLL and 2 NLL+KL steps (native energy) on one
// device and on several (the batch of 32 split over them): the losses and
// the final variables (weights and Adam moments) must agree to
// dataParallelTol. Then a run stopped after step 2 and resumed from its
// checkpoint on another number of devices must give the uninterrupted
// run's losses.
func TestDataParallel(t *testing.T) {
	spec := cpuPluginSpec(t)
	cfg := tinyConfig(t, 3, 2)
	cfg.Backend = spec
	ref := newTrainer(t, cfg, Options{})
	sref, err := ref.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, ref.flow.Context())
	ref.Close()
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("devices=%d", n), func(t *testing.T) {
			c := cfg
			c.Output, c.Devices = t.TempDir(), n
			tr := newTrainer(t, c, Options{})
			if got := tr.flow.Backend().NumDevices(); got != n {
				t.Fatalf("backend has %d devices, want %d", got, n)
			}
			s, err := tr.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.execs) != 2 {
				t.Errorf("%d step graphs, want 2 (nll, nll+kl)", len(tr.execs))
			}
			for k, e := range tr.execs {
				if e.NumDevices() != n {
					t.Errorf("step graph %s runs on %d devices, want %d", k, e.NumDevices(), n)
				}
			}
			compareLosses(t, s.Losses, sref.Losses)
			diff, nv := relDiff(want, snapshot(t, tr.flow.Context()))
			if nv == 0 || !(diff <= dataParallelTol) {
				t.Errorf("final variables differ by %.3g relative (%d variables)", diff, nv)
			}
			t.Logf("losses %v; largest relative difference of the final variables to one device: %.3g (%d variables)", s.Losses, diff, nv)
		})
	}
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
			compareLosses(t, append(s1.Losses, s2.Losses...), sref.Losses)
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
