package gobgcore

import (
	"fmt"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
)

// Structure is a PDB file as gobg reads it (molecule.ReadPDBFile): the
// topology with bonds from gobg's residue templates and CONECT records, the
// positions of every model, and the box.
type Structure struct {
	pdb  *molecule.PDB
	path string
}

// ReadPDB reads a PDB file.
func ReadPDB(path string) (*Structure, error) {
	p, err := molecule.ReadPDBFile(path)
	if err != nil {
		return nil, fmt.Errorf("read PDB %s: %w", path, err)
	}
	return &Structure{pdb: p, path: path}, nil
}

// NumAtoms is the number of atoms.
func (s *Structure) NumAtoms() int { return len(s.pdb.Topology.Atoms) }

// NumResidues is the number of residues.
func (s *Structure) NumResidues() int { return len(s.pdb.Topology.Residues) }

// NumChains is the number of chains.
func (s *Structure) NumChains() int { return len(s.pdb.Topology.Chains) }

// NumBonds is the number of bonds.
func (s *Structure) NumBonds() int { return len(s.pdb.Topology.Bonds) }

// NumModels is the number of models (position sets).
func (s *Structure) NumModels() int { return len(s.pdb.Models) }

// HasBox reports whether the file has a periodic box (CRYST1).
func (s *Structure) HasBox() bool { return s.pdb.Box != nil }

// joined lists one string per item, newline-separated. None of the strings
// joined here (PDB fields of fixed width) can hold a newline.
func joined[T any](items []T, f func(T) string) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f(it))
	}
	return b.String()
}

// AtomNames lists the atom names, one per line, in atom order.
func (s *Structure) AtomNames() string {
	return joined(s.pdb.Topology.Atoms, func(a *molecule.Atom) string { return a.Name })
}

// AtomElements lists the atoms' element symbols ("C", "Cl"), one per line; a
// line is empty where the element is unknown.
func (s *Structure) AtomElements() string {
	return joined(s.pdb.Topology.Atoms, func(a *molecule.Atom) string {
		if a.Element == nil {
			return ""
		}
		return a.Element.Symbol
	})
}

// ResidueNames lists the residue names, one per line, in residue order.
func (s *Structure) ResidueNames() string {
	return joined(s.pdb.Topology.Residues, func(r *molecule.Residue) string { return r.Name })
}

// ResidueInsertionCodes lists the residues' insertion codes, one per line
// (empty when blank).
func (s *Structure) ResidueInsertionCodes() string {
	return joined(s.pdb.Topology.Residues, func(r *molecule.Residue) string { return r.InsertionCode })
}

// ChainIDs lists the chain IDs, one per line, in chain order.
func (s *Structure) ChainIDs() string {
	return joined(s.pdb.Topology.Chains, func(c *molecule.Chain) string { return c.ID })
}

// Warnings lists what reading could not do (bonds that templates could not
// create, ignored CONECT records), one per line; "" when none.
func (s *Structure) Warnings() string {
	return joined(s.pdb.Warnings, func(w string) string { return strings.ReplaceAll(w, "\n", " ") })
}

// AtomTableInto fills two int64 buffers of NumAtoms elements: each atom's
// residue index and its serial number from the file (0 if none).
func (s *Structure) AtomTableInto(resAddr uintptr, nRes int, serialAddr uintptr, nSerial int) error {
	n := s.NumAtoms()
	res, err := int64s(resAddr, nRes, n, "atom residues")
	if err != nil {
		return err
	}
	serial, err := int64s(serialAddr, nSerial, n, "atom serials")
	if err != nil {
		return err
	}
	for i, a := range s.pdb.Topology.Atoms {
		res[i] = int64(a.Residue.Index)
		serial[i] = int64(a.Serial)
	}
	return nil
}

// ResidueTableInto fills three int64 buffers of NumResidues elements: each
// residue's chain index, its number (resSeq) and 1 for HETATM residues, else 0.
func (s *Structure) ResidueTableInto(chainAddr uintptr, nChain int, numAddr uintptr, nNum int, hetAddr uintptr, nHet int) error {
	n := s.NumResidues()
	chain, err := int64s(chainAddr, nChain, n, "residue chains")
	if err != nil {
		return err
	}
	num, err := int64s(numAddr, nNum, n, "residue numbers")
	if err != nil {
		return err
	}
	het, err := int64s(hetAddr, nHet, n, "residue hetero flags")
	if err != nil {
		return err
	}
	for i, r := range s.pdb.Topology.Residues {
		chain[i] = int64(r.Chain.Index)
		num[i] = int64(r.Number)
		het[i] = 0
		if r.Hetero {
			het[i] = 1
		}
	}
	return nil
}

// BondsInto fills an int64 buffer of 2·NumBonds elements with the bonds as
// (i, j) pairs of atom indices, i < j.
func (s *Structure) BondsInto(addr uintptr, n int) error {
	b, err := int64s(addr, n, 2*s.NumBonds(), "bonds")
	if err != nil {
		return err
	}
	for k, bd := range s.pdb.Topology.Bonds {
		b[2*k], b[2*k+1] = int64(bd.I), int64(bd.J)
	}
	return nil
}

// PositionsInto copies model k's positions (nm) into a float64 buffer of
// 3·NumAtoms elements, x, y, z per atom.
func (s *Structure) PositionsInto(k int, addr uintptr, n int) error {
	if k < 0 || k >= len(s.pdb.Models) {
		return fmt.Errorf("%s: model %d: file has %d models", s.path, k, len(s.pdb.Models))
	}
	dst, err := vec3s(addr, n, s.NumAtoms(), "positions")
	if err != nil {
		return err
	}
	copy(dst, s.pdb.Models[k])
	return nil
}

// BoxInto copies the periodic box vectors (nm, one per row) into a float64
// buffer of 9 elements; an error if the file has no box.
func (s *Structure) BoxInto(addr uintptr, n int) error {
	if s.pdb.Box == nil {
		return fmt.Errorf("%s: no periodic box (no CRYST1 record)", s.path)
	}
	dst, err := vec3s(addr, n, 3, "box")
	if err != nil {
		return err
	}
	copy(dst, s.pdb.Box[:])
	return nil
}
