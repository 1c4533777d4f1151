package nn

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"

	// The pure-Go backend is always linked: it runs where no PJRT plugin is
	// installed.
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/backends/xla"
)

// PureGoSpec is the pure-Go backend as gobg configures it, the fallback when
// no PJRT plugin is found.
//
// The pure-Go backend's default configuration runs independent ops in
// parallel on the same worker pool that its matmul uses to split work; on a
// 2-core machine a matmul can wait for workers held by ops that wait for it,
// and the process hangs. "ops_sequential" runs ops one at a time (matmul
// still uses all cores), which removes the deadlock at no measurable cost for
// our graphs, whose ops are mostly large and elementwise.
const PureGoSpec = "go:ops_sequential"

// PluginEnv names a PJRT plugin (.so) to use instead of searching for one.
const PluginEnv = "GOBG_PJRT_PLUGIN"

// NoAutoInstallEnv is the environment variable that stops GoMLX's XLA backend
// from downloading a PJRT plugin when it is created. Our machines have no
// general internet access, so a download attempt only fails slowly.
const NoAutoInstallEnv = "GOMLX_NO_AUTO_INSTALL"

// CPUPlugins are the PJRT CPU plugins that PyPI packages install, relative to
// site-packages, in order of preference. The first is the one in
// requirements.txt; docs/backends.md compares them.
var CPUPlugins = []string{
	"xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so",     // xla-cpu-pjrt
	"fastatomstruct_xla_cpu/libpjrt_cpu.so",        // fastatomstruct-xla-cpu
	"lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so", // lammps-jax-pjrt-cpu
}

// CUDAPlugins are glob patterns, relative to site-packages, of JAX's CUDA
// PJRT plugins (PyPI's jax-cuda12-pjrt, jax-cuda13-pjrt).
var CUDAPlugins = []string{"jax_plugins/xla_cuda*/xla_cuda_plugin.so"}

// Choice is the backend NewBackend creates for a spec, and why.
type Choice struct {
	Spec   string // "<name>:<config>", e.g. "xla:/abs/xla_cpu_pjrt.so"
	Source string // where the spec came from, for messages
	// Searched lists the site-packages folders looked in, when the spec
	// came from the search.
	Searched []string
}

// Fallback reports whether no plugin was found and the pure-Go backend is
// used for lack of one.
func (c Choice) Fallback() bool { return c.Source == sourceFallback }

const sourceFallback = "fallback: no PJRT plugin found"

// sourceVenv is the .venv at the root of the source tree this package was
// built from, when the build recorded absolute source paths (not with
// -trimpath): this file is <root>/flow/nn/backend.go.
var sourceVenv = func() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Join(filepath.Dir(file), "..", "..", ".venv")
	}
	return ""
}()

var (
	extraMu   sync.Mutex
	extraDirs []string
)

// AddSearchDirs adds folders to search first for PJRT plugins, as
// site-packages folders. The Python module passes its interpreter's sys.path,
// since Go code inside a Python process has no other way to know which
// environment it runs in.
func AddSearchDirs(dirs ...string) {
	extraMu.Lock()
	defer extraMu.Unlock()
	for _, d := range dirs {
		if d != "" && !slices.Contains(extraDirs, d) {
			extraDirs = append(extraDirs, d)
		}
	}
}

// Select decides which backend NewBackend(spec) creates: an explicit spec,
// else $GOMLX_BACKEND, else the plugin in $GOBG_PJRT_PLUGIN, else a CUDA
// plugin if the machine has an NVIDIA GPU, else a PJRT CPU plugin, else the
// pure-Go backend (Choice.Fallback). Plugins are searched in the
// site-packages folders of the Python environments SearchDirs lists.
func Select(spec string) (Choice, error) {
	if spec != "" {
		return Choice{Spec: spec, Source: "argument"}, nil
	}
	if s := os.Getenv(backends.ConfigEnvVar); s != "" {
		return Choice{Spec: s, Source: "$" + backends.ConfigEnvVar}, nil
	}
	if p := os.Getenv(PluginEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return Choice{}, fmt.Errorf("$%s=%q: %w", PluginEnv, p, err)
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() {
			return Choice{}, fmt.Errorf("$%s=%q: not a PJRT plugin file", PluginEnv, p)
		}
		return Choice{Spec: "xla:" + abs, Source: "$" + PluginEnv}, nil
	}
	dirs := SearchDirs()
	if hasNVIDIAGPU() {
		if p := findIn(dirs, CUDAPlugins); p != "" {
			return Choice{Spec: "xla:" + p, Source: "CUDA plugin (NVIDIA GPU found)", Searched: dirs}, nil
		}
	}
	if p := findIn(dirs, CPUPlugins); p != "" {
		return Choice{Spec: "xla:" + p, Source: "PJRT CPU plugin", Searched: dirs}, nil
	}
	return Choice{Spec: PureGoSpec, Source: sourceFallback, Searched: dirs}, nil
}

// systemPrefixes are where system-wide Python packages live (Debian's pip
// installs into /usr/local/lib/python3.X/dist-packages).
var systemPrefixes = []string{"/usr/local", "/usr"}

// SearchDirs lists the site-packages (and Debian's dist-packages) folders
// searched for PJRT plugins, in order: those added by AddSearchDirs; those of
// the .venv beside the running executable (bin/gobg → ./.venv) or of the
// environment the executable lives in (.venv/bin/python); the .venv at the
// root of the source tree this package was built from (tests, and binaries
// built in a clone); the environments of $GOBG_PYTHON, $VIRTUAL_ENV and the
// python3 on PATH; the user's ~/.local; and the system's. Only folders that
// exist are listed.
func SearchDirs() []string {
	extraMu.Lock()
	dirs := slices.Clone(extraDirs)
	extraMu.Unlock()
	var prefixes []string
	if exe, err := os.Executable(); err == nil {
		up := filepath.Dir(filepath.Dir(exe))
		prefixes = append(prefixes, filepath.Join(up, ".venv"), up)
	}
	if sourceVenv != "" {
		prefixes = append(prefixes, sourceVenv)
	}
	if py := os.Getenv("GOBG_PYTHON"); py != "" {
		prefixes = append(prefixes, filepath.Dir(filepath.Dir(py)))
	}
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		prefixes = append(prefixes, v)
	}
	if py, err := exec.LookPath("python3"); err == nil {
		// Not resolving symlinks: a virtual environment's python3 is a
		// link to the system's, and its own prefix is the one wanted.
		prefixes = append(prefixes, filepath.Dir(filepath.Dir(py)))
	}
	if home, err := os.UserHomeDir(); err == nil {
		prefixes = append(prefixes, filepath.Join(home, ".local"))
	}
	prefixes = append(prefixes, systemPrefixes...)
	for _, p := range prefixes {
		for _, kind := range []string{"site-packages", "dist-packages"} {
			matches, _ := filepath.Glob(filepath.Join(filepath.Clean(p), "lib", "python3*", kind))
			for _, m := range matches {
				if !slices.Contains(dirs, m) {
					dirs = append(dirs, m)
				}
			}
		}
	}
	return dirs
}

// findIn returns the first plugin file matching one of patterns (in order)
// in the first of dirs that has one, or "".
func findIn(dirs, patterns []string) string {
	for _, d := range dirs {
		for _, pat := range patterns {
			matches, _ := filepath.Glob(filepath.Join(d, pat))
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
					return m
				}
			}
		}
	}
	return ""
}

// hasNVIDIAGPU reports whether the machine has an NVIDIA GPU whose driver is
// loaded (device files /dev/nvidia0, /dev/nvidia1, ...).
var hasNVIDIAGPU = func() bool {
	m, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(m) > 0
}

// CPUPlugin returns the PJRT CPU plugin that Select would use on a machine
// without a GPU: $GOBG_PJRT_PLUGIN if it names a CPU plugin, else the first
// found in SearchDirs; "" if there is none.
func CPUPlugin() string {
	if p := os.Getenv(PluginEnv); p != "" && isCPUPlugin(p) {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return findIn(SearchDirs(), CPUPlugins)
}

var (
	threadsMu sync.Mutex
	threads   int // 0: all cores
)

// SetThreads sets the number of CPU threads that backends created afterwards
// compute with (n ≤ 0: all cores, the default). XLA's CPU plugin sizes its
// thread pools once, when its client is created, from $PJRT_NPROC; the
// pure-Go backend's goroutines are bounded by GOMAXPROCS, so that is set too
// (it bounds all of the process's Go code, the native energy included).
func SetThreads(n int) {
	threadsMu.Lock()
	defer threadsMu.Unlock()
	threads = max(n, 0)
	if threads == 0 {
		runtime.GOMAXPROCS(runtime.NumCPU())
	} else {
		runtime.GOMAXPROCS(threads)
	}
}

// Threads is the number of CPU threads set by SetThreads, 0 meaning all
// cores.
func Threads() int {
	threadsMu.Lock()
	defer threadsMu.Unlock()
	return threads
}

var (
	specMu sync.Mutex
	specs  = map[backends.Backend]string{}

	fallbackOnce sync.Once
)

// SpecOf is the spec a backend made by NewBackend was created with, e.g.
// "xla:/abs/path/xla_cpu_pjrt.so" or "go:ops_sequential": what commands
// report as their backend.
func SpecOf(b backends.Backend) string {
	specMu.Lock()
	defer specMu.Unlock()
	if s, ok := specs[b]; ok {
		return s
	}
	return b.String()
}

// pureGo is the process's shared pure-Go backend (PureGo).
var pureGo = sync.OnceValues(func() (backends.Backend, error) { return NewBackend(PureGoSpec) })

// PureGo returns a pure-Go backend shared by the whole process, for small
// one-off graphs whose XLA compilation would cost far more than running them
// (variable initialisation, say): the pure-Go backend compiles nothing.
func PureGo() (backends.Backend, error) { return pureGo() }

// IsXLA reports whether b runs on XLA (a PJRT plugin).
func IsXLA(b backends.Backend) bool {
	_, ok := b.(*xla.Backend)
	return ok
}

// MaxCPUDevices is the most devices the PJRT CPU plugin creates.
const MaxCPUDevices = 8

// NewBackend returns a one-device GoMLX backend for spec; see
// NewBackendDevices.
func NewBackend(spec string) (backends.Backend, error) { return NewBackendDevices(spec, 1) }

// NewBackendDevices returns a GoMLX backend for spec ("<name>:<config>", e.g.
// "go:ops_sequential" or "xla:/path/to/pjrt_plugin.so"); an empty spec picks
// one as Select says. When no plugin is found it uses the pure-Go backend and
// says so once per process in the log, with the way to fix it.
//
// GoMLX's XLA backend downloads a plugin from the internet when the plugin is
// not an absolute path, unless GOMLX_NO_AUTO_INSTALL is set; NewBackend
// refuses such a spec while the variable is unset.
//
// devices is the number of devices data-parallel graphs may use (n ≤ 0 means
// 1). A PJRT CPU plugin is created with exactly that many devices (1 to
// MaxCPUDevices; the plugin's own default is 4, of which one-device graphs
// would use one) and SetThreads' thread count, which they share. Other
// plugins (CUDA) expose the devices the machine has; asking for more is an
// error. The pure-Go backend has one device.
//
// NewBackendDevices also makes sure graphops' gradient replacements are
// installed (graphops.FixGradients; that package's init already does it).
func NewBackendDevices(spec string, devices int) (b backends.Backend, err error) {
	graphops.FixGradients()
	devices = max(devices, 1)
	c, err := Select(spec)
	if err != nil {
		return nil, err
	}
	if c.Fallback() {
		fallbackOnce.Do(func() {
			slog.Warn("no PJRT plugin found: using the pure-Go backend, which is 5-20 times slower; " +
				"run scripts/setup.sh (it installs xla-cpu-pjrt into .venv) or set " + PluginEnv + "=/path/to/plugin.so")
		})
	}
	spec, source := c.Spec, c.Source
	name, config, _ := strings.Cut(spec, ":")
	plugin, _, _ := strings.Cut(config, ",")
	isXLA := slices.Contains([]string{"xla", "stablehlo", "hlo", "shlo"}, name)
	if isXLA && !filepath.IsAbs(plugin) {
		// GoMLX's XLA backend auto-installs plugins whenever the plugin is
		// not an absolute path, unless the variable below is set.
		if _, set := os.LookupEnv(NoAutoInstallEnv); !set {
			return nil, fmt.Errorf("backend spec %q (from %s): an XLA backend without an absolute plugin path would "+
				"auto-install a PJRT plugin from the internet; give the path (\"xla:/path/to/plugin.so\") or set %s=1",
				spec, source, NoAutoInstallEnv)
		}
		// The XLA package reads the variable once, when the program starts;
		// it may have been set since.
		xla.EnableAutoInstall(false)
	}
	available := backends.List()
	slices.Sort(available)
	if !slices.Contains(available, name) {
		return nil, fmt.Errorf("backend spec %q (from %s): no backend %q in this binary (linked: %s)",
			spec, source, name, strings.Join(available, ", "))
	}
	// Backend constructors report some configuration errors by panicking;
	// turn those into errors so that a bad flag never crashes the program.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("create backend %q (from %s): %v", spec, source, r)
		}
	}()
	cpu := isXLA && isCPUPlugin(plugin)
	if !isXLA && devices > 1 {
		return nil, fmt.Errorf("backend %q (from %s) has one device, %d were asked for: several devices need an XLA backend (a PJRT plugin, docs/backends.md)",
			spec, source, devices)
	}
	if cpu && devices > MaxCPUDevices {
		return nil, fmt.Errorf("backend %q (from %s): the PJRT CPU plugin makes 1 to %d devices, %d were asked for",
			spec, source, MaxCPUDevices, devices)
	}
	if cpu {
		b, err = newCPUPlugin(config, devices)
	} else {
		b, err = backends.NewWithConfig(spec)
	}
	if err != nil {
		return nil, fmt.Errorf("create backend %q (from %s): %w", spec, source, err)
	}
	if n := b.NumDevices(); n < devices {
		b.Finalize()
		return nil, fmt.Errorf("backend %q (from %s) has %d devices, %d were asked for", spec, source, n, devices)
	}
	specMu.Lock()
	specs[b] = spec
	specMu.Unlock()
	slog.Debug("GoMLX backend", "spec", spec, "from", source)
	return b, nil
}

// isCPUPlugin tells a PJRT CPU plugin from others (CUDA) by its file name,
// which for every known one says "cpu"; go-xla names its own plugin "cpu".
func isCPUPlugin(plugin string) bool {
	return strings.Contains(strings.ToLower(filepath.Base(plugin)), "cpu")
}

// pjrtNprocEnv is read by XLA's CPU client, when it is created, for the size
// of its thread pools (default: all cores the process may run on).
const pjrtNprocEnv = "PJRT_NPROC"

// userNproc is $PJRT_NPROC as the process started with: what the default
// thread count leaves in place.
var userNproc, userNprocSet = os.LookupEnv(pjrtNprocEnv)

var cpuClientMu sync.Mutex

func newCPUPlugin(config string, devices int) (backends.Backend, error) {
	cpuClientMu.Lock()
	defer cpuClientMu.Unlock()
	var err error
	switch n := Threads(); {
	case n > 0:
		err = os.Setenv(pjrtNprocEnv, strconv.Itoa(n))
	case userNprocSet:
		err = os.Setenv(pjrtNprocEnv, userNproc)
	default:
		err = os.Unsetenv(pjrtNprocEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", pjrtNprocEnv, err)
	}
	return xla.NewWithOptions(config, pjrt.NamedValuesMap{"cpu_device_count": int64(devices)})
}
