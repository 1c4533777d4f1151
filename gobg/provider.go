package main

import (
	"context"
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

// startEnergy starts the energy provider named by provider ("native" or
// "openmm") for the topology top, with amber99sbildn + amber99_obc. Both
// build the System in OpenMM from the same topology, so they describe the
// same physics: "native" asks a worker once for the serialized System and
// evaluates it in Go; "openmm" keeps the worker and evaluates there. The
// commands default to "native", the faster of the two exact providers (see
// docs/energy-bench.md), and log which one they use and its kernel. The
// returned stop function releases what was started.
func startEnergy(ctx context.Context, provider string, top *molecule.Topology, pos []molecule.Vec3, python string) (energy.Energy, func(), error) {
	provider = strings.ToLower(provider)
	if provider != "native" && provider != "openmm" {
		return nil, nil, fmt.Errorf("%w: unknown energy provider %q (native or openmm)", errUsage, provider)
	}
	if python == "" {
		python = defaultPython()
	}
	dir, err := os.MkdirTemp("", "gobg-energy-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	pdbPath := filepath.Join(dir, "topology.pdb")
	if err := molecule.WritePDBFile(pdbPath, top, [][]molecule.Vec3{pos}, nil); err != nil {
		cleanup()
		return nil, nil, err
	}
	pool, err := plugin.Start(ctx, plugin.Config{Python: python, PDB: pdbPath})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("start OpenMM plugin: %w", err)
	}
	if provider == "openmm" {
		slog.Info("energy provider", "provider", "openmm", "platform", "CPU", "workers", 1)
		return pool, func() { pool.Close(); cleanup() }, nil
	}
	defer pool.Close()
	defer cleanup()
	xml, err := pool.SystemXML(ctx)
	if err != nil {
		return nil, nil, err
	}
	sys, err := forcefield.ParseSystemXML(strings.NewReader(xml))
	if err != nil {
		return nil, nil, fmt.Errorf("OpenMM system: %w", err)
	}
	e, err := native.New(sys, native.Options{})
	if err != nil {
		return nil, nil, err
	}
	slog.Info("energy provider", "provider", "native", "kernel", e.Kernel(), "goroutines", e.Workers())
	return e, func() {}, nil
}
