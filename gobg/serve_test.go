package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/internal/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveEnergy runs `gobg energy serve --listen 127.0.0.1:0 --json ARGS` in
// this process until the test ends and returns its ready line.
func serveEnergy(t *testing.T, args ...string) energyServeSummary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	args = append([]string{"energy", "serve", "--listen", "127.0.0.1:0", "--json", "--python", testenv.Python(t)}, args...)
	go func() {
		code := runMain(ctx, args, &cmdEnv{stdout: pw, stderr: stderr})
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gobg energy serve exited %d: %s", code, stderr)
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var s energyServeSummary
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("gobg energy serve printed nothing: %s", stderr)
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("ready line %q: %v", line, err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("gobg energy serve not ready after 2 min: %s", stderr)
	}
	return s
}

// TestEnergyServe runs the CLI end to end: `gobg energy serve` and the
// commands that use it (eval, train) give the answers of local OpenMM
// workers, and plaintext off loopback is refused on both sides.
func TestEnergyServe(t *testing.T) {
	py := testenv.Python(t)
	data := filepath.Join(testenv.SharedData(t), "md", "ala2")
	top := filepath.Join(data, "top.pdb")

	t.Run("usage", func(t *testing.T) {
		code, _, stderr := runCLI(t, "energy", "serve", "--help")
		if code != 0 || !strings.Contains(stderr, "Example") || !strings.Contains(stderr, "gobg energy serve --listen") {
			t.Errorf("--help: exit %d\n%s", code, stderr)
		}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"energy", "serve", "--listen", "0.0.0.0:9301", "--pdb", top}, "plaintext gRPC is refused"},
			{[]string{"energy", "serve", "--listen", ":9301", "--pdb", top}, "plaintext gRPC is refused"},
			{[]string{"energy", "serve", "--listen", "127.0.0.1:9301", "--pdb", top, "--tls-cert", "x.pem"}, "all three of --tls-cert"},
			{[]string{"energy", "serve", "--pdb", top}, "--listen and --pdb are required"},
			{[]string{"eval", "--model", "m", "--data", "d.dcd", "--energy-workers", "192.0.2.7:9301"}, "plaintext gRPC is refused"},
			{[]string{"eval", "--model", "m", "--data", "d.dcd", "--energy-workers", "127.0.0.1:9301", "--energy", "native"}, "--energy openmm"},
			{[]string{"sample", "--model", "m", "--out", "s.dcd", "--energy-workers", "10.1.2.3:9301"}, "plaintext gRPC is refused"},
		} {
			code, _, stderr := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("%v: exit %d, want 2 and %q in\n%s", tc.args, code, tc.want, stderr)
			}
		}
	})

	t.Run("eval", func(t *testing.T) {
		// The server must serve the model's own topology (its atom order and
		// names), which is what the local path builds the System from.
		model := filepath.Join(testenv.Root(), "examples", "ala2", "model.gobg")
		g, err := generator.Load(model, "go:ops_sequential", 16)
		if err != nil {
			t.Fatal(err)
		}
		ref, _, err := g.Spec().ToCartesian(make([]float64, g.Spec().NumFree()))
		if err != nil {
			t.Fatal(err)
		}
		modelTop := filepath.Join(t.TempDir(), "model.pdb")
		if err := molecule.WritePDBFile(modelTop, g.Topology(), [][]molecule.Vec3{ref}, nil); err != nil {
			t.Fatal(err)
		}
		g.Close()
		// The local path runs OpenMM's CPU platform with as many threads as
		// the server's default, whose energies (not its forces) are
		// reproducible to the bit.
		srv := serveEnergy(t, "--pdb", modelTop)
		dir := t.TempDir()
		reports := map[string][]byte{}
		for name, extra := range map[string][]string{
			"local":  {"--energy", "openmm"},
			"remote": {"--energy-workers", srv.Listen},
		} {
			out := filepath.Join(dir, name+".json")
			args := append([]string{"eval", "--model", model, "--data", filepath.Join(data, "traj.dcd"), "--n", "300", "--md-frames", "100",
				"--backend", "go:ops_sequential", "--python", py, "--out", out}, extra...)
			if code, _, stderr := runCLI(t, args...); code != 0 {
				t.Fatalf("%s: exit %d\n%s", name, code, stderr)
			}
			if reports[name], err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(reports["local"], reports["remote"]) {
			t.Errorf("eval reports differ:\nlocal  %.600s\nremote %.600s", reports["local"], reports["remote"])
		}
		// The MD's own topology orders the atoms otherwise: refused.
		other := serveEnergy(t, "--pdb", top)
		code, _, stderr := runCLI(t, "eval", "--model", model, "--data", filepath.Join(data, "traj.dcd"), "--n", "10", "--md-frames", "10",
			"--backend", "go:ops_sequential", "--energy-workers", other.Listen)
		if code != 1 || !strings.Contains(stderr, "serves another topology") {
			t.Errorf("eval against a server of the MD's topology: exit %d\n%s", code, stderr)
		}
	})

	t.Run("train", func(t *testing.T) {
		// Forces of OpenMM's CPU platform with more than one thread are not
		// reproducible to the bit, so both sides run the Reference platform.
		srv := serveEnergy(t, "--pdb", top, "--platform", "Reference")
		if srv.Atoms != 22 || len(srv.SystemSHA256) != 64 || srv.PID != os.Getpid() {
			t.Errorf("ready line %+v", srv)
		}
		logs := map[string][]map[string]any{}
		for name, extra := range map[string][]string{
			"local":  nil,
			"remote": {"--energy-workers", srv.Listen},
		} {
			out := t.TempDir()
			conf := `{
  "data": {"topology": "` + top + `", "trajectories": ["` + filepath.Join(data, "traj.dcd") + `"], "max_frames": 500, "stride": 4},
  "model": {"arch": "nsf", "layers": 2, "hidden": [16], "bins": 4},
  "energy": {"provider": "openmm", "platform": "Reference", "temperature": 300, "workers": 1},
  "stages": [{"name": "nll+kl", "steps": 3, "batch_size": 32, "lr": 1e-3, "weights": {"nll": 1, "kl": 0.1}}],
  "output": "` + out + `", "log_every": 1
}`
			path := filepath.Join(out, "conf.json")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"train", "--config", path, "--python", py, "--backend", "go:ops_sequential"}, extra...)
			if code, _, stderr := runCLI(t, args...); code != 0 {
				t.Fatalf("%s: exit %d\n%s", name, code, stderr)
			}
			b, err := os.ReadFile(filepath.Join(out, "train.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
				logs[name] = append(logs[name], rec)
			}
		}
		if len(logs["local"]) != 3 || len(logs["remote"]) != 3 {
			t.Fatalf("%d and %d log lines, want 3", len(logs["local"]), len(logs["remote"]))
		}
		for i, l := range logs["local"] {
			r := logs["remote"][i]
			for _, k := range []string{"loss", "kl", "mean_energy_kj_mol", "grad_norm"} {
				if l[k] == nil || l[k] != r[k] {
					t.Errorf("step %d: %s local %v, remote %v", i, k, l[k], r[k])
				}
			}
		}
	})
}
