// Package plugin evaluates exact force-field energies in OpenMM, run as
// hashicorp/go-plugin worker processes that speak gRPC (plugin/proto). The
// worker is the Python script plugin/openmm/server.py; Start launches a pool
// of them, and the Pool implements energy.Energy: it splits each batch into
// contiguous chunks, one per worker, evaluates them in parallel, and restarts
// a worker that dies mid-batch and retries its chunk, so a caller gets either
// the complete answer or an error that names the worker and the attempt.
//
// Separate processes rather than an embedded interpreter keep OpenMM's
// threads, crashes and memory out of the Go process, and give parallelism
// across cores without the GIL.
//
// # Finding the worker script
//
// Config.Server, else the environment variable GOBG_OPENMM_PLUGIN, names
// server.py. Without either, Start writes the copy of plugin/openmm that is
// embedded in the binary (server.py, its gRPC stubs and energy.proto) to
// the user cache directory (os.UserCacheDir()/gobg/openmm-plugin/<hash>) and
// runs that, so an installed gobg binary always runs the worker it was built
// with. The interpreter is Config.Python, else GOBG_PYTHON, else python3 on
// PATH; it needs openmm, numpy, grpcio and grpcio-health-checking.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// ProtocolVersion is the version of the gobg.energy.v1 service this host
// speaks; a worker must report the same in Info.
const ProtocolVersion = 1

// Defaults for the zero values of Config.
const (
	DefaultPlatform     = "CPU"
	DefaultTimeout      = 10 * time.Minute
	DefaultMaxRestarts  = 2
	DefaultStartTimeout = 2 * time.Minute
)

// DefaultForceField is Amber ff99SB-ILDN with OBC implicit solvent: the
// physics of gobg's reference MD (see the shared data's meta.json files).
var DefaultForceField = []string{"amber99sbildn.xml", "amber99_obc.xml"}

// Config says how to start the OpenMM workers. Give PDB or SystemXML.
type Config struct {
	// Python is the interpreter (default: $GOBG_PYTHON, else python3).
	Python string
	// Server is the worker script (default: $GOBG_OPENMM_PLUGIN, else the
	// embedded copy, see the package documentation).
	Server string
	// PDB is a structure whose topology the force field is applied to
	// (NoCutoff; no constraints unless Constraints says so; flexible water).
	PDB string
	// SystemXML is a serialized OpenMM System, used instead of PDB.
	SystemXML string
	// ForceField lists OpenMM force-field files (default DefaultForceField).
	ForceField []string
	// Constraints is OpenMM's createSystem constraints: "None" (default),
	// "HBonds", "AllBonds" or "HAngles". Constrained bonds carry no energy.
	Constraints string
	// Platform is the OpenMM platform: "CPU" (default), "Reference" (double
	// precision throughout, for exactness checks), "CUDA", "OpenCL".
	Platform string
	// Precision is the Precision property of GPU platforms ("" = OpenMM's).
	Precision string
	// Threads per worker on the CPU platform (default: the number of CPUs
	// divided among the workers, at least 1).
	Threads int
	// Workers is the number of local worker processes (default 1, or 0 when
	// Remote names servers: then set it to use both).
	Workers int
	// Remote lists energy servers (gobg energy serve; Serve) as host:port.
	// Each takes a chunk of every batch beside the local workers. A server
	// must serve this Config's System: Start compares the digest of its
	// System with a local worker's or SystemXML's, else its topology and
	// force field with PDB's, and refuses a mismatch. A server that fails
	// is not restarted: its chunk goes to another worker, and the server is
	// probed again in the background.
	Remote []string
	// TLS are the client's mutual-TLS files for Remote; required for any
	// server that is not on a loopback address.
	TLS TLSFiles
	// Timeout bounds one worker call (one chunk of a batch); a call that runs
	// over it counts as a hung worker, which is restarted. Default
	// DefaultTimeout; it must cover the largest chunk you send.
	Timeout time.Duration
	// MaxRestarts bounds how often one chunk may be retried on a restarted
	// worker within one Evaluate call (default DefaultMaxRestarts; negative:
	// never restart).
	MaxRestarts int
	// StartTimeout bounds a worker's start-up up to the handshake
	// (default DefaultStartTimeout).
	StartTimeout time.Duration
	// Logger receives the pool's and the workers' logs (default
	// slog.Default()).
	Logger *slog.Logger
}

// Pool is a set of running OpenMM workers that share one System. It
// implements energy.Energy and is safe for concurrent use.
type Pool struct {
	cfg     Config
	args    []string // the worker's command line after the script
	server  string
	python  string
	log     *slog.Logger
	workers []*worker
	remotes []*remote
	ident   identity               // what remote workers must serve
	info    *energypb.InfoResponse // from the first worker to start
	natoms  int
	closed  atomic.Bool
	bg      sync.WaitGroup // background probes of remote workers
	bgStop  context.CancelFunc
	bgCtx   context.Context
}

var _ energy.Energy = (*Pool)(nil)

// Start launches cfg.Workers workers, waits for each to pass its health check
// and to describe itself (protocol version, number of atoms), and returns the
// pool. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Pool, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, python: cfg.Python, log: cfg.Logger, natoms: -1}
	p.bgCtx, p.bgStop = context.WithCancel(context.Background())
	if cfg.Workers == 0 {
		if err := p.connectRemotes(ctx); err != nil {
			p.Close()
			return nil, err
		}
		return p, nil
	}
	p.server = cfg.Server
	if p.server == "" {
		if p.server, err = ExtractServer(); err != nil {
			return nil, err
		}
	}
	p.args = workerArgs(cfg)
	p.workers = make([]*worker, cfg.Workers)
	errs := make([]error, cfg.Workers)
	var wg sync.WaitGroup
	for i := range p.workers {
		w := &worker{index: i, pool: p}
		p.workers[i] = w
		wg.Go(func() {
			pr, err := p.spawn(ctx, i)
			if err != nil {
				errs[i] = err
				return
			}
			w.proc = pr
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		p.Close()
		return nil, err
	}
	// Every worker built its System from the same inputs; a different atom
	// count would mean they did not (e.g. files changed under them).
	p.info = p.workers[0].proc.info
	p.natoms = int(p.info.NumAtoms)
	for _, w := range p.workers[1:] {
		if n := int(w.proc.info.NumAtoms); n != p.natoms {
			p.Close()
			return nil, fmt.Errorf("plugin: worker %d has %d atoms, worker 0 has %d", w.index, n, p.natoms)
		}
	}
	p.log.Info("openmm workers ready", "workers", len(p.workers), "atoms", p.natoms,
		"platform", p.info.Platform, "openmm", p.info.OpenmmVersion, "source", p.info.Source)
	if len(cfg.Remote) > 0 {
		if err := p.connectRemotes(ctx); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

func withDefaults(cfg Config) (Config, error) {
	if (cfg.PDB == "") == (cfg.SystemXML == "") {
		return cfg, errors.New("plugin: give exactly one of Config.PDB and Config.SystemXML")
	}
	for _, f := range []string{cfg.PDB, cfg.SystemXML} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return cfg, fmt.Errorf("plugin: %w", err)
		}
	}
	if cfg.Python == "" {
		cfg.Python = os.Getenv("GOBG_PYTHON")
	}
	if cfg.Python == "" {
		cfg.Python = "python3"
	}
	if cfg.Server == "" {
		cfg.Server = os.Getenv("GOBG_OPENMM_PLUGIN")
	}
	if len(cfg.ForceField) == 0 {
		cfg.ForceField = DefaultForceField
	}
	if cfg.Constraints == "" {
		cfg.Constraints = "None"
	}
	if cfg.Platform == "" {
		cfg.Platform = DefaultPlatform
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
		if len(cfg.Remote) > 0 {
			cfg.Workers = 0
		}
	}
	if cfg.Threads <= 0 && cfg.Platform == "CPU" && cfg.Workers > 0 {
		cfg.Threads = max(1, runtime.NumCPU()/cfg.Workers)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRestarts == 0 {
		cfg.MaxRestarts = DefaultMaxRestarts
	}
	if cfg.MaxRestarts < 0 {
		cfg.MaxRestarts = 0
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

func workerArgs(cfg Config) []string {
	var a []string
	if cfg.PDB != "" {
		a = append(a, "--pdb", cfg.PDB, "--forcefield", strings.Join(cfg.ForceField, ","),
			"--constraints", cfg.Constraints)
	} else {
		a = append(a, "--system-xml", cfg.SystemXML)
	}
	a = append(a, "--platform", cfg.Platform, "--host-pid", strconv.Itoa(os.Getpid()))
	if cfg.Threads > 0 {
		a = append(a, "--threads", fmt.Sprint(cfg.Threads))
	}
	if cfg.Precision != "" {
		a = append(a, "--precision", cfg.Precision)
	}
	return a
}

// NumAtoms is the number of atoms of the workers' System.
func (p *Pool) NumAtoms() int { return p.natoms }

// Info describes the first worker: platform, OpenMM version, force field.
func (p *Pool) Info() *energypb.InfoResponse { return p.info }

// PIDs returns the process ids of the running workers, by worker index (0
// for a worker that is down). Tests kill workers through them.
func (p *Pool) PIDs() []int {
	pids := make([]int, len(p.workers))
	for i, w := range p.workers {
		if pr, _ := w.current(); pr != nil {
			pids[i] = pr.pid
		}
	}
	return pids
}

// Restarts counts the worker restarts since Start.
func (p *Pool) Restarts() int {
	n := 0
	for _, w := range p.workers {
		n += int(w.restarts.Load())
	}
	return n
}

// Evaluate implements energy.Energy: each worker that is up, local or
// remote, gets one contiguous chunk of the batch, and the chunks run in
// parallel. A local worker that dies is restarted and retried; a remote one
// is marked down and its chunk goes to another worker.
func (p *Pool) Evaluate(ctx context.Context, positions [][]molecule.Vec3, wantForces bool) (energy.Result, error) {
	if p.closed.Load() {
		return energy.Result{}, errors.New("plugin: evaluate on a closed pool")
	}
	if err := energy.CheckPositions(positions, p.natoms); err != nil {
		return energy.Result{}, fmt.Errorf("plugin: %w", err)
	}
	b := len(positions)
	res := energy.Result{Energies: make([]float64, b), Errors: make([]error, b)}
	if wantForces {
		res.Forces = make([][]molecule.Vec3, b)
	}
	if b == 0 {
		return res, nil
	}
	// A failed chunk makes the whole answer useless: stop the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.reprobe()
	slots := p.upSlots()
	if len(slots) == 0 {
		return energy.Result{}, p.allDown()
	}
	nchunks := min(b, len(slots))
	errs := make([]error, nchunks)
	var wg sync.WaitGroup
	for c := range nchunks {
		lo, hi := c*b/nchunks, (c+1)*b/nchunks
		wg.Go(func() {
			if err := p.runChunk(ctx, slots[c], positions, lo, hi, wantForces, &res); err != nil {
				errs[c] = err
				cancel()
			}
		})
	}
	wg.Wait()
	// Report the root cause, not the cancellations it caused in other chunks.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return energy.Result{}, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return energy.Result{}, err
	}
	return res, nil
}

// SystemXML returns the workers' System serialized by OpenMM's
// XmlSerializer: the exact parameters the energies come from.
func (p *Pool) SystemXML(ctx context.Context) (string, error) {
	if p.closed.Load() {
		return "", errors.New("plugin: SystemXML on a closed pool")
	}
	if len(p.workers) == 0 {
		return p.remoteSystemXML(ctx)
	}
	var xml string
	err := p.workers[0].call(ctx, "system xml", func(ctx context.Context, c energypb.EnergyClient) error {
		r, err := c.SystemXML(ctx, &energypb.SystemXMLRequest{})
		if err == nil {
			xml = r.Xml
		}
		return err
	})
	return xml, err
}

// FetchSystemXML starts one worker for cfg (Workers is ignored), asks it
// for its serialized System and stops it again: for callers that evaluate
// the System elsewhere (gobg's native energy) or store it.
func FetchSystemXML(ctx context.Context, cfg Config) (string, error) {
	cfg.Workers = 1
	pool, err := Start(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	return pool.SystemXML(ctx)
}

// Close stops every local worker (asking each to shut down, killing it
// after a grace period), waits until the processes are gone, and closes the
// connections to remote workers (which keep running). It is safe to call
// more than once.
func (p *Pool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.bgStop()
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(w.stop)
	}
	wg.Wait()
	p.bg.Wait()
	for _, r := range p.remotes {
		_ = r.conn.Close()
	}
	return nil
}
