package model

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
)

// system is a reference protein with a spec fitted to its PDB model(s).
type system struct {
	pdb  *molecule.PDB
	spec *ic.Spec
}

var (
	sysMu    sync.Mutex
	sysCache = map[string]*system{}
)

// loadSystem reads <name>.pdb from the shared data and fits a spec of the
// given mode to its model(s).
func loadSystem(t testing.TB, name string, mode ic.Mode) *system {
	t.Helper()
	sysMu.Lock()
	defer sysMu.Unlock()
	key := name + "/" + mode.String()
	if s, ok := sysCache[key]; ok {
		return s
	}
	p, err := molecule.ReadPDBFile(filepath.Join(testenv.SharedData(t), name+".pdb"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := ic.NewZMatrix(p.Topology)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	spec, err := ic.FitSpec(z, p.Models, mode)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s := &system{pdb: p, spec: spec}
	sysCache[key] = s
	return s
}

// smallConfig is a configuration small enough for quick tests.
func smallConfig(arch string) Config {
	c := DefaultConfig(arch)
	c.Bins = 5
	c.Layers = 4
	c.BackboneLayers = 2
	c.SideChainLayers = 2
	c.Hidden = []int{16}
	c.Embed = 16
	c.QKDim = 8
	c.GAULayers = 1
	c.RelPosClip = 4
	return c
}
