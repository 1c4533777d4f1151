package train

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/model"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// float32Config is tinyConfig in float32, with a W2 stage between the NLL
// and the NLL+KL stages so that every term the default schedule uses runs.
func float32Config(t *testing.T) Config {
	cfg := tinyConfig(t, 6, 3)
	cfg.DType = DTypeFloat32
	w2 := Stage{Name: "nll+w2", Steps: 2, BatchSize: 32, LR: 1e-3, Schedule: ScheduleConstant, Weights: Weights{NLL: 1, W2: 10}}
	cfg.Stages = []Stage{cfg.Stages[0], w2, cfg.Stages[1]}
	return cfg
}

// TestFloat32TrainsLikeFloat64 trains the same schedule (NLL, NLL+W2,
// NLL+KL) in float32 and float64 from the same float64 model file as
// init_model: the float32 run starts from its weights rounded to float32,
// every variable of the float32 run, Adam's moments included, is float32,
// and the losses follow the float64 run's step by step.
func TestFloat32TrainsLikeFloat64(t *testing.T) {
	// The initial flow: a fresh float64 flow fitted to the data, saved
	// untrained.
	init := newTrainer(t, tinyConfig(t, 1, 0), Options{})
	initPath := filepath.Join(t.TempDir(), "init.gobg")
	if err := model.SaveWithInfo(initPath, init.flow, init.data.Spec, init.fileInfo()); err != nil {
		t.Fatal(err)
	}
	c32 := float32Config(t)
	c32.InitModel = initPath
	c64 := c32
	c64.DType = DTypeFloat64
	c64.Output = t.TempDir()
	a := newTrainer(t, c64, Options{})
	b := newTrainer(t, c32, Options{})
	if a.flow.DType() != dtypes.Float64 || b.flow.DType() != dtypes.Float32 {
		t.Fatalf("the runs train %s and %s flows", a.flow.DType(), b.flow.DType())
	}
	w64, w32 := snapshot(t, a.flow.Context()), snapshot(t, b.flow.Context())
	n := 0
	for k, v := range w64 {
		n++
		for i := range v {
			if float64(float32(v[i])) != w32[k][i] {
				t.Fatalf("initial %s[%d]: float64 %.17g, float32 %.9g", k, i, v[i], w32[k][i])
			}
		}
	}
	if n == 0 || len(w32) != n {
		t.Fatalf("%d float64 and %d float32 variables", n, len(w32))
	}
	sa, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for v := range b.flow.Context().IterVariables() {
		if v.Name() != "step" && v.DType() != dtypes.Float32 {
			t.Errorf("float32 run: variable %s is %s", v.ScopeAndName(), v.DType())
		}
	}
	if len(sa.Losses) != len(sb.Losses) || sb.Skipped != 0 {
		t.Fatalf("float64 run %d steps, float32 run %d steps (%d skipped)", len(sa.Losses), len(sb.Losses), sb.Skipped)
	}
	// Measured: largest relative |Δ loss| 1.7e-5 over the 11 steps (2.0e-3
	// nats at step 1, loss -119.7); the limit leaves 60 times that.
	worst := 0.0
	for i := range sa.Losses {
		rel := math.Abs(sb.Losses[i]-sa.Losses[i]) / math.Max(1, math.Abs(sa.Losses[i]))
		worst = max(worst, rel)
		if rel > 1e-3 {
			t.Errorf("step %d: loss %.9g in float32, %.9g in float64 (relative difference %.3g, limit 1e-3)", i, sb.Losses[i], sa.Losses[i], rel)
		}
	}
	if worst == 0 {
		t.Errorf("float32 and float64 losses are identical: the float32 run did not compute in float32")
	}
	t.Logf("float64 losses %.8g\nfloat32 losses %.8g\nlargest relative difference %.3g", sa.Losses, sb.Losses, worst)
}

// TestResumeRefusesOtherDType stops a float64 run with a checkpoint and
// resumes it in float32, which is refused with a message naming both
// dtypes; a checkpoint written before the dtype was recorded counts as
// float64.
func TestResumeRefusesOtherDType(t *testing.T) {
	cfg := tinyConfig(t, 2, 0)
	tr := newTrainer(t, cfg, Options{StopAfter: 1})
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	f32 := cfg
	f32.DType = DTypeFloat32
	_, err := New(context.Background(), f32, Options{Resume: true, Energy: configEnergy(t, f32)})
	if err == nil || !strings.Contains(err.Error(), "float64 run") || !strings.Contains(err.Error(), "trains in float32") {
		t.Fatalf("resume of a float64 checkpoint in float32: error %v, want one naming both dtypes", err)
	}
	t.Logf("refused: %v", err)

	// An older checkpoint: the same file without the dtype in its header
	// (the checksum covers the variables only).
	path := filepath.Join(cfg.Output, CheckpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Replace(b, []byte(`,"dtype":"float64"`), nil, 1)
	if len(old) == len(b) {
		t.Fatal("the checkpoint's header does not record its dtype")
	}
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), f32, Options{Resume: true, Energy: configEnergy(t, f32)}); err == nil || !strings.Contains(err.Error(), "float64 run") {
		t.Errorf("resume of an older checkpoint in float32: error %v, want one saying it is float64", err)
	}
	r := newTrainer(t, cfg, Options{Resume: true})
	if r.st.Step != 1 || r.st.DType != DTypeFloat64 {
		t.Errorf("older checkpoint resumed in float64 at step %d, dtype %q", r.st.Step, r.st.DType)
	}
}

// TestDTypeSetting checks the configuration's dtype: float32 by default
// (also for files without the field), float64 on request, anything else
// refused.
func TestDTypeSetting(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, field string
		want        dtypes.DType
		err         string
	}{
		{"absent", "", dtypes.Float32, ""},
		{"float32", `"dtype": "float32",`, dtypes.Float32, ""},
		{"float64", `"dtype": "float64",`, dtypes.Float64, ""},
		{"float16", `"dtype": "float16",`, dtypes.InvalidDType, `dtype "float16": want "float32" or "float64"`},
		{"number", `"dtype": 32,`, dtypes.InvalidDType, "dtype"},
	} {
		path := filepath.Join(dir, tc.name+".json")
		text := `{` + tc.field + ` "data": {"topology": "a.pdb", "trajectories": ["b.dcd"]}}`
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := ReadConfig(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := cfg.FlowDType(); got != tc.want {
			t.Errorf("%s: trains in %s, want %s", tc.name, got, tc.want)
		}
	}
	if d := DefaultConfig(); d.DType != DTypeFloat32 {
		t.Errorf("the default configuration's dtype is %q", d.DType)
	}
	if got := (&Config{}).FlowDType(); got != dtypes.Float32 {
		t.Errorf("a configuration made in code without a dtype trains in %s", got)
	}
}
