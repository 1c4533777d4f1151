package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/examples"
	"github.com/gobg/gobg/plugin"
)

func init() {
	register(&command{
		name:    "run",
		summary: "the main job on the embedded default system (alanine dipeptide), no input needed",
		usage: `Usage: gobg run [--out DIR] [--python PY] [--json]

Runs gobg's pipeline end to end on alanine dipeptide, embedded in the binary:
today that is topology and bonds, the OpenMM energy plugin (energies and
forces of the structure), and the slices listed in docs/status.md. Results go
to DIR; a summary is printed at the end.

Example:
  gobg run --out out/default --json`,
		run: runRun,
	})
}

type runSummary struct {
	Out        string   `json:"out"`
	System     string   `json:"system"`
	Atoms      int      `json:"atoms"`
	Residues   int      `json:"residues"`
	Bonds      int      `json:"bonds"`
	EnergyKJ   float64  `json:"openmm_energy_kj_mol"`
	ForceRMS   float64  `json:"openmm_force_rms_kj_mol_nm"`
	OpenMM     string   `json:"openmm_version"`
	Platform   string   `json:"openmm_platform"`
	Steps      []string `json:"steps"`
	WallSecond float64  `json:"wall_s"`
}

func runRun(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["run"]
	fs := newFlags(c, env)
	out := fs.String("out", filepath.Join("out", "default"), "output `dir`ectory")
	python := fs.String("python", "", "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *python == "" {
		*python = defaultPython()
	}
	start := time.Now()
	s := runSummary{Out: *out, System: "alanine dipeptide (ACE-ALA-NME, embedded)"}
	step := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		s.Steps = append(s.Steps, msg)
		fmt.Fprintf(env.stderr, "[%5.1fs] %s\n", time.Since(start).Seconds(), msg)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}

	pdb, err := molecule.ReadPDB(bytes.NewReader(examples.Ala2PDB), "embedded:ala2.pdb")
	if err != nil {
		return err
	}
	top := pdb.Topology
	s.Atoms, s.Residues, s.Bonds = len(top.Atoms), len(top.Residues), len(top.Bonds)
	pdbPath := filepath.Join(*out, "ala2.pdb")
	if err := molecule.WritePDBFile(pdbPath, top, pdb.Models[:1], pdb.Box); err != nil {
		return err
	}
	step("topology: %d residues, %d atoms, %d bonds from templates; wrote %s", s.Residues, s.Atoms, s.Bonds, pdbPath)

	pool, err := plugin.Start(ctx, plugin.Config{Python: *python, PDB: pdbPath, Workers: 1})
	if err != nil {
		return fmt.Errorf("start OpenMM plugin: %w", err)
	}
	defer pool.Close()
	info := pool.Info()
	s.OpenMM, s.Platform = info.GetOpenmmVersion(), info.GetPlatform()
	res, err := pool.Evaluate(ctx, [][]molecule.Vec3{pdb.Models[0]}, true)
	if err != nil {
		return fmt.Errorf("OpenMM energy: %w", err)
	}
	if res.Errors[0] != nil {
		return fmt.Errorf("OpenMM energy of the embedded structure: %w", res.Errors[0])
	}
	s.EnergyKJ = res.Energies[0]
	s.ForceRMS = rms(res.Forces[0])
	step("OpenMM %s (%s): U = %.4f kJ/mol (%.3f kT at 300 K), force RMS %.3f kJ/mol/nm",
		s.OpenMM, s.Platform, s.EnergyKJ, s.EnergyKJ/energy.KT(300), s.ForceRMS)

	s.WallSecond = time.Since(start).Seconds()
	fmt.Fprintf(env.stderr, "done in %.1f s; results in %s\n", s.WallSecond, *out)
	if *asJSON {
		return printJSON(env, s)
	}
	return nil
}

// rms is the root mean square of the per-atom vector norms.
func rms(v []molecule.Vec3) float64 {
	var sum float64
	for _, f := range v {
		sum += f[0]*f[0] + f[1]*f[1] + f[2]*f[2]
	}
	if len(v) == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(len(v)))
}
