package plugin

import (
	"context"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// Pools shared by tests that only read from them; TestMain closes them.
var (
	sharedMu    sync.Mutex
	sharedPools = map[string]*Pool{}
)

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv+"LISTEN") != "" {
		// This test binary was started as an energy server (startServer).
		os.Exit(serveMain())
	}
	code := m.Run()
	for _, p := range sharedPools {
		p.Close()
	}
	os.Exit(code)
}

// testConfig fills in what every test pool needs: the project's Python, the
// worker script of this checkout (not the embedded copy), a quiet logger.
func testConfig(t testing.TB, cfg Config) Config {
	t.Helper()
	cfg.Python = testenv.Python(t)
	if cfg.Server == "" {
		cfg.Server = filepath.Join(testenv.Root(), "plugin", "openmm", "server.py")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return cfg
}

// mdTop is the topology PDB of a reference MD system.
func mdTop(t testing.TB, sys string) string {
	return filepath.Join(testenv.SharedData(t), "md", sys, "top.pdb")
}

// startPool starts a pool that the test owns and closes.
func startPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	p, err := Start(context.Background(), testConfig(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// sharedPool returns a Reference-platform pool with two workers for an MD
// system, started once per test binary.
func sharedPool(t testing.TB, sys string) *Pool {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if p := sharedPools[sys]; p != nil {
		return p
	}
	p, err := Start(context.Background(), testConfig(t, Config{PDB: mdTop(t, sys), Platform: "Reference", Workers: 2}))
	if err != nil {
		t.Fatal(err)
	}
	sharedPools[sys] = p
	return p
}

// Frames of the reference MD, read once per test binary with mdtraj (an
// independent DCD reader), all of them: later selections cost nothing.
var (
	framesMu    sync.Mutex
	framesCache = map[string][][]molecule.Vec3{}
)

const framesScript = `
import sys
import mdtraj
traj = mdtraj.load(sys.argv[2], top=sys.argv[1])
traj.xyz.astype("<f8").tofile(sys.argv[3])  # nm
print(traj.n_frames, traj.n_atoms)
`

// mdFrames returns frames idx of md/<sys>/traj.dcd (nm) and the number of
// frames in the file.
func mdFrames(t testing.TB, sys string, idx []int) ([][]molecule.Vec3, int) {
	t.Helper()
	framesMu.Lock()
	// Unlock on every exit: t.Fatal leaves through runtime.Goexit, and a held
	// lock would hang every later test.
	defer framesMu.Unlock()
	all, ok := framesCache[sys]
	if !ok {
		dir := filepath.Join(testenv.SharedData(t), "md", sys)
		out := filepath.Join(t.TempDir(), "frames.bin")
		var nf, na int
		res := testenv.RunPython(t, framesScript, filepath.Join(dir, "top.pdb"), filepath.Join(dir, "traj.dcd"), out)
		lines := strings.Split(strings.TrimSpace(string(res)), "\n")
		if _, err := fmt.Sscan(lines[len(lines)-1], &nf, &na); err != nil {
			t.Fatalf("frames script printed %q: %v", res, err)
		}
		all = readVecs(t, out, nf, na)
		framesCache[sys] = all
	}
	sel := make([][]molecule.Vec3, len(idx))
	for i, k := range idx {
		sel[i] = all[k]
	}
	return sel, len(all)
}

const directScript = `
import json, sys
import numpy as np
import openmm, openmm.app as app, openmm.unit as unit
top, posfile, out = sys.argv[1], sys.argv[2], sys.argv[3]
pdb = app.PDBFile(top)
ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None, rigidWater=False)
n = system.getNumParticles()
xyz = np.fromfile(posfile, dtype="<f8").reshape(-1, n, 3)
ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
e, f = [], []
for x in xyz:
    ctx.setPositions(x * unit.nanometer)
    s = ctx.getState(getEnergy=True, getForces=True)
    e.append(s.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    f.append(s.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
np.array(e, dtype="<f8").tofile(out + "/energy.bin")
np.array(f, dtype="<f8").reshape(-1).tofile(out + "/forces.bin")
print(n)
`

// directOpenMM evaluates energies and forces with OpenMM in a Python process
// of its own, on the Reference platform and a System that the script builds
// itself from the PDB (amber99sbildn + amber99_obc, NoCutoff, no
// constraints): the worker is not involved.
func directOpenMM(t testing.TB, top string, pos [][]molecule.Vec3) ([]float64, [][]molecule.Vec3) {
	t.Helper()
	tmp := t.TempDir()
	n := len(pos[0])
	posfile := filepath.Join(tmp, "pos.bin")
	if err := os.WriteFile(posfile, encodePositions(pos, n), 0o644); err != nil {
		t.Fatal(err)
	}
	out := testenv.RunPython(t, directScript, top, posfile, tmp)
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(n) {
		t.Fatalf("OpenMM's System has %s atoms, the frames %d", got, n)
	}
	return readFloats(t, filepath.Join(tmp, "energy.bin"), len(pos)), readVecs(t, filepath.Join(tmp, "forces.bin"), len(pos), n)
}

func readFloats(t testing.TB, path string, n int) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8*n {
		t.Fatalf("%s: %d bytes, want %d", path, len(b), 8*n)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

func readVecs(t testing.TB, path string, frames, atoms int) [][]molecule.Vec3 {
	t.Helper()
	flat := readFloats(t, path, frames*atoms*3)
	out := make([][]molecule.Vec3, frames)
	for f := range out {
		out[f] = make([]molecule.Vec3, atoms)
		for a := range out[f] {
			o := 3 * (f*atoms + a)
			out[f][a] = molecule.Vec3{flat[o], flat[o+1], flat[o+2]}
		}
	}
	return out
}

// recordedEnergies reads md/<sys>/energies.csv (frame,potential_kj_mol).
func recordedEnergies(t testing.TB, sys string) map[int]float64 {
	t.Helper()
	path := filepath.Join(testenv.SharedData(t), "md", sys, "energies.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	e := make(map[int]float64, len(rows))
	for i, row := range rows[1:] {
		if len(row) != 2 {
			t.Fatalf("%s:%d: %d fields", path, i+2, len(row))
		}
		frame, err1 := strconv.Atoi(row[0])
		v, err2 := strconv.ParseFloat(row[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s:%d: %q", path, i+2, row)
		}
		e[frame] = v
	}
	return e
}

// spread returns n frame indices spread evenly over total frames.
func spread(n, total int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i * total / n
	}
	return idx
}

func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(b), 1e-300) }

func maxAbsVec(f []molecule.Vec3) float64 {
	m := 0.0
	for _, v := range f {
		for _, c := range v {
			m = math.Max(m, math.Abs(c))
		}
	}
	return m
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
