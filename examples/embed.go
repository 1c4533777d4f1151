// Package examples holds the configurations and small inputs that reproduce
// gobg's reported results, and embeds the default system so that the main
// command runs on a machine with no input files at all.
package examples

import _ "embed"

// Ala2PDB is alanine dipeptide (ACE-ALA-NME, 22 atoms, hydrogens included),
// minimised with amber14-all + implicit/obc2: gobg's embedded default system.
//
//go:embed ala2/ala2.pdb
var Ala2PDB []byte
