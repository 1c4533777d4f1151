package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/native"
	nativegraph "github.com/gobg/gobg/energy/native/graph"
	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/atomicfile"
	"github.com/gobg/gobg/plugin"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

func init() {
	register(&command{
		name:    "energy",
		summary: "Amber energies: `gobg energy check` (exactness of each path), `gobg energy bench` (speed), `gobg energy system` (export the System)",
		usage: `Usage: gobg energy check --pdb FILE --traj DCD [--n 50] [--python PY] [--backend SPEC] [--json]
       gobg energy bench --pdb FILE --traj DCD [--batch 256] [--repeat 1] [--threads T]
                         [--paths LIST] [--python PY] [--backend SPEC] [--json]
       gobg energy system --pdb FILE --out system.xml [--python PY] [--json]

check and bench build the amber99sbildn + amber99_obc System (implicit solvent, no
cutoff, no constraints) of the structure through the OpenMM plugin and
evaluate frames spread evenly over the trajectory.

check evaluates n frames with OpenMM's Reference platform (double precision
throughout), gobg's native CPU code (native-cpu: the fastest kernel this CPU
runs, AVX-512 where it has it; native-cpu-scalar: the portable loops), and
the GoMLX graph in float64 and float32, and reports for each path the
largest relative energy error |E - E_ref| / max(|E_ref|, 1 kJ/mol) and the
largest relative RMS force error ||F - F_ref|| / ||F_ref|| against the
Reference platform.

bench times energies plus forces of one batch on each path, side by side in
one run: native CPU (GOMAXPROCS goroutines) with the kernel it picks and with
the portable loops, the GoMLX graph in float32 and float64, OpenMM's CPU
platform through the plugin with 1 worker (T threads) and 2 workers (T/2
threads each), and OpenMM called directly from Python (one Context, T
threads, setPositions plus getState per conformation). Each
path is warmed up first (graph compilation, OpenMM set-up), then the batch is
evaluated --repeat times. Rates are wall-clock conformations per second, so
other jobs on the machine lower them: the load average before and after is
printed with the table. --paths selects paths (comma-separated names from the
table; default all).

system writes that System as OpenMM's XML (atomically). A training
configuration's energy.system_xml names such a file, so that the native
provider trains where OpenMM is not installed (a GPU machine, say).

Example:
  gobg energy check --pdb ../shared/data/md/hp35/top.pdb --traj ../shared/data/md/hp35/traj.dcd --n 50 --json
  gobg energy bench --pdb ../shared/data/md/hp35/top.pdb --traj ../shared/data/md/hp35/traj.dcd --batch 256
  gobg energy system --pdb ../shared/data/md/ala2/top.pdb --out ala2-system.xml`,
		run: runEnergy,
	})
}

func runEnergy(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["energy"]
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		newFlags(c, env).Usage()
		return flagErrHelp
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: the subcommand is `gobg energy check`, `gobg energy bench` or `gobg energy system`", errUsage)
	}
	switch args[0] {
	case "check":
		return runEnergyCheck(ctx, env, args[1:])
	case "bench":
		return runEnergyBench(ctx, env, args[1:])
	case "system":
		return runEnergySystem(ctx, env, args[1:])
	case "serve": // gobg/serve.go
		return runEnergyServe(ctx, env, args[1:])
	}
	return fmt.Errorf("%w: unknown subcommand %q: the subcommands are check, bench and system", errUsage, args[0])
}

type energySystemSummary struct {
	PDB       string `json:"pdb"`
	Out       string `json:"out"`
	Particles int    `json:"particles"`
	Bytes     int    `json:"bytes"`
}

// runEnergySystem writes the System the OpenMM plugin builds for a PDB, after
// checking that gobg's own parser reads it back with every atom.
func runEnergySystem(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(commands["energy"], env)
	pdbPath := fs.String("pdb", "", "structure `file` (PDB)")
	out := fs.String("out", "", "output `file` (OpenMM System XML)")
	python := fs.String("python", "", "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pdbPath == "" || *out == "" {
		return fmt.Errorf("%w: --pdb and --out are required", errUsage)
	}
	if err := writableOut("--out", *out); err != nil {
		return err
	}
	if *python == "" {
		*python = defaultPython()
	}
	pdb, err := molecule.ReadPDBFile(*pdbPath)
	if err != nil {
		return err
	}
	xml, err := plugin.FetchSystemXML(ctx, plugin.Config{Python: *python, PDB: *pdbPath})
	if err != nil {
		return fmt.Errorf("OpenMM plugin: %w", err)
	}
	sys, err := pluginSystem(xml, *pdbPath, len(pdb.Topology.Atoms))
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*out, []byte(xml)); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(env.stderr, "wrote %s: the System of %s, %d particles\n", *out, *pdbPath, sys.NumParticles())
	if *asJSON {
		return printJSON(env, energySystemSummary{PDB: *pdbPath, Out: *out, Particles: sys.NumParticles(), Bytes: len(xml)})
	}
	return nil
}

// energySetup is what both subcommands start from: frames, the OpenMM pool
// and the System it evaluates.
type energySetup struct {
	frames [][]molecule.Vec3
	pool   *plugin.Pool
	sys    *forcefield.System
}

// newEnergySetup reads n frames spread over the trajectory and starts the
// OpenMM plugin on the platform; the caller closes the pool.
func newEnergySetup(ctx context.Context, pdbPath, trajPath, python, platform string, n int) (*energySetup, error) {
	pdb, err := molecule.ReadPDBFile(pdbPath)
	if err != nil {
		return nil, err
	}
	frames, err := readSpread(ctx, []string{trajPath}, pdbPath, len(pdb.Topology.Atoms), n)
	if err != nil {
		return nil, err
	}
	pool, err := plugin.Start(ctx, plugin.Config{Python: python, PDB: pdbPath, Platform: platform})
	if err != nil {
		return nil, fmt.Errorf("start OpenMM plugin: %w", err)
	}
	xml, err := pool.SystemXML(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("OpenMM plugin: %w", err)
	}
	sys, err := pluginSystem(xml, pdbPath, len(pdb.Topology.Atoms))
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &energySetup{frames: frames, pool: pool, sys: sys}, nil
}

// pluginSystem parses the System XML the plugin built for pdbPath and checks
// that it has one particle per atom of the structure.
func pluginSystem(xml, pdbPath string, atoms int) (*forcefield.System, error) {
	sys, err := forcefield.ParseSystemXML(strings.NewReader(xml))
	if err != nil {
		return nil, fmt.Errorf("the plugin's System for %s: %w", pdbPath, err)
	}
	if sys.NumParticles() != atoms {
		return nil, fmt.Errorf("the plugin's System has %d particles, %s has %d atoms", sys.NumParticles(), pdbPath, atoms)
	}
	return sys, nil
}

// energyPathError is one path's agreement with OpenMM's Reference platform.
type energyPathError struct {
	Path        string  `json:"path"`
	EnergyError float64 `json:"max_energy_rel_error"`
	ForceError  float64 `json:"max_force_rel_error"`
	Seconds     float64 `json:"seconds"`
	Failed      int     `json:"failed_frames"`
}

type energyCheckSummary struct {
	PDB       string            `json:"pdb"`
	Traj      string            `json:"traj"`
	Frames    int               `json:"frames"`
	Atoms     int               `json:"atoms"`
	Reference string            `json:"reference"`
	Backend   string            `json:"backend"`
	Kernel    string            `json:"native_kernel"` // of native-cpu: "avx512" or "scalar"
	Paths     []energyPathError `json:"paths"`
}

func runEnergyCheck(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(commands["energy"], env)
	pdbPath := fs.String("pdb", "", "structure `file` (PDB)")
	trajPath := fs.String("traj", "", "DCD trajectory `file` of the structure")
	n := fs.Int("n", 50, "number of frames, spread evenly over the trajectory")
	python := fs.String("python", "", "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)")
	bf := addBackendFlags(fs, true)
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pdbPath == "" || *trajPath == "" {
		return fmt.Errorf("%w: --pdb and --traj are required", errUsage)
	}
	if err := positiveInt("n", *n); err != nil {
		return err
	}
	if err := firstErr(inputFile("--pdb", *pdbPath), inputDCD("--traj", *trajPath)); err != nil {
		return err
	}
	if *python == "" {
		*python = defaultPython()
	}
	backend, err := bf.newBackend()
	if err != nil {
		return err
	}
	s, err := newEnergySetup(ctx, *pdbPath, *trajPath, *python, "Reference", *n)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	fmt.Fprintf(env.stderr, "checking %s: %d atoms, %d frames of %s\n", *pdbPath, s.sys.NumParticles(), len(s.frames), *trajPath)

	start := time.Now()
	ref, err := s.pool.Evaluate(ctx, s.frames, true)
	if err != nil {
		return fmt.Errorf("OpenMM Reference: %w", err)
	}
	refSeconds := time.Since(start).Seconds()
	for k, e := range ref.Errors {
		if e != nil {
			return fmt.Errorf("OpenMM Reference has no energy for frame %d: %w", k, e)
		}
	}
	sum := energyCheckSummary{PDB: *pdbPath, Traj: *trajPath, Frames: len(s.frames), Atoms: s.sys.NumParticles(),
		Reference: "openmm-reference", Backend: nn.SpecOf(backend), Kernel: native.DefaultKernel()}
	sum.Paths = append(sum.Paths, energyPathError{Path: "openmm-reference", Seconds: refSeconds})
	paths, err := checkPaths(s.sys, backend)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintf(env.stderr, "evaluating %s\n", p.name)
		start := time.Now()
		res, err := p.e.Evaluate(ctx, s.frames, true)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		pe := energyPathError{Path: p.name, Seconds: time.Since(start).Seconds()}
		for k := range s.frames {
			if res.Errors[k] != nil {
				pe.Failed++
				continue
			}
			pe.EnergyError = max(pe.EnergyError, energy.RelEnergyError(res.Energies[k], ref.Energies[k]))
			pe.ForceError = max(pe.ForceError, energy.RelForceError(res.Forces[k], ref.Forces[k]))
		}
		sum.Paths = append(sum.Paths, pe)
	}

	w := env.stdout
	if *asJSON {
		w = env.stderr
	}
	fmt.Fprintf(w, "%s: %d atoms, %d frames; errors against OpenMM's Reference platform; native-cpu runs the %s kernel\n",
		*pdbPath, sum.Atoms, sum.Frames, sum.Kernel)
	fmt.Fprintf(w, "%-18s %16s %16s %9s\n", "path", "max rel energy", "max rel force", "seconds")
	for _, p := range sum.Paths {
		fmt.Fprintf(w, "%-18s %16.2e %16.2e %9.2f", p.Path, p.EnergyError, p.ForceError, p.Seconds)
		if p.Failed > 0 {
			fmt.Fprintf(w, "  (%d frames without a finite energy)", p.Failed)
		}
		fmt.Fprintln(w)
	}
	if *asJSON {
		return printJSON(env, sum)
	}
	return nil
}

// namedEnergy is one evaluation path.
type namedEnergy struct {
	name string
	e    energy.Energy
}

// checkPaths are the gobg paths that check compares with OpenMM.
func checkPaths(sys *forcefield.System, backend backends.Backend) ([]namedEnergy, error) {
	cpu, err := native.New(sys, native.Options{})
	if err != nil {
		return nil, err
	}
	g64, err := nativegraph.New(sys, dtypes.Float64, backend, nativegraph.Options{})
	if err != nil {
		return nil, err
	}
	g32, err := nativegraph.New(sys, dtypes.Float32, backend, nativegraph.Options{})
	if err != nil {
		return nil, err
	}
	scalar, err := native.New(sys, native.Options{Scalar: true})
	if err != nil {
		return nil, err
	}
	return []namedEnergy{{"native-cpu", cpu}, {"native-cpu-scalar", scalar}, {"graph-f64", g64}, {"graph-f32", g32}}, nil
}

// benchPath is one row of the bench table.
type benchPath struct {
	Path     string  `json:"path"`
	Detail   string  `json:"detail"`
	ConfPerS float64 `json:"conf_per_s"`
	MsPerCon float64 `json:"ms_per_conf"`
	Seconds  float64 `json:"seconds"`
	// CPUMsPerConf is the CPU time (all threads of gobg and, for OpenMM
	// paths, of the OpenMM processes) per conformation: unlike the rates,
	// it hardly changes when other jobs share the machine. 0 when unknown
	// (no /proc).
	CPUMsPerConf float64 `json:"cpu_ms_per_conf"`
	// VsOpenMM is ConfPerS over that of OpenMM called from Python,
	// VsOpenMMCPU the same ratio by CPU time per conformation.
	VsOpenMM    float64 `json:"x_openmm_python,omitempty"`
	VsOpenMMCPU float64 `json:"x_openmm_python_cpu,omitempty"`
}

type energyBenchSummary struct {
	PDB          string      `json:"pdb"`
	Traj         string      `json:"traj"`
	Atoms        int         `json:"atoms"`
	Batch        int         `json:"batch"`
	Repeat       int         `json:"repeat"`
	CPU          string      `json:"cpu"`
	NumCPU       int         `json:"num_cpu"`
	GOMAXPROCS   int         `json:"gomaxprocs"`
	GoExperiment string      `json:"goexperiment"`
	NativeKernel string      `json:"native_kernel"` // of native-cpu: "avx512" or "scalar"
	Backend      string      `json:"backend"`
	LoadBefore   string      `json:"loadavg_before"`
	LoadAfter    string      `json:"loadavg_after"`
	Paths        []benchPath `json:"paths"`
	// NativeOverOpenMM is the speed of native CPU over that of OpenMM from
	// Python by wall clock, NativeOverOpenMMCPU by CPU time per
	// conformation (0 when one of them was not run).
	NativeOverOpenMM    float64 `json:"native_over_openmm"`
	NativeOverOpenMMCPU float64 `json:"native_over_openmm_cpu"`
}

// benchPathNames lists the bench's paths in table order.
var benchPathNames = []string{"native-cpu", "native-cpu-scalar", "graph-f32", "graph-f64",
	"openmm-plugin-1w", "openmm-plugin-2w", "openmm-python"}

func runEnergyBench(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(commands["energy"], env)
	pdbPath := fs.String("pdb", "", "structure `file` (PDB)")
	trajPath := fs.String("traj", "", "DCD trajectory `file` of the structure")
	batch := fs.Int("batch", 256, "conformations per batch, spread evenly over the trajectory")
	repeat := fs.Int("repeat", 1, "timed evaluations of the batch per path")
	threads := fs.Int("threads", runtime.NumCPU(), "OpenMM CPU threads in all (split between plugin workers)")
	pathList := fs.String("paths", "", "comma-separated paths to run (default all: "+strings.Join(benchPathNames, ",")+")")
	python := fs.String("python", "", "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)")
	bf := addBackendFlags(fs, false)
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pdbPath == "" || *trajPath == "" {
		return fmt.Errorf("%w: --pdb and --traj are required", errUsage)
	}
	if *batch < 1 || *repeat < 1 || *threads < 1 {
		return fmt.Errorf("%w: --batch, --repeat and --threads must be at least 1", errUsage)
	}
	want := map[string]bool{}
	if *pathList == "" {
		for _, p := range benchPathNames {
			want[p] = true
		}
	} else {
		for _, p := range strings.Split(*pathList, ",") {
			p = strings.TrimSpace(p)
			found := false
			for _, q := range benchPathNames {
				found = found || p == q
			}
			if !found {
				return fmt.Errorf("%w: unknown path %q (paths: %s)", errUsage, p, strings.Join(benchPathNames, ", "))
			}
			want[p] = true
		}
	}
	if err := firstErr(inputFile("--pdb", *pdbPath), inputDCD("--traj", *trajPath)); err != nil {
		return err
	}
	if *python == "" {
		*python = defaultPython()
	}
	backend, err := bf.newBackend()
	if err != nil {
		return err
	}
	// The first pool (1 worker, CPU platform) provides the System and is
	// the first OpenMM path.
	s, err := newEnergySetup(ctx, *pdbPath, *trajPath, *python, "CPU", *batch)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	goexp := buildSetting("GOEXPERIMENT")
	sum := energyBenchSummary{PDB: *pdbPath, Traj: *trajPath, Atoms: s.sys.NumParticles(), Batch: len(s.frames),
		Repeat: *repeat, CPU: cpuModel(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoExperiment: goexp, NativeKernel: native.DefaultKernel(), Backend: nn.SpecOf(backend), LoadBefore: loadAverage()}
	fmt.Fprintf(env.stderr, "benchmarking %s: %d atoms, batch %d, repeat %d\n", *pdbPath, sum.Atoms, sum.Batch, sum.Repeat)

	type runner struct {
		name, detail string
		make         func() (energy.Energy, func(), error)
	}
	nop := func() {}
	kernelDetail := fmt.Sprintf("%d goroutines, %s kernel", runtime.GOMAXPROCS(0), sum.NativeKernel)
	if why := native.KernelNotRun(); why != "" {
		kernelDetail += " (avx512 not run: " + why + ")"
	}
	runners := []runner{
		{"native-cpu", kernelDetail, func() (energy.Energy, func(), error) {
			e, err := native.New(s.sys, native.Options{})
			return e, nop, err
		}},
		{"native-cpu-scalar", fmt.Sprintf("%d goroutines, portable loops", runtime.GOMAXPROCS(0)), func() (energy.Energy, func(), error) {
			e, err := native.New(s.sys, native.Options{Scalar: true})
			return e, nop, err
		}},
	}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		name := "graph-f32"
		if dt == dtypes.Float64 {
			name = "graph-f64"
		}
		runners = append(runners, runner{name, "", func() (energy.Energy, func(), error) {
			e, err := nativegraph.New(s.sys, dt, backend, nativegraph.Options{})
			return e, nop, err
		}})
	}
	runners = append(runners,
		runner{"openmm-plugin-1w", fmt.Sprintf("1 worker x %d threads", *threads), func() (energy.Energy, func(), error) {
			return s.pool, nop, nil
		}},
		runner{"openmm-plugin-2w", fmt.Sprintf("2 workers x %d threads", max(1, *threads/2)), func() (energy.Energy, func(), error) {
			p, err := plugin.Start(ctx, plugin.Config{Python: *python, PDB: *pdbPath, Platform: "CPU", Workers: 2, Threads: max(1, *threads/2)})
			if err != nil {
				return nil, nil, fmt.Errorf("start OpenMM plugin: %w", err)
			}
			return p, func() { p.Close() }, nil
		}},
	)
	var rows []benchPath
	for _, r := range runners {
		if !want[r.name] {
			continue
		}
		fmt.Fprintf(env.stderr, "timing %s\n", r.name)
		e, closeFn, err := r.make()
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		var pids []int
		if p, ok := e.(*plugin.Pool); ok {
			pids = p.PIDs()
		}
		row, err := timeEnergy(ctx, e, s.frames, *repeat, pids)
		closeFn()
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		row.Path, row.Detail = r.name, r.detail
		if g, ok := e.(*nativegraph.Energy); ok {
			row.Detail = fmt.Sprintf("sub-batch %d, %d at once", g.SubBatch(), runtime.GOMAXPROCS(0))
		}
		rows = append(rows, row)
	}
	if want["openmm-python"] {
		fmt.Fprintf(env.stderr, "timing openmm-python\n")
		row, err := timeOpenMMPython(ctx, *python, s, *threads, *repeat)
		if err != nil {
			return fmt.Errorf("openmm-python: %w", err)
		}
		rows = append(rows, row)
	}
	sum.LoadAfter = loadAverage()
	var omm, native benchPath
	for _, r := range rows {
		switch r.Path {
		case "openmm-python":
			omm = r
		case "native-cpu":
			native = r
		}
	}
	for i, r := range rows {
		if omm.ConfPerS > 0 {
			rows[i].VsOpenMM = r.ConfPerS / omm.ConfPerS
		}
		if omm.CPUMsPerConf > 0 && r.CPUMsPerConf > 0 {
			rows[i].VsOpenMMCPU = omm.CPUMsPerConf / r.CPUMsPerConf
		}
	}
	if omm.ConfPerS > 0 && native.ConfPerS > 0 {
		sum.NativeOverOpenMM = native.ConfPerS / omm.ConfPerS
	}
	if omm.CPUMsPerConf > 0 && native.CPUMsPerConf > 0 {
		sum.NativeOverOpenMMCPU = omm.CPUMsPerConf / native.CPUMsPerConf
	}
	sum.Paths = rows

	w := env.stdout
	if *asJSON {
		w = env.stderr
	}
	fmt.Fprintf(w, "%s: %d atoms, batch %d x %d, energies and forces\n", *pdbPath, sum.Atoms, sum.Batch, sum.Repeat)
	fmt.Fprintf(w, "CPU %s, %d cores, GOMAXPROCS %d, native kernel %s, GoMLX backend %s\n", sum.CPU, sum.NumCPU, sum.GOMAXPROCS, sum.NativeKernel, sum.Backend)
	fmt.Fprintf(w, "load average before: %s; after: %s\n", sum.LoadBefore, sum.LoadAfter)
	fmt.Fprintf(w, "%-20s %10s %10s %12s %9s %9s  %s\n", "path", "conf/s", "ms/conf", "cpu ms/conf", "x openmm", "x (cpu)", "detail")
	ratio := func(v float64) string {
		if v > 0 {
			return fmt.Sprintf("%.2f", v)
		}
		return "-"
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-20s %10.1f %10.2f %12.2f %9s %9s  %s\n", r.Path, r.ConfPerS, r.MsPerCon, r.CPUMsPerConf,
			ratio(r.VsOpenMM), ratio(r.VsOpenMMCPU), r.Detail)
	}
	fmt.Fprintln(w, "x openmm: speed over openmm-python by wall clock; x (cpu): by CPU time per conformation")
	if *asJSON {
		return printJSON(env, sum)
	}
	return nil
}

// timeEnergy warms e up on a small part of the batch, then times repeat
// evaluations of the whole batch with forces. The CPU time counts this
// process and the processes pids (OpenMM workers).
func timeEnergy(ctx context.Context, e energy.Energy, frames [][]molecule.Vec3, repeat int, pids []int) (benchPath, error) {
	warm := frames[:min(len(frames), 2)]
	if g, ok := e.(*nativegraph.Energy); ok {
		warm = frames[:min(len(frames), g.SubBatch())]
	}
	if _, err := e.Evaluate(ctx, warm, true); err != nil {
		return benchPath{}, err
	}
	cpu0, cpuOK := processesCPU(pids)
	start := time.Now()
	for range repeat {
		res, err := e.Evaluate(ctx, frames, true)
		if err != nil {
			return benchPath{}, err
		}
		if n := res.Failed(); n > 0 {
			return benchPath{}, fmt.Errorf("%d conformations without a finite energy", n)
		}
	}
	sec := time.Since(start).Seconds()
	cpu1, cpuOK1 := processesCPU(pids)
	confs := float64(len(frames) * repeat)
	row := benchPath{ConfPerS: confs / sec, MsPerCon: 1e3 * sec / confs, Seconds: sec}
	if cpuOK && cpuOK1 {
		row.CPUMsPerConf = 1e3 * (cpu1 - cpu0) / confs
	}
	return row, nil
}

// processesCPU returns the CPU seconds (user + system, all threads) used so
// far by this process and the processes pids, from /proc; false where it
// cannot be read.
func processesCPU(pids []int) (float64, bool) {
	total, ok := procCPU("self")
	for _, pid := range pids {
		v, pok := procCPU(fmt.Sprint(pid))
		total += v
		ok = ok && pok
	}
	return total, ok
}

// procCPU reads utime + stime of /proc/PID/stat, in seconds (Linux reports
// them in USER_HZ = 100 ticks per second on every architecture it runs on).
func procCPU(pid string) (float64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after the last ')' start with field 3, the state.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	var utime, stime float64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, false
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, false
	}
	return (utime + stime) / 100, true
}

// openMMBenchScript times OpenMM's CPU platform from Python: one Context,
// setPositions and getState(energy, forces) per conformation, after one
// warm-up evaluation. It prints one JSON line.
const openMMBenchScript = `
import json, sys, time
import numpy as np
import openmm
xml, posfile, n, natoms, threads, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
with open(xml) as f:
    system = openmm.XmlSerializer.deserialize(f.read())
pos = np.fromfile(posfile, dtype="<f8").reshape(n, natoms, 3)
ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"), {"Threads": threads})
ctx.setPositions(pos[0])
ctx.getState(getEnergy=True, getForces=True)
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(repeat):
    for x in pos:
        ctx.setPositions(x)
        st = ctx.getState(getEnergy=True, getForces=True)
        st.getPotentialEnergy()
        st.getForces(asNumpy=True)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "conf_per_s": n * repeat / wall}))
`

func timeOpenMMPython(ctx context.Context, python string, s *energySetup, threads, repeat int) (benchPath, error) {
	dir, err := os.MkdirTemp("", "gobg-energy-bench-")
	if err != nil {
		return benchPath{}, err
	}
	defer os.RemoveAll(dir)
	xml, err := s.pool.SystemXML(ctx)
	if err != nil {
		return benchPath{}, err
	}
	xmlPath, posPath := filepath.Join(dir, "system.xml"), filepath.Join(dir, "pos.bin")
	if err := os.WriteFile(xmlPath, []byte(xml), 0o644); err != nil {
		return benchPath{}, err
	}
	n := s.sys.NumParticles()
	buf := make([]byte, 0, len(s.frames)*n*24)
	for _, x := range s.frames {
		for _, p := range x {
			for _, v := range p {
				buf = appendFloat64LE(buf, v)
			}
		}
	}
	if err := os.WriteFile(posPath, buf, 0o644); err != nil {
		return benchPath{}, err
	}
	cmd := exec.CommandContext(ctx, python, "-c", openMMBenchScript, xmlPath, posPath,
		fmt.Sprint(len(s.frames)), fmt.Sprint(n), fmt.Sprint(threads), fmt.Sprint(repeat))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return benchPath{}, fmt.Errorf("%s: %w\n%s", python, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r struct {
		Seconds    float64 `json:"seconds"`
		CPUSeconds float64 `json:"cpu_seconds"`
		ConfPerS   float64 `json:"conf_per_s"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.ConfPerS <= 0 {
		return benchPath{}, fmt.Errorf("unexpected output of the OpenMM timing script: %q (%v)", out, err)
	}
	return benchPath{Path: "openmm-python", Detail: fmt.Sprintf("1 Context x %d threads", threads),
		ConfPerS: r.ConfPerS, MsPerCon: 1e3 / r.ConfPerS, Seconds: r.Seconds,
		CPUMsPerConf: 1e3 * r.CPUSeconds / float64(len(s.frames)*repeat)}, nil
}

func appendFloat64LE(b []byte, v float64) []byte {
	u := math.Float64bits(v)
	return append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24), byte(u>>32), byte(u>>40), byte(u>>48), byte(u>>56))
}

// cpuModel is the first "model name" of /proc/cpuinfo ("unknown" elsewhere).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// buildSetting returns a setting of the binary's build information (e.g.
// GOEXPERIMENT), empty when absent.
func buildSetting(key string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
