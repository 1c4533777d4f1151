// Package molecule is gobg's model of a molecular system: a topology of chains,
// residues, atoms and bonds (with bonds from residue templates), and the PDB and
// DCD formats that carry topologies and trajectories in and out.
//
// Units follow OpenMM: positions are in nanometres everywhere inside gobg; the
// Ångström values of PDB and DCD files are converted at the file boundary.
package molecule

import (
	"fmt"
	"slices"
)

// Vec3 is one position in nm.
type Vec3 = [3]float64

// Atom is one atom of a topology. Index is its position in Topology.Atoms and
// in every position array that belongs to the topology.
type Atom struct {
	Index   int
	Name    string
	Element *Element // nil when the element is unknown
	Residue *Residue
	Serial  int // the serial number read from a file (0 if none)
}

// Residue is one residue: a list of atoms that belong together, in file order.
type Residue struct {
	Index         int
	Name          string
	Number        int    // resSeq in a PDB file
	InsertionCode string // PDB iCode, "" when blank
	Chain         *Chain
	Atoms         []*Atom
	Hetero        bool // read from HETATM records
}

// Chain is one chain of residues.
type Chain struct {
	Index    int
	ID       string
	Residues []*Residue
}

// Bond joins two atoms by index, I < J.
type Bond struct{ I, J int }

// Topology holds the chains, residues, atoms and bonds of a system.
type Topology struct {
	Chains   []*Chain
	Residues []*Residue
	Atoms    []*Atom
	Bonds    []Bond
}

// AddChain appends an empty chain.
func (t *Topology) AddChain(id string) *Chain {
	c := &Chain{Index: len(t.Chains), ID: id}
	t.Chains = append(t.Chains, c)
	return c
}

// AddResidue appends a residue to chain c (which must be the last chain).
func (t *Topology) AddResidue(c *Chain, name string, number int, icode string) *Residue {
	r := &Residue{Index: len(t.Residues), Name: name, Number: number, InsertionCode: icode, Chain: c}
	t.Residues = append(t.Residues, r)
	c.Residues = append(c.Residues, r)
	return r
}

// AddAtom appends an atom to residue r (which must be the last residue).
func (t *Topology) AddAtom(r *Residue, name string, el *Element, serial int) *Atom {
	a := &Atom{Index: len(t.Atoms), Name: name, Element: el, Residue: r, Serial: serial}
	t.Atoms = append(t.Atoms, a)
	r.Atoms = append(r.Atoms, a)
	return a
}

// AddBond records a bond between atoms i and j (order does not matter).
func (t *Topology) AddBond(i, j int) {
	if i > j {
		i, j = j, i
	}
	t.Bonds = append(t.Bonds, Bond{i, j})
}

// NumAtoms is the number of atoms.
func (t *Topology) NumAtoms() int { return len(t.Atoms) }

// AtomByName returns the atom of residue r with the given name, or nil.
func (r *Residue) AtomByName(name string) *Atom {
	for _, a := range r.Atoms {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// String names the residue as a chemist reads it in an error: "ALA 12 (chain A)".
func (r *Residue) String() string {
	cid := ""
	if r.Chain != nil {
		cid = r.Chain.ID
	}
	return fmt.Sprintf("%s %d%s (chain %q)", r.Name, r.Number, r.InsertionCode, cid)
}

// Neighbors returns, for each atom, the indices of the atoms bonded to it, in
// increasing order.
func (t *Topology) Neighbors() [][]int {
	nb := make([][]int, len(t.Atoms))
	for _, b := range t.Bonds {
		nb[b.I] = append(nb[b.I], b.J)
		nb[b.J] = append(nb[b.J], b.I)
	}
	for _, l := range nb {
		slices.Sort(l)
	}
	return nb
}

// Masses returns each atom's mass in daltons (0 where the element is unknown).
func (t *Topology) Masses() []float64 {
	m := make([]float64, len(t.Atoms))
	for i, a := range t.Atoms {
		if a.Element != nil {
			m[i] = a.Element.Mass
		}
	}
	return m
}
