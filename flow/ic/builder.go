package ic

//go:generate sh -c "../../.venv/bin/python gen/amber_tables.py | gofmt > amber_tables.go"

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
)

// amberAtom is one atom of an Amber residue template: name, atom class
// (which selects the bond and angle parameters) and element symbol.
type amberAtom struct{ name, class, element string }

type amberResidue struct {
	atoms []amberAtom
	bonds [][2]string
}

// oneLetter maps one-letter codes to Amber template names (HIS is built as
// HIE, the tautomer protonated on NE2, as OpenMM's Modeller usually picks).
var oneLetter = map[byte]string{
	'A': "ALA", 'R': "ARG", 'N': "ASN", 'D': "ASP", 'C': "CYS", 'Q': "GLN", 'E': "GLU", 'G': "GLY",
	'H': "HIE", 'I': "ILE", 'L': "LEU", 'K': "LYS", 'M': "MET", 'F': "PHE", 'P': "PRO", 'S': "SER",
	'T': "THR", 'W': "TRP", 'Y': "TYR", 'V': "VAL",
}

// Side-chain dihedrals of the built peptide (radians): a common rotamer,
// not a minimum-energy one: chi1 = -60 degrees (the most populated chi1
// rotamer for most residues), the other chi angles about sp3-sp3 bonds 180
// (trans), chi angles that turn a planar carbon group about its bond to an
// sp3 carbon (aromatic rings, amides, carboxylates) 90; proline's ring pucker chi1 = +30, chi2 =
// -38 (C-gamma endo); chi angles of other planar groups (arginine's
// guanidinium) 180. Rotors (the first hydrogen of a rotatable group) are at
// 180 (staggered for sp3 groups, in plane for planar ones).
const (
	buildChi1      = -60 * math.Pi / 180
	buildChiSp3    = math.Pi
	buildChiPlanar = math.Pi / 2
	buildProChi1   = 30 * math.Pi / 180
	buildProChi2   = -38 * math.Pi / 180
	buildRotor     = math.Pi
	buildOmega     = math.Pi
)

// chiralSign fixes the handedness at the chiral centres, as the sign of the
// improper dihedral that places the atom (references: bond, angle, first
// sibling as the rules of NewZMatrix choose them). L-amino acids: CB and HA
// on CA (references CA, N, C). Isoleucine (2S,3S) and threonine (2S,3R): CG2
// and HB on CB (references CB, CA, CG1 or OG1). These signs were read off
// the reference structures (hp35.pdb, protein_g.pdb), and TestBuildChirality
// checks them against those structures with a definition that does not use
// the Z-matrix. Other tetrahedral centres carry two identical substituents
// (CH2, CH3, NH3+), where the sign only decides which of the two names goes
// where: the first name gets +, the second -.
var chiralSign = map[string]float64{
	"*:CA:CB": -1, "*:CA:HA": +1,
	"ILE:CB:CG2": -1, "ILE:CB:HB": +1,
	"THR:CB:CG2": -1, "THR:CB:HB": +1,
}

// Build makes a peptide from a one-letter sequence with ideal Amber
// (amber99sb-ildn) geometry: every bond at its force-field equilibrium
// length, every angle that a Z-matrix entry sets at its equilibrium angle,
// impropers from the equilibrium angles around the centre (180 degrees at
// planar centres), all residues at backbone dihedrals phi and psi (radians),
// omega = 180 and the side-chain dihedrals described above. With caps the
// chain is ACE-...-NME, otherwise it has charged termini (NH3+, COO-) and
// needs at least two residues. Residues and atoms are named as in Amber's
// templates (HIS is the HIE tautomer, the caps' hydrogens are HH31...), so
// OpenMM's ForceField matches them. Positions are in nm, in the canonical
// frame of the Z-matrix.
func Build(sequence string, caps bool, phi, psi float64) (*molecule.Topology, []Vec3, error) {
	seq := strings.ToUpper(strings.TrimSpace(sequence))
	if len(seq) == 0 {
		return nil, nil, fmt.Errorf("ic: build: empty sequence")
	}
	if len(seq) == 1 && !caps {
		return nil, nil, fmt.Errorf("ic: build: a single residue needs caps (Amber has no template with both termini)")
	}
	var tmpl []string
	if caps {
		tmpl = append(tmpl, "ACE")
	}
	for i := 0; i < len(seq); i++ {
		name, ok := oneLetter[seq[i]]
		if !ok {
			return nil, nil, fmt.Errorf("ic: build: residue %d: unknown one-letter code %q", i+1, seq[i])
		}
		if !caps && i == 0 {
			name = "N" + name
		} else if !caps && i == len(seq)-1 {
			name = "C" + name
		}
		tmpl = append(tmpl, name)
	}
	if caps {
		tmpl = append(tmpl, "NME")
	}

	top := &molecule.Topology{}
	ch := top.AddChain("A")
	class := []string{}
	prevC := -1
	for k, tn := range tmpl {
		at, ok := amberResidues[tn]
		if !ok {
			return nil, nil, fmt.Errorf("ic: build: no Amber template %s", tn)
		}
		resName := tn
		if len(tn) == 4 { // N- or C-terminal variant
			resName = tn[1:]
		}
		if resName == "HIE" {
			resName = "HIS"
		}
		r := top.AddResidue(ch, resName, k+1, "")
		idx := map[string]int{}
		for _, a := range at.atoms {
			el := molecule.ElementBySymbol(a.element)
			if el == nil {
				return nil, nil, fmt.Errorf("ic: build: %s atom %s: unknown element %q", tn, a.name, a.element)
			}
			idx[a.name] = top.AddAtom(r, a.name, el, len(top.Atoms)+1).Index
			class = append(class, a.class)
		}
		for _, b := range at.bonds {
			top.AddBond(idx[b[0]], idx[b[1]])
		}
		if n, ok := idx["N"]; ok && prevC >= 0 {
			top.AddBond(prevC, n)
		}
		prevC = -1
		if c, ok := idx["C"]; ok && tn != "NME" {
			prevC = c
		}
	}
	sortBonds(top)

	z, err := NewZMatrix(top)
	if err != nil {
		return nil, nil, fmt.Errorf("ic: build: %w", err)
	}
	nb := top.Neighbors()
	angle0 := func(i, b, a int) (float64, error) {
		c1, c3 := class[i], class[a]
		if c3 < c1 {
			c1, c3 = c3, c1
		}
		v, ok := amberAngle[[3]string{c1, class[b], c3}]
		if !ok {
			return 0, fmt.Errorf("ic: build: no Amber angle for %s-%s-%s (%s %s)", class[i], class[b], class[a],
				top.Atoms[b].Residue, top.Atoms[b].Name)
		}
		return v, nil
	}
	planar, err := planarRingAngles(z, top, nb, angle0)
	if err != nil {
		return nil, nil, err
	}
	ic := make([]float64, z.NumCoords())
	for k, c := range z.Coords() {
		i, b, a, t := c.Atoms[0], c.Atoms[1], c.Atoms[2], c.Atoms[3]
		switch c.Kind {
		case Bond:
			p := [2]string{class[i], class[b]}
			if p[1] < p[0] {
				p[0], p[1] = p[1], p[0]
			}
			v, ok := amberBondLength[p]
			if !ok {
				return nil, nil, fmt.Errorf("ic: build: no Amber bond length for %s-%s (%s %s)", p[0], p[1],
					top.Atoms[i].Residue, top.Atoms[i].Name)
			}
			ic[k] = v
		case Angle:
			if v, ok := planar[angleKey(i, b, a)]; ok {
				ic[k] = v
			} else if ic[k], err = angle0(i, b, a); err != nil {
				return nil, nil, err
			}
		case Torsion:
			res := top.Atoms[i].Residue
			std := standardName(res.Name)
			switch c.Torsion {
			case Phi:
				ic[k] = phi
			case Psi:
				ic[k] = psi
			case Omega:
				ic[k] = buildOmega
			case Chi:
				depth := sideChainDepth2(top, nb, res, a)
				switch {
				case std == "PRO" && depth == 0:
					ic[k] = buildProChi1
				case std == "PRO":
					ic[k] = buildProChi2
				case depth == 0:
					ic[k] = buildChi1
				case len(nb[b]) == 3 && len(nb[a]) == 4 && top.Atoms[b].Element.Symbol == "C":
					// rotation of a planar carbon group (ring, amide, carboxylate)
					// about a bond to an sp3 carbon
					ic[k] = buildChiPlanar
				default:
					ic[k] = buildChiSp3
				}
			case Ring:
				ic[k] = math.Pi
				if sameRing(top, nb, t, a, b, i) {
					ic[k] = 0
				}
			case Rotor:
				ic[k] = buildRotor
			case OtherProper:
				// O of a C-terminal carboxylate, placed through N-CA-C-O: with
				// N-CA-C-O = psi + 180, OXT (planar, opposite O) sits where
				// N(i+1) would, so psi keeps its meaning.
				ic[k] = wrapAngle(psi + math.Pi)
			case Improper:
				th1, err := angle0(i, b, a)
				if err != nil {
					return nil, nil, err
				}
				th2, err := angle0(t, b, a)
				if err != nil {
					return nil, nil, err
				}
				th12, err := angle0(i, b, t)
				if err != nil {
					return nil, nil, err
				}
				if len(nb[b]) == 3 {
					ic[k] = math.Pi // planar centre
					break
				}
				cw := (math.Cos(th12) - math.Cos(th1)*math.Cos(th2)) / (math.Sin(th1) * math.Sin(th2))
				w := math.Acos(math.Max(-1, math.Min(1, cw)))
				ic[k] = w * improperSign(top, nb, std, i, b, a, t)
			default:
				return nil, nil, fmt.Errorf("ic: build: unexpected torsion %s", c.Name)
			}
		}
	}
	x := make([]Vec3, z.NumAtoms())
	if err := z.Cartesian(ic, x); err != nil {
		return nil, nil, err
	}
	// Close the proline rings: choose chi1, chi2 so that the ring-closure
	// bond N-CD and its two angles come out as close as possible to their
	// equilibrium values (the Z-matrix does not constrain them).
	closed := false
	for _, r := range top.Residues {
		if standardName(r.Name) != "PRO" {
			continue
		}
		if err := closeProline(z, top, class, angle0, ic, x, r); err != nil {
			return nil, nil, err
		}
		closed = true
	}
	if closed {
		if err := z.Cartesian(ic, x); err != nil {
			return nil, nil, err
		}
	}
	// Pick each residue's chi1 (and chi2 where it turns a planar group)
	// among staggered rotamers and small variations around them, to avoid
	// clashes with the atoms built so far, residue by residue from the N
	// terminus; ties keep the first candidate (chi1 = -60, chi2 as above).
	near := withinBonds(nb, 3)
	chiOf := map[int][2]int{} // residue -> coordinate indices of chi1, chi2 (-1: none)
	for k, c := range z.Coords() {
		if c.Torsion != Chi || standardName(top.Residues[c.Residue].Name) == "PRO" {
			continue
		}
		v, ok := chiOf[c.Residue]
		if !ok {
			v = [2]int{-1, -1}
		}
		switch {
		case strings.HasPrefix(c.Name, "CHI1 "):
			v[0] = k
		case strings.HasPrefix(c.Name, "CHI2 ") && ic[k] == buildChiPlanar:
			v[1] = k
		}
		chiOf[c.Residue] = v
	}
	for _, r := range top.Residues {
		v, ok := chiOf[r.Index]
		if !ok || v[0] < 0 {
			continue
		}
		var chi1s, chi2s []float64
		for _, base := range []float64{buildChi1, math.Pi, -buildChi1} {
			for _, d := range []float64{0, -15, 15} {
				chi1s = append(chi1s, base+deg2rad(d))
			}
		}
		chi2s = []float64{0}
		if v[1] >= 0 {
			chi2s = []float64{ic[v[1]], ic[v[1]] - deg2rad(30), ic[v[1]] + deg2rad(30)}
		}
		best, bestScore := [2]float64{ic[v[0]], 0}, math.Inf(1)
		if v[1] >= 0 {
			best[1] = ic[v[1]]
		}
		for _, c1 := range chi1s {
			for _, c2 := range chi2s {
				ic[v[0]] = c1
				if v[1] >= 0 {
					ic[v[1]] = c2
				}
				if err := z.Cartesian(ic, x); err != nil {
					return nil, nil, err
				}
				if sc := clashScore(r, x, near); sc < bestScore-1e-12 {
					best, bestScore = [2]float64{c1, c2}, sc
				}
			}
		}
		ic[v[0]] = best[0]
		if v[1] >= 0 {
			ic[v[1]] = best[1]
		}
	}
	if err := z.Cartesian(ic, x); err != nil {
		return nil, nil, err
	}
	return top, x, nil
}

func deg2rad(d float64) float64 { return d * math.Pi / 180 }

// withinBonds returns, for each atom, the set of atoms at most n bonds away.
func withinBonds(nb [][]int, n int) []map[int]bool {
	out := make([]map[int]bool, len(nb))
	for i := range nb {
		seen := map[int]bool{i: true}
		frontier := []int{i}
		for d := 0; d < n; d++ {
			var next []int
			for _, x := range frontier {
				for _, y := range nb[x] {
					if !seen[y] {
						seen[y] = true
						next = append(next, y)
					}
				}
			}
			frontier = next
		}
		out[i] = seen
	}
	return out
}

// clashScore sums (0.25 nm - d)^2 over the atom pairs closer than 0.25 nm
// that involve an atom of r and are more than three bonds apart.
func clashScore(r *molecule.Residue, x []Vec3, near []map[int]bool) float64 {
	const cut = 0.25
	s := 0.0
	for _, a := range r.Atoms {
		i := a.Index
		for j := range x {
			if near[i][j] {
				continue
			}
			if d := Distance(x[i], x[j]); d < cut {
				s += (cut - d) * (cut - d)
			}
		}
	}
	return s
}

// closeProline sets chi1 and chi2 of proline r (in ic) by a grid search
// refined twice, minimising (d(N,CD) - r0)^2 + (0.1 nm/rad)^2 times the
// squared deviations of the angles CA-N-CD and CG-CD-N from equilibrium.
// x must hold the built positions (only N, CA, C of r are read).
func closeProline(z *ZMatrix, top *molecule.Topology, class []string, angle0 func(i, b, a int) (float64, error),
	ic []float64, x []Vec3, r *molecule.Residue) error {
	n, ca, cb, cg, cd := r.AtomByName("N").Index, r.AtomByName("CA").Index, r.AtomByName("CB").Index,
		r.AtomByName("CG").Index, r.AtomByName("CD").Index
	pair := [2]string{class[n], class[cd]}
	if pair[1] < pair[0] {
		pair[0], pair[1] = pair[1], pair[0]
	}
	r0, ok := amberBondLength[pair]
	if !ok {
		return fmt.Errorf("ic: build: no Amber bond length for %s-%s (%s N-CD)", pair[0], pair[1], r)
	}
	thN, err := angle0(ca, n, cd)
	if err != nil {
		return err
	}
	thD, err := angle0(cg, cd, n)
	if err != nil {
		return err
	}
	eb, eg, ed := z.Entries[z.Position(cb)], z.Entries[z.Position(cg)], z.Entries[z.Position(cd)]
	kg, kd := z.TorsionIndex(z.Position(cg)), z.TorsionIndex(z.Position(cd))
	if eb.Angle != n || eg.Bond != cb || eg.Angle != ca || ed.Bond != cg || ed.Angle != cb {
		return fmt.Errorf("ic: build: %s: unexpected proline Z-matrix", r)
	}
	// The three ring angles the Z-matrix sets (N-CA-CB, CA-CB-CG, CB-CG-CD)
	// at their equilibrium values cannot close a five-membered ring (the
	// ring needs about 104 degrees); they shrink by a common amount delta.
	ka := [3]int{z.AngleIndex(z.Position(cb)), z.AngleIndex(z.Position(cg)), z.AngleIndex(z.Position(cd))}
	a0 := [3]float64{ic[ka[0]], ic[ka[1]], ic[ka[2]]}
	pos := map[int]Vec3{}
	place := func(e Entry, p int) Vec3 {
		get := func(a int) Vec3 {
			if v, ok := pos[a]; ok {
				return v
			}
			return x[a]
		}
		return placeAtom(get(e.Bond), get(e.Angle), get(e.Torsion), ic[z.BondIndex(p)], ic[z.AngleIndex(p)], ic[z.TorsionIndex(p)])
	}
	set := func(v [3]float64) {
		ic[kg], ic[kd] = v[0], v[1]
		for i, k := range ka {
			ic[k] = a0[i] - v[2]
		}
	}
	cost := func(v [3]float64) float64 {
		set(v)
		pos[cb] = place(eb, z.Position(cb))
		pos[cg] = place(eg, z.Position(cg))
		pos[cd] = place(ed, z.Position(cd))
		d := Distance(pos[cd], x[n]) - r0
		a1 := BondAngle(x[ca], x[n], pos[cd]) - thN
		a2 := BondAngle(pos[cg], pos[cd], x[n]) - thD
		return d*d + 0.01*(a1*a1+a2*a2+3*v[2]*v[2])
	}
	best, bestC := [3]float64{buildProChi1, buildProChi2, 0}, math.Inf(1)
	centre := [3]float64{}
	steps := [3]float64{5 * math.Pi / 180, 5 * math.Pi / 180, 1 * math.Pi / 180}
	span := [3]int{12, 12, 6}
	for round := 0; round < 3; round++ {
		for i := -span[0]; i <= span[0]; i++ {
			for j := -span[1]; j <= span[1]; j++ {
				for k := -span[2]; k <= span[2]; k++ {
					v := [3]float64{centre[0] + float64(i)*steps[0], centre[1] + float64(j)*steps[1], centre[2] + float64(k)*steps[2]}
					if round == 0 {
						v[2] = float64(k+span[2]) * steps[2] // delta in [0, 12] degrees
					}
					if c := cost(v); c < bestC {
						best, bestC = v, c
					}
				}
			}
		}
		centre = best
		for d := range steps {
			steps[d] /= 8
			span[d] = 8
		}
	}
	set(best)
	return nil
}

func angleKey(i, b, a int) [3]int {
	if a < i {
		i, a = a, i
	}
	return [3]int{i, b, a}
}

// planarRingAngles returns the bond angles at the atoms of planar
// (aromatic) rings: Amber's equilibrium angles need not close a ring (the
// histidine ring's sum to 597 degrees instead of 540), so the interior
// angles of each ring are shifted by a common amount to sum to (n-2)*180,
// and the angles to the substituent of a ring atom share what is left of
// 360 degrees, keeping their Amber difference. At an atom shared by two
// fused rings the angle between the two outer neighbours is 360 minus the
// two interior angles. Rings are the fundamental cycles of the Z-matrix
// tree: each ring-closure bond and the tree path between its atoms.
// Proline's ring is not planar and is closed separately.
func planarRingAngles(z *ZMatrix, top *molecule.Topology, nb [][]int, angle0 func(i, b, a int) (float64, error)) (map[[3]int]float64, error) {
	parent := make([]int, z.NumAtoms())
	for p, e := range z.Entries {
		parent[e.Atom] = e.Bond
		if p == 0 {
			parent[e.Atom] = -1
		}
	}
	interior := map[[3]int]float64{} // angleKey -> interior angle
	ringAtoms := map[int]bool{}
	for _, bd := range top.Bonds {
		u, v := bd.I, bd.J
		if parent[u] == v || parent[v] == u {
			continue // a Z-matrix bond
		}
		r := top.Atoms[u].Residue
		if top.Atoms[v].Residue != r || standardName(r.Name) == "PRO" || isHydrogen(top.Atoms[u]) {
			continue
		}
		// Tree path u -> ... -> v through their common ancestor.
		anc := map[int]int{}
		for x, d := u, 0; x >= 0; x, d = parent[x], d+1 {
			anc[x] = d
		}
		var down []int
		x := v
		for ; x >= 0; x = parent[x] {
			if _, ok := anc[x]; ok {
				break
			}
			down = append(down, x)
		}
		var ring []int
		for y := u; y != x; y = parent[y] {
			ring = append(ring, y)
		}
		ring = append(ring, x)
		for k := len(down) - 1; k >= 0; k-- {
			ring = append(ring, down[k])
		}
		n := len(ring)
		if n > 6 {
			return nil, fmt.Errorf("ic: build: %s: ring of %d atoms through %s", r, n, top.Atoms[u].Name)
		}
		th := make([]float64, n)
		sum := 0.0
		for k := range ring {
			var err error
			if th[k], err = angle0(ring[(k+n-1)%n], ring[k], ring[(k+1)%n]); err != nil {
				return nil, err
			}
			sum += th[k]
		}
		shift := (sum - float64(n-2)*math.Pi) / float64(n)
		for k := range ring {
			interior[angleKey(ring[(k+n-1)%n], ring[k], ring[(k+1)%n])] = th[k] - shift
			ringAtoms[ring[k]] = true
		}
	}
	out := map[[3]int]float64{}
	for key, v := range interior {
		out[key] = v
	}
	for b := range ringAtoms {
		if len(nb[b]) != 3 {
			continue
		}
		p, q, r := nb[b][0], nb[b][1], nb[b][2]
		pairs := [3][3]int{{p, q, r}, {p, r, q}, {q, r, p}} // (u, v, the third neighbour)
		var inRingPairs [][3]int
		for _, pr := range pairs {
			if _, ok := interior[angleKey(pr[0], b, pr[1])]; ok {
				inRingPairs = append(inRingPairs, pr)
			}
		}
		switch len(inRingPairs) {
		case 2: // fused: the outer angle takes the rest
			for _, pr := range pairs {
				if _, ok := interior[angleKey(pr[0], b, pr[1])]; !ok {
					out[angleKey(pr[0], b, pr[1])] = 2*math.Pi - interior[angleKey(inRingPairs[0][0], b, inRingPairs[0][1])] -
						interior[angleKey(inRingPairs[1][0], b, inRingPairs[1][1])]
				}
			}
		case 1: // one substituent x on ring atom b with ring neighbours r1, r2
			r1, r2, x := inRingPairs[0][0], inRingPairs[0][1], inRingPairs[0][2]
			a1, err := angle0(r1, b, x)
			if err != nil {
				return nil, err
			}
			a2, err := angle0(r2, b, x)
			if err != nil {
				return nil, err
			}
			rest := (2*math.Pi - interior[angleKey(r1, b, r2)] - a1 - a2) / 2
			out[angleKey(r1, b, x)], out[angleKey(r2, b, x)] = a1+rest, a2+rest
		}
	}
	return out, nil
}

// improperSign chooses the handedness of an atom placed at a tetrahedral
// centre b (see chiralSign).
func improperSign(top *molecule.Topology, nb [][]int, res string, i, b, a, t int) float64 {
	ni, nbn := top.Atoms[i].Name, top.Atoms[b].Name
	if s, ok := chiralSign[res+":"+nbn+":"+ni]; ok {
		return s
	}
	if s, ok := chiralSign["*:"+nbn+":"+ni]; ok && res != "GLY" && isBackboneAtom(top.Atoms[b]) {
		return s
	}
	// Two remaining substituents besides a and t: first name +, second -.
	var others []string
	for _, j := range nb[b] {
		if j != a && j != t {
			others = append(others, top.Atoms[j].Name)
		}
	}
	sort.Strings(others)
	if len(others) > 0 && others[0] == ni {
		return 1
	}
	return -1
}

// sameRing reports whether t and i, bonded to a and b across the bond a-b,
// lie on one ring of at most six atoms with it (then their dihedral in a
// planar ring is 0, otherwise 180).
func sameRing(top *molecule.Topology, nb [][]int, t, a, b, i int) bool {
	// A path i -> t avoiding a and b, of at most 3 bonds, closes a ring of <= 6.
	frontier, seen := []int{i}, map[int]bool{i: true, a: true, b: true}
	for d := 0; d < 3; d++ {
		var next []int
		for _, x := range frontier {
			for _, y := range nb[x] {
				if y == t {
					return true
				}
				if !seen[y] && !isHydrogen(top.Atoms[y]) {
					seen[y] = true
					next = append(next, y)
				}
			}
		}
		frontier = next
	}
	return false
}

// sideChainDepth2 is the number of bonds from CA to atom along the side
// chain (CA = 0, CB = 1, ...), by breadth-first search through the residue.
func sideChainDepth2(top *molecule.Topology, nb [][]int, r *molecule.Residue, atom int) int {
	ca := atomByName(r, "CA")
	if ca == nil {
		return -1
	}
	dist := map[int]int{ca.Index: 0}
	queue := []int{ca.Index}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if x == atom {
			return dist[x]
		}
		for _, y := range nb[x] {
			if _, ok := dist[y]; !ok && top.Atoms[y].Residue == r && !isBackboneAtom(top.Atoms[y]) {
				dist[y] = dist[x] + 1
				queue = append(queue, y)
			}
		}
	}
	return -1
}

// sortBonds orders the bonds by (I, J), as readers produce them.
func sortBonds(top *molecule.Topology) {
	sort.Slice(top.Bonds, func(x, y int) bool {
		if top.Bonds[x].I != top.Bonds[y].I {
			return top.Bonds[x].I < top.Bonds[y].I
		}
		return top.Bonds[x].J < top.Bonds[y].J
	})
}
