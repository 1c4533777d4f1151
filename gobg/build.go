package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/plugin"
)

func init() {
	register(&command{
		name:    "build",
		summary: "build a peptide from its sequence with ideal Amber geometry",
		usage: `Usage: gobg build --sequence SEQ [--caps ace,nme|none] [--phi DEG --psi DEG] --out FILE.pdb
                  [--energy] [--json]

Builds the peptide SEQ (one-letter codes, e.g. A for alanine dipeptide with
caps) with every bond and angle at its amber99sb-ildn equilibrium value and
every residue at the given backbone dihedrals, and writes a PDB (into a
folder that must exist) that OpenMM's
ForceField('amber99sbildn.xml', 'amber99_obc.xml') parameterises. With
--energy the structure's OpenMM energy is reported.

Example:
  gobg build --sequence A --caps ace,nme --phi -60 --psi -45 --out ala2.pdb --json`,
		run: runBuild,
	})
}

type buildSummary struct {
	Out      string   `json:"out"`
	Sequence string   `json:"sequence"`
	Caps     bool     `json:"caps"`
	Residues int      `json:"residues"`
	Atoms    int      `json:"atoms"`
	Bonds    int      `json:"bonds"`
	Energy   *float64 `json:"openmm_energy_kj_mol,omitempty"`
}

func runBuild(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["build"]
	fs := newFlags(c, env)
	seq := fs.String("sequence", "", "one-letter amino-acid `sequence`")
	caps := fs.String("caps", "ace,nme", "chain ends: ace,nme (capped) or none (charged termini)")
	phi := fs.Float64("phi", -60, "backbone dihedral phi of every residue, `degrees`")
	psi := fs.Float64("psi", -45, "backbone dihedral psi of every residue, `degrees`")
	out := fs.String("out", "", "output PDB `file`")
	withEnergy := fs.Bool("energy", false, "report the OpenMM energy of the built structure")
	python := addPythonFlag(fs)
	asJSON := addJSONFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *seq == "" || *out == "" {
		return fmt.Errorf("%w: --sequence and --out are required", errUsage)
	}
	var capped bool
	switch strings.ToLower(strings.ReplaceAll(*caps, " ", "")) {
	case "ace,nme":
		capped = true
	case "none", "":
	default:
		return fmt.Errorf("%w: --caps must be ace,nme or none, not %q", errUsage, *caps)
	}
	if err := firstErr(finiteFloat("phi", *phi), finiteFloat("psi", *psi)); err != nil {
		return err
	}
	if err := writableOut("--out", *out); err != nil {
		return err
	}
	top, pos, err := ic.Build(strings.ToUpper(*seq), capped, *phi*math.Pi/180, *psi*math.Pi/180)
	if err != nil {
		return err
	}
	if err := molecule.WritePDBFile(*out, top, [][]molecule.Vec3{pos}, nil); err != nil {
		return err
	}
	s := buildSummary{Out: *out, Sequence: strings.ToUpper(*seq), Caps: capped,
		Residues: len(top.Residues), Atoms: len(top.Atoms), Bonds: len(top.Bonds)}
	if *withEnergy {
		*python = orDefaultPython(*python)
		pool, err := plugin.Start(ctx, plugin.Config{Python: *python, PDB: *out})
		if err != nil {
			return fmt.Errorf("start OpenMM plugin: %w", err)
		}
		defer pool.Close()
		res, err := pool.Evaluate(ctx, [][]molecule.Vec3{pos}, false)
		if err != nil {
			return err
		}
		if res.Errors[0] != nil {
			return fmt.Errorf("OpenMM energy of %s: %w", *out, res.Errors[0])
		}
		s.Energy = &res.Energies[0]
	}
	w := summaryWriter(env, *asJSON)
	fmt.Fprintf(w, "wrote %s: %d residues, %d atoms, %d bonds\n", s.Out, s.Residues, s.Atoms, s.Bonds)
	if s.Energy != nil {
		fmt.Fprintf(w, "OpenMM energy (amber99sbildn + amber99_obc): %.2f kJ/mol\n", *s.Energy)
	}
	return maybeJSON(env, *asJSON, s)
}
