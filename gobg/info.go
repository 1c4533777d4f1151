package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
)

func init() {
	register(&command{
		name:    "info",
		summary: "describe a structure and its trajectories (chains, residues, atoms, bonds, frames)",
		usage: `Usage: gobg info --pdb FILE [--traj DCD ...] [--json]

Reads a PDB file, creates its bonds from residue templates (as OpenMM's
PDBFile does), and checks each DCD trajectory frame by frame against it:
atom count, complete frames, finite coordinates.

Example:
  gobg info --pdb ../shared/data/md/hp35/top.pdb --traj ../shared/data/md/hp35/traj.dcd --json`,
		run: runInfo,
	})
}

type chainInfo struct {
	ID       string `json:"id"`
	Residues int    `json:"residues"`
	Atoms    int    `json:"atoms"`
	Sequence string `json:"sequence"`
}

type trajInfo struct {
	Path     string `json:"path"`
	Frames   int    `json:"frames"`
	Atoms    int    `json:"atoms"`
	UnitCell bool   `json:"unit_cell"`
}

type infoSummary struct {
	PDB          string      `json:"pdb"`
	Chains       int         `json:"chains"`
	Residues     int         `json:"residues"`
	Atoms        int         `json:"atoms"`
	Bonds        int         `json:"bonds"`
	Models       int         `json:"models"`
	Frames       int         `json:"frames"`
	ChainList    []chainInfo `json:"chain_list"`
	Trajectories []trajInfo  `json:"trajectories"`
	Warnings     []string    `json:"warnings"`
}

func runInfo(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["info"]
	fs := newFlags(c, env)
	pdbPath := fs.String("pdb", "", "topology `file` (PDB)")
	var trajs stringList
	fs.Var(&trajs, "traj", "DCD trajectory `file` (repeatable)")
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pdbPath == "" {
		return fmt.Errorf("%w: --pdb is required", errUsage)
	}
	for _, p := range trajs {
		if err := inputDCD("--traj", p); err != nil {
			return err
		}
	}
	pdb, err := molecule.ReadPDBFile(*pdbPath)
	if err != nil {
		return err
	}
	top := pdb.Topology
	s := infoSummary{
		PDB: *pdbPath, Chains: len(top.Chains), Residues: len(top.Residues), Atoms: len(top.Atoms),
		Bonds: len(top.Bonds), Models: len(pdb.Models), Warnings: pdb.Warnings,
		ChainList: []chainInfo{}, Trajectories: []trajInfo{},
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	for _, ch := range top.Chains {
		ci := chainInfo{ID: ch.ID, Residues: len(ch.Residues)}
		names := make([]string, len(ch.Residues))
		for i, r := range ch.Residues {
			ci.Atoms += len(r.Atoms)
			names[i] = r.Name
		}
		ci.Sequence = strings.Join(names, " ")
		s.ChainList = append(s.ChainList, ci)
	}
	for _, path := range trajs {
		ti, err := scanTrajectory(ctx, path, *pdbPath, len(top.Atoms))
		if err != nil {
			return err
		}
		s.Trajectories = append(s.Trajectories, ti)
		s.Frames += ti.Frames
	}

	w := summaryWriter(env, *asJSON)
	fmt.Fprintf(w, "%s: %d chains, %d residues, %d atoms, %d bonds, %d models\n",
		s.PDB, s.Chains, s.Residues, s.Atoms, s.Bonds, s.Models)
	for _, ci := range s.ChainList {
		fmt.Fprintf(w, "  chain %q: %d residues, %d atoms: %s\n", ci.ID, ci.Residues, ci.Atoms, ci.Sequence)
	}
	for _, ti := range s.Trajectories {
		fmt.Fprintf(w, "  %s: %d frames, %d atoms, unit cell %v\n", ti.Path, ti.Frames, ti.Atoms, ti.UnitCell)
	}
	for _, wmsg := range s.Warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", wmsg)
	}
	return maybeJSON(env, *asJSON, s)
}

// scanTrajectory reads every frame of a DCD (DCDReader.Scan), so that a
// truncated file, NaN coordinates or a mismatch with the topology are found
// now rather than deep inside a training run.
func scanTrajectory(ctx context.Context, path, pdbPath string, atoms int) (trajInfo, error) {
	r, err := molecule.OpenDCD(path)
	if err != nil {
		return trajInfo{}, err
	}
	defer r.Close()
	if r.NumAtoms() != atoms {
		return trajInfo{}, fmt.Errorf("%s has %d atoms per frame, but %s has %d atoms", path, r.NumAtoms(), pdbPath, atoms)
	}
	ti := trajInfo{Path: path, Atoms: r.NumAtoms(), UnitCell: r.HasUnitCell()}
	ti.Frames, err = r.Scan(ctx)
	return ti, err
}
