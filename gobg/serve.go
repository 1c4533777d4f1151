package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/forcefield"
	"github.com/gobg/gobg/energy/native"
	"github.com/gobg/gobg/plugin"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// energyServeCmd is `gobg energy serve`, a subcommand of `gobg energy` with
// its own flags and help.
var energyServeCmd = &command{
	name:    "energy serve",
	summary: "serve the energies of one System to gobg on other hosts (gRPC, mutual TLS)",
	usage: `Usage: gobg energy serve --listen HOST:PORT --pdb FILE [--workers N] [--threads T]
                         [--provider openmm|native] [--platform CPU] [--forcefield LIST]
                         [--constraints None] [--tls-cert FILE --tls-key FILE --tls-ca FILE]
                         [--python PY] [--json]

Builds the System of the structure as the local energy workers do (amber99sbildn +
amber99_obc, no cutoff, no constraints by default), starts N OpenMM workers for it and
serves them as a network energy worker until interrupted (Ctrl-C, SIGTERM). gobg train,
eval and sample use it with --energy-workers HOST:PORT,... (a training configuration's
energy.energy_workers), beside or instead of local workers; they check at connect time
that the server's System is theirs (SHA-256 of the System, or of the topology with the
force field and constraints) and refuse it otherwise. --provider native evaluates the
same System with gobg's Go energy instead of OpenMM.

Any address but loopback (127.0.0.1, ::1, localhost) needs mutual TLS: this server's
certificate and key, and the CA whose certificates clients must present. Clients need
their own certificate from that CA and the CA of the server's. docs/remote-energy.md
shows how to make the certificates.

With --json, one JSON line is printed once the server listens (its address, System
digest and pid): that line is the summary.

Example:
  gobg energy serve --listen 127.0.0.1:9301 --pdb testdata/md/ala2/top.pdb --workers 2 --json
  gobg energy serve --listen 0.0.0.0:9301 --pdb top.pdb --tls-cert server.pem --tls-key server-key.pem --tls-ca ca.pem`,
}

type energyServeSummary struct {
	Listen       string `json:"listen"`
	PDB          string `json:"pdb"`
	Provider     string `json:"provider"`
	Platform     string `json:"platform"`
	Workers      int    `json:"workers"`
	Atoms        int32  `json:"atoms"`
	SystemSHA256 string `json:"system_sha256"`
	TLS          bool   `json:"tls"`
	PID          int    `json:"pid"`
}

func runEnergyServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(energyServeCmd, env)
	listen := fs.String("listen", "", "address to listen on, `host:port` (port 0: any free port)")
	pdbPath := fs.String("pdb", "", "structure `file` (PDB) whose System is served")
	workers := fs.Int("workers", 1, "OpenMM worker processes")
	threads := fs.Int("threads", 0, "CPU threads per OpenMM worker (0: the CPUs divided among the workers)")
	provider := fs.String("provider", "openmm", "what evaluates: openmm (the workers) or native (gobg's Go energy of their System)")
	platform := fs.String("platform", plugin.DefaultPlatform, "OpenMM platform: CPU, Reference, CUDA or OpenCL")
	ff := fs.String("forcefield", strings.Join(plugin.DefaultForceField, ","), "OpenMM force-field `files`, comma-separated")
	constraints := fs.String("constraints", "None", "OpenMM constraints: None, HBonds, AllBonds or HAngles")
	tf := addTLSFlags(fs, "server")
	python := fs.String("python", "", "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)")
	asJSON := fs.Bool("json", false, "print a JSON line once the server listens")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *listen == "" || *pdbPath == "" {
		return fmt.Errorf("%w: --listen and --pdb are required", errUsage)
	}
	if *provider != "openmm" && *provider != "native" {
		return fmt.Errorf("%w: --provider %q: want openmm or native", errUsage, *provider)
	}
	if err := firstErr(positiveInt("workers", *workers), inputFile("--pdb", *pdbPath)); err != nil {
		return err
	}
	if *threads < 0 {
		return fmt.Errorf("%w: --threads must not be negative", errUsage)
	}
	if err := tf.validate(); err != nil {
		return err
	}
	if err := plugin.CheckTransport(*listen, tf.files(), true); err != nil {
		if errors.Is(err, plugin.ErrPlaintext) || !tf.files().Enabled() {
			return fmt.Errorf("%w: --listen %s: %v", errUsage, *listen, err)
		}
		return err
	}
	if *python == "" {
		*python = defaultPython()
	}
	pool, err := plugin.Start(ctx, plugin.Config{Python: *python, PDB: *pdbPath, ForceField: strings.Split(*ff, ","),
		Constraints: *constraints, Platform: *platform, Workers: *workers, Threads: *threads})
	if err != nil {
		return fmt.Errorf("start OpenMM workers: %w", err)
	}
	defer pool.Close()
	opts := plugin.ServeOptions{TLS: tf.files()}
	if *provider == "native" {
		e, err := nativeOf(ctx, pool)
		if err != nil {
			return err
		}
		opts.Energy, opts.Platform = e, "gobg native ("+e.Kernel()+")"
	}
	opts.Ready = func(addr net.Addr, info *energypb.InfoResponse) {
		if !*asJSON {
			fmt.Fprintf(env.stdout, "serving the System of %s (%d atoms, sha256 %s) on %s with %s; Ctrl-C stops\n",
				*pdbPath, info.NumAtoms, info.SystemSha256, addr, info.Platform)
			return
		}
		_ = printJSON(env, energyServeSummary{Listen: addr.String(), PDB: *pdbPath, Provider: *provider, Platform: info.Platform,
			Workers: *workers, Atoms: info.NumAtoms, SystemSHA256: info.SystemSha256, TLS: tf.files().Enabled(), PID: os.Getpid()})
	}
	return plugin.Serve(ctx, *listen, pool, opts)
}

// nativeOf is gobg's Go energy of the pool's System.
func nativeOf(ctx context.Context, pool *plugin.Pool) (*native.Energy, error) {
	xml, err := pool.SystemXML(ctx)
	if err != nil {
		return nil, err
	}
	sys, err := forcefield.ParseSystemXML(strings.NewReader(xml))
	if err != nil {
		return nil, fmt.Errorf("OpenMM system: %w", err)
	}
	return native.New(sys, native.Options{})
}

var _ energy.Energy = (*native.Energy)(nil)
