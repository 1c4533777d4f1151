// Package testmodel builds small float64 generator files of alanine dipeptide
// from the shared reference MD, for tests only: its functions take a
// testing.TB and fail the test on any error. It exists so that the tests of
// several packages build their models one way.
package testmodel

import (
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// ALA2Frames returns the topology of the reference MD of alanine dipeptide
// (md/ala2 in the shared data; the test is skipped without it, see
// testenv.SharedData) and up to n of its frames: frames 0, stride,
// 2*stride, ... Only those frames are read.
func ALA2Frames(t testing.TB, n, stride int) (*molecule.Topology, [][]molecule.Vec3) {
	t.Helper()
	if n < 1 || stride < 1 {
		t.Fatalf("testmodel.ALA2Frames: n %d and stride %d must be positive", n, stride)
	}
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	topPath := filepath.Join(dir, "top.pdb")
	pdb, err := molecule.ReadPDBFile(topPath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := molecule.OpenDCD(filepath.Join(dir, "traj.dcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.CheckAtoms(topPath, len(pdb.Topology.Atoms)); err != nil {
		t.Fatal(err)
	}
	var frames [][]molecule.Vec3
	for k := 0; k < r.NumFrames() && len(frames) < n; k += stride {
		if err := r.Seek(k); err != nil {
			t.Fatal(err)
		}
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f.Positions)
	}
	return pdb.Topology, frames
}

// Options are a test model's settings.
type Options struct {
	// Mode is the internal-coordinate mode the spec is fitted in.
	Mode ic.Mode
	// Layers, Hidden (one hidden layer's width) and Bins shape the nsf
	// flow; 0 keeps model.DefaultConfig's value.
	Layers, Hidden, Bins int
	// Perturb, if positive, is the scale of the Gaussian noise added to
	// the weights (seeded by Seed), so that the flow is not the identity.
	Perturb float64
	Seed    uint64
}

// Build fits an internal-coordinate spec of top to frames and makes a
// float64 nsf flow over it with the default backend.
func Build(t testing.TB, top *molecule.Topology, frames [][]molecule.Vec3, o Options) (*model.Flow, *ic.Spec) {
	t.Helper()
	z, err := ic.NewZMatrix(top)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ic.FitSpec(z, frames, o.Mode)
	if err != nil {
		t.Fatal(err)
	}
	layout, err := model.LayoutFromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	backend := testenv.Backend(t)
	cfg := model.DefaultConfig(model.ArchNSF)
	if o.Layers > 0 {
		cfg.Layers = o.Layers
	}
	if o.Hidden > 0 {
		cfg.Hidden = []int{o.Hidden}
	}
	if o.Bins > 0 {
		cfg.Bins = o.Bins
	}
	f, err := model.New(backend, cfg, layout, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if o.Perturb > 0 {
		if err := f.Perturb(o.Perturb, o.Seed); err != nil {
			t.Fatal(err)
		}
	}
	return f, spec
}

// Save writes f and spec to a file called name in a temporary directory of
// the test and returns its path.
func Save(t testing.TB, f *model.Flow, spec *ic.Spec, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := model.Save(path, f, spec); err != nil {
		t.Fatal(err)
	}
	return path
}

// ALA2Renamed writes alanine dipeptide's MD topology (the shared top.pdb) as
// another tool might: named as Amber and the old PDB convention name the
// atoms (ACE's HH31..33, NME's CH3 and HH31..33, ALA's HN and 1HB..3HB) and
// each residue's atoms listed in reverse order. It returns the file and
// perm: atom i of the file is atom perm[i] of top.pdb. NME's methyl
// hydrogens keep top.pdb's numbering, which is the mirror of gobg build's.
func ALA2Renamed(t testing.TB, dir string) (path string, perm []int) {
	t.Helper()
	src, err := molecule.ReadPDBFile(filepath.Join(testenv.SharedData(t), "md", "ala2", "top.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{
		"ACE H1": "HH31", "ACE H2": "HH32", "ACE H3": "HH33",
		"NME C": "CH3", "NME H1": "HH31", "NME H2": "HH32", "NME H3": "HH33",
		"ALA H": "HN", "ALA HB1": "1HB", "ALA HB2": "2HB", "ALA HB3": "3HB",
	}
	out := &molecule.Topology{}
	for _, c := range src.Topology.Chains {
		nc := out.AddChain(c.ID)
		for _, r := range c.Residues {
			nr := out.AddResidue(nc, r.Name, r.Number, "")
			for k := len(r.Atoms) - 1; k >= 0; k-- {
				a := r.Atoms[k]
				n := a.Name
				if v, ok := names[r.Name+" "+n]; ok {
					n = v
				}
				out.AddAtom(nr, n, a.Element, 0)
				perm = append(perm, a.Index)
			}
		}
	}
	path = filepath.Join(dir, "ala2-renamed.pdb")
	if err := molecule.WritePDBFile(path, out, [][]molecule.Vec3{Permute(src.Models[0], perm)}, nil); err != nil {
		t.Fatal(err)
	}
	return path, perm
}

// Permute returns x[perm[0]], x[perm[1]], ...
func Permute(x []molecule.Vec3, perm []int) []molecule.Vec3 {
	y := make([]molecule.Vec3, len(perm))
	for i, j := range perm {
		y[i] = x[j]
	}
	return y
}

// SaveAt is Save for a model file that records the training temperature
// kelvin.
func SaveAt(t testing.TB, f *model.Flow, spec *ic.Spec, name string, kelvin float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := model.SaveWithInfo(path, f, spec, model.FileInfo{TemperatureK: kelvin}); err != nil {
		t.Fatal(err)
	}
	return path
}
