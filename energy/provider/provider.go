// Package provider starts gobg's energy providers by name, the one way every
// caller (the CLI's commands, training's callers, the Python module) turns
// "native" or "openmm" and a topology into a running energy.Energy.
//
// Both providers apply amber99sbildn.xml + amber99_obc.xml to the same
// topology in OpenMM, so they describe the same physics: "native" asks an
// OpenMM worker once for the serialized System (or reads it from a file, so
// that no Python is needed) and evaluates it in Go; "openmm" keeps the
// workers and evaluates there. An energy computed by a Python callable is
// not started here: the Python module builds it around the caller's
// function and hands it over as an energy.Energy.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/plugin"
)

// Provider names.
const (
	Native = "native"
	OpenMM = "openmm"
)

// ErrUnknown is wrapped by Start's error for a name that is neither Native
// nor OpenMM.
var ErrUnknown = errors.New("unknown energy provider")

// Spec says which provider to start, for which system.
type Spec struct {
	// Name is Native or OpenMM (any case).
	Name string
	// PDB is the structure file whose topology OpenMM builds the System
	// from. When it is empty, Topology and Positions are written to a
	// temporary PDB file instead.
	PDB       string
	Topology  *molecule.Topology
	Positions []molecule.Vec3
	// SystemXML, for Native only, is a serialized OpenMM System to evaluate
	// instead of asking OpenMM to build one: no Python is started.
	SystemXML string
	// Python is the interpreter with OpenMM (empty: plugin.Config's default).
	Python string
	// Workers is, for Native, the number of goroutines (0: one per CPU),
	// and for OpenMM the number of worker processes (0: 1).
	Workers int
	// Platform is OpenMM's platform (empty: plugin.DefaultPlatform).
	Platform string
	// Remote, for OpenMM only, are energy servers on other hosts
	// (`gobg energy serve`, "host:port") used beside the local workers, or
	// instead of them when Workers is 0; TLS holds the certificate files
	// that any non-loopback server needs.
	Remote []string
	TLS    plugin.TLSFiles
}

// Start starts the provider s names. stop releases what was started (the
// OpenMM workers, a temporary file); call it once the energy is no longer
// used.
func Start(ctx context.Context, s Spec) (e energy.Energy, stop func(), err error) {
	name := strings.ToLower(s.Name)
	if name != Native && name != OpenMM {
		return nil, nil, fmt.Errorf("%w %q (%s or %s)", ErrUnknown, s.Name, Native, OpenMM)
	}
	if len(s.Remote) > 0 && name != OpenMM {
		return nil, nil, fmt.Errorf("energy servers on other hosts evaluate with OpenMM: use the %q provider, not %q", OpenMM, name)
	}
	if s.SystemXML != "" && name != Native {
		return nil, nil, fmt.Errorf("a System XML file is read by the %q provider only, not %q", Native, name)
	}
	if name == Native && s.SystemXML != "" {
		sys, err := forcefield.ReadSystemXMLFile(s.SystemXML)
		if err != nil {
			return nil, nil, err
		}
		return startNative(sys, s.Workers)
	}
	pdb, cleanup, err := pdbFile(s)
	if err != nil {
		return nil, nil, err
	}
	cfg := plugin.Config{Python: s.Python, PDB: pdb}
	if name == Native {
		// Serialising the System needs no particular platform: the worker
		// keeps its default.
		defer cleanup()
		xml, err := plugin.FetchSystemXML(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("start OpenMM plugin: %w", err)
		}
		sys, err := forcefield.ParseSystemXML(strings.NewReader(xml))
		if err != nil {
			return nil, nil, fmt.Errorf("OpenMM system: %w", err)
		}
		return startNative(sys, s.Workers)
	}
	cfg.Workers, cfg.Platform = max(s.Workers, 1), s.Platform
	if len(s.Remote) > 0 {
		cfg.Workers, cfg.Remote, cfg.TLS = s.Workers, s.Remote, s.TLS // Workers 0: the servers only
	}
	pool, err := plugin.Start(ctx, cfg)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("start OpenMM plugin: %w", err)
	}
	platform := s.Platform
	if platform == "" {
		platform = plugin.DefaultPlatform
	}
	slog.Info("energy provider", "provider", OpenMM, "platform", platform, "workers", cfg.Workers, "remote", len(cfg.Remote))
	return pool, func() { _ = pool.Close(); cleanup() }, nil
}

func startNative(sys *forcefield.System, workers int) (energy.Energy, func(), error) {
	e, err := native.New(sys, native.Options{Workers: workers})
	if err != nil {
		return nil, nil, err
	}
	slog.Info("energy provider", "provider", Native, "kernel", e.Kernel(), "goroutines", e.Workers())
	return e, func() {}, nil
}

// pdbFile returns s.PDB, or a temporary PDB file of s.Topology at
// s.Positions and the function that removes it.
func pdbFile(s Spec) (string, func(), error) {
	if s.PDB != "" {
		return s.PDB, func() {}, nil
	}
	if s.Topology == nil {
		return "", nil, errors.New("energy provider: no PDB file and no topology")
	}
	dir, err := os.MkdirTemp("", "gobg-energy-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	path := filepath.Join(dir, "topology.pdb")
	if err := molecule.WritePDBFile(path, s.Topology, [][]molecule.Vec3{s.Positions}, nil); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}
