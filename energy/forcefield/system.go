// Package forcefield reads an OpenMM System, as written by
// openmm.XmlSerializer.serialize(system), into plain parameter tables that
// gobg's native energy (package energy/native) evaluates.
//
// OpenMM's force field machinery (residue templates, atom types, patches)
// stays in OpenMM: Python builds the System once, and the serialized System
// holds every number the energy needs. gobg supports the forces of an
// implicit-solvent Amber System without cutoffs: HarmonicBondForce,
// HarmonicAngleForce, PeriodicTorsionForce, NonbondedForce (NoCutoff) and
// GBSAOBCForce (NoCutoff). CMMotionRemover has no energy and is skipped. Any
// other force, cutoff method or feature that would change the energy (virtual
// sites, parameter offsets, periodic bonded terms) is refused with an error
// that names it, so that a System is never evaluated with part of its physics
// silently missing.
//
// Units are OpenMM's: nm, kJ/mol, radians, elementary charges, amu.
package forcefield

import (
	"fmt"
	"io"
	"os"
)

// System holds the parameters of an OpenMM System.
type System struct {
	// Masses has one entry per particle, in amu.
	Masses []float64
	// Constraints are the System's distance constraints. They do not change
	// the energy; they are kept for integrators and samplers.
	Constraints []Constraint
	// Bonds, Angles and Torsions merge every force of their type in the file.
	Bonds    []Bond
	Angles   []Angle
	Torsions []Torsion
	// Nonbonded is the NonbondedForce, nil when the System has none.
	Nonbonded *Nonbonded
	// GBSA is the GBSAOBCForce, nil when the System has none.
	GBSA *GBSAOBC
	// Forces lists every <Force> of the file in order, skipped ones
	// (CMMotionRemover) included.
	Forces []ForceInfo
}

// NumParticles is the number of particles (atoms) of the System.
func (s *System) NumParticles() int { return len(s.Masses) }

// ForceInfo describes one <Force> element of the file.
type ForceInfo struct {
	Type  string // OpenMM class name, e.g. "HarmonicBondForce"
	Name  string // the force's name attribute
	Group int    // forceGroup
	Line  int    // line of the <Force> element
}

// Constraint fixes the distance between two particles.
type Constraint struct {
	I, J     int
	Distance float64 // nm
}

// Bond is a harmonic bond: E = K/2 (r - Length)².
type Bond struct {
	Atoms  [2]int
	Length float64 // nm
	K      float64 // kJ/mol/nm²
}

// Angle is a harmonic angle at Atoms[1]: E = K/2 (θ - Theta)².
type Angle struct {
	Atoms [3]int
	Theta float64 // rad
	K     float64 // kJ/mol/rad²
}

// Torsion is a periodic torsion: E = K (1 + cos(Periodicity·φ - Phase)), with
// φ the dihedral angle of Atoms in OpenMM's sign convention.
type Torsion struct {
	Atoms       [4]int
	Periodicity int
	Phase       float64 // rad
	K           float64 // kJ/mol
}

// Nonbonded is a NonbondedForce with NoCutoff: Coulomb plus Lennard-Jones
// between all pairs, except the pairs listed as exceptions, which use the
// exception's own parameters instead (zero charge product and epsilon exclude
// the pair).
type Nonbonded struct {
	Particles  []NonbondedParticle
	Exceptions []Exception
}

// NonbondedParticle holds one particle's NonbondedForce parameters. Pairs
// combine them with Lorentz-Berthelot rules: q_i·q_j, (σ_i+σ_j)/2, √(ε_i·ε_j).
type NonbondedParticle struct {
	Charge  float64 // e
	Sigma   float64 // nm
	Epsilon float64 // kJ/mol
}

// Exception replaces the combined parameters of one pair.
type Exception struct {
	I, J       int
	ChargeProd float64 // e²
	Sigma      float64 // nm
	Epsilon    float64 // kJ/mol
}

// GBSAOBC is a GBSAOBCForce with NoCutoff: the OBC (type II) generalized Born
// polar solvation energy plus OpenMM's ACE non-polar surface term.
type GBSAOBC struct {
	Particles         []GBParticle
	SolventDielectric float64
	SoluteDielectric  float64
	// SurfaceAreaEnergy is the surface tension of the ACE term in kJ/mol/nm²
	// (0 switches the term off).
	SurfaceAreaEnergy float64
}

// GBParticle holds one particle's GBSAOBCForce parameters.
type GBParticle struct {
	Charge      float64 // e
	Radius      float64 // nm
	ScaleFactor float64 // HCT overlap scale
}

// ReadSystemXMLFile reads a serialized OpenMM System from a file.
func ReadSystemXMLFile(path string) (*System, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read system: %w", err)
	}
	defer f.Close()
	s, err := ParseSystemXML(f)
	if err != nil {
		return nil, fmt.Errorf("read system %s: %w", path, err)
	}
	return s, nil
}

// ParseSystemXML reads a serialized OpenMM System (the output of
// openmm.XmlSerializer.serialize). Unknown attributes are ignored; unknown
// forces, cutoff methods and features that would change the energy are
// errors.
func ParseSystemXML(r io.Reader) (*System, error) {
	root, err := readTree(r)
	if err != nil {
		return nil, fmt.Errorf("parse system XML: %w", err)
	}
	if root.name != "System" {
		return nil, fmt.Errorf("parse system XML: line %d: root element is <%s>, want <System>", root.line, root.name)
	}
	s := &System{}
	if err := s.readParticles(root); err != nil {
		return nil, fmt.Errorf("parse system XML: %w", err)
	}
	if err := s.readConstraints(root); err != nil {
		return nil, fmt.Errorf("parse system XML: %w", err)
	}
	if forces := root.child("Forces"); forces != nil {
		for _, f := range forces.children {
			if err := s.readForce(f); err != nil {
				return nil, fmt.Errorf("parse system XML: %w", err)
			}
		}
	}
	return s, nil
}

func (s *System) readParticles(root *element) error {
	ps := root.child("Particles")
	if ps == nil {
		return root.errorf("no <Particles>")
	}
	for _, p := range ps.children {
		if p.name != "Particle" {
			continue
		}
		if len(p.children) > 0 {
			return p.errorf("particle %d is a virtual site (<%s>), which gobg does not support", len(s.Masses), p.children[0].name)
		}
		m, err := p.float("mass")
		if err != nil {
			return err
		}
		if m < 0 {
			return p.errorf("negative mass %g", m)
		}
		s.Masses = append(s.Masses, m)
	}
	if len(s.Masses) == 0 {
		return ps.errorf("the System has no particles")
	}
	return nil
}

func (s *System) readConstraints(root *element) error {
	cs := root.child("Constraints")
	if cs == nil {
		return nil
	}
	n := s.NumParticles()
	for _, c := range cs.children {
		if c.name != "Constraint" {
			continue
		}
		var p [2]int
		if err := c.particles(p[:], n); err != nil {
			return err
		}
		d, err := c.float("d")
		if err != nil {
			return err
		}
		s.Constraints = append(s.Constraints, Constraint{I: p[0], J: p[1], Distance: d})
	}
	return nil
}

func (s *System) readForce(f *element) error {
	if f.name != "Force" {
		return nil
	}
	typ, ok := f.attr("type")
	if !ok {
		return f.errorf("force without a type attribute")
	}
	name, _ := f.attr("name")
	group, err := f.intOr("forceGroup", 0)
	if err != nil {
		return err
	}
	s.Forces = append(s.Forces, ForceInfo{Type: typ, Name: name, Group: group, Line: f.line})
	switch typ {
	case "HarmonicBondForce":
		err = s.readBonds(f)
	case "HarmonicAngleForce":
		err = s.readAngles(f)
	case "PeriodicTorsionForce":
		err = s.readTorsions(f)
	case "NonbondedForce":
		err = s.readNonbonded(f)
	case "GBSAOBCForce":
		err = s.readGBSA(f)
	case "CMMotionRemover":
		// Removes centre-of-mass motion during dynamics; it has no energy.
	default:
		return f.errorf("force %s (name %q) is not supported by gobg's native energy", typ, name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	return nil
}

// refusePeriodic rejects bonded forces that apply periodic boundary
// conditions: gobg evaluates non-periodic systems only.
func refusePeriodic(f *element) error {
	v, err := f.intOr("usesPeriodic", 0)
	if err != nil {
		return err
	}
	if v != 0 {
		return f.errorf("periodic boundary conditions (usesPeriodic=%d) are not supported", v)
	}
	return nil
}

// distinct reports an error when a term lists the same particle twice, which
// would put a zero distance into the geometry.
func distinct(e *element, p []int) error {
	for a := range p {
		for b := a + 1; b < len(p); b++ {
			if p[a] == p[b] {
				return e.errorf("particle %d appears twice", p[a])
			}
		}
	}
	return nil
}

func (s *System) readBonds(f *element) error {
	if err := refusePeriodic(f); err != nil {
		return err
	}
	bonds := f.child("Bonds")
	if bonds == nil {
		return nil
	}
	n := s.NumParticles()
	for _, e := range bonds.children {
		if e.name != "Bond" {
			continue
		}
		var b Bond
		if err := e.particles(b.Atoms[:], n); err != nil {
			return err
		}
		if err := distinct(e, b.Atoms[:]); err != nil {
			return err
		}
		var err error
		if b.Length, err = e.float("d"); err != nil {
			return err
		}
		if b.K, err = e.float("k"); err != nil {
			return err
		}
		s.Bonds = append(s.Bonds, b)
	}
	return nil
}

func (s *System) readAngles(f *element) error {
	if err := refusePeriodic(f); err != nil {
		return err
	}
	angles := f.child("Angles")
	if angles == nil {
		return nil
	}
	n := s.NumParticles()
	for _, e := range angles.children {
		if e.name != "Angle" {
			continue
		}
		var a Angle
		if err := e.particles(a.Atoms[:], n); err != nil {
			return err
		}
		if err := distinct(e, a.Atoms[:]); err != nil {
			return err
		}
		var err error
		if a.Theta, err = e.float("a"); err != nil {
			return err
		}
		if a.K, err = e.float("k"); err != nil {
			return err
		}
		s.Angles = append(s.Angles, a)
	}
	return nil
}

func (s *System) readTorsions(f *element) error {
	if err := refusePeriodic(f); err != nil {
		return err
	}
	torsions := f.child("Torsions")
	if torsions == nil {
		return nil
	}
	n := s.NumParticles()
	for _, e := range torsions.children {
		if e.name != "Torsion" {
			continue
		}
		var t Torsion
		if err := e.particles(t.Atoms[:], n); err != nil {
			return err
		}
		if err := distinct(e, t.Atoms[:]); err != nil {
			return err
		}
		var err error
		if t.Periodicity, err = e.int("periodicity"); err != nil {
			return err
		}
		if t.Periodicity < 0 {
			return e.errorf("negative periodicity %d", t.Periodicity)
		}
		if t.Phase, err = e.float("phase"); err != nil {
			return err
		}
		if t.K, err = e.float("k"); err != nil {
			return err
		}
		s.Torsions = append(s.Torsions, t)
	}
	return nil
}

// nonbondedMethods names OpenMM's NonbondedForce.NonbondedMethod values.
var nonbondedMethods = []string{"NoCutoff", "CutoffNonPeriodic", "CutoffPeriodic", "Ewald", "PME", "LJPME"}

func methodName(names []string, m int) string {
	if m >= 0 && m < len(names) {
		return names[m]
	}
	return "unknown"
}

// nonEmpty rejects a non-empty child list (parameter offsets, global
// parameters that feed them) that would change the energy.
func nonEmpty(f *element, name string) error {
	if c := f.child(name); c != nil && len(c.children) > 0 {
		return c.errorf("%d entries: parameter offsets are not supported by gobg's native energy", len(c.children))
	}
	return nil
}

func (s *System) readNonbonded(f *element) error {
	if s.Nonbonded != nil {
		return f.errorf("a second NonbondedForce is not supported")
	}
	method, err := f.int("method")
	if err != nil {
		return err
	}
	if method != 0 {
		return f.errorf("nonbonded method %d (%s) is not supported: gobg's native energy needs NoCutoff (0)",
			method, methodName(nonbondedMethods, method))
	}
	if v, err := f.intOr("includeDirectSpace", 1); err != nil {
		return err
	} else if v == 0 {
		return f.errorf("includeDirectSpace=0 is not supported")
	}
	for _, name := range []string{"ParticleOffsets", "ExceptionOffsets"} {
		if err := nonEmpty(f, name); err != nil {
			return err
		}
	}
	n := s.NumParticles()
	nb := &Nonbonded{}
	if ps := f.child("Particles"); ps != nil {
		for _, e := range ps.children {
			if e.name != "Particle" {
				continue
			}
			var p NonbondedParticle
			if p.Charge, err = e.float("q"); err != nil {
				return err
			}
			if p.Sigma, err = e.float("sig"); err != nil {
				return err
			}
			if p.Epsilon, err = e.float("eps"); err != nil {
				return err
			}
			if p.Epsilon < 0 {
				return e.errorf("negative epsilon %g", p.Epsilon)
			}
			nb.Particles = append(nb.Particles, p)
		}
	}
	if len(nb.Particles) != n {
		return f.errorf("%d particles, but the System has %d", len(nb.Particles), n)
	}
	seen := make(map[[2]int]int)
	if es := f.child("Exceptions"); es != nil {
		for _, e := range es.children {
			if e.name != "Exception" {
				continue
			}
			var p [2]int
			if err := e.particles(p[:], n); err != nil {
				return err
			}
			if err := distinct(e, p[:]); err != nil {
				return err
			}
			x := Exception{I: p[0], J: p[1]}
			if x.ChargeProd, err = e.float("q"); err != nil {
				return err
			}
			if x.Sigma, err = e.float("sig"); err != nil {
				return err
			}
			if x.Epsilon, err = e.float("eps"); err != nil {
				return err
			}
			key := [2]int{min(x.I, x.J), max(x.I, x.J)}
			if line, dup := seen[key]; dup {
				return e.errorf("second exception for particles %d and %d (first at line %d)", key[0], key[1], line)
			}
			seen[key] = e.line
			nb.Exceptions = append(nb.Exceptions, x)
		}
	}
	s.Nonbonded = nb
	return nil
}

// gbMethods names OpenMM's GBSAOBCForce.NonbondedMethod values.
var gbMethods = []string{"NoCutoff", "CutoffNonPeriodic", "CutoffPeriodic"}

// defaultSurfaceAreaEnergy is OpenMM's default GBSAOBCForce surface tension
// (kJ/mol/nm²), used when an old file does not record it.
const defaultSurfaceAreaEnergy = 2.25936

func (s *System) readGBSA(f *element) error {
	if s.GBSA != nil {
		return f.errorf("a second GBSAOBCForce is not supported")
	}
	method, err := f.int("method")
	if err != nil {
		return err
	}
	if method != 0 {
		return f.errorf("GBSAOBC method %d (%s) is not supported: gobg's native energy needs NoCutoff (0)",
			method, methodName(gbMethods, method))
	}
	gb := &GBSAOBC{}
	if gb.SolventDielectric, err = f.float("solventDielectric"); err != nil {
		return err
	}
	if gb.SoluteDielectric, err = f.float("soluteDielectric"); err != nil {
		return err
	}
	if gb.SurfaceAreaEnergy, err = f.floatOr("surfaceAreaEnergy", defaultSurfaceAreaEnergy); err != nil {
		return err
	}
	if gb.SolventDielectric <= 0 || gb.SoluteDielectric <= 0 {
		return f.errorf("dielectric constants must be positive (solute %g, solvent %g)", gb.SoluteDielectric, gb.SolventDielectric)
	}
	if ps := f.child("Particles"); ps != nil {
		for _, e := range ps.children {
			if e.name != "Particle" {
				continue
			}
			var p GBParticle
			if p.Charge, err = e.float("q"); err != nil {
				return err
			}
			if p.Radius, err = e.float("r"); err != nil {
				return err
			}
			if p.ScaleFactor, err = e.float("scale"); err != nil {
				return err
			}
			// The OBC integral uses the radius minus a 0.009 nm offset
			// and divides by it: a radius at or below the offset is not a
			// physical atom.
			if p.Radius <= 0.009 {
				return e.errorf("radius %g nm is not larger than the 0.009 nm dielectric offset", p.Radius)
			}
			gb.Particles = append(gb.Particles, p)
		}
	}
	if n := s.NumParticles(); len(gb.Particles) != n {
		return f.errorf("%d particles, but the System has %d", len(gb.Particles), n)
	}
	s.GBSA = gb
	return nil
}
