package main

import (
	"context"
	"fmt"
	"strings"

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
		summary: "Amber energies: `gobg energy check` (exactness of each path), `gobg energy system` (export the System), `gobg energy serve` (workers for other hosts)",
		usage: `Usage: gobg energy check --pdb FILE --traj DCD [--n 50] [--python PY] [--backend SPEC] [--threads T] [--json]
       gobg energy system --pdb FILE --out system.xml [--python PY] [--json]
       gobg energy serve --listen HOST:PORT --pdb FILE [...]   (gobg energy serve --help)

check builds the amber99sbildn + amber99_obc System (implicit solvent, no
cutoff, no constraints) of the structure through the OpenMM plugin and
evaluates n frames spread evenly over the trajectory with OpenMM's Reference
platform (double precision throughout), gobg's native CPU code (native-cpu:
the fastest kernel this CPU runs, AVX-512 where it has it;
native-cpu-scalar: the portable loops), and the GoMLX graph in float64 and
float32, and reports for each path the largest relative energy error
|E - E_ref| / max(|E_ref|, 1 kJ/mol) and the largest relative RMS force
error ||F - F_ref|| / ||F_ref|| against the Reference platform.

system writes that System as OpenMM's XML (atomically). A training
configuration's energy.system_xml names such a file, so that the native
provider trains where OpenMM is not installed (a GPU machine, say).

The speed of each path is measured by Go benchmarks (docs/energy-bench.md):
go test ./energy/native -run '^$' -bench Native (native CPU against OpenMM
from Python), ./energy/native/graph -bench Evaluate (the GoMLX graph) and
./plugin -bench Evaluate (OpenMM through the plugin).

Example:
  gobg energy check --pdb ../shared/data/md/hp35/top.pdb --traj ../shared/data/md/hp35/traj.dcd --n 50 --json
  gobg energy system --pdb ../shared/data/md/ala2/top.pdb --out ala2-system.xml`,
		run: runEnergy,
	})
}

// energySubcommands are the subcommands of gobg energy; a file registers
// one with a line in its init.
var energySubcommands = map[string]func(ctx context.Context, env *cmdEnv, args []string) error{
	"check":  runEnergyCheck,
	"system": runEnergySystem,
	"serve":  runEnergyServe, // gobg/serve.go
}

func runEnergy(ctx context.Context, env *cmdEnv, args []string) error {
	return runSubcommand(ctx, env, commands["energy"], energySubcommands, args)
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
	python := addPythonFlag(fs)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pdbPath == "" || *out == "" {
		return fmt.Errorf("%w: --pdb and --out are required", errUsage)
	}
	if err := writableOut("--out", *out); err != nil {
		return err
	}
	*python = orDefaultPython(*python)
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

type energyCheckSummary struct {
	PDB       string             `json:"pdb"`
	Traj      string             `json:"traj"`
	Frames    int                `json:"frames"`
	Atoms     int                `json:"atoms"`
	Reference string             `json:"reference"`
	Backend   string             `json:"backend"`
	Kernel    string             `json:"native_kernel"` // of native-cpu: "avx512" or "scalar"
	Paths     []energy.Agreement `json:"paths"`
}

func runEnergyCheck(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(commands["energy"], env)
	pdbPath := fs.String("pdb", "", "structure `file` (PDB)")
	trajPath := fs.String("traj", "", "DCD trajectory `file` of the structure")
	n := fs.Int("n", 50, "number of frames, spread evenly over the trajectory")
	python := addPythonFlag(fs)
	bf := addBackendFlags(fs, true)
	asJSON := addJSONFlag(fs)
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
	*python = orDefaultPython(*python)
	backend, err := bf.newBackend()
	if err != nil {
		return err
	}
	pdb, err := molecule.ReadPDBFile(*pdbPath)
	if err != nil {
		return err
	}
	frames, err := molecule.ReadSpread(ctx, []string{*trajPath}, *pdbPath, len(pdb.Topology.Atoms), *n)
	if err != nil {
		return err
	}
	pool, err := plugin.Start(ctx, plugin.Config{Python: *python, PDB: *pdbPath, Platform: "Reference"})
	if err != nil {
		return fmt.Errorf("start OpenMM plugin: %w", err)
	}
	defer pool.Close()
	xml, err := pool.SystemXML(ctx)
	if err != nil {
		return fmt.Errorf("OpenMM plugin: %w", err)
	}
	sys, err := pluginSystem(xml, *pdbPath, len(pdb.Topology.Atoms))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "checking %s: %d atoms, %d frames of %s\n", *pdbPath, sys.NumParticles(), len(frames), *trajPath)
	paths, err := checkPaths(sys, backend)
	if err != nil {
		return err
	}
	sum := energyCheckSummary{PDB: *pdbPath, Traj: *trajPath, Frames: len(frames), Atoms: sys.NumParticles(),
		Reference: "openmm-reference", Backend: nn.SpecOf(backend), Kernel: native.DefaultKernel()}
	sum.Paths, err = energy.Compare(ctx, frames, energy.Named{Name: sum.Reference, E: pool}, paths,
		func(name string) { fmt.Fprintf(env.stderr, "evaluating %s\n", name) })
	if err != nil {
		return err
	}

	w := summaryWriter(env, *asJSON)
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
	return maybeJSON(env, *asJSON, sum)
}

// checkPaths are the gobg paths that check compares with OpenMM.
func checkPaths(sys *forcefield.System, backend backends.Backend) ([]energy.Named, error) {
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
	return []energy.Named{{Name: "native-cpu", E: cpu}, {Name: "native-cpu-scalar", E: scalar}, {Name: "graph-f64", E: g64},
		{Name: "graph-f32", E: g32}}, nil
}
