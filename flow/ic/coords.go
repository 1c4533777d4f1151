package ic

import (
	"fmt"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
)

// Kind is the geometric kind of an internal coordinate.
type Kind uint8

const (
	Bond    Kind = iota // a distance in nm
	Angle               // a bond angle in radians, [0, pi]
	Torsion             // a dihedral in radians, [-pi, pi)
)

func (k Kind) String() string {
	switch k {
	case Bond:
		return "bond"
	case Angle:
		return "angle"
	case Torsion:
		return "torsion"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Class groups coordinates by their role in the reduced representation.
type Class uint8

const (
	// ClassBond is every bond length.
	ClassBond Class = iota
	// ClassBackboneAngle is a bond angle whose three atoms are all heavy
	// backbone atoms (N, CA, C, O, OXT, and the heavy atoms of ACE/NME):
	// N-CA-C, CA-C-N, C-N-CA, CA-C-O and their cap analogues.
	ClassBackboneAngle
	// ClassSideChainAngle is every other bond angle: those that involve a
	// side-chain atom or a hydrogen (the amide H and HA included).
	ClassSideChainAngle
	// ClassBackboneTorsion is a dihedral whose four atoms are all heavy
	// backbone atoms: phi, psi, omega and the carbonyl O improper.
	ClassBackboneTorsion
	// ClassSideChainTorsion is every other dihedral: chi angles, ring
	// torsions, methyl/hydroxyl/amine rotors and the impropers that place
	// CB, hydrogens and branches.
	ClassSideChainTorsion
	// ClassInterChain is one of the six coordinates that place a chain
	// relative to the previous one (through atoms that are not bonded).
	ClassInterChain
)

func (c Class) String() string {
	switch c {
	case ClassBond:
		return "bond"
	case ClassBackboneAngle:
		return "backbone-angle"
	case ClassSideChainAngle:
		return "sidechain-angle"
	case ClassBackboneTorsion:
		return "backbone-torsion"
	case ClassSideChainTorsion:
		return "sidechain-torsion"
	case ClassInterChain:
		return "inter-chain"
	}
	return fmt.Sprintf("Class(%d)", c)
}

// TorsionType names what a torsion coordinate is, chemically.
type TorsionType uint8

const (
	NotTorsion  TorsionType = iota
	Phi                     // C(i-1)-N-CA-C
	Psi                     // N-CA-C-N(i+1)
	Omega                   // CA(i-1)-C(i-1)-N-CA (and the cap analogues), named by the residue that owns N
	Chi                     // a side-chain heavy-atom rotation about a bond outside rings (or in proline)
	Ring                    // a proper dihedral about a bond inside an aromatic/heteroaromatic ring
	Rotor                   // the first hydrogen of a methyl, hydroxyl, thiol, amine or ammonium group
	Improper                // an atom placed relative to an already placed sibling
	OtherProper             // a proper dihedral that is none of the above (e.g. O of a C-terminal residue)
	Rigid                   // inter-chain placement
)

func (t TorsionType) String() string {
	return [...]string{"none", "phi", "psi", "omega", "chi", "ring", "rotor", "improper", "proper", "rigid"}[t]
}

// Coord describes one internal coordinate.
type Coord struct {
	Kind    Kind
	Class   Class
	Torsion TorsionType // NotTorsion for bonds and angles
	// Atoms are the topology indices (i, bond, angle, torsion references) that
	// define the coordinate; unused slots are -1.
	Atoms [4]int
	// Entry is the Z-matrix entry (placement position) the coordinate belongs to.
	Entry int
	// Residue is the topology index of the residue of atom i.
	Residue int
	// Name is a human-readable label such as "PHI ALA 2", "CHI1 LEU 3",
	// "BOND CA-N ALA 2", "ANGLE N-CA-C ALA 2".
	Name string
}

// IsBackbone reports whether the coordinate belongs to the backbone channel
// of a split flow: backbone angles and torsions and the inter-chain
// coordinates. Bonds count as backbone when both atoms are backbone atoms.
func (c Coord) IsBackbone(top *molecule.Topology) bool {
	switch c.Class {
	case ClassBackboneAngle, ClassBackboneTorsion, ClassInterChain:
		return true
	case ClassBond:
		return isBackboneAtom(top.Atoms[c.Atoms[0]]) && isBackboneAtom(top.Atoms[c.Atoms[1]])
	}
	return false
}

// residueLabel is "ALA 2", with the chain ID appended when the topology has
// more than one chain ("ALA 2 B").
func residueLabel(top *molecule.Topology, r *molecule.Residue) string {
	s := fmt.Sprintf("%s %d%s", r.Name, r.Number, r.InsertionCode)
	if len(top.Chains) > 1 && r.Chain != nil {
		id := r.Chain.ID
		if strings.TrimSpace(id) == "" {
			id = fmt.Sprint(r.Chain.Index)
		}
		s += " " + id
	}
	return s
}

// buildCoords lists the 3N-6 coordinates of z with their classes and names.
func buildCoords(z *ZMatrix, b *builder) []Coord {
	top := z.Top
	n := len(z.Entries)
	coords := make([]Coord, 3*n-6)
	backbone := func(idx ...int) bool {
		for _, i := range idx {
			if !isBackboneAtom(top.Atoms[i]) {
				return false
			}
		}
		return true
	}
	named := backboneTorsions(top)
	for p, e := range z.Entries {
		a := top.Atoms[e.Atom]
		res := residueLabel(top, a.Residue)
		name := func(i int) string { return top.Atoms[i].Name }
		realBond := b.bonded(e.Atom, e.Bond)
		if k := z.BondIndex(p); k >= 0 {
			c := Coord{Kind: Bond, Class: ClassBond, Atoms: [4]int{e.Atom, e.Bond, -1, -1}, Entry: p, Residue: a.Residue.Index}
			c.Name = fmt.Sprintf("BOND %s-%s %s", name(e.Atom), name(e.Bond), res)
			if !realBond {
				c.Class, c.Name = ClassInterChain, fmt.Sprintf("RIGID BOND %s %s", name(e.Atom), res)
			}
			coords[k] = c
		}
		if k := z.AngleIndex(p); k >= 0 {
			c := Coord{Kind: Angle, Class: ClassSideChainAngle, Atoms: [4]int{e.Atom, e.Bond, e.Angle, -1}, Entry: p, Residue: a.Residue.Index}
			if backbone(e.Atom, e.Bond, e.Angle) {
				c.Class = ClassBackboneAngle
			}
			c.Name = fmt.Sprintf("ANGLE %s-%s-%s %s", name(e.Atom), name(e.Bond), name(e.Angle), res)
			if !realBond || !b.bonded(e.Bond, e.Angle) {
				c.Class, c.Name = ClassInterChain, fmt.Sprintf("RIGID ANGLE %s %s", name(e.Atom), res)
			}
			coords[k] = c
		}
		if k := z.TorsionIndex(p); k >= 0 {
			c := Coord{Kind: Torsion, Class: ClassSideChainTorsion, Atoms: [4]int{e.Atom, e.Bond, e.Angle, e.Torsion},
				Entry: p, Residue: a.Residue.Index}
			if backbone(e.Atom, e.Bond, e.Angle, e.Torsion) {
				c.Class = ClassBackboneTorsion
			}
			tref := e.Angle
			if e.Improper {
				tref = e.Bond
			}
			switch {
			case !realBond || !b.bonded(e.Bond, e.Angle) || !b.bonded(e.Torsion, tref):
				c.Class, c.Torsion = ClassInterChain, Rigid
				c.Name = fmt.Sprintf("RIGID TORSION %s %s", name(e.Atom), res)
			case e.Improper:
				c.Torsion = Improper
				c.Name = fmt.Sprintf("IMP %s %s", name(e.Atom), res)
			default:
				if bt, ok := named[sortedQuad(e.Atom, e.Bond, e.Angle, e.Torsion)]; ok {
					c.Torsion = bt.kind
					c.Name = fmt.Sprintf("%s %s", strings.ToUpper(bt.kind.String()), residueLabel(top, top.Residues[bt.residue]))
					break
				}
				switch {
				case isHydrogen(a):
					c.Torsion = Rotor
					c.Name = fmt.Sprintf("ROT %s %s", name(e.Atom), res)
				case !backbone(e.Atom) && a.Residue == top.Atoms[e.Bond].Residue && (standardName(a.Residue.Name) == "PRO" ||
					!inRing(top, b.nb, e.Bond, e.Angle)):
					c.Torsion = Chi
					c.Name = fmt.Sprintf("CHI%d %s", sideChainDepth(b, a.Residue, e.Angle)+1, res)
				case inRing(top, b.nb, e.Bond, e.Angle):
					c.Torsion = Ring
					c.Name = fmt.Sprintf("RING %s %s", name(e.Atom), res)
				default:
					c.Torsion = OtherProper
					c.Name = fmt.Sprintf("TORS %s %s", name(e.Atom), res)
				}
			}
			coords[k] = c
		}
	}
	return coords
}

type namedTorsion struct {
	kind    TorsionType
	residue int
}

func sortedQuad(a, b, c, d int) [4]int {
	q := [4]int{a, b, c, d}
	for i := 1; i < 4; i++ {
		for j := i; j > 0 && q[j] < q[j-1]; j-- {
			q[j], q[j-1] = q[j-1], q[j]
		}
	}
	return q
}

// backboneTorsions lists phi, psi and omega of every residue by their
// (sorted) atom quadruples.
func backboneTorsions(top *molecule.Topology) map[[4]int]namedTorsion {
	m := map[[4]int]namedTorsion{}
	idx := func(r *molecule.Residue, name string) int {
		if a := atomByName(r, name); a != nil {
			return a.Index
		}
		return -1
	}
	add := func(kind TorsionType, res int, q ...int) {
		for _, x := range q {
			if x < 0 {
				return
			}
		}
		m[sortedQuad(q[0], q[1], q[2], q[3])] = namedTorsion{kind, res}
	}
	for _, ch := range top.Chains {
		for k, r := range ch.Residues {
			info, _ := lookupResidue(r.Name)
			if k > 0 && info.kind != capACE {
				prev := ch.Residues[k-1]
				pinfo, _ := lookupResidue(prev.Name)
				prevCA := idx(prev, "CA")
				if pinfo.kind == capACE {
					prevCA = idx(prev, "CH3")
				}
				this := idx(r, "CA")
				if info.kind == capNME {
					this = idx(r, "C")
				}
				add(Omega, r.Index, prevCA, idx(prev, "C"), idx(r, "N"), this)
				if info.kind == aminoAcid {
					add(Phi, r.Index, idx(prev, "C"), idx(r, "N"), idx(r, "CA"), idx(r, "C"))
				}
			}
			if k+1 < len(ch.Residues) && info.kind == aminoAcid {
				next := ch.Residues[k+1]
				add(Psi, r.Index, idx(r, "N"), idx(r, "CA"), idx(r, "C"), idx(next, "N"))
			}
		}
	}
	return m
}

// inRing reports whether the bond i-j lies on a ring of heavy atoms of one
// residue (another path joins i and j).
func inRing(top *molecule.Topology, nb [][]int, i, j int) bool {
	res := top.Atoms[i].Residue
	if top.Atoms[j].Residue != res {
		return false
	}
	seen := map[int]bool{i: true}
	stack := []int{i}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range nb[cur] {
			if cur == i && k == j {
				continue // the bond itself
			}
			if k == j {
				return true
			}
			a := top.Atoms[k]
			if seen[k] || a.Residue != res || isHydrogen(a) {
				continue
			}
			seen[k] = true
			stack = append(stack, k)
		}
	}
	return false
}

// sideChainDepth is the number of Z-matrix bonds from CA to atom (CA = 0,
// CB = 1, ...), following the parents recorded while building.
func sideChainDepth(b *builder, r *molecule.Residue, atom int) int {
	ca := atomByName(r, "CA")
	d := 0
	for cur := atom; ca != nil && cur >= 0 && cur != ca.Index && d < 64; cur = b.parent[cur] {
		d++
	}
	return d
}
