package provider_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/provider"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/plugin"
)

// TestStart starts every provider for alanine dipeptide, from the PDB file,
// from a topology in memory and from a System XML file, and compares their
// energies on MD frames with the native energy of the System XML file:
// identical for the native ones (the same System), within the documented
// agreement of the native energy with OpenMM's Reference platform (1.4e-13
// relative, docs/status.md) for the OpenMM one.
func TestStart(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(testenv.SharedData(t), "md", "ala2")
	pdbPath := filepath.Join(dir, "top.pdb")
	pdb, err := molecule.ReadPDBFile(pdbPath)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := molecule.ReadDCDFile(filepath.Join(dir, "traj.dcd"))
	if err != nil {
		t.Fatal(err)
	}
	var pos [][]molecule.Vec3
	for i := 0; i < len(frames) && len(pos) < 8; i += len(frames) / 8 {
		pos = append(pos, frames[i].Positions)
	}
	py := testenv.Python(t)
	xml, err := plugin.FetchSystemXML(ctx, plugin.Config{Python: py, PDB: pdbPath})
	if err != nil {
		t.Fatal(err)
	}
	xmlPath := filepath.Join(t.TempDir(), "system.xml")
	if err := os.WriteFile(xmlPath, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	energies := func(t *testing.T, s provider.Spec) []float64 {
		t.Helper()
		e, stop, err := provider.Start(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		res, err := e.Evaluate(ctx, pos, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range res.Errors {
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		return res.Energies
	}
	// No Python is started for a System XML file: the interpreter does not exist.
	want := energies(t, provider.Spec{Name: provider.Native, SystemXML: xmlPath, Python: filepath.Join(t.TempDir(), "no-python")})

	for _, c := range []struct {
		name string
		spec provider.Spec
		tol  float64 // relative
	}{
		{"native from the PDB file", provider.Spec{Name: provider.Native, PDB: pdbPath, Python: py, Workers: 1}, 0},
		{"native from a topology", provider.Spec{Name: "Native", Topology: pdb.Topology, Positions: pdb.Models[0], Python: py}, 0},
		{"openmm", provider.Spec{Name: provider.OpenMM, PDB: pdbPath, Python: py, Platform: "Reference", Workers: 2}, 1e-11},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := energies(t, c.spec)
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(got[i]-want[i])/math.Abs(want[i]))
			}
			t.Logf("worst relative difference from the System XML's native energy: %.2g", worst)
			if worst > c.tol {
				t.Errorf("energies %v, want %v (relative tolerance %g)", got, want, c.tol)
			}
		})
	}

	for _, c := range []struct {
		name string
		spec provider.Spec
		want string
	}{
		{"unknown name", provider.Spec{Name: "amber", PDB: pdbPath}, `"amber"`},
		{"System XML for openmm", provider.Spec{Name: provider.OpenMM, SystemXML: xmlPath}, "native"},
		{"missing System XML", provider.Spec{Name: provider.Native, SystemXML: xmlPath + ".missing"}, "system.xml.missing"},
		{"no structure", provider.Spec{Name: provider.Native, Python: py}, "no PDB file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := provider.Start(ctx, c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if unknown := c.name == "unknown name"; errors.Is(err, provider.ErrUnknown) != unknown {
				t.Errorf("errors.Is(err, ErrUnknown) = %v, want %v", !unknown, unknown)
			}
		})
	}
}
