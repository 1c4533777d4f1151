package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// perturbedFlow builds a small flow of arch on layout and moves all its
// weights away from the identity.
func perturbedFlow(t *testing.T, cfg Config, l *Layout, scale float64) *Flow {
	t.Helper()
	return perturbedFlowOn(t, testenv.Backend(t), cfg, l, scale)
}

// perturbedFlowOn is perturbedFlow on backend b.
func perturbedFlowOn(t *testing.T, b backends.Backend, cfg Config, l *Layout, scale float64) *Flow {
	t.Helper()
	f, err := New(b, cfg, l, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Perturb(scale, 7); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestInversionAndLogDet checks, for every architecture on alanine
// dipeptide (full mode, D = 60) and HP35 (reduced mode, D = 718), with
// randomised weights: inversion in float64 and, for the same weights
// converted, in float32; forward and inverse log-dets cancel; and the
// log-det agrees with autodiff: the full
// Jacobian for alanine dipeptide and, for HP35, the per-layer check (and
// the full 718×718 Jacobian outside short mode). It runs on both backends:
// the pure-Go one and XLA's CPU plugin. On XLA the flows are always the
// short mode's: XLA compiles every graph of the check, which takes minutes
// for the default depths, and the deep flows' conditioning does not depend on
// the backend. Limits: see the constants below.
func TestInversionAndLogDet(t *testing.T) {
	testenv.EachBackend(t, testInversionAndLogDet)
}

func testInversionAndLogDet(t *testing.T, b backends.Backend) {
	cases := []struct {
		sys     string
		mode    ic.Mode
		methods []string
	}{
		{"ala2", ic.Full, []string{JacobianFull, JacobianPerLayer}},
		{"hp35", ic.Reduced, []string{JacobianPerLayer}},
	}
	deep := !testing.Short() && !nn.IsXLA(b)
	if deep {
		cases[1].methods = append(cases[1].methods, JacobianFull)
	}
	for _, c := range cases {
		for _, arch := range Architectures() {
			t.Run(fmt.Sprintf("%s/%s/%s", c.sys, c.mode, arch), func(t *testing.T) {
				start := time.Now()
				s := loadSystem(t, c.sys, c.mode)
				l, err := LayoutFromSpec(s.spec)
				if err != nil {
					t.Fatal(err)
				}
				cfg, scale := smallConfig(arch), perturbScale
				if deep {
					cfg = DefaultConfig(arch)
					cfg.Hidden = []int{64, 64}
					cfg.Embed, cfg.QKDim = 32, 16
					scale = perturbScaleDeep
				}
				f := perturbedFlowOn(t, b, cfg, l, scale)
				for _, m := range c.methods {
					n := 3
					if m == JacobianFull && c.sys == "hp35" {
						n = 2 // 2×718 reverse passes of a mid-sized flow
					}
					res, err := Check(f, CheckOptions{Samples: n, Batch: 128, Method: m, Seed: 5})
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("float64 %s: inverse %.2e, logdet pair %.2e, logdet vs autodiff %.2e (moved %.2f, max |logdet| %.1f, D %d, %d params)",
						m, res.InverseErr, res.LogDetPairErr, res.LogDetErr, res.Moved, res.MaxAbsLogDet, res.Dim, res.Params)
					if res.Moved < 0.5 || res.MaxAbsLogDet < 1 {
						t.Errorf("perturbed flow is too close to the identity: moved %.3g, max |logdet| %.3g", res.Moved, res.MaxAbsLogDet)
					}
					if !(res.InverseErr <= maxInverseErr64) {
						t.Errorf("float64 inversion error %.3e > %g (absolute)", res.InverseErr, maxInverseErr64)
					}
					if !(res.LogDetPairErr <= maxLogDetPairErr64) {
						t.Errorf("float64 forward + inverse log-det %.3e > %g (absolute)", res.LogDetPairErr, maxLogDetPairErr64)
					}
					if lim := maxLogDetErr[m]; !(res.LogDetErr <= lim) {
						t.Errorf("float64 log-det vs autodiff (%s) relative error %.3e > %g", m, res.LogDetErr, lim)
					}
				}
				f32, err := f.WithDType(dtypes.Float32)
				if err != nil {
					t.Fatal(err)
				}
				res, err := Check(f32, CheckOptions{Samples: 3, Batch: 128, Method: JacobianNone, Seed: 5})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("float32: inverse %.2e, logdet pair %.2e (%s)", res.InverseErr, res.LogDetPairErr, time.Since(start).Round(time.Millisecond))
				if !(res.InverseErr <= maxInverseErr32) {
					t.Errorf("float32 inversion error %.3e > %g (absolute)", res.InverseErr, maxInverseErr32)
				}
			})
		}
	}
}

// Limits of TestInversionAndLogDet. docs/flow-bench.md reports, for `gobg
// flow check` at default depths: float64 inversion 1.5e-14 to 2.6e-13,
// float32 6.4e-5 to 7e-5 (HP35 and protein G at perturbation 0.3), forward
// + inverse log-dets 1.6e-14 (ala2, on a GPU) and log-det against autodiff
// 1.8e-16 to 4.4e-16 (full Jacobian) and 7.3e-16 to 2.1e-15 (per layer),
// relative. Measured in this test: inversion up to 2.4e-14 (float64) and
// 1.1e-5 (float32), log-det pairs up to 1.7e-13 (HP35, |log-det| ~300),
// log-det against autodiff up to 5.1e-16 (full) and 2.7e-15 (per layer).
const (
	maxInverseErr64    = 5e-13
	maxInverseErr32    = 1e-4
	maxLogDetPairErr64 = 1.5e-12
)

var maxLogDetErr = map[string]float64{JacobianFull: 1e-14, JacobianPerLayer: 5e-14}

// perturbScale is the size of the random weight perturbation of the
// consistency tests. At 0.5 the composed maps of HP35 flows get slopes near
// the splines' minimum derivative (1e-3) somewhere, and a float32 round
// trip then loses 2e-3 in base space; measured with float64 arithmetic on
// the float32 forward output it is 7e-3, so that is the conditioning of the
// map, not float32 arithmetic. At 0.3 the flows still move coordinates by
// more than a radian and have log-dets of hundreds of nats.
//
// Deeper flows (the default depths: 8 nsf layers, 6+6 split layers)
// compound it. HP35, float32 round trip at perturbation 0.15, 0.2, 0.25,
// 0.3: split-gau 5.7e-6, 6.2e-6, 4.7e-5, 1.05e-4 (float64: 1.0e-14 to
// 2.0e-13, so again conditioning); nsf 4.0e-6, 6.3e-6, 1.1e-5, 3.5e-5.
// At 0.2 they move coordinates by 2.6 rad with log-dets near 300 nats.
const (
	perturbScale     = 0.3
	perturbScaleDeep = 0.2
)

// TestIdentityAtInit: a fresh flow's couplings are the identity, so
// Forward is act-norm alone (x = loc + scale z on intervals, angles
// unchanged) with log-det Σ log scale.
func TestIdentityAtInit(t *testing.T) {
	s := loadSystem(t, "ala2", ic.Full)
	l, err := LayoutFromSpec(s.spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range Architectures() {
		f, err := New(testenv.Backend(t), smallConfig(arch), l, dtypes.Float64)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.NewRunner(8)
		if err != nil {
			t.Fatal(err)
		}
		z, err := f.SampleBase(rand.New(rand.NewPCG(1, 1)), 8)
		if err != nil {
			t.Fatal(err)
		}
		x, ld, err := r.Forward(z)
		if err != nil {
			t.Fatal(err)
		}
		sc := f.Config().IntervalScale
		d := f.Dim()
		var worst float64
		for k := range z {
			want := z[k]
			if !l.Circular[k%d] {
				want = sc * z[k]
			}
			worst = math.Max(worst, math.Abs(x[k]-want))
		}
		nInt := 0
		for _, c := range l.Circular {
			if !c {
				nInt++
			}
		}
		wantLD := float64(nInt) * math.Log(sc)
		for _, v := range ld {
			worst = math.Max(worst, math.Abs(v-wantLD))
		}
		if worst > 1e-12 {
			t.Errorf("%s: fresh flow differs from act-norm alone by %.3e", arch, worst)
		}
		r.Close()
	}
}

// TestLogProbNormalised integrates exp(LogProb) of perturbed flows on a
// torsion × interval square by the midpoint rule: the result must be 1,
// which checks the base normalisers, the log-dets and that the flow maps
// the base support onto the domain. The interval domain is [-0.5, 2] to
// exercise the affine domain map.
func TestLogProbNormalised(t *testing.T) {
	l := &Layout{
		Circular: []bool{true, false}, Backbone: []bool{true, false}, Residue: []int{0, 1},
		ResidueType: []int{1, 2}, NumTypes: NumResidueTypes(),
		Lower: []float64{-math.Pi, -0.5}, Upper: []float64{math.Pi, 2},
	}
	// A 300×300 midpoint grid: with weights perturbed by 0.3 the midpoint
	// rule was measured within 6e-4 of its 800×800 value (which is within
	// 2e-5 of 1); at 0.5 the densities get spikes narrower than the cells.
	const m = 300
	grid := make([]float64, 0, 2*m*m)
	for i := range m {
		for j := range m {
			grid = append(grid, -math.Pi+2*math.Pi*(float64(i)+0.5)/m, -0.5+2.5*(float64(j)+0.5)/m)
		}
	}
	cell := 2 * math.Pi / m * 2.5 / m
	for _, arch := range []string{ArchNSF, ArchSplitGAU, ArchSplitMLP} {
		for _, base := range []string{BaseVonMises, BaseUniform} {
			cfg := smallConfig(arch)
			cfg.TorsionBase = base
			cfg.Kappa = 3
			ll := *l
			if arch == ArchSplitMLP {
				// An MLP channel needs two coordinates.
				ll.Backbone = []bool{true, true}
			}
			f := perturbedFlow(t, cfg, &ll, perturbScale)
			r, err := f.NewRunner(4096)
			if err != nil {
				t.Fatal(err)
			}
			lp, err := r.LogProb(grid)
			if err != nil {
				t.Fatal(err)
			}
			total := 0.0
			for _, v := range lp {
				total += math.Exp(v) * cell
			}
			t.Logf("%s, %s base: ∫ exp(log q) = %.5f", arch, base, total)
			if math.Abs(total-1) > 2e-3 {
				t.Errorf("%s, %s base: density integrates to %.5f", arch, base, total)
			}
			r.Close()
		}
	}
}

// TestSampleAndRunner: Sample's log q equals LogProb of the samples, the
// same seed gives the same samples, and results do not depend on the
// runner's batch size (padding of the last batch).
func TestSampleAndRunner(t *testing.T) {
	s := loadSystem(t, "ala2", ic.Full)
	l, err := LayoutFromSpec(s.spec)
	if err != nil {
		t.Fatal(err)
	}
	f := perturbedFlow(t, smallConfig(ArchSplitGAU), l, perturbScale)
	r7, err := f.NewRunner(7)
	if err != nil {
		t.Fatal(err)
	}
	r16, err := f.NewRunner(16)
	if err != nil {
		t.Fatal(err)
	}
	const n = 23
	x, lq, err := r7.Sample(n, 99)
	if err != nil {
		t.Fatal(err)
	}
	x2, lq2, err := r16.Sample(n, 99)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != n*f.Dim() || len(lq) != n {
		t.Fatalf("Sample returned %d values and %d log-densities for %d samples", len(x), len(lq), n)
	}
	var worstX, worstLQ float64
	for k := range x {
		worstX = math.Max(worstX, math.Abs(x[k]-x2[k]))
	}
	lp, err := r16.LogProb(x)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lq {
		worstLQ = math.Max(worstLQ, math.Abs(lq[i]-lq2[i]))
		if e := math.Abs(lp[i] - lq[i]); e > 1e-9*math.Max(1, math.Abs(lq[i])) {
			t.Errorf("sample %d: log q from sampling %.12g, LogProb %.12g", i, lq[i], lp[i])
		}
	}
	if worstX > 1e-12 || worstLQ > 1e-10 {
		t.Errorf("batch 7 and batch 16 runners disagree: x %.3e, log q %.3e", worstX, worstLQ)
	}
	x3, _, err := r16.Sample(n, 100)
	if err != nil {
		t.Fatal(err)
	}
	if x3[0] == x[0] {
		t.Errorf("different seeds gave the same first sample")
	}
}

// TestInitFromData: act-norm and the von Mises base take the data's
// moments, so a fresh flow's base samples match the data's mean and
// spread.
func TestInitFromData(t *testing.T) {
	var syn synthetic
	r := rand.New(rand.NewPCG(3, 4))
	data := syn.sample(r, 20000)
	f, err := New(testenv.Backend(t), smallConfig(ArchNSF), syn.layout(), dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.InitFromData(data, 20000); err != nil {
		t.Fatal(err)
	}
	run, err := f.NewRunner(1000)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := run.Sample(20000, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, circ := range syn.layout().Circular {
		var m1, m2, c1, c2 float64
		for s := range 20000 {
			a, b := data[4*s+i], x[4*s+i]
			if circ {
				m1 += math.Cos(a)
				c1 += math.Sin(a)
				m2 += math.Cos(b)
				c2 += math.Sin(b)
			} else {
				m1 += a
				c1 += a * a
				m2 += b
				c2 += b * b
			}
		}
		m1, m2, c1, c2 = m1/20000, m2/20000, c1/20000, c2/20000
		t.Logf("dim %d: data (%.3f, %.3f), fresh flow (%.3f, %.3f)", i, m1, c1, m2, c2)
		if math.Abs(m1-m2) > 0.03 || math.Abs(c1-c2) > 0.03 {
			t.Errorf("dim %d: data moments (%.3f, %.3f), fresh flow's (%.3f, %.3f)", i, m1, c1, m2, c2)
		}
	}
}

// TestCouplingMask: each layer pair transforms every coordinate once, and
// within 2⌈log2 n⌉ layers every pair of coordinates is split.
func TestCouplingMask(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 60, 718} {
		nb := 0
		for 1<<nb < n {
			nb++
		}
		for l := 0; l+1 < 2*max(nb, 1); l += 2 {
			a, b := couplingMask(n, l), couplingMask(n, l+1)
			for i := range n {
				if n > 1 && a[i] == b[i] {
					t.Fatalf("n=%d layers %d,%d: coordinate %d transformed %v and %v", n, l, l+1, i, a[i], b[i])
				}
			}
		}
		if n == 1 {
			if !couplingMask(1, 0)[0] || !couplingMask(1, 1)[0] {
				t.Errorf("a single coordinate must always be transformed")
			}
			continue
		}
		for i := range n {
			for j := i + 1; j < n; j++ {
				split := false
				for l := 0; l < 2*nb && !split; l++ {
					m := couplingMask(n, l)
					split = m[i] != m[j]
				}
				if !split {
					t.Fatalf("n=%d: coordinates %d and %d never split within %d layers", n, i, j, 2*nb)
				}
			}
		}
	}
}

// TestConfigAndLayoutErrors: invalid configurations and layouts are
// rejected with errors, not panics.
func TestConfigAndLayoutErrors(t *testing.T) {
	var syn synthetic
	good := syn.layout()
	mod := func(fn func(c *Config)) Config {
		c := smallConfig(ArchSplitGAU)
		fn(&c)
		return c
	}
	for name, c := range map[string]Config{
		"arch":       mod(func(c *Config) { c.Arch = "realnvp" }),
		"bins":       mod(func(c *Config) { c.Bins = 1 }),
		"base":       mod(func(c *Config) { c.TorsionBase = "gauss" }),
		"kappa":      mod(func(c *Config) { c.Kappa = 0 }),
		"embed":      mod(func(c *Config) { c.Embed = 0 }),
		"scale":      mod(func(c *Config) { c.IntervalScale = -1 }),
		"min width":  mod(func(c *Config) { c.MinBinWidth = 0.5 }),
		"no layers":  mod(func(c *Config) { c.BackboneLayers, c.SideChainLayers = 0, 0 }),
		"nsf layers": mod(func(c *Config) { c.Arch, c.Layers = ArchNSF, 0 }),
	} {
		if _, err := New(testenv.Backend(t), c, good, dtypes.Float64); err == nil {
			t.Errorf("config %s: no error", name)
		} else {
			t.Logf("config %s: %v", name, err)
		}
	}
	bad := func(fn func(l *Layout)) *Layout {
		l := syn.layout()
		fn(l)
		return l
	}
	for name, l := range map[string]*Layout{
		"lengths":  bad(func(l *Layout) { l.Backbone = l.Backbone[:2] }),
		"residue":  bad(func(l *Layout) { l.Residue[1] = 5 }),
		"type":     bad(func(l *Layout) { l.ResidueType[0] = 99 }),
		"bounds":   bad(func(l *Layout) { l.Lower[1], l.Upper[1] = 1, 1 }),
		"empty":    &Layout{},
		"one mlp":  bad(func(l *Layout) { l.Backbone = []bool{true, false, false, false} }),
		"inf":      bad(func(l *Layout) { l.Upper[3] = math.Inf(1) }),
		"numtypes": bad(func(l *Layout) { l.NumTypes = 0 }),
	} {
		arch := ArchNSF
		if name == "one mlp" {
			arch = ArchSplitMLP
		}
		if _, err := New(testenv.Backend(t), smallConfig(arch), l, dtypes.Float64); err == nil {
			t.Errorf("layout %s: no error", name)
		} else {
			t.Logf("layout %s: %v", name, err)
		}
	}
	if _, err := New(testenv.Backend(t), smallConfig(ArchNSF), good, dtypes.Int32); err == nil {
		t.Errorf("dtype int32: no error")
	}
}

// TestReadConfig: a file sets some fields, the others keep the defaults of
// its architecture; unknown fields and invalid values are errors.
func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := ReadConfig(write("a.json", `{"arch": "split-gau", "embed": 48, "hidden": [32]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig(ArchSplitGAU)
	want.Embed, want.Hidden = 48, []int{32}
	if c.Arch != want.Arch || c.Embed != 48 || len(c.Hidden) != 1 || c.Hidden[0] != 32 || c.Bins != want.Bins || c.QKDim != want.QKDim {
		t.Errorf("read %+v, want %+v", c, want)
	}
	if c, err := ReadConfig(write("b.json", `{"bins": 4}`), ArchNSF); err != nil || c.Arch != ArchNSF || c.Bins != 4 {
		t.Errorf("arch from the argument: %+v, %v", c, err)
	}
	for name, content := range map[string]string{
		"typo.json":    `{"arch": "nsf", "bnis": 4}`,
		"invalid.json": `{"arch": "nsf", "bins": 1}`,
		"noarch.json":  `{"bins": 4}`,
		"broken.json":  `{"arch": `,
	} {
		if _, err := ReadConfig(write(name, content), ""); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v should name the file", name, err)
		}
	}
}
