package nn

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// isolateSearch makes the plugin search see only the given site-packages
// folders: no environment variables, no python3 on PATH, no source-tree
// .venv, an empty home, no system folders, and the GPU test answering gpu.
func isolateSearch(t *testing.T, gpu bool, dirs ...string) {
	t.Helper()
	for _, v := range []string{backends.ConfigEnvVar, PluginEnv, "GOBG_PYTHON", "VIRTUAL_ENV"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	oldVenv, oldGPU, oldSystem := sourceVenv, hasNVIDIAGPU, systemPrefixes
	extraMu.Lock()
	oldDirs := extraDirs
	extraDirs = nil
	extraMu.Unlock()
	t.Cleanup(func() {
		sourceVenv, hasNVIDIAGPU, systemPrefixes = oldVenv, oldGPU, oldSystem
		extraMu.Lock()
		extraDirs = oldDirs
		extraMu.Unlock()
	})
	sourceVenv, systemPrefixes = "", nil
	hasNVIDIAGPU = func() bool { return gpu }
	AddSearchDirs(dirs...)
}

// fakeVenv makes a Python prefix whose site-packages holds empty files at
// the given plugin paths (Select only looks for them).
func fakeVenv(t *testing.T, plugins ...string) (prefix, sitePackages string) {
	t.Helper()
	prefix = t.TempDir()
	sitePackages = filepath.Join(prefix, "lib", "python3.11", "site-packages")
	if err := os.MkdirAll(sitePackages, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		path := filepath.Join(sitePackages, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return prefix, sitePackages
}

func TestSelect(t *testing.T) {
	const cuda = "jax_plugins/xla_cuda12/xla_cuda_plugin.so"
	bothPrefix, both := fakeVenv(t, CPUPlugins[1], CPUPlugins[0], cuda)
	_, lammps := fakeVenv(t, CPUPlugins[2])
	_, empty := fakeVenv(t)
	debPrefix := t.TempDir()
	debPlugin := filepath.Join(debPrefix, "lib", "python3.11", "dist-packages", CPUPlugins[1])
	if err := os.MkdirAll(filepath.Dir(debPlugin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(debPlugin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	explicitPlugin := filepath.Join(t.TempDir(), "my_cpu_plugin.so")
	if err := os.WriteFile(explicitPlugin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		spec       string
		env        map[string]string
		gpu        bool
		dirs       []string
		wantSpec   string
		wantSource string // substring
		wantErr    string // substring; "" means success
	}{
		{name: "explicit beats everything", spec: "go", env: map[string]string{backends.ConfigEnvVar: "xla:/x.so", PluginEnv: explicitPlugin},
			dirs: []string{both}, wantSpec: "go", wantSource: "argument"},
		{name: "GOMLX_BACKEND beats the plugin variable", env: map[string]string{backends.ConfigEnvVar: "go:ops_sequential", PluginEnv: explicitPlugin},
			dirs: []string{both}, wantSpec: "go:ops_sequential", wantSource: "$GOMLX_BACKEND"},
		{name: "plugin variable beats the search and the GPU", env: map[string]string{PluginEnv: explicitPlugin}, gpu: true,
			dirs: []string{both}, wantSpec: "xla:" + explicitPlugin, wantSource: "$" + PluginEnv},
		{name: "plugin variable naming no file", env: map[string]string{PluginEnv: explicitPlugin + ".missing"},
			dirs: []string{both}, wantErr: "not a PJRT plugin file"},
		{name: "preferred CPU plugin", dirs: []string{both},
			wantSpec: "xla:" + filepath.Join(both, CPUPlugins[0]), wantSource: "CPU plugin"},
		{name: "another CPU plugin", dirs: []string{empty, lammps},
			wantSpec: "xla:" + filepath.Join(lammps, CPUPlugins[2]), wantSource: "CPU plugin"},
		{name: "first environment wins", dirs: []string{lammps, both},
			wantSpec: "xla:" + filepath.Join(lammps, CPUPlugins[2]), wantSource: "CPU plugin"},
		{name: "GPU with a CUDA plugin", gpu: true, dirs: []string{lammps, both},
			wantSpec: "xla:" + filepath.Join(both, cuda), wantSource: "CUDA"},
		{name: "GPU without a CUDA plugin", gpu: true, dirs: []string{lammps},
			wantSpec: "xla:" + filepath.Join(lammps, CPUPlugins[2]), wantSource: "CPU plugin"},
		{name: "the activated virtual environment", env: map[string]string{"VIRTUAL_ENV": bothPrefix},
			wantSpec: "xla:" + filepath.Join(both, CPUPlugins[0]), wantSource: "CPU plugin"},
		{name: "Debian's dist-packages", env: map[string]string{"VIRTUAL_ENV": debPrefix},
			wantSpec: "xla:" + filepath.Join(debPrefix, "lib", "python3.11", "dist-packages", CPUPlugins[1]), wantSource: "CPU plugin"},
		{name: "nothing found", dirs: []string{empty}, wantSpec: PureGoSpec, wantSource: "fallback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolateSearch(t, tc.gpu, tc.dirs...)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := Select(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Select(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select(%q): %v", tc.spec, err)
			}
			if c.Spec != tc.wantSpec || !strings.Contains(c.Source, tc.wantSource) {
				t.Errorf("Select(%q) = %q from %q, want %q from %q", tc.spec, c.Spec, c.Source, tc.wantSpec, tc.wantSource)
			}
			if c.Fallback() != (tc.wantSource == "fallback") {
				t.Errorf("Fallback() = %v for %q", c.Fallback(), c.Spec)
			}
		})
	}
}

// runsMatMul checks that b executes a graph (the pure-Go backend's deadlock
// showed up at execution, not at creation).
func runsMatMul(t *testing.T, b backends.Backend) {
	t.Helper()
	out, err := graph.ExecOnce(b, func(x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.MatMul(x, x))
	}, [][]float64{{1, 2}, {3, 4}})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	// [[1,2],[3,4]]^2 = [[7,10],[15,22]], sum 54.
	if got := tensors.ToScalar[float64](out); got != 54 {
		t.Errorf("sum of x·x = %v, want 54", got)
	}
}

func TestNewBackend(t *testing.T) {
	plugin := CPUPlugin()
	tests := []struct {
		name, spec, env string
		noAutoInstall   bool   // set GOMLX_NO_AUTO_INSTALL=1
		wantErr         string // substring; "" means success
		wantSpec        string
	}{
		{name: "explicit", spec: "go:ops_sequential", wantSpec: "go:ops_sequential"},
		{name: "from env", env: "go:ops_sequential", wantSpec: "go:ops_sequential"},
		{name: "explicit beats env", spec: "go:ops_sequential", env: "nosuch", wantSpec: "go:ops_sequential"},
		{name: "bad env", env: "go:no_such_option", wantErr: "$GOMLX_BACKEND"},
		{name: "unknown backend", spec: "nosuch", wantErr: "no backend \"nosuch\""},
		{name: "xla would auto-install", spec: "xla:cuda", wantErr: "auto-install"},
		{name: "xla from env would auto-install", env: "xla", wantErr: "auto-install"},
		{name: "xla plugin file missing", spec: "xla:/nonexistent/pjrt_c_api_cpu_plugin.so", noAutoInstall: true, wantErr: "create backend"},
	}
	if plugin != "" {
		tests = append(tests, struct {
			name, spec, env string
			noAutoInstall   bool
			wantErr         string
			wantSpec        string
		}{name: "PJRT CPU plugin", spec: "xla:" + plugin, noAutoInstall: true, wantSpec: "xla:" + plugin})
	} else {
		t.Logf("no PJRT CPU plugin found: only the pure-Go backend is created")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(backends.ConfigEnvVar, tc.env)
			if tc.env == "" {
				os.Unsetenv(backends.ConfigEnvVar)
			}
			t.Setenv(NoAutoInstallEnv, "1")
			if !tc.noAutoInstall {
				os.Unsetenv(NoAutoInstallEnv)
			}
			b, err := NewBackend(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewBackend(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewBackend(%q): %v", tc.spec, err)
			}
			defer b.Finalize()
			if got := SpecOf(b); got != tc.wantSpec {
				t.Errorf("SpecOf = %q, want %q", got, tc.wantSpec)
			}
			if IsXLA(b) && b.NumDevices() != 1 {
				t.Errorf("XLA CPU backend has %d devices, want 1", b.NumDevices())
			}
			runsMatMul(t, b)
		})
	}
}

// TestFallbackSaysSo checks that without any plugin the default is the
// pure-Go backend and that the log says so, once, with the fix.
func TestFallbackSaysSo(t *testing.T) {
	_, empty := fakeVenv(t)
	isolateSearch(t, false, empty)
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	fallbackOnce = sync.Once{}
	for range 2 {
		b, err := NewBackend("")
		if err != nil {
			t.Fatal(err)
		}
		if IsXLA(b) || SpecOf(b) != PureGoSpec {
			t.Errorf("backend %q, want %q", SpecOf(b), PureGoSpec)
		}
		runsMatMul(t, b)
		b.Finalize()
	}
	log := buf.String()
	if n := strings.Count(log, "\n"); n != 1 {
		t.Errorf("log has %d lines, want 1:\n%s", n, log)
	}
	for _, want := range []string{"pure-Go", "scripts/setup.sh", PluginEnv} {
		if !strings.Contains(log, want) {
			t.Errorf("log line lacks %q: %s", want, log)
		}
	}
}

// osThreads is the number of threads of this process.
func osThreads(t *testing.T) int {
	t.Helper()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestSetThreads checks that the thread count reaches XLA's CPU client: it
// starts its pools' threads when created, so a client made with 24 threads
// adds at least 20 more threads to the process than one made with 1.
func TestSetThreads(t *testing.T) {
	plugin := CPUPlugin()
	if plugin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no PJRT CPU plugin found (run scripts/setup.sh)")
		}
		t.Skip("no PJRT CPU plugin found")
	}
	t.Setenv(NoAutoInstallEnv, "1")
	defer SetThreads(0)
	added := map[int]int{}
	for _, n := range []int{1, 24} {
		SetThreads(n)
		before := osThreads(t)
		b, err := NewBackend("xla:" + plugin)
		if err != nil {
			t.Fatal(err)
		}
		added[n] = osThreads(t) - before
		runsMatMul(t, b)
		b.Finalize()
	}
	t.Logf("threads added by a client: %v", added)
	if added[24]-added[1] < 20 {
		t.Errorf("a client with 24 threads added %d threads, one with 1 thread %d: want at least 20 more", added[24], added[1])
	}
}

// TestNewBackendDevices asks for several devices: the PJRT CPU plugin makes
// exactly as many as asked, up to its limit, and the pure-Go backend, which
// has one, refuses more by name.
func TestNewBackendDevices(t *testing.T) {
	plugin := CPUPlugin()
	if plugin == "" {
		t.Fatal("no PJRT CPU plugin found (run scripts/setup.sh)")
	}
	t.Setenv(NoAutoInstallEnv, "1")
	for _, tc := range []struct {
		spec    string
		devices int
		want    int    // devices of the backend
		wantErr string // substring; "" means success
	}{
		{spec: "xla:" + plugin, devices: 0, want: 1},
		{spec: "xla:" + plugin, devices: 1, want: 1},
		{spec: "xla:" + plugin, devices: 2, want: 2},
		{spec: "xla:" + plugin, devices: 4, want: 4},
		{spec: "xla:" + plugin, devices: MaxCPUDevices + 1, wantErr: "1 to 8 devices"},
		{spec: PureGoSpec, devices: 1, want: 1},
		{spec: PureGoSpec, devices: 2, wantErr: `backend "go:ops_sequential" (from argument) has one device, 2 were asked for`},
	} {
		name, _, _ := strings.Cut(tc.spec, ":")
		t.Run(name+"/"+strconv.Itoa(tc.devices), func(t *testing.T) {
			b, err := NewBackendDevices(tc.spec, tc.devices)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Finalize()
			if n := b.NumDevices(); n != tc.want {
				t.Errorf("%d devices, want %d", n, tc.want)
			}
			runsMatMul(t, b)
		})
	}
}
