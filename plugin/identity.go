package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
	energypb "github.com/gobg/gobg/plugin/proto"
)

var (
	openmmVersionAttr = regexp.MustCompile(`\s+openmmVersion="[^"]*"`)
	periodicBox       = regexp.MustCompile(`(?s)\s*<PeriodicBoxVectors>.*?</PeriodicBoxVectors>`)
	// A force that could see the box: periodic bonded terms, or a nonbonded
	// method other than NoCutoff (0).
	usesBox = regexp.MustCompile(`usesPeriodic="1"|\smethod="[1-9]`)
)

// SystemDigest is the SHA-256 (hex) of an OpenMM System XML after two
// normalisations that cannot change an energy: the openmmVersion attribute
// is dropped (hosts with different OpenMM builds may share a System), and so
// are the default box vectors of a System that no force evaluates
// periodically (a PDB's CRYST1 record sets them, and gobg writes PDB files
// without one). Two workers with the same digest evaluate the same
// parameters.
func SystemDigest(xml string) string {
	s := openmmVersionAttr.ReplaceAllString(xml, "")
	if !usesBox.MatchString(s) {
		s = periodicBox.ReplaceAllString(s, "")
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TopologyDigest is the SHA-256 (hex) of what OpenMM's force field reads from
// a topology: chains, residue names, atom names and elements in order, and
// the bonds. Residue numbers, chain letters and positions are left out: they
// do not change the System.
func TopologyDigest(top *molecule.Topology) string {
	h := sha256.New()
	for _, c := range top.Chains {
		fmt.Fprintf(h, "chain\n")
		for _, r := range c.Residues {
			fmt.Fprintf(h, "res %s\n", r.Name)
			for _, a := range r.Atoms {
				el := "?"
				if a.Element != nil {
					el = a.Element.Symbol
				}
				fmt.Fprintf(h, "atom %d %s %s\n", a.Index, a.Name, el)
			}
		}
	}
	bonds := slices.Clone(top.Bonds)
	for i, b := range bonds {
		if b.I > b.J {
			bonds[i] = molecule.Bond{I: b.J, J: b.I}
		}
	}
	slices.SortFunc(bonds, func(a, b molecule.Bond) int {
		if a.I != b.I {
			return a.I - b.I
		}
		return a.J - b.J
	})
	for _, b := range bonds {
		fmt.Fprintf(h, "bond %d %d\n", b.I, b.J)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// identity is what a remote worker must share with the pool before it gets
// any work: the System's digest when the pool knows its System (from a local
// worker or a System XML file), else the inputs the System is built from.
type identity struct {
	system      string // SystemDigest; "" until known
	topology    string // TopologyDigest of the pool's PDB
	forceField  []string
	constraints string
	from        string // where system came from, for messages
}

// check refuses a remote worker's description that does not match.
func (id *identity) check(addr string, info *energypb.InfoResponse) error {
	if info.SystemSha256 == "" {
		return fmt.Errorf("remote worker %s describes no System digest: it is not a gobg energy server (gobg energy serve)", addr)
	}
	if id.system != "" {
		if info.SystemSha256 != id.system {
			return fmt.Errorf("remote worker %s serves another System (sha256 %.12s…, from %s) than %s (sha256 %.12s…): start it with the same structure, force field and constraints",
				addr, info.SystemSha256, info.Source, id.from, id.system)
		}
		return nil
	}
	if info.TopologySha256 != id.topology {
		return fmt.Errorf("remote worker %s serves another topology (%s, sha256 %.12s…) than %s (sha256 %.12s…)",
			addr, info.Source, info.TopologySha256, id.from, id.topology)
	}
	if !slices.Equal(info.ForceField, id.forceField) || info.Constraints != id.constraints {
		return fmt.Errorf("remote worker %s builds its System with force field %s and constraints %s, this host with %s and %s",
			addr, strings.Join(info.ForceField, ","), info.Constraints, strings.Join(id.forceField, ","), id.constraints)
	}
	return nil
}
