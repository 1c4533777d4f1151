package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/provider"
	"github.com/gobg/gobg/flow/train"
	"github.com/gobg/gobg/plugin"
)

// startEnergy starts the energy provider named by name ("native" or
// "openmm", provider.Start) for the topology top at pos, with the
// interpreter python (default: defaultPython); or, when rf's
// --energy-workers are set, connects to those energy servers instead,
// which must serve the System of top with the force field local workers
// use (the pool compares the topology, the force field and the constraints
// with each server's). The commands default to "native", the faster of the
// two exact providers (see docs/energy-bench.md). The returned stop
// function releases what was started.
func startEnergy(ctx context.Context, name string, top *molecule.Topology, pos []molecule.Vec3, python string, rf *remoteFlags) (energy.Energy, func(), error) {
	if python == "" {
		python = defaultPython()
	}
	spec := provider.Spec{Name: name, Topology: top, Positions: pos, Python: python}
	if rf != nil && rf.set() {
		spec.Name, spec.Remote, spec.TLS = provider.OpenMM, rf.addrs, rf.tls.files()
	}
	e, stop, err := provider.Start(ctx, spec)
	switch {
	case errors.Is(err, provider.ErrUnknown):
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	case err != nil && spec.Remote != nil:
		return nil, nil, fmt.Errorf("energy servers: %w", err)
	}
	return e, stop, err
}

// trainEnergy starts the energy a training configuration names (its energy
// section, for the topology of its data) when the trainer asks for it;
// python runs OpenMM unless the configuration names an interpreter.
func trainEnergy(cfg train.Config, python string) train.EnergyStarter {
	e := cfg.Energy
	if e.Python != "" {
		python = e.Python
	}
	return func(ctx context.Context) (energy.Energy, func(), error) {
		return provider.Start(ctx, provider.Spec{Name: e.Provider, PDB: cfg.Data.Topology, SystemXML: e.SystemXML,
			Python: python, Workers: e.Workers, Platform: e.Platform,
			Remote: e.EnergyWorkers, TLS: plugin.TLSFiles{Cert: e.TLSCert, Key: e.TLSKey, CA: e.TLSCA}})
	}
}
