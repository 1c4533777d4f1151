// Package reftest is test support for the tests of package native and its
// subpackages: it runs native's testdata/reference.py (amber99sbildn +
// amber99_obc System, frames spread over an MD trajectory, OpenMM Reference
// platform force group by force group) and reads what it writes.
//
// It does not import package native, whose own tests are in-package and
// would otherwise form an import cycle; callers pass the number of force
// groups. It lives in internal/, not under energy/, because it uses
// testenv, which reaches flow/nn for the tests' GoMLX backends, and no
// package under energy/ may depend on the flow packages.
package reftest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// Data is a System with MD frames and OpenMM Reference-platform energies and
// forces per frame and per force group (in the caller's Term order, then the
// total).
type Data struct {
	Sys      *forcefield.System
	Pos      [][]molecule.Vec3   // [frame][atom]
	Energies [][]float64         // [frame][group]
	Forces   [][][]molecule.Vec3 // [frame][group][atom]
}

// ToVec3 groups flat x, y, z values into vectors.
func ToVec3(v []float64) []molecule.Vec3 {
	out := make([]molecule.Vec3, len(v)/3)
	for i := range out {
		out[i] = molecule.Vec3{v[3*i], v[3*i+1], v[3*i+2]}
	}
	return out
}

// Reference runs the reference.py at path script for the MD data of one
// system (testenv.SharedData's md/<system>), asking for frames frames and
// passing extra as further arguments; groups is the number of force groups
// the script writes per frame, the total included.
func Reference(t testing.TB, script, system string, frames, groups int, extra ...string) *Data {
	t.Helper()
	md := filepath.Join(testenv.SharedData(t), "md", system)
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := append([]string{filepath.Join(md, "top.pdb"), filepath.Join(md, "traj.dcd"), strconv.Itoa(frames), dir}, extra...)
	testenv.RunPython(t, string(src), args...)
	shape, err := os.ReadFile(filepath.Join(dir, "shape.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Fields(string(shape))
	if len(out) != 2 {
		t.Fatalf("reference.py wrote shape %q, want frames and atoms", out)
	}
	nf, err1 := strconv.Atoi(out[0])
	n, err2 := strconv.Atoi(out[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("reference.py wrote shape %q, want frames and atoms", out)
	}
	sys, err := forcefield.ReadSystemXMLFile(filepath.Join(dir, "system.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if sys.NumParticles() != n {
		t.Fatalf("system has %d particles, reference.py says %d", sys.NumParticles(), n)
	}
	pos := testenv.ReadFloat64s(t, filepath.Join(dir, "pos.bin"))
	en := testenv.ReadFloat64s(t, filepath.Join(dir, "energies.bin"))
	fo := testenv.ReadFloat64s(t, filepath.Join(dir, "forces.bin"))
	g := groups
	if len(pos) != nf*n*3 || len(en) != nf*g || len(fo) != nf*g*n*3 {
		t.Fatalf("reference arrays have sizes %d, %d, %d for %d frames of %d atoms and %d force groups", len(pos), len(en), len(fo), nf, n, g)
	}
	d := &Data{Sys: sys}
	for k := range nf {
		d.Pos = append(d.Pos, ToVec3(pos[k*n*3:(k+1)*n*3]))
		e := make([]float64, g)
		f := make([][]molecule.Vec3, g)
		for j := range g {
			e[j] = en[k*g+j]
			off := (k*g + j) * n * 3
			f[j] = ToVec3(fo[off : off+n*3])
		}
		d.Energies = append(d.Energies, e)
		d.Forces = append(d.Forces, f)
	}
	return d
}
