package ic

import (
	"fmt"
	"sort"

	"github.com/gobg/gobg/energy/molecule"
)

// Entry is one row of the Z-matrix. Atom is placed at distance r from Bond,
// at the angle theta = angle(Atom, Bond, Angle) (vertex Bond), and at the
// dihedral phi = dihedral(Torsion, Angle, Bond, Atom). All four are topology
// atom indices; the first entry has no references and the second and third
// have only some of them (-1 for the missing ones).
type Entry struct {
	Atom, Bond, Angle, Torsion int
	// Improper is true when Torsion is bonded to Bond (a sibling of Atom)
	// rather than to Angle: the dihedral then measures where Atom sits
	// relative to a branch that is already placed.
	Improper bool
	// Layer is the placement layer: 0, 1, 2 for the frame atoms and
	// 1 + the largest layer of the three references for the others. All atoms
	// of one layer can be placed at once.
	Layer int
}

// ZMatrix is the internal-coordinate description of a topology: one entry
// per atom, in placement order, and the 3N-6 coordinates the entries define
// (see Coord for their order).
type ZMatrix struct {
	Top     *molecule.Topology
	Entries []Entry
	pos     []int // pos[atom]: index of the atom's entry
	coords  []Coord
	layers  int
}

// NumAtoms is the number of atoms N.
func (z *ZMatrix) NumAtoms() int { return len(z.Entries) }

// NumCoords is the number of internal coordinates D = 3N-6.
func (z *ZMatrix) NumCoords() int { return len(z.coords) }

// Coords describes each internal coordinate; index k of the returned slice is
// column k of every internal-coordinate array. The slice must not be changed.
func (z *ZMatrix) Coords() []Coord { return z.coords }

// NumLayers is the number of placement layers (the depth of the NeRF
// recursion), counting the three frame layers.
func (z *ZMatrix) NumLayers() int { return z.layers }

// Position returns the index of atom's entry in Entries.
func (z *ZMatrix) Position(atom int) int { return z.pos[atom] }

// Coordinate layout: bonds of entries 1..N-1, then angles of entries
// 2..N-1, then torsions of entries 3..N-1.

// BondIndex is the coordinate index of entry p's bond length (-1 for p = 0).
func (z *ZMatrix) BondIndex(p int) int {
	if p < 1 {
		return -1
	}
	return p - 1
}

// AngleIndex is the coordinate index of entry p's angle (-1 for p < 2).
func (z *ZMatrix) AngleIndex(p int) int {
	if p < 2 {
		return -1
	}
	return len(z.Entries) - 1 + p - 2
}

// TorsionIndex is the coordinate index of entry p's torsion (-1 for p < 3).
func (z *ZMatrix) TorsionIndex(p int) int {
	if p < 3 {
		return -1
	}
	return 2*len(z.Entries) - 3 + p - 3
}

// builder holds the state of one Z-matrix construction.
type builder struct {
	top    *molecule.Topology
	nb     [][]int
	pos    []int // -1 until placed
	order  []int
	parent []int  // atom the entry is bonded to (its Bond reference)
	pseudo []bool // the parent link is not a bond (first atom of a later chain)
}

// NewZMatrix builds the Z-matrix of a protein topology whose bonds are set
// (from residue templates). The rules are in the package documentation.
// It refuses topologies it cannot describe correctly: residues other than
// the standard amino acids and the ACE/NME caps, residues missing heavy
// atoms, chains without a peptide bond between consecutive residues,
// residues without hydrogens, and atoms that no bond reaches.
func NewZMatrix(top *molecule.Topology) (*ZMatrix, error) {
	if top == nil || len(top.Atoms) < 3 {
		return nil, fmt.Errorf("ic: a Z-matrix needs at least 3 atoms")
	}
	if len(top.Bonds) == 0 {
		return nil, fmt.Errorf("ic: topology has no bonds (read it with residue templates)")
	}
	for _, r := range top.Residues {
		if err := checkResidue(top, r); err != nil {
			return nil, err
		}
	}
	b := &builder{top: top, nb: top.Neighbors()}
	n := len(top.Atoms)
	b.pos = make([]int, n)
	b.parent = make([]int, n)
	b.pseudo = make([]bool, n)
	for i := range b.pos {
		b.pos[i], b.parent[i] = -1, -1
	}
	if err := b.placeBackbone(); err != nil {
		return nil, err
	}
	if err := b.checkHydrogens(); err != nil {
		return nil, err
	}
	if err := b.placeHeavy(); err != nil {
		return nil, err
	}
	b.placeHydrogens()
	for _, a := range top.Atoms {
		if b.pos[a.Index] < 0 {
			return nil, fmt.Errorf("ic: residue %s: atom %s cannot be placed: it has no bond to the rest of the molecule",
				a.Residue, a.Name)
		}
	}
	z := &ZMatrix{Top: top, pos: b.pos}
	z.Entries = make([]Entry, n)
	for p, atom := range b.order {
		e := Entry{Atom: atom, Bond: -1, Angle: -1, Torsion: -1}
		switch p {
		case 0:
		case 1:
			e.Bond = b.parent[atom]
		case 2:
			e.Bond = b.parent[atom]
			e.Angle = b.order[0]
			if e.Bond == b.order[0] {
				e.Angle = b.order[1]
			}
		default:
			var err error
			if e, err = b.references(atom); err != nil {
				return nil, err
			}
		}
		z.Entries[p] = e
	}
	for p := range z.Entries {
		e := &z.Entries[p]
		if p < 3 {
			e.Layer = p
			continue
		}
		e.Layer = 1 + max(z.Entries[b.pos[e.Bond]].Layer, z.Entries[b.pos[e.Angle]].Layer, z.Entries[b.pos[e.Torsion]].Layer)
		z.layers = max(z.layers, e.Layer+1)
	}
	z.layers = max(z.layers, 3)
	z.coords = buildCoords(z, b)
	return z, nil
}

// checkResidue refuses unknown residues and residues that miss heavy atoms.
func checkResidue(top *molecule.Topology, r *molecule.Residue) error {
	info, ok := lookupResidue(r.Name)
	if !ok {
		return fmt.Errorf("ic: residue %s: unknown residue %q (gobg handles the 20 standard amino acids, "+
			"their Amber protonation variants and the ACE/NME caps)", r, r.Name)
	}
	need := info.heavy
	if info.kind == aminoAcid {
		need = append(append([]string{}, backboneNames...), info.heavy...)
	}
	for _, name := range need {
		if atomByName(r, name) == nil {
			return fmt.Errorf("ic: residue %s: missing heavy atom %s (a truncated residue cannot be described)", r, name)
		}
	}
	return nil
}

// checkHydrogens refuses residues that carry no hydrogens: the flow models
// all atoms, and a hydrogen-less file would silently give a different system.
// The atom named is the one that must carry a hydrogen in every residue type
// (CA of amino acids, the methyl carbon of the caps).
func (b *builder) checkHydrogens() error {
	for _, r := range b.top.Residues {
		info, _ := lookupResidue(r.Name)
		name := "CA"
		switch info.kind {
		case capACE:
			name = "CH3"
		case capNME:
			name = "C"
		}
		a := atomByName(r, name)
		hasH := false
		for _, j := range b.nb[a.Index] {
			if isHydrogen(b.top.Atoms[j]) {
				hasH = true
			}
		}
		if !hasH {
			anyH := false
			for _, x := range r.Atoms {
				anyH = anyH || isHydrogen(x)
			}
			if !anyH {
				return fmt.Errorf("ic: residue %s has no hydrogen atoms (atom %s carries none): "+
					"add hydrogens (e.g. with OpenMM's Modeller) before building internal coordinates", r, a.Name)
			}
			return fmt.Errorf("ic: residue %s: atom %s has no bonded hydrogen (hydrogens missing or unbonded)", r, a.Name)
		}
	}
	return nil
}

func (b *builder) bonded(i, j int) bool {
	for _, k := range b.nb[i] {
		if k == j {
			return true
		}
	}
	return false
}

func (b *builder) place(atom, parent int, pseudo bool) {
	b.pos[atom] = len(b.order)
	b.order = append(b.order, atom)
	b.parent[atom] = parent
	b.pseudo[atom] = pseudo
}

func (b *builder) atom(r *molecule.Residue, name string) int {
	return atomByName(r, name).Index
}

// placeBackbone places, chain by chain, the backbone heavy atoms: N, CA, C
// of the first amino acid (the global frame for the first chain), the
// following residues forwards, then the ACE cap backwards.
func (b *builder) placeBackbone() error {
	lastAA := -1 // C of the last amino acid of the previous chain
	for ci, ch := range b.top.Chains {
		if len(ch.Residues) == 0 {
			continue
		}
		first := -1
		for k, r := range ch.Residues {
			info, _ := lookupResidue(r.Name)
			if info.kind == aminoAcid {
				first = k
				break
			}
		}
		if first < 0 {
			return fmt.Errorf("ic: chain %q (index %d) has no amino acid: residue %s cannot anchor a backbone",
				ch.ID, ci, ch.Residues[0])
		}
		// Caps only at the chain ends, and consecutive residues bonded C-N.
		for k, r := range ch.Residues {
			info, _ := lookupResidue(r.Name)
			if info.kind == capACE && k != 0 {
				return fmt.Errorf("ic: residue %s: ACE cap inside chain %q (atom C); caps must end a chain", r, ch.ID)
			}
			if info.kind == capNME && k != len(ch.Residues)-1 {
				return fmt.Errorf("ic: residue %s: NME cap inside chain %q (atom N); caps must end a chain", r, ch.ID)
			}
			if k == 0 {
				continue
			}
			prev := ch.Residues[k-1]
			c, n := b.atom(prev, "C"), b.atom(r, "N")
			if !b.bonded(c, n) {
				return fmt.Errorf("ic: chain %q broken between residue %s (atom C) and residue %s (atom N): "+
					"no peptide bond (missing residues or a gap in the structure)", ch.ID, prev, r)
			}
		}
		r0 := ch.Residues[first]
		n0, ca0, c0 := b.atom(r0, "N"), b.atom(r0, "CA"), b.atom(r0, "C")
		if !b.bonded(n0, ca0) || !b.bonded(ca0, c0) {
			return fmt.Errorf("ic: residue %s: atoms N, CA, C are not bonded N-CA-C", r0)
		}
		if lastAA < 0 {
			b.place(n0, -1, false)
		} else {
			b.place(n0, lastAA, true)
		}
		b.place(ca0, n0, false)
		b.place(c0, ca0, false)
		prevC := c0
		for k := first + 1; k < len(ch.Residues); k++ {
			r := ch.Residues[k]
			info, _ := lookupResidue(r.Name)
			n := b.atom(r, "N")
			b.place(n, prevC, false)
			if info.kind == capNME {
				c := b.atom(r, "C")
				if !b.bonded(n, c) {
					return fmt.Errorf("ic: residue %s: atoms N and C are not bonded", r)
				}
				b.place(c, n, false)
				break
			}
			ca, c := b.atom(r, "CA"), b.atom(r, "C")
			if !b.bonded(n, ca) || !b.bonded(ca, c) {
				return fmt.Errorf("ic: residue %s: atoms N, CA, C are not bonded N-CA-C", r)
			}
			b.place(ca, n, false)
			b.place(c, ca, false)
			prevC = c
		}
		if first == 1 { // ACE (checked above: a cap before the first amino acid)
			r := ch.Residues[0]
			c, ch3 := b.atom(r, "C"), b.atom(r, "CH3")
			if !b.bonded(c, ch3) {
				return fmt.Errorf("ic: residue %s: atoms C and CH3 are not bonded", r)
			}
			b.place(c, n0, false)
			b.place(ch3, c, false)
		} else if first > 1 {
			return fmt.Errorf("ic: residue %s: more than one residue before the first amino acid of chain %q (atom N)",
				ch.Residues[first-1], ch.ID)
		}
		// The next chain hangs from this chain's last amino acid.
		for k := len(ch.Residues) - 1; k >= 0; k-- {
			if info, _ := lookupResidue(ch.Residues[k].Name); info.kind == aminoAcid {
				lastAA = b.atom(ch.Residues[k], "C")
				break
			}
		}
	}
	return nil
}

// placeHeavy places the remaining heavy atoms residue by residue: first the
// side chain, breadth-first from CA through side-chain atoms only (so that a
// ring that closes on the backbone, as in proline, is entered from CA and
// closed at the backbone: CD of PRO hangs from CG, its bond to N is a ring
// closure), then whatever is left (O, OXT) from the atoms already placed.
func (b *builder) placeHeavy() error {
	for _, r := range b.top.Residues {
		info, _ := lookupResidue(r.Name)
		inRes := func(j int) bool {
			a := b.top.Atoms[j]
			return a.Residue == r && !isHydrogen(a) && b.pos[j] < 0
		}
		if info.kind == aminoAcid {
			queue := []int{b.atom(r, "CA")}
			for len(queue) > 0 {
				cur := queue[0]
				queue = queue[1:]
				var kids []int
				for _, j := range b.nb[cur] {
					if inRes(j) && !isBackboneAtom(b.top.Atoms[j]) {
						kids = append(kids, j)
					}
				}
				sort.SliceStable(kids, func(x, y int) bool {
					return sideChainRank(r, b.top.Atoms[kids[x]]) < sideChainRank(r, b.top.Atoms[kids[y]])
				})
				for _, j := range kids {
					b.place(j, cur, false)
					queue = append(queue, j)
				}
			}
		}
		// Sweep for anything left (carbonyl O, OXT, ACE O, unlisted atoms):
		// repeatedly attach unplaced heavy atoms of the residue to placed ones,
		// in placement order of the parent and name order of the child.
		for {
			progress := false
			var cands []*molecule.Atom
			for _, a := range r.Atoms {
				if !isHydrogen(a) && b.pos[a.Index] < 0 {
					cands = append(cands, a)
				}
			}
			sort.SliceStable(cands, func(x, y int) bool { return cands[x].Name < cands[y].Name })
			best, bestParent := -1, -1
			for _, a := range cands {
				for _, j := range b.nb[a.Index] {
					if b.pos[j] >= 0 && !isHydrogen(b.top.Atoms[j]) && (bestParent < 0 || b.pos[j] < b.pos[bestParent]) {
						best, bestParent = a.Index, j
					}
				}
			}
			if best >= 0 {
				b.place(best, bestParent, false)
				progress = true
			}
			if !progress {
				if len(cands) > 0 {
					return fmt.Errorf("ic: residue %s: atom %s cannot be placed: it has no bond to the rest of the molecule",
						r, cands[0].Name)
				}
				break
			}
		}
	}
	return nil
}

// placeHydrogens places every hydrogen on the heavy atom it is bonded to, in
// the placement order of the heavy atoms and name order among siblings.
func (b *builder) placeHydrogens() {
	heavy := append([]int(nil), b.order...)
	for _, h := range heavy {
		var hs []int
		for _, j := range b.nb[h] {
			if b.pos[j] < 0 && isHydrogen(b.top.Atoms[j]) {
				hs = append(hs, j)
			}
		}
		sort.SliceStable(hs, func(x, y int) bool { return b.top.Atoms[hs[x]].Name < b.top.Atoms[hs[y]].Name })
		for _, j := range hs {
			b.place(j, h, false)
		}
	}
}

// better reports whether candidate c is a better reference than the current
// best: heavy atoms before hydrogens, then earlier placement.
func (b *builder) better(c, best int) bool {
	if best < 0 {
		return true
	}
	hc, hb := isHydrogen(b.top.Atoms[c]), isHydrogen(b.top.Atoms[best])
	if hc != hb {
		return !hc
	}
	return b.pos[c] < b.pos[best]
}

// references chooses the angle and torsion references of an atom placed
// after the frame (its bond reference is its parent).
func (b *builder) references(atom int) (Entry, error) {
	p := b.pos[atom]
	placedBefore := func(j int) bool { return b.pos[j] >= 0 && b.pos[j] < p }
	bond := b.parent[atom]
	e := Entry{Atom: atom, Bond: bond, Angle: -1, Torsion: -1}
	// Angle reference: the bond partner's own parent when that link is a real
	// bond; otherwise a placed heavy neighbour of the bond partner; the
	// pseudo-parent (previous chain) only as a last resort.
	if pa := b.parent[bond]; pa >= 0 && !b.pseudo[bond] {
		e.Angle = pa
	} else {
		for _, j := range b.nb[bond] {
			if j != atom && placedBefore(j) && b.better(j, e.Angle) {
				e.Angle = j
			}
		}
		if e.Angle < 0 || (isHydrogen(b.top.Atoms[e.Angle]) && b.parent[bond] >= 0) {
			e.Angle = b.parent[bond]
		}
	}
	if e.Angle < 0 {
		return e, fmt.Errorf("ic: residue %s: atom %s has no angle reference", b.top.Atoms[atom].Residue, b.top.Atoms[atom].Name)
	}
	// Torsion reference: an already placed sibling (another atom bonded to the
	// bond partner) gives an improper dihedral; otherwise a proper dihedral
	// through a neighbour of the angle reference.
	for _, j := range b.nb[bond] {
		if j != atom && j != e.Angle && placedBefore(j) && b.better(j, e.Torsion) {
			e.Torsion, e.Improper = j, true
		}
	}
	if e.Torsion < 0 {
		cands := append([]int(nil), b.nb[e.Angle]...)
		if b.parent[e.Angle] >= 0 {
			cands = append(cands, b.parent[e.Angle]) // may be the pseudo link to the previous chain
		}
		for _, j := range cands {
			if j != atom && j != bond && placedBefore(j) && b.better(j, e.Torsion) {
				e.Torsion = j
			}
		}
	}
	if e.Torsion < 0 {
		return e, fmt.Errorf("ic: residue %s: atom %s has no torsion reference", b.top.Atoms[atom].Residue, b.top.Atoms[atom].Name)
	}
	return e, nil
}
