package molecule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gobg/gobg/internal/atomicfile"
)

// PDB is what gobg reads from a PDB file.
type PDB struct {
	Topology *Topology
	Models   [][]Vec3 // positions in nm, one slice per MODEL (one if the file has no MODEL records)
	Box      *[3]Vec3 // periodic box vectors in nm from CRYST1; nil without CRYST1
	Warnings []string // what bond creation could not do from templates, ignored CONECT records
}

// ReadPDBFile reads a PDB file; see ReadPDB.
func ReadPDBFile(path string) (*PDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPDB(f, path)
}

// ReadPDB reads a PDB file from r; name is the file's name for error
// messages, which have the form "name:line: what is wrong".
//
// What is read:
//   - ATOM and HETATM records. A new chain starts at the first atom after a
//     TER record and wherever the chain ID changes; a new residue wherever
//     resSeq, the insertion code or (for atoms without an altLoc) the
//     residue name changes. Residue names may have a fourth character in
//     column 21 (GROMACS), residue numbers and serials may be in the
//     hexadecimal form VMD and OpenMM use beyond 9999 and 99999.
//   - Alternate locations: the first location seen of each atom is kept, the
//     others are skipped, as are atoms of an alternate residue name (a point
//     mutation). Two records of the same atom with the same altLoc are an
//     error.
//   - Elements from columns 77-78; "EP" there marks an extra particle (no
//     element). Where the columns are blank or unknown the element is
//     inferred from the atom name as OpenMM does: leading digits are
//     stripped; a name starting with CL, BR, NA, MG, BE, LI, ZN or K is that
//     element (BR is gobg's addition: OpenMM reads it as boron); "CA..." in a
//     residue of one atom is calcium; otherwise the first letter is the
//     element (C, H, N, O, S, P, ...), and the element is unknown if that
//     letter is not one.
//   - MODEL/ENDMDL: one position set per model; every model must have the
//     same atoms in the same order. Reading stops at END.
//   - CRYST1 gives Box (OpenMM's reduced box vectors); a zero length means
//     no box.
//   - CONECT records add bonds between the atoms they name, except bonds from
//     a metal to a standard residue, as OpenMM does.
//
// Then the bonds of the residue templates are created from the first model
// (see Topology.CreateStandardBonds); its warnings end up in PDB.Warnings.
// Positions are converted from Å to nm. Other records are ignored.
func ReadPDB(r io.Reader, name string) (*PDB, error) {
	p := &pdbParser{name: name}
	if err := p.parse(r); err != nil {
		return nil, err
	}
	if p.first == nil || len(p.first.atoms) == 0 {
		return nil, fmt.Errorf("%s: no atoms", name)
	}
	top := p.first.topology()
	out := &PDB{Topology: top, Box: p.box, Models: p.positions}
	out.Warnings = p.addConect(top)
	w, err := top.CreateStandardBonds(out.Models[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out.Warnings = append(out.Warnings, w...)
	return out, nil
}

// pdbAtom is one kept ATOM/HETATM record.
type pdbAtom struct {
	line    int
	serial  int
	name    string
	altLoc  byte
	resName string
	chainID string
	resSeq  int
	iCode   string
	hetero  bool
	elem    string // columns 77-78, trimmed
	pos     Vec3   // nm
	res     int    // index into pdbModel.residues
}

type pdbResidue struct {
	name   string
	seq    int
	iCode  string
	chain  int
	hetero bool
	atoms  []int           // indices into pdbModel.atoms
	byName map[string]byte // atom name -> altLoc kept
}

type pdbChain struct {
	id         string
	terminated bool // a TER record closed it
}

// pdbModel is one model as read, before it becomes a topology.
type pdbModel struct {
	number   int // 1-based order in the file
	atoms    []pdbAtom
	residues []pdbResidue
	chains   []pdbChain
}

type pdbParser struct {
	name      string
	line      int
	first     *pdbModel // the first model, which gives the topology
	positions [][]Vec3  // of every model read
	cur       *pdbModel // model being read
	inModel   bool      // between MODEL and ENDMDL
	sawModel  bool      // a MODEL record was seen
	box       *[3]Vec3
	conect    []conectRecord
}

type conectRecord struct {
	line    int
	serials []int
}

func (p *pdbParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, p.line, fmt.Sprintf(format, args...))
}

// col returns columns [a, b) of line (0-based), clipped to the line.
func col(line string, a, b int) string {
	if a >= len(line) {
		return ""
	}
	if b > len(line) {
		b = len(line)
	}
	return line[a:b]
}

func (p *pdbParser) parse(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		text, err := br.ReadString('\n')
		stop := false
		if len(text) > 0 || err == nil {
			text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
			// A lone CR ends a line too (old Mac files), rather than hiding
			// the rest of the file in one long line.
			for _, line := range strings.Split(text, "\r") {
				p.line++
				var perr error
				if stop, perr = p.record(line); perr != nil {
					return perr
				}
				if stop {
					break
				}
			}
		}
		if stop {
			break
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p.name, err)
		}
	}
	if p.cur != nil && len(p.cur.atoms) > 0 {
		// A last model without ENDMDL (or a file without MODEL records).
		return p.endModel()
	}
	return nil
}

// record handles one line; stop is true at END.
func (p *pdbParser) record(line string) (stop bool, err error) {
	rec := strings.TrimRight(col(line, 0, 6), " ")
	switch {
	case strings.HasPrefix(rec, "ATOM") || rec == "HETATM":
		return false, p.atom(line, rec == "HETATM")
	case rec == "TER":
		if p.cur != nil && len(p.cur.chains) > 0 {
			p.cur.chains[len(p.cur.chains)-1].terminated = true
		}
	case rec == "MODEL":
		if p.inModel {
			return false, p.errorf("MODEL record inside a model (missing ENDMDL)")
		}
		if p.cur != nil && len(p.cur.atoms) > 0 {
			return false, p.errorf("MODEL record after atoms that belong to no model")
		}
		p.inModel, p.sawModel = true, true
		p.cur = &pdbModel{number: len(p.positions) + 1}
	case rec == "ENDMDL":
		if !p.inModel {
			return false, p.errorf("ENDMDL without MODEL")
		}
		p.inModel = false
		return false, p.endModel()
	case rec == "END":
		return true, nil
	case rec == "CRYST1":
		return false, p.cryst1(line)
	case rec == "CONECT":
		return false, p.conectLine(line)
	}
	return false, nil
}

func (p *pdbParser) atom(line string, hetero bool) error {
	if p.sawModel && !p.inModel {
		return p.errorf("atom record outside MODEL/ENDMDL")
	}
	if len(line) < 54 {
		return p.errorf("short ATOM/HETATM record (%d columns; coordinates need 54)", len(line))
	}
	a := pdbAtom{line: p.line, hetero: hetero}
	a.name = strings.TrimSpace(line[12:16])
	if a.name == "" {
		return p.errorf("blank atom name")
	}
	a.altLoc = line[16]
	a.resName = strings.TrimSpace(line[17:20])
	if c := line[20]; c != ' ' {
		if len(a.resName) != 3 {
			return p.errorf("misaligned residue name %q", line[17:21])
		}
		a.resName += line[20:21]
	}
	if c := line[21]; c != ' ' {
		a.chainID = line[21:22]
	}
	var ok bool
	if a.resSeq, ok = parseHybrid(line[22:26], 4); !ok {
		return p.errorf("bad residue number %q", line[22:26])
	}
	if c := line[26]; c != ' ' {
		a.iCode = line[26:27]
	}
	for k, what := range [3]string{"x", "y", "z"} {
		s := line[30+8*k : 38+8*k]
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return p.errorf("bad %s coordinate %q", what, s)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return p.errorf("%s coordinate %q is not finite", what, s)
		}
		a.pos[k] = v / 10 // Å -> nm
	}
	a.elem = strings.TrimSpace(col(line, 76, 78))
	if p.cur == nil {
		p.cur = &pdbModel{number: 1}
	}
	m := p.cur
	if s, ok := parseHybrid(line[6:11], 5); ok {
		a.serial = s
	} else if n := len(m.atoms); n > 0 {
		// "*****" and the like: continue the numbering, as OpenMM does.
		a.serial = m.atoms[n-1].serial + 1
	} else {
		a.serial = 1
	}
	return m.add(a, p)
}

// add places an atom in the model's chains and residues.
func (m *pdbModel) add(a pdbAtom, p *pdbParser) error {
	newChain := len(m.chains) == 0
	if !newChain {
		c := m.chains[len(m.chains)-1]
		newChain = c.terminated || c.id != a.chainID
	}
	if newChain {
		m.chains = append(m.chains, pdbChain{id: a.chainID})
	}
	ci := len(m.chains) - 1
	var res *pdbResidue
	if n := len(m.residues); n > 0 && !newChain {
		res = &m.residues[n-1]
		if res.seq != a.resSeq || res.iCode != a.iCode {
			res = nil
		} else if res.name != a.resName {
			if a.altLoc == ' ' {
				res = nil // a different residue with the same number
			} else {
				return nil // an alternate residue (point mutation): skip its atoms
			}
		}
	}
	if res == nil {
		m.residues = append(m.residues, pdbResidue{
			name: a.resName, seq: a.resSeq, iCode: a.iCode, chain: ci, hetero: a.hetero,
			byName: map[string]byte{},
		})
		res = &m.residues[len(m.residues)-1]
	}
	if alt, seen := res.byName[a.name]; seen {
		if alt == a.altLoc {
			return p.errorf("duplicate atom %q in residue %s %d%s", a.name, res.name, res.seq, res.iCode)
		}
		return nil // another location of an atom already read
	}
	res.byName[a.name] = a.altLoc
	a.res = len(m.residues) - 1
	res.atoms = append(res.atoms, len(m.atoms))
	m.atoms = append(m.atoms, a)
	return nil
}

// endModel closes the current model and checks it against the first.
func (p *pdbParser) endModel() error {
	m := p.cur
	p.cur = nil
	if m == nil {
		m = &pdbModel{number: len(p.positions) + 1}
	}
	if first := p.first; first != nil {
		if len(m.atoms) != len(first.atoms) {
			line := p.line // where the model ended
			if len(m.atoms) > len(first.atoms) {
				line = m.atoms[len(first.atoms)].line // the first atom too many
			}
			return fmt.Errorf("%s:%d: model %d has %d atoms, model 1 has %d", p.name, line, m.number, len(m.atoms), len(first.atoms))
		}
		for i := range m.atoms {
			a, b := &m.atoms[i], &first.atoms[i]
			ra, rb := &m.residues[a.res], &first.residues[b.res]
			if a.name != b.name || a.resName != b.resName || a.resSeq != b.resSeq || a.iCode != b.iCode ||
				a.chainID != b.chainID || ra.chain != rb.chain || a.res != b.res {
				return fmt.Errorf("%s:%d: model %d atom %d is %s, model 1 has %s", p.name, a.line, m.number, i+1, a.describe(), b.describe())
			}
		}
	}
	pos := make([]Vec3, len(m.atoms))
	for i := range m.atoms {
		pos[i] = m.atoms[i].pos
	}
	p.positions = append(p.positions, pos)
	if p.first == nil {
		p.first = m // later models are dropped once checked, to bound memory
	}
	return nil
}

func (a *pdbAtom) describe() string {
	return fmt.Sprintf("%s of %s %d%s (chain %q)", a.name, a.resName, a.resSeq, a.iCode, a.chainID)
}

// topology builds the Topology of a model.
func (m *pdbModel) topology() *Topology {
	t := &Topology{}
	var c *Chain
	ci := -1
	for _, r := range m.residues {
		if r.chain != ci {
			ci = r.chain
			c = t.AddChain(m.chains[ci].id)
		}
		res := t.AddResidue(c, r.name, r.seq, r.iCode)
		res.Hetero = r.hetero
		for _, ai := range r.atoms {
			a := &m.atoms[ai]
			t.AddAtom(res, a.name, pdbElement(a.elem, a.name, len(r.atoms)), a.serial)
		}
	}
	return t
}

// pdbElement finds an atom's element from the element columns or its name;
// see ReadPDB for the rule.
func pdbElement(column, atomName string, residueAtoms int) *Element {
	if strings.EqualFold(column, "EP") {
		return nil
	}
	if e := ElementBySymbol(column); column != "" && e != nil {
		return e
	}
	u := strings.ToUpper(atomName)
	for len(u) > 1 && u[0] >= '0' && u[0] <= '9' {
		u = u[1:]
	}
	for _, pre := range []string{"CL", "BR", "NA", "MG", "BE", "LI", "ZN", "K"} {
		if strings.HasPrefix(u, pre) {
			return ElementBySymbol(pre)
		}
	}
	if residueAtoms == 1 && strings.HasPrefix(u, "CA") {
		return ElementBySymbol("Ca")
	}
	return ElementBySymbol(u[:1])
}

// parseHybrid reads a right-justified integer field of the given width:
// decimal, or the hexadecimal continuation VMD and OpenMM write once decimal
// runs out (width 4: A000 = 10000; width 5: A0000 = 100000).
func parseHybrid(s string, width int) (int, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false
	}
	if v, err := strconv.Atoi(t); err == nil {
		return v, true
	}
	v, err := strconv.ParseUint(t, 16, 64)
	if err != nil || len(t) != width {
		return 0, false
	}
	limit := uint64(10) // 10^width and 0xA * 16^(width-1)
	hexStart := uint64(0xA)
	for i := 1; i < width; i++ {
		limit *= 10
		hexStart *= 16
	}
	if v < hexStart {
		return 0, false
	}
	return int(v - hexStart + limit), true
}

// formatHybrid is the inverse of parseHybrid; ok is false if n does not fit.
func formatHybrid(n, width int) (string, bool) {
	limit, hexStart, hexMax := 1, 0xA, 1
	for i := 0; i < width; i++ {
		limit *= 10
		hexMax *= 16
	}
	for i := 1; i < width; i++ {
		hexStart *= 16
	}
	switch {
	case n >= limit:
		h := n - limit + hexStart
		if h >= hexMax {
			return "", false
		}
		return fmt.Sprintf("%*X", width, h), true
	case n <= -limit/10:
		return "", false
	}
	return fmt.Sprintf("%*d", width, n), true
}

func (p *pdbParser) cryst1(line string) error {
	if len(line) < 54 {
		return p.errorf("short CRYST1 record (%d columns; cell needs 54)", len(line))
	}
	var v [6]float64
	cols := [7]int{6, 15, 24, 33, 40, 47, 54}
	names := [6]string{"a", "b", "c", "alpha", "beta", "gamma"}
	for k := range v {
		s := line[cols[k]:cols[k+1]]
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return p.errorf("bad CRYST1 %s %q", names[k], s)
		}
		v[k] = x
	}
	if v[0] == 0 || v[1] == 0 || v[2] == 0 {
		p.box = nil
		return nil
	}
	box, err := boxVectors(v[0]/10, v[1]/10, v[2]/10, v[3]*math.Pi/180, v[4]*math.Pi/180, v[5]*math.Pi/180)
	if err != nil {
		return p.errorf("CRYST1: degenerate cell %g %g %g Å, %g %g %g degrees", v[0], v[1], v[2], v[3], v[4], v[5])
	}
	p.box = &box
	return nil
}

// boxVectors turns cell lengths (nm) and angles (rad) into box vectors in
// OpenMM's reduced form: a along x, b in the xy plane.
func boxVectors(a, b, c, alpha, beta, gamma float64) ([3]Vec3, error) {
	va := Vec3{a, 0, 0}
	vb := Vec3{b * math.Cos(gamma), b * math.Sin(gamma), 0}
	cx := c * math.Cos(beta)
	cy := c * (math.Cos(alpha) - math.Cos(beta)*math.Cos(gamma)) / math.Sin(gamma)
	cz2 := c*c - cx*cx - cy*cy
	if !(cz2 > 0) || math.Abs(vb[1]) < 1e-6 {
		return [3]Vec3{}, errors.New("degenerate cell")
	}
	vc := Vec3{cx, cy, math.Sqrt(cz2)}
	for _, v := range []*Vec3{&va, &vb, &vc} {
		for i := range v {
			if math.Abs(v[i]) < 1e-6 {
				v[i] = 0
			}
		}
	}
	if math.Abs(vb[1]) < 1e-6 || math.Abs(va[0]) < 1e-6 || math.Abs(vc[2]) < 1e-6 {
		return [3]Vec3{}, errors.New("degenerate cell")
	}
	// Reduce as OpenMM does (Python's round is round-half-even).
	k := math.RoundToEven(vc[1] / vb[1])
	for i := range vc {
		vc[i] -= k * vb[i]
	}
	k = math.RoundToEven(vc[0] / va[0])
	for i := range vc {
		vc[i] -= k * va[i]
	}
	k = math.RoundToEven(vb[0] / va[0])
	for i := range vb {
		vb[i] -= k * va[i]
	}
	return [3]Vec3{va, vb, vc}, nil
}

func (p *pdbParser) conectLine(line string) error {
	var serials []int
	for k, a := 0, 6; a < 31; k, a = k+1, a+5 {
		s := col(line, a, a+5)
		if strings.TrimSpace(s) == "" {
			if k == 0 {
				return p.errorf("CONECT record without an atom serial")
			}
			continue
		}
		v, ok := parseHybrid(s, 5)
		if !ok {
			return p.errorf("bad CONECT atom serial %q", s)
		}
		serials = append(serials, v)
	}
	p.conect = append(p.conect, conectRecord{line: p.line, serials: serials})
	return nil
}

// metals are the elements OpenMM does not bond to standard residues from
// CONECT records (the bonds of a metal site are left to the force field).
var metals = map[string]bool{}

func init() {
	for _, s := range strings.Fields("Al As Ba Ca Cd Ce Co Cs Cu Dy Fe Gd Hg Ho In Ir K Li Mg Mn Mo Na Ni Pb Pd Pt Rb Rh Sm Sr Te Tl V W Yb Zn") {
		metals[s] = true
	}
}

// addConect adds the CONECT bonds to the topology and returns warnings.
func (p *pdbParser) addConect(t *Topology) []string {
	if len(p.conect) == 0 {
		return nil
	}
	bySerial := make(map[int]int, len(t.Atoms))
	for _, a := range t.Atoms {
		bySerial[a.Serial] = a.Index // the last atom with a serial wins, as in OpenMM
	}
	isMetal := func(a *Atom) bool { return a.Element != nil && metals[a.Element.Symbol] }
	isStandard := func(a *Atom) bool {
		c, _ := CanonicalResidueName(a.Residue.Name)
		return nonHeteroRes[c]
	}
	missing, firstMissing := 0, 0
	for _, c := range p.conect {
		i, ok := bySerial[c.serials[0]]
		for _, s := range c.serials[1:] {
			j, ok2 := bySerial[s]
			if !ok || !ok2 {
				if missing == 0 {
					firstMissing = c.line
				}
				missing++
				continue
			}
			ai, aj := t.Atoms[i], t.Atoms[j]
			if i == j || (isMetal(ai) && isStandard(aj)) || (isMetal(aj) && isStandard(ai)) {
				continue
			}
			t.AddBond(i, j)
		}
	}
	t.sortBonds()
	if missing > 0 {
		return []string{fmt.Sprintf("%s:%d: %d CONECT bond(s) name atom serials that are not in the first model; ignored", p.name, firstMissing, missing)}
	}
	return nil
}

// WritePDBFile writes a PDB file atomically: to a temporary file in the same
// directory, renamed over path once complete.
func WritePDBFile(path string, top *Topology, models [][]Vec3, box *[3]Vec3) error {
	return atomicfile.Write(path, func(w io.Writer) error { return WritePDB(w, top, models, box) })
}

// WritePDB writes a topology and one or more position sets (nm) as a PDB
// file that OpenMM and mdtraj read: CRYST1 if box is not nil, MODEL/ENDMDL
// around each model when there is more than one, TER after each chain,
// CONECT records for the bonds the residue templates do not give (guessed
// bonds of other residues, disulfides), END.
//
// Names are written as they are in the topology: residue names of up to 4
// characters (the 4th in column 21), atom names up to 4, chain IDs of one
// character (others are replaced by A, B, ... by chain index, as OpenMM
// does). Serial numbers are renumbered from 1, TER records included.
// Residues marked Hetero are written as HETATM. A coordinate that does not
// fit the 8-column field even with fewer decimals is an error; nothing is
// written when any input is invalid.
func WritePDB(w io.Writer, top *Topology, models [][]Vec3, box *[3]Vec3) error {
	if top == nil {
		return errors.New("write PDB: nil topology")
	}
	if len(models) == 0 {
		return errors.New("write PDB: no models")
	}
	if err := top.checkIndices(); err != nil {
		return fmt.Errorf("write PDB: %w", err)
	}
	// Format all coordinates first so that invalid input writes nothing.
	coords := make([][]string, len(models))
	for m, pos := range models {
		if len(pos) != len(top.Atoms) {
			return fmt.Errorf("write PDB: model %d has %d positions, topology has %d atoms", m+1, len(pos), len(top.Atoms))
		}
		coords[m] = make([]string, len(pos))
		for i, p := range pos {
			var b strings.Builder
			for k := 0; k < 3; k++ {
				s, err := formatCoord(p[k] * 10)
				if err != nil {
					return fmt.Errorf("write PDB: model %d atom %d (%s of %s): %w", m+1, i+1, top.Atoms[i].Name, top.Atoms[i].Residue, err)
				}
				b.WriteString(s)
			}
			coords[m][i] = b.String()
		}
	}
	// Serial numbers (TER takes one) and the fixed part of each atom line.
	serial := make([]int, len(top.Atoms))
	// Each atom line is head (columns 1-30) + coordinates + tail, in chain order.
	type atomLine struct{ head, tail string }
	var atomLines []atomLine
	var order []int
	type ter struct {
		after int // position in order after which TER comes
		text  string
	}
	var ters []ter
	next := 1
	for ci, c := range top.Chains {
		chainID := " "
		switch {
		case len(c.ID) == 1:
			chainID = c.ID
		case c.ID != "":
			chainID = string(rune('A' + ci%26))
		}
		for ri, r := range c.Residues {
			if len(r.Name) > 4 {
				return fmt.Errorf("write PDB: residue name %q of %s is longer than 4 characters", r.Name, r)
			}
			resName := padLeft(r.Name, 3) + " "
			if len(r.Name) == 4 {
				resName = r.Name
			}
			resSeq, ok := formatHybrid(r.Number, 4)
			if !ok {
				return fmt.Errorf("write PDB: residue number %d of %s does not fit in 4 columns", r.Number, r)
			}
			iCode := " "
			if len(r.InsertionCode) == 1 {
				iCode = r.InsertionCode
			} else if r.InsertionCode != "" {
				return fmt.Errorf("write PDB: insertion code %q of %s is not one character", r.InsertionCode, r)
			}
			record := "ATOM  "
			if r.Hetero {
				record = "HETATM"
			}
			for _, a := range r.Atoms {
				if a.Name == "" || len(a.Name) > 4 {
					return fmt.Errorf("write PDB: atom name %q in %s must have 1 to 4 characters", a.Name, r)
				}
				sym := "EP"
				if a.Element != nil {
					sym = a.Element.Symbol
				}
				name := a.Name
				if len(name) < 4 && isLetter(name[0]) && len(sym) < 2 {
					name = " " + name
				}
				sn, ok := formatHybrid(next, 5)
				if !ok {
					return fmt.Errorf("write PDB: too many atoms for 5-column serial numbers")
				}
				serial[a.Index] = next
				next++
				atomLines = append(atomLines, atomLine{
					record + sn + " " + padRight(name, 4) + " " + resName + chainID + resSeq + iCode + "   ",
					fmt.Sprintf("  1.00  0.00          %2s  ", sym)})
				order = append(order, a.Index)
			}
			if ri == len(c.Residues)-1 {
				sn, ok := formatHybrid(next, 5)
				if !ok {
					return fmt.Errorf("write PDB: too many atoms for 5-column serial numbers")
				}
				next++
				ters = append(ters, ter{len(order), fmt.Sprintf("TER   %s      %s%s%s%s", sn, resName, chainID, resSeq, iCode)})
			}
		}
	}
	if len(order) != len(top.Atoms) {
		return fmt.Errorf("write PDB: chains hold %d atoms, topology has %d", len(order), len(top.Atoms))
	}

	cryst := ""
	if box != nil {
		a, b, c, alpha, beta, gamma, err := lengthsAndAngles(*box)
		if err != nil {
			return fmt.Errorf("write PDB: %w", err)
		}
		cryst = fmt.Sprintf("CRYST1%9.3f%9.3f%9.3f%7.2f%7.2f%7.2f P 1           1 ", a*10, b*10, c*10, alpha, beta, gamma)
		// Reading it back must work: a cell that rounds to a degenerate one
		// (or overflows its 6+3*9+3*7+17 = 71 columns) is refused rather
		// than written.
		rp := &pdbParser{name: "CRYST1"}
		if len(cryst) != 71 || rp.cryst1(cryst) != nil || rp.box == nil {
			return fmt.Errorf("write PDB: box %v cannot be written as CRYST1", *box)
		}
	}

	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "REMARK   1 CREATED WITH GOBG")
	if cryst != "" {
		fmt.Fprintln(bw, cryst)
	}
	for m := range models {
		if len(models) > 1 {
			fmt.Fprintf(bw, "MODEL     %4d\n", m+1)
		}
		t := 0
		for k, ai := range order {
			bw.WriteString(atomLines[k].head)
			bw.WriteString(coords[m][ai])
			bw.WriteString(atomLines[k].tail)
			bw.WriteByte('\n')
			for t < len(ters) && ters[t].after == k+1 {
				bw.WriteString(ters[t].text)
				bw.WriteByte('\n')
				t++
			}
		}
		if len(models) > 1 {
			fmt.Fprintln(bw, "ENDMDL")
		}
	}
	writeConect(bw, top, serial)
	fmt.Fprintln(bw, "END")
	return bw.Flush()
}

// writeConect writes CONECT records for the bonds a reader would not recreate
// from the residue templates.
func writeConect(w *bufio.Writer, top *Topology, serial []int) {
	tpl := top.templateBondSet()
	partners := map[int][]int{}
	var atoms []int
	for _, b := range top.Bonds {
		if tpl[Bond{min(b.I, b.J), max(b.I, b.J)}] || b.I == b.J {
			continue
		}
		for _, pr := range [2][2]int{{b.I, b.J}, {b.J, b.I}} {
			if _, ok := partners[pr[0]]; !ok {
				atoms = append(atoms, pr[0])
			}
			partners[pr[0]] = append(partners[pr[0]], pr[1])
		}
	}
	slices.Sort(atoms)
	for _, i := range atoms {
		ps := partners[i]
		slices.Sort(ps)
		for len(ps) > 0 {
			n := min(4, len(ps))
			s, _ := formatHybrid(serial[i], 5)
			w.WriteString("CONECT" + s)
			for _, j := range ps[:n] {
				s, _ := formatHybrid(serial[j], 5)
				w.WriteString(s)
			}
			w.WriteByte('\n')
			ps = ps[n:]
		}
	}
}

// padLeft and padRight pad to n bytes (fmt pads to n runes, which would
// shift the columns of a name with multi-byte characters).
func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat(" ", n-len(s)) + s
}

func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

func isLetter(c byte) bool { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }

// formatCoord formats a coordinate in Å for an 8-column field: 3 decimals,
// fewer when the value is too large for them.
func formatCoord(x float64) (string, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "", fmt.Errorf("coordinate %v is not finite", x)
	}
	for prec := 3; prec >= 0; prec-- {
		if s := strconv.FormatFloat(x, 'f', prec, 64); len(s) <= 8 {
			return fmt.Sprintf("%8s", s), nil
		}
	}
	return "", fmt.Errorf("coordinate %g Å does not fit in 8 columns", x)
}

// lengthsAndAngles converts box vectors (nm) to cell lengths (nm) and angles
// (degrees).
func lengthsAndAngles(box [3]Vec3) (a, b, c, alpha, beta, gamma float64, err error) {
	norm := func(v Vec3) float64 { return math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2]) }
	dot := func(u, v Vec3) float64 { return u[0]*v[0] + u[1]*v[1] + u[2]*v[2] }
	a, b, c = norm(box[0]), norm(box[1]), norm(box[2])
	if !(a > 0 && b > 0 && c > 0) || math.IsInf(a+b+c, 0) {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("box vectors %v have a zero or non-finite length", box)
	}
	angle := func(cos float64) float64 { return math.Acos(math.Max(-1, math.Min(1, cos))) * 180 / math.Pi }
	alpha = angle(dot(box[1], box[2]) / (b * c))
	beta = angle(dot(box[2], box[0]) / (c * a))
	gamma = angle(dot(box[0], box[1]) / (a * b))
	if a*10 >= 1e5 || b*10 >= 1e5 || c*10 >= 1e5 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("box lengths %g %g %g nm do not fit CRYST1", a, b, c)
	}
	return a, b, c, alpha, beta, gamma, nil
}
