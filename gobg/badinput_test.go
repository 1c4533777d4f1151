package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/train"
	"github.com/gobg/gobg/internal/testenv"
)

// TestBadInput runs every command in-process with bad flags or files: each
// must stop before any work with exit status 2 and its help for a mistake on
// the command line, 1 for a file problem, a message naming the problem, no
// Go stack trace, and nothing left in the output folder. Cases marked py
// start the real OpenMM plugin.
func TestBadInput(t *testing.T) {
	data := testenv.SharedData(t)
	ala2 := filepath.Join(data, "ala2.pdb")
	mdTop := filepath.Join(data, "md", "ala2", "top.pdb")
	mdTraj := filepath.Join(data, "md", "ala2", "traj.dcd")
	hp35Traj := filepath.Join(data, "md", "hp35", "traj.dcd")
	model := smallModel(t)

	in := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(in, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The first 346 frames of the reference MD and 76 bytes of the next:
	// a run killed while writing frame 346.
	torn := write("torn.dcd", read(mdTraj)[:100000])
	// Alanine dipeptide with its alanine renamed: no force field has XYZ.
	xyz := write("xyz.pdb", bytes.ReplaceAll(read(ala2), []byte("ALA A   2"), []byte("XYZ A   2")))
	notModel := write("not-a-model.gobg", []byte("this is not a model file\n"))
	blocker := write("a-file", []byte("x"))
	config := func(name string, edit func(*train.Config)) string {
		cfg := train.DefaultConfig()
		cfg.Data.Topology, cfg.Data.Trajectories = mdTop, []string{mdTraj}
		cfg.Output = filepath.Join(t.TempDir(), "train")
		edit(&cfg)
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, b)
	}
	blockedOutput := config("blocked.json", func(c *train.Config) { c.Output = filepath.Join(blocker, "train") })
	tornData := config("torn.json", func(c *train.Config) { c.Data.Trajectories = []string{torn} })

	type tc struct {
		name string
		args []string // "OUT" is replaced by the case's output folder
		code int
		want []string // substrings of stderr
		py   bool     // starts the OpenMM plugin
	}
	sample := func(extra ...string) []string {
		return append([]string{"sample", "--model", model, "--n", "4", "--energy", "none", "--out", "OUT/s.dcd"}, extra...)
	}
	eval := func(extra ...string) []string {
		return append([]string{"eval", "--model", model, "--data", mdTraj, "--n", "4", "--out", "OUT/report.json"}, extra...)
	}
	mcmc := func(extra ...string) []string {
		return append([]string{"mcmc", "--pdb", mdTop, "--ns", "0.001", "--every", "0", "--out", "OUT/run"}, extra...)
	}
	simulate := func(extra ...string) []string {
		return append([]string{"simulate", "--pdb", ala2, "--ns", "0.001", "--out", "OUT/md"}, extra...)
	}
	cases := []tc{
		// sample: the reported ones first.
		{"sample batch 0", sample("--batch", "0"), 2, []string{"--batch must be at least 1, not 0"}, false},
		{"sample batch -3", sample("--batch", "-3"), 2, []string{"--batch must be at least 1, not -3"}, false},
		{"sample temperature 0", sample("--temperature", "0"), 2, []string{"--temperature must be a finite temperature above 0 K, not 0"}, false},
		{"sample out in a missing folder", sample("--out", "OUT/missing/s.dcd"), 1, []string{"--out", "the folder", "missing does not exist"}, false},
		{"sample n 0", sample("--n", "0"), 2, []string{"--n must be at least 1, not 0"}, false},
		{"sample n -5", sample("--n", "-5"), 2, []string{"--n must be at least 1, not -5"}, false},
		{"sample temperature -10", sample("--temperature", "-10"), 2, []string{"--temperature must be", "not -10"}, false},
		{"sample temperature NaN", sample("--temperature", "NaN"), 2, []string{"--temperature must be", "not NaN"}, false},
		{"sample temperature Inf", sample("--temperature", "Inf"), 2, []string{"--temperature must be", "not +Inf"}, false},
		{"sample no model", []string{"sample", "--n", "4", "--out", "OUT/s.dcd"}, 2, []string{"--model and --out are required"}, false},
		{"sample missing model", sample("--model", filepath.Join(in, "none.gobg")), 1, []string{"--model", "none.gobg", "no such file"}, false},
		{"sample model not a model", sample("--model", notModel), 1, []string{"not-a-model.gobg", "not a gzip-compressed model file"}, false},
		{"sample model is a folder", sample("--model", in), 1, []string{"--model", "is a directory"}, false},
		{"sample out is a folder", sample("--out", "OUT"), 1, []string{"--out", "is a directory"}, false},
		{"sample out under a file", sample("--out", filepath.Join(blocker, "s.dcd")), 1, []string{"a-file is not a folder"}, false},
		{"sample out named .csv", sample("--out", "OUT/s.csv"), 2, []string{"name the DCD"}, false},
		{"sample unknown energy", sample("--energy", "gromacs"), 2, []string{`--energy "gromacs"`}, false},
		{"sample negative symmetrize", sample("--symmetrize", "-1"), 2, []string{"--symmetrize -1"}, false},
		{"sample defensive 1", sample("--defensive", "1"), 2, []string{"--defensive 1"}, false},
		{"sample bad widen-dims", sample("--defensive", "0.1", "--widen-dims", "sidechains"), 2, []string{"sidechains"}, false},

		{"eval n -5", eval("--n", "-5"), 2, []string{"--n must be at least 1, not -5"}, false},
		{"eval n 0", eval("--n", "0"), 2, []string{"--n must be at least 1, not 0"}, false},
		{"eval batch 0", eval("--batch", "0"), 2, []string{"--batch must be at least 1, not 0"}, false},
		{"eval sets 0", eval("--sets", "0"), 2, []string{"--sets 0"}, false},
		{"eval md-frames 0", eval("--md-frames", "0"), 2, []string{"--md-frames must be at least 1, not 0"}, false},
		{"eval temperature 0", eval("--temperature", "0"), 2, []string{"--temperature must be a finite temperature above 0 K"}, false},
		{"eval energy none", eval("--energy", "none"), 2, []string{`--energy "none": want native or openmm`}, false},
		{"eval no data", []string{"eval", "--model", model}, 2, []string{"--model and --data are required"}, false},
		{"eval truncated DCD", eval("--data", torn), 1, []string{"torn.dcd: frame 346: truncated: want 288 bytes, got 76"}, false},
		{"eval truncated second DCD", eval("--data", mdTraj, "--data", torn), 1, []string{"torn.dcd: frame 346: truncated"}, false},
		{"eval missing DCD", eval("--data", filepath.Join(in, "none.dcd")), 1, []string{"--data", "none.dcd", "no such file"}, false},
		{"eval DCD of another molecule", eval("--data", hp35Traj), 1, []string{"hp35", "LEU 1, atom N"}, false},
		{"eval report in a missing folder", eval("--out", "OUT/missing/r.json"), 1, []string{"--out", "missing does not exist"}, false},
		{"eval plots under a file", eval("--plots", filepath.Join(blocker, "plots")), 1, []string{"--plots", "a-file is a file, not a folder"}, false},

		{"mcmc no every", []string{"mcmc", "--pdb", mdTop, "--ns", "0.001", "--out", "OUT/run"}, 2, []string{"--every is required"}, false},
		{"mcmc batch 0", mcmc("--batch", "0"), 2, []string{"--batch must be at least 1, not 0"}, false},
		{"mcmc ns -1", mcmc("--ns", "-1"), 2, []string{"--ns must be positive"}, false},
		{"mcmc temperature 0", mcmc("--temperature", "0"), 2, []string{"--temperature must be a finite temperature above 0 K"}, false},
		{"mcmc temperature Inf", mcmc("--temperature", "Inf"), 2, []string{"--temperature must be", "+Inf"}, false},
		{"mcmc missing pdb", mcmc("--pdb", filepath.Join(in, "none.pdb")), 1, []string{"--pdb", "none.pdb", "no such file"}, false},
		{"mcmc missing model", mcmc("--every", "10", "--model", filepath.Join(in, "none.gobg")), 1, []string{"--model", "none.gobg"}, false},
		{"mcmc out under a file", mcmc("--out", filepath.Join(blocker, "run")), 1, []string{"--out", "a-file is a file, not a folder"}, false},
		{"mcmc unknown residue", mcmc("--pdb", xyz), 1, []string{"no template", "residue XYZ 2 in chain A"}, true},

		{"simulate ns 0", simulate("--ns", "0"), 2, []string{"--ns must be positive"}, false},
		{"simulate save-ps 0", simulate("--save-ps", "0"), 2, []string{"--save-ps must be positive"}, false},
		{"simulate friction NaN", simulate("--friction", "NaN"), 2, []string{"--friction must be positive and finite, not NaN"}, false},
		{"simulate temperature Inf", simulate("--temperature", "Inf"), 2, []string{"--temperature must be"}, false},
		{"simulate bad constraints", simulate("--constraints", "Some"), 2, []string{`--constraints "Some"`}, false},
		{"simulate out under a file", simulate("--out", filepath.Join(blocker, "md")), 1, []string{"a-file is a file, not a folder"}, false},
		{"simulate unknown residue", simulate("--pdb", xyz), 1, []string{"xyz.pdb: no template", "residue XYZ 2 in chain A"}, true},

		{"build out in a missing folder", []string{"build", "--sequence", "A", "--out", "OUT/missing/a.pdb"}, 1, []string{"--out", "missing does not exist"}, false},
		{"build phi NaN", []string{"build", "--sequence", "A", "--phi", "NaN", "--out", "OUT/a.pdb"}, 2, []string{"--phi must be a finite number"}, false},
		{"build unknown residue", []string{"build", "--sequence", "AZ", "--out", "OUT/a.pdb"}, 1, []string{"Z"}, false},

		{"info truncated DCD", []string{"info", "--pdb", mdTop, "--traj", torn}, 1, []string{"torn.dcd: frame 346: truncated"}, false},
		{"ic frames 0", []string{"ic", "check", "--pdb", mdTop, "--frames", "0"}, 2, []string{"--frames must be at least 1, not 0"}, false},
		{"ic bad mode", []string{"ic", "check", "--pdb", mdTop, "--mode", "half"}, 2, []string{"half"}, false},
		{"ic truncated DCD", []string{"ic", "check", "--pdb", mdTop, "--traj", torn}, 1, []string{"torn.dcd: frame 346: truncated"}, false},
		{"flow samples 0", []string{"flow", "check", "--arch", "nsf", "--pdb", ala2, "--samples", "0"}, 2, []string{"--samples"}, false},
		{"flow perturb Inf", []string{"flow", "check", "--arch", "nsf", "--pdb", ala2, "--perturb", "Inf"}, 2, []string{"--perturb"}, false},
		{"energy check n 0", []string{"energy", "check", "--pdb", mdTop, "--traj", mdTraj, "--n", "0"}, 2, []string{"--n must be at least 1, not 0"}, false},
		{"energy check truncated DCD", []string{"energy", "check", "--pdb", mdTop, "--traj", torn}, 1, []string{"torn.dcd: frame 346: truncated"}, false},
		{"energy system out in a missing folder", []string{"energy", "system", "--pdb", mdTop, "--out", "OUT/missing/s.xml"}, 1, []string{"--out", "missing does not exist"}, false},

		{"train missing config", []string{"train", "--config", filepath.Join(in, "none.json")}, 1, []string{"--config", "none.json", "no such file"}, false},
		{"train negative stop-after", []string{"train", "--config", tornData, "--stop-after", "-1"}, 2, []string{"--stop-after"}, false},
		{"train unknown dtype", []string{"train", "--config", tornData, "--dtype", "float16"}, 2, []string{`--dtype "float16": want "float32" or "float64"`}, false},
		{"train negative devices", []string{"train", "--config", tornData, "--devices", "-2"}, 2, []string{"--devices must not be negative"}, false},
		{"train batch not divided by devices", []string{"train", "--config", tornData, "--devices", "3"}, 2, []string{"--devices 3", "batch_size 256 does not divide by devices 3"}, false},
		{"train output under a file", []string{"train", "--config", blockedOutput}, 1, []string{"output of the configuration", "a-file is a file, not a folder"}, false},
		{"train --output under a file", []string{"train", "--config", tornData, "--output", filepath.Join(blocker, "t")}, 1, []string{"--output", "a-file is a file"}, false},
		{"train truncated DCD", []string{"train", "--config", tornData, "--output", "OUT/train"}, 1, []string{"torn.dcd: frame 346: truncated"}, false},

		{"run ns 0", []string{"run", "--ns", "0", "--out", "OUT/run"}, 2, []string{"--ns must be positive"}, false},
		{"run samples 0", []string{"run", "--samples", "0", "--out", "OUT/run"}, 2, []string{"--samples must be at least 1, not 0"}, false},
		{"run symmetrize negative", []string{"run", "--symmetrize", "-1", "--out", "OUT/run"}, 2, []string{"--symmetrize must be 0 (off) or positive, not -1"}, false},
		{"run out under a file", []string{"run", "--out", filepath.Join(blocker, "run")}, 1, []string{"a-file is a file, not a folder"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "OUT", out)
			}
			if c.py {
				args = append(args, "--python", testenv.Python(t))
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, c.code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "Traceback") {
				t.Errorf("stderr holds a stack trace:\n%s", stderr)
			}
			name := args[0]
			if name == "ic" || name == "flow" || name == "energy" {
				name += " " + args[1]
			}
			if c.code == 2 && !strings.Contains(stderr, "Usage: gobg "+name) {
				t.Errorf("a usage mistake without the help:\n%s", stderr)
			}
			if c.code == 1 && strings.Count(strings.TrimSpace(errorLines(stderr)), "\n") != 0 {
				t.Errorf("more than one error line:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if left := filesUnder(t, out); len(left) > 0 {
				t.Errorf("left in the output folder: %v", left)
			}
		})
	}
}

// errorLines drops the warnings and progress a command may print before it
// fails, leaving its error.
func errorLines(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "gobg ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// filesUnder lists the files (not folders) under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
