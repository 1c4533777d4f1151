package train

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

func TestLearningRate(t *testing.T) {
	s := Stage{Steps: 11, LR: 1, MinLR: 0.1, Schedule: ScheduleCosine, WarmupSteps: 2}
	for _, tc := range []struct {
		k    int
		want float64
	}{
		{0, 0.5},  // warm-up: (k+1)/warmup
		{1, 1},    // end of warm-up
		{2, 1},    // cosine starts at lr
		{10, 0.1}, // and ends at min_lr
		{6, 0.1 + 0.45*(1+math.Cos(math.Pi*4.0/8))}, // half way
	} {
		if got := s.LearningRate(tc.k); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("cosine step %d: %g, want %g", tc.k, got, tc.want)
		}
	}
	c := Stage{Steps: 5, LR: 0.3, Schedule: ScheduleConstant}
	if got := c.LearningRate(4); got != 0.3 {
		t.Errorf("constant: %g", got)
	}
}

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `// a comment
{
  "data": {"topology": "sys/top.pdb", "trajectories": ["sys/a.dcd", "/abs/b.dcd"]}, // trailing comment
  "model": {"arch": "split-mlp", "hidden": [8]},
  "energy": {"system_xml": "sys/system.xml"},
  "stages": [{"name": "x // not a comment", "steps": 3, "batch_size": 4, "lr": 0.1, "weights": {"nll": 1}}]
}`)
	cfg, err := ReadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data.Topology != filepath.Join(dir, "sys/top.pdb") || cfg.Data.Trajectories[1] != "/abs/b.dcd" {
		t.Errorf("paths: %q %q", cfg.Data.Topology, cfg.Data.Trajectories)
	}
	if cfg.Energy.SystemXML != filepath.Join(dir, "sys/system.xml") {
		t.Errorf("energy.system_xml %q is not relative to the config file", cfg.Energy.SystemXML)
	}
	if cfg.Model.Arch != "split-mlp" || cfg.Model.BackboneLayers != 6 || len(cfg.Model.Hidden) != 1 {
		t.Errorf("model block did not start from the arch defaults: %+v", cfg.Model)
	}
	if len(cfg.Stages) != 1 || cfg.Stages[0].Name != "x // not a comment" {
		t.Errorf("stages: %+v", cfg.Stages)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"unknown", `{"data": {"topology": "a", "trajectories": ["b"]}, "bogus": 1}`, "bogus"},
		{"weights", `{"data": {"topology": "a", "trajectories": ["b"]}, "stages": [{"steps": 1, "batch_size": 4, "lr": 1, "weights": {}}]}`, "all loss weights are zero"},
		{"schedule", `{"data": {"topology": "a", "trajectories": ["b"]}, "stages": [{"steps": 1, "batch_size": 4, "lr": 1, "schedule": "step", "weights": {"nll": 1}}]}`, "schedule"},
		{"mode", `{"data": {"topology": "a", "trajectories": ["b"]}, "ic_mode": "half"}`, "ic_mode"},
		{"system_xml", `{"data": {"topology": "a", "trajectories": ["b"]}, "energy": {"provider": "openmm", "system_xml": "s.xml"}}`, "system_xml"},
	} {
		_, err := ReadConfig(write(tc.name+".json", tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestBatchIndicesCoverEachEpoch(t *testing.T) {
	const n = 10
	seen := map[int]int{}
	for c := int64(0); c < 2*n; c += 4 {
		for _, i := range batchIndices(5, c, n, 4) {
			seen[i]++
		}
	}
	for i := range n {
		if seen[i] != 2 { // 20 draws: exactly two epochs
			t.Errorf("frame %d drawn %d times in 20 draws", i, seen[i])
		}
	}
	a := batchIndices(5, 7, n, 6)
	b := append(batchIndices(5, 7, n, 3), batchIndices(5, 10, n, 3)...)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("batches depend on how the draws are cut: %v vs %v", a, b)
		}
	}
}

// TestExampleConfigs reads every training configuration under examples/:
// each must parse with its relative paths and pass validation, and every
// configuration that docs/results.md trains with must be one of them, so
// that the commands it gives run.
func TestExampleConfigs(t *testing.T) {
	root := testenv.Root()
	paths, err := filepath.Glob(filepath.Join(root, "examples", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"stages"`) {
			continue // not a training configuration (reference_md.json, say)
		}
		cfg, err := ReadConfig(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !filepath.IsAbs(cfg.Output) || !filepath.IsAbs(cfg.Data.Topology) {
			t.Errorf("%s: paths not resolved against the file: output %q, topology %q", p, cfg.Output, cfg.Data.Topology)
			continue
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		read[filepath.ToSlash(rel)] = true
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`--config (examples/[^ ]+\.json)`).FindAllStringSubmatch(string(doc), -1)
	if len(named) == 0 {
		t.Fatal("docs/results.md names no training configuration (gobg train --config examples/...)")
	}
	for _, m := range named {
		if !read[m[1]] {
			t.Errorf("docs/results.md trains with %s, which is not a valid training configuration under examples/", m[1])
		}
	}
}

// The configuration gobg run writes must come back from its file as it was
// written: a field that WriteConfig drops or ReadConfig reads otherwise
// would make `gobg train --config` train another model than gobg run did.
func TestAlanineRunConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := AlanineRunConfig(filepath.Join(dir, "top.pdb"), filepath.Join(dir, "traj.dcd"), filepath.Join(dir, "train"), 7, 3)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "train.json")
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("read back:\n%+v\nwritten:\n%+v", got, cfg)
	}
	if len(got.Stages) != 2 || got.Stages[0].Steps != 7 || got.Stages[1].Steps != 3 || got.Stages[1].Weights.KL == 0 {
		t.Errorf("stages %+v: want 7 NLL steps, then 3 with KL", got.Stages)
	}
}
