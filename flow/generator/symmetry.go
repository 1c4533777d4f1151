package generator

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
)

// Symmetrization says over which relabellings the generator averages its
// density (SetSymmetrize).
// Its JSON form is what gobg's summaries and the Python module report.
type Symmetrization struct {
	// Images is the number of relabellings, the product of the groups'
	// sizes: each density costs that many passes of the inverse flow.
	Images int `json:"images"`
	// Groups are the symmetric terminal groups averaged over, and Centres
	// names each one's centre atom ("ALA2:CB"); Skipped counts the groups
	// left out to keep within the image budget.
	Groups  []molecule.SymmetricGroup `json:"-"`
	Centres []string                  `json:"groups"`
	Skipped int                       `json:"skipped_groups"`
}

// symmetry holds the relabellings of a Symmetrization: perms[k][a] is the
// atom whose position atom a takes in image k (perms[0] is the identity).
type symmetry struct {
	perms [][]int
}

// SetSymmetrize makes the generator's density the average of the flow's
// over the cyclic relabellings of the hydrogens of methyl and NH3+ groups
// (molecule.Topology.SymmetricGroups), as many groups as fit in maxImages
// relabellings, in topology order; 0 turns it off.
//
// The Boltzmann density is unchanged by these relabellings, so the average
// q̄(x) = (1/|G|) Σ_g q(g x) is a proposal at least as close to it as q (by
// convexity, KL(q̄‖p) ≤ KL(q‖p)), and exact: Sample draws from q̄ by
// relabelling each flow sample with a random element of the group, and
// Sample and LogProb both give log q̄. Each density then costs Images passes
// of the inverse flow. It needs full mode: in reduced mode the fixed bond
// lengths and angles of a group's atoms may differ, so a relabelled
// structure may be one the generator cannot make.
func (g *Generator) SetSymmetrize(maxImages int) (Symmetrization, error) {
	if maxImages < 0 {
		return Symmetrization{}, fmt.Errorf("generator: symmetrisation budget %d is negative", maxImages)
	}
	if maxImages <= 1 {
		g.sym = nil
		return Symmetrization{Images: 1, Centres: []string{}}, nil
	}
	if g.spec.Mode != ic.Full {
		return Symmetrization{}, fmt.Errorf("generator: %s is a %s-mode model; symmetrisation needs full mode, where relabelled structures keep their bond lengths and angles", g.path, g.spec.Mode)
	}
	na := g.NumAtoms()
	res := Symmetrization{Images: 1, Centres: []string{}}
	perms := [][]int{identity(na)}
	for _, grp := range g.Topology().SymmetricGroups() {
		m := len(grp.Atoms)
		if res.Images*m > maxImages {
			res.Skipped++
			continue
		}
		res.Groups = append(res.Groups, grp)
		c := g.Topology().Atoms[grp.Centre]
		res.Centres = append(res.Centres, fmt.Sprintf("%s%d:%s", c.Residue.Name, c.Residue.Number, c.Name))
		res.Images *= m
		// Every image so far composed with each cyclic shift of the group.
		var next [][]int
		for _, p := range perms {
			for k := range m {
				q := append([]int(nil), p...)
				for j, a := range grp.Atoms {
					q[a] = p[grp.Atoms[(j+k)%m]]
				}
				next = append(next, q)
			}
		}
		perms = next
	}
	if res.Images == 1 {
		g.sym = nil
		return res, nil
	}
	g.sym = &symmetry{perms: perms}
	return res, nil
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// apply writes image k of structure src (atoms*3 values) into dst.
func (s *symmetry) apply(k int, src, dst []float64) {
	for a, from := range s.perms[k] {
		copy(dst[3*a:3*a+3], src[3*from:3*from+3])
	}
}

// relabel replaces each of the n structures in pos by a random image of
// itself, drawn with a generator seeded by seed.
func (s *symmetry) relabel(pos []float64, n, na int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x73796d6d65747279))
	tmp := make([]float64, na*3)
	for i := range n {
		x := pos[i*na*3 : (i+1)*na*3]
		s.apply(r.IntN(len(s.perms)), x, tmp)
		copy(x, tmp)
	}
}

// logProbSym is LogProb averaged over the images of each structure.
func (g *Generator) logProbSym(n int, pos, out []float64) error {
	na := g.NumAtoms()
	m := len(g.sym.perms)
	chunk := max(1, g.batch/m) // structures per call: one graph batch of images
	// Graphs as wide as a chunk's images; a single structure (the current
	// state of an MCMC chain) gets one just wide enough for its own images
	// rather than one padded to the batch.
	size := chunk * m
	if n == 1 {
		size = m
	}
	buf := make([]float64, chunk*m*na*3)
	lq := make([]float64, chunk*m)
	for start := 0; start < n; start += chunk {
		c := min(chunk, n-start)
		for i := range c {
			x := pos[(start+i)*na*3 : (start+i+1)*na*3]
			for k := range m {
				o := (i*m + k) * na * 3
				g.sym.apply(k, x, buf[o:o+na*3])
			}
		}
		if err := g.logProb(c*m, buf[:c*m*na*3], lq[:c*m], size, func(j int) int { return start + j/m }); err != nil {
			return err
		}
		for i := range c {
			v := lq[i*m : (i+1)*m]
			top := math.Inf(-1)
			for _, l := range v {
				top = max(top, l)
			}
			if math.IsInf(top, -1) {
				out[start+i] = top
				continue
			}
			var sum float64
			for _, l := range v {
				sum += math.Exp(l - top)
			}
			out[start+i] = top + math.Log(sum/float64(m))
		}
	}
	return nil
}
