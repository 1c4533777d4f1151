// Package native evaluates the potential energy and forces of an OpenMM
// System (read by package energy/forcefield) in plain Go on the CPU: harmonic
// bonds and angles, periodic torsions, Coulomb plus Lennard-Jones without
// cutoff, and OpenMM's GBSAOBCForce (OBC type II generalized Born with the ACE
// non-polar term).
//
// The numbers follow OpenMM's Reference platform (double precision); the tests
// compare against it term by term. Everything is float64. A batch is split
// over worker goroutines, one conformation at a time; each worker owns its
// scratch memory, so the evaluation of a conformation allocates nothing.
//
// The cost is in the three passes over all atom pairs of the GB energy (Born
// radii, pair energies fused with Coulomb and Lennard-Jones, forces through
// the Born radii). The HCT integral of the Born radii is tabulated in closed
// form for non-overlapping pairs (hcttable.go), which removes the logarithms
// and most divisions of OpenMM's formula. Built with GOEXPERIMENT=simd on a
// CPU with AVX-512, the passes run eight pairs at a time (simd_amd64.go):
// about four times faster than the portable loops, which every other build
// uses. Both paths are tested against OpenMM.
package native

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
)

// OneFourPiEps0 is 1/(4πε₀) in kJ·nm/(mol·e²), derived like OpenMM 8's
// ONE_4PI_EPS0 from the SI-2019 exact elementary charge and Avogadro constant
// and CODATA 2018's ε₀ (older OpenMM versions used 138.935456, 1.2e-8 lower).
const OneFourPiEps0 = 1 / (4 * math.Pi * epsilon0)

const (
	elementaryCharge = 1.602176634e-19
	avogadro         = 6.02214076e23
	// epsilon0 in e²·mol/(kJ·nm).
	epsilon0 = 1e-6 * 8.8541878128e-12 / (elementaryCharge * elementaryCharge * avogadro)
)

// Options configure an Energy.
type Options struct {
	// Workers is the number of goroutines a batch is spread over; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Scalar selects the portable pair loops even where the AVX-512 ones
	// are available (builds with GOEXPERIMENT=simd on CPUs with AVX-512);
	// the tests compare the two.
	Scalar bool
}

// Term names one force type of the System.
type Term int

// The force types, in the order of Terms' arrays.
const (
	TermBond Term = iota
	TermAngle
	TermTorsion
	TermNonbonded
	TermGBSA
	NumTerms
)

var termNames = [NumTerms]string{"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce", "NonbondedForce", "GBSAOBCForce"}

// String returns the OpenMM class name of the term.
func (t Term) String() string {
	if t >= 0 && t < NumTerms {
		return termNames[t]
	}
	return fmt.Sprintf("Term(%d)", int(t))
}

// Terms holds one conformation's energy and forces split by force type.
type Terms struct {
	Energies [NumTerms]float64 // kJ/mol
	// Forces[t] has one entry per atom (kJ/mol/nm); nil unless forces were
	// asked for.
	Forces [NumTerms][]molecule.Vec3
}

// Total is the sum of the term energies.
func (t *Terms) Total() float64 {
	s := 0.0
	for _, e := range t.Energies {
		s += e
	}
	return s
}

// Energy evaluates one System. It is safe for concurrent use.
type Energy struct {
	n       int
	workers int

	bonds    []bond
	angles   []angle
	torsions []torsion
	nb       *nonbonded // nil without NonbondedForce
	gb       *gbsa      // nil without GBSAOBCForce

	pool sync.Pool // *workspace
}

var _ energy.Energy = (*Energy)(nil)

// New prepares the parameter tables of sys for evaluation.
func New(sys *forcefield.System, opts Options) (*Energy, error) {
	if sys == nil || sys.NumParticles() == 0 {
		return nil, fmt.Errorf("native energy: empty system")
	}
	if opts.Workers < 0 {
		return nil, fmt.Errorf("native energy: %d workers", opts.Workers)
	}
	e := &Energy{n: sys.NumParticles(), workers: opts.Workers}
	if e.workers == 0 {
		e.workers = runtime.GOMAXPROCS(0)
	}
	e.bonds = newBonds(sys.Bonds)
	e.angles = newAngles(sys.Angles)
	e.torsions = newTorsions(sys.Torsions)
	if sys.Nonbonded != nil {
		nb, err := newNonbonded(sys.Nonbonded, e.n)
		if err != nil {
			return nil, fmt.Errorf("native energy: %w", err)
		}
		e.nb = nb
	}
	if sys.GBSA != nil {
		e.gb = newGBSA(sys.GBSA)
	}
	useSIMD := simdAvailable && !opts.Scalar
	e.pool.New = func() any {
		w := newWorkspace(e.n)
		if useSIMD {
			w.simd = true
			w.vs = newSIMDScratch(e.n)
		}
		return w
	}
	return e, nil
}

// NumAtoms is the number of atoms of the System.
func (e *Energy) NumAtoms() int { return e.n }

// Workers is the number of goroutines a batch is spread over.
func (e *Energy) Workers() int { return e.workers }

// workspace is one worker's scratch memory: positions and forces in
// structure-of-arrays layout (the pair loops stream through them) and the
// per-atom arrays of the generalized Born passes.
type workspace struct {
	// simd selects the AVX-512 pair loops (simd_amd64.go).
	simd       bool
	x, y, z    []float64
	fx, fy, fz []float64
	gb         gbScratch
	vs         simdScratch // scratch of the vector loops
}

func newWorkspace(n int) *workspace {
	return &workspace{
		x: padded(n), y: padded(n), z: padded(n),
		fx: padded(n), fy: padded(n), fz: padded(n),
		gb: newGBScratch(n),
	}
}

// padded returns a zeroed slice of length n and capacity n+8 whose first
// element is 64-byte aligned: the vector loops read and write aligned blocks
// of eight (a 64-byte load that straddles two cache lines costs two), and the
// zeros past n (zero charges, radii, forces) keep the extra lanes finite. The
// portable code sees only the first n.
func padded(n int) []float64 {
	buf := make([]float64, n+16)
	off := 0
	if a := uintptr(unsafe.Pointer(&buf[0])) % 64; a != 0 {
		off = int(64-a) / 8
	}
	return buf[off : off+n : off+n+8]
}

// load copies positions into the workspace and zeroes the forces. It
// reports the first non-finite coordinate.
func (w *workspace) load(pos []molecule.Vec3) error {
	for i, p := range pos {
		if !isFinite(p[0]) || !isFinite(p[1]) || !isFinite(p[2]) {
			return fmt.Errorf("non-finite position (atom %d: %v)", i, p)
		}
		w.x[i], w.y[i], w.z[i] = p[0], p[1], p[2]
	}
	// Zero the forces and the padding of the per-atom scratch arrays: the
	// vector loops write into the padding, and what a failed sample leaves
	// there must not reach the next one.
	clear(w.fx[:cap(w.fx)])
	clear(w.fy[:cap(w.fy)])
	clear(w.fz[:cap(w.fz)])
	for _, s := range [...][]float64{w.gb.psi, w.gb.born, w.gb.invB, w.gb.chain, w.gb.dEdB} {
		clear(s[len(s):cap(s)])
	}
	return nil
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// store writes the forces into f.
func (w *workspace) store(f []molecule.Vec3) {
	for i := range f {
		f[i] = molecule.Vec3{w.fx[i], w.fy[i], w.fz[i]}
	}
}

// compute evaluates the terms selected by mask on the loaded positions,
// adding forces into the workspace when forces is set, and returns the energy
// of each term.
func (e *Energy) compute(w *workspace, mask [NumTerms]bool, forces bool) [NumTerms]float64 {
	var en [NumTerms]float64
	if mask[TermBond] {
		en[TermBond] = e.bondEnergy(w, forces)
	}
	if mask[TermAngle] {
		en[TermAngle] = e.angleEnergy(w, forces)
	}
	if mask[TermTorsion] {
		en[TermTorsion] = e.torsionEnergy(w, forces)
	}
	if mask[TermNonbonded] && mask[TermGBSA] && e.nb != nil && e.gb != nil {
		en[TermNonbonded], en[TermGBSA] = e.nonbondedGB(w, forces)
		return en
	}
	if mask[TermNonbonded] && e.nb != nil {
		en[TermNonbonded] = e.nb.energy(w, forces)
	}
	if mask[TermGBSA] && e.gb != nil {
		en[TermGBSA] = e.gb.energy(w, forces)
	}
	return en
}

var allTerms = [NumTerms]bool{true, true, true, true, true}

// Evaluate returns the energies (kJ/mol) and, if wantForces, the forces
// (kJ/mol/nm) of a batch of conformations. A conformation with a non-finite
// coordinate, energy or force gets an error in Result.Errors (wrapping
// energy.ErrNonFinite), NaN energy and zero forces; the other conformations
// are unaffected. The returned error is for a wrong shape or a cancelled
// context.
func (e *Energy) Evaluate(ctx context.Context, positions [][]molecule.Vec3, wantForces bool) (energy.Result, error) {
	if err := energy.CheckPositions(positions, e.n); err != nil {
		return energy.Result{}, fmt.Errorf("native energy: %w", err)
	}
	b := len(positions)
	res := energy.Result{Energies: make([]float64, b), Errors: make([]error, b)}
	if wantForces {
		res.Forces = make([][]molecule.Vec3, b)
		backing := make([]molecule.Vec3, b*e.n)
		for k := range res.Forces {
			res.Forces[k] = backing[k*e.n : (k+1)*e.n : (k+1)*e.n]
		}
	}
	workers := min(e.workers, b)
	if workers <= 1 {
		w := e.pool.Get().(*workspace)
		defer e.pool.Put(w)
		for k := range b {
			if err := ctx.Err(); err != nil {
				return energy.Result{}, fmt.Errorf("native energy: %w", err)
			}
			e.sample(w, k, positions[k], &res)
		}
		return res, nil
	}
	// Workers take sample indices from a shared counter: the cost of a
	// conformation does not depend on the conformation, but the machine's
	// cores may be shared, so dynamic assignment keeps all workers busy.
	var next sync.Mutex
	k := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.pool.Get().(*workspace)
			defer e.pool.Put(w)
			for {
				next.Lock()
				i := k
				k++
				next.Unlock()
				if i >= b || ctx.Err() != nil {
					return
				}
				e.sample(w, i, positions[i], &res)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return energy.Result{}, fmt.Errorf("native energy: %w", err)
	}
	return res, nil
}

// sample evaluates conformation k into res.
func (e *Energy) sample(w *workspace, k int, pos []molecule.Vec3, res *energy.Result) {
	wantForces := res.Forces != nil
	clearUpper() // see simd_amd64.go
	if err := w.load(pos); err != nil {
		res.Energies[k] = math.NaN()
		res.Errors[k] = &energy.SampleError{Index: k, Reason: err.Error()}
		return
	}
	en := e.compute(w, allTerms, wantForces)
	total := 0.0
	for _, v := range en {
		total += v
	}
	res.Energies[k] = total
	if !isFinite(total) {
		res.Errors[k] = &energy.SampleError{Index: k, Reason: fmt.Sprintf("non-finite energy %v", total)}
		return
	}
	if !wantForces {
		return
	}
	for i := range e.n {
		if !isFinite(w.fx[i]) || !isFinite(w.fy[i]) || !isFinite(w.fz[i]) {
			res.Errors[k] = &energy.SampleError{Index: k, Reason: fmt.Sprintf("non-finite force on atom %d", i)}
			return
		}
	}
	w.store(res.Forces[k])
}

// EvaluateTerms evaluates one conformation force type by force type, for
// debugging and for tests against OpenMM's force groups. It is slower than
// Evaluate (each term is a separate pass) and reports non-finite results
// in the values rather than as errors.
func (e *Energy) EvaluateTerms(pos []molecule.Vec3, wantForces bool) (Terms, error) {
	var t Terms
	if len(pos) != e.n {
		return t, fmt.Errorf("native energy: %d positions, the system has %d atoms", len(pos), e.n)
	}
	w := e.pool.Get().(*workspace)
	defer e.pool.Put(w)
	for term := range NumTerms {
		clearUpper()
		if err := w.load(pos); err != nil {
			return t, fmt.Errorf("native energy: %w", err)
		}
		var mask [NumTerms]bool
		mask[term] = true
		en := e.compute(w, mask, wantForces)
		t.Energies[term] = en[term]
		if wantForces {
			t.Forces[term] = make([]molecule.Vec3, e.n)
			w.store(t.Forces[term])
		}
	}
	return t, nil
}
