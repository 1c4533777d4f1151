package eval

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// mdData is one reference MD trajectory of the shared data.
type mdData struct {
	top      *molecule.Topology
	frames   [][]molecule.Vec3
	energies []float64
	dir      string
}

var mdCache = map[string]*mdData{}

// loadMD reads md/<sys>/{top.pdb, traj.dcd, energies.csv} of the shared
// data (skipping the test when the data are absent).
func loadMD(t testing.TB, sys string) *mdData {
	t.Helper()
	if d, ok := mdCache[sys]; ok {
		return d
	}
	dir := filepath.Join(testenv.SharedData(t), "md", sys)
	pdb, err := molecule.ReadPDBFile(filepath.Join(dir, "top.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	frames, err := molecule.ReadDCDFile(filepath.Join(dir, "traj.dcd"))
	if err != nil {
		t.Fatal(err)
	}
	d := &mdData{top: pdb.Topology, dir: dir}
	for _, f := range frames {
		d.frames = append(d.frames, f.Positions)
	}
	d.energies = readEnergiesCSV(t, filepath.Join(dir, "energies.csv"))
	if len(d.energies) != len(d.frames) {
		t.Fatalf("%s: %d energies for %d frames", dir, len(d.energies), len(d.frames))
	}
	mdCache[sys] = d
	return d
}

// readEnergiesCSV reads the "frame,potential_kj_mol" file of the MD data.
func readEnergiesCSV(t testing.TB, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var e []float64
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if line == 1 {
			continue
		}
		parts := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(parts) != 2 {
			t.Fatalf("%s:%d: %q", path, line, sc.Text())
		}
		v, err := strconv.ParseFloat(parts[1], 64)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		e = append(e, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return e
}

// randomRotation returns a uniformly random rotation matrix (from a random
// unit quaternion).
func randomRotation(rng *rand.Rand) [3][3]float64 {
	q := [4]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	n := math.Sqrt(q[0]*q[0] + q[1]*q[1] + q[2]*q[2] + q[3]*q[3])
	w, x, y, z := q[0]/n, q[1]/n, q[2]/n, q[3]/n
	return [3][3]float64{
		{1 - 2*(y*y+z*z), 2 * (x*y - z*w), 2 * (x*z + y*w)},
		{2 * (x*y + z*w), 1 - 2*(x*x+z*z), 2 * (y*z - x*w)},
		{2 * (x*z - y*w), 2 * (y*z + x*w), 1 - 2*(x*x+y*y)},
	}
}

// rigidMove returns x rotated by a random rotation and translated by a
// random vector of up to 5 nm.
func rigidMove(rng *rand.Rand, x []molecule.Vec3) []molecule.Vec3 {
	r := randomRotation(rng)
	d := molecule.Vec3{10*rng.Float64() - 5, 10*rng.Float64() - 5, 10*rng.Float64() - 5}
	out := make([]molecule.Vec3, len(x))
	for i, p := range x {
		for a := 0; a < 3; a++ {
			out[i][a] = r[a][0]*p[0] + r[a][1]*p[1] + r[a][2]*p[2] + d[a]
		}
	}
	return out
}

// caChain makes a topology of n glycine-named residues with one carbon
// named CA each, bonded in a chain.
func caChain(n int) *molecule.Topology {
	top := &molecule.Topology{}
	c := top.AddChain("A")
	for i := 0; i < n; i++ {
		r := top.AddResidue(c, "GLY", i+1, "")
		top.AddAtom(r, "CA", molecule.ElementBySymbol("C"), i+1)
		if i > 0 {
			top.AddBond(i-1, i)
		}
	}
	return top
}

// pythonResult returns what follows "RESULT " on the output line of a
// script that starts so: mdtraj's DCD plugin writes to the C stdout too.
func pythonResult(t testing.TB, out []byte) []byte {
	t.Helper()
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "RESULT "); ok {
			return []byte(r)
		}
	}
	t.Fatalf("no RESULT line in the script's output:\n%s", out)
	return nil
}
