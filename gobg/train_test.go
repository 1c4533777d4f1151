package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/flow/train"
	"github.com/gobg/gobg/internal/testenv"
)

// TestTrainCLI trains alanine dipeptide briefly through `gobg train`
// (NLL, then NLL+W2, then NLL+KL with the native energy), checks that the
// model file loads, that the NLL went down during the NLL stage, and that
// the log has one line per step.
func TestTrainCLI(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	out := t.TempDir()
	conf := `{
  // tiny alanine-dipeptide run
  "data": {"topology": "` + filepath.Join(dir, "top.pdb") + `", "trajectories": ["` + filepath.Join(dir, "traj.dcd") + `"],
           "max_frames": 2000, "stride": 2, "val_fraction": 0.1},
  "model": {"arch": "nsf", "layers": 2, "hidden": [32], "bins": 6},
  "energy": {"provider": "native", "temperature": 300, "workers": 1},
  "stages": [
    {"name": "nll", "steps": 40, "batch_size": 64, "lr": 3e-3, "schedule": "cosine", "warmup_steps": 5, "min_lr": 1e-3, "weights": {"nll": 1}},
    {"name": "nll+w2", "steps": 3, "batch_size": 64, "lr": 1e-3, "weights": {"nll": 1, "w2": 10}},
    {"name": "nll+kl", "steps": 3, "batch_size": 64, "lr": 1e-4, "weights": {"nll": 1, "kl": 0.1}}
  ],
  "output": "` + out + `", "checkpoint_every": 20, "log_every": 10
}`
	path := filepath.Join(t.TempDir(), "tiny.json")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "train", "--config", path, "--python", testenv.Python(t), "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var sum struct {
		Stages []train.StageSummary `json:"stages"`
		Steps  int                  `json:"steps"`
		Model  string               `json:"model"`
	}
	lastJSON(t, stdout, &sum)
	if sum.Steps != 46 || len(sum.Stages) != 3 {
		t.Fatalf("summary: %d steps, %d stages", sum.Steps, len(sum.Stages))
	}
	nll := sum.Stages[0]
	t.Logf("NLL stage: first %.4f, final (mean of last 10) %.4f, validation %.4f; %.1f steps/s", nll.FirstNLL, nll.NLL, nll.ValNLL, nll.StepsPS)
	if !(nll.NLL < nll.FirstNLL-1) {
		t.Errorf("NLL did not decrease: first %.4f, final %.4f", nll.FirstNLL, nll.NLL)
	}
	backend := testenv.Backend(t)
	f, spec, err := model.Load(sum.Model, backend)
	if err != nil {
		t.Fatalf("load %s: %v", sum.Model, err)
	}
	if spec == nil || f.Dim() != spec.NumFree() {
		t.Errorf("loaded model: spec %v, dim %d", spec != nil, f.Dim())
	}
	log, err := os.ReadFile(filepath.Join(out, train.DefaultLogFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 46 {
		t.Errorf("log has %d lines, want 46", len(lines))
	}
	var rec train.Record
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil || rec.StageName != "nll+kl" || rec.KL == 0 {
		t.Errorf("last log line %q: %v", lines[len(lines)-1], err)
	}
}

// TestTrainPrintConfig checks that --print-config prints a configuration
// that reads back and documents every field.
func TestTrainPrintConfig(t *testing.T) {
	code, stdout, stderr := runCLI(t, "train", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := train.ReadConfig(path)
	if err != nil {
		t.Fatalf("printed config does not read back: %v", err)
	}
	if len(cfg.Stages) != 4 {
		t.Errorf("default schedule has %d stages, want 4", len(cfg.Stages))
	}
	if cfg.DType != train.DTypeFloat32 {
		t.Errorf("printed config trains in %q, want float32", cfg.DType)
	}
	for _, key := range []string{"data.topology", "stages[].weights", "energy.cut", "checkpoint_every", "clip_norm", "dtype", "devices"} {
		if !strings.Contains(stderr, key) {
			t.Errorf("field description of %s missing", key)
		}
	}
}

// TestTrainCLIDevices trains two NLL steps on 2 devices of the PJRT CPU
// plugin through `gobg train --devices 2` and checks that the summary says
// so.
func TestTrainCLIDevices(t *testing.T) {
	plugin := nn.CPUPlugin()
	if plugin == "" {
		t.Fatal("no PJRT CPU plugin found (run scripts/setup.sh)")
	}
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	out := t.TempDir()
	conf := `{
  "data": {"topology": "` + filepath.Join(dir, "top.pdb") + `", "trajectories": ["` + filepath.Join(dir, "traj.dcd") + `"], "max_frames": 200},
  "model": {"arch": "nsf", "layers": 2, "hidden": [16], "bins": 4},
  "stages": [{"name": "nll", "steps": 2, "batch_size": 32, "lr": 1e-3, "weights": {"nll": 1}}],
  "output": "` + out + `"
}`
	path := filepath.Join(t.TempDir(), "tiny.json")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "train", "--config", path, "--backend", "xla:"+plugin, "--devices", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var sum struct {
		Devices int `json:"devices"`
		Steps   int `json:"steps"`
	}
	lastJSON(t, stdout, &sum)
	if sum.Devices != 2 || sum.Steps != 2 {
		t.Errorf("summary: %d devices, %d steps; want 2 and 2", sum.Devices, sum.Steps)
	}
}
