package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/generator"
)

// besideTopology is the PDB that describes a DCD's atoms when none is named:
// FILE.pdb beside FILE.dcd (what gobg sample writes), else top.pdb in the
// DCD's folder (what gobg simulate and gobg mcmc write).
func besideTopology(dcd string) (string, error) {
	cands := []string{trimExt(dcd) + ".pdb", filepath.Join(filepath.Dir(dcd), "top.pdb")}
	for _, p := range cands {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s: a DCD holds no atom names, so its atoms cannot be paired with the model's without "+
		"the topology it was written with; none found beside it (%s, %s): give it with --data-top PDB",
		errUsage, dcd, cands[0], cands[1])
}

// dataTopologies returns the topology PDB of each trajectory: tops names one
// for all, one per trajectory, or none (each found beside its DCD).
func dataTopologies(trajs, tops []string) ([]string, error) {
	out := make([]string, len(trajs))
	switch len(tops) {
	case 0:
		for i, d := range trajs {
			var err error
			if out[i], err = besideTopology(d); err != nil {
				return nil, err
			}
		}
	case 1:
		for i := range trajs {
			out[i] = tops[0]
		}
	case len(trajs):
		copy(out, tops)
	default:
		return nil, fmt.Errorf("%w: %d --data-top for %d --data: give one for all, or one per --data", errUsage, len(tops), len(trajs))
	}
	return out, nil
}

// matchToModel reads a topology PDB and pairs its atoms with the model's
// (pairWithModel).
func matchToModel(w io.Writer, g *generator.Generator, pdbPath string) (*molecule.AtomMatch, *molecule.PDB, error) {
	p, err := molecule.ReadPDBFile(pdbPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", pdbPath, err)
	}
	m, err := pairWithModel(w, g, pdbPath, p, " and reordered into its order")
	return m, p, err
}

// pairWithModel pairs the atoms of p, read from pdbPath, with the model's
// (generator.MatchAtoms), saying on w when it had to reorder them (with
// reordered, what becomes of the structures) or to pair a hydrogen group
// by its geometry rather than its names.
func pairWithModel(w io.Writer, g *generator.Generator, pdbPath string, p *molecule.PDB, reordered string) (*molecule.AtomMatch, error) {
	m, err := g.MatchAtoms(molecule.AtomSource{File: pdbPath, Top: p.Topology, Positions: p.Models[0]})
	if err != nil {
		return nil, err
	}
	if !m.IsIdentity() {
		fmt.Fprintf(w, "atoms of %s paired with the model's by name%s\n", pdbPath, reordered)
	}
	for _, r := range m.Reoriented {
		fmt.Fprintf(w, "hydrogens of %s paired with the model's by their geometry, not their names: %s\n", pdbPath, r)
	}
	return m, nil
}
