package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// slot is a worker a chunk of a batch can go to: a local process (*worker)
// or a remote server (*remote).
type slot interface {
	evaluate(ctx context.Context, positions [][]molecule.Vec3, lo, hi int, wantForces bool, res *energy.Result) error
	name() string
	load() int32
}

func (w *worker) name() string { return fmt.Sprintf("worker %d", w.index) }
func (w *worker) load() int32  { return w.inflight.Load() }

// probeInterval spaces the background health checks of a remote worker that
// failed: each costs a connection attempt, and a server that is being
// restarted needs seconds anyway.
const probeInterval = 5 * time.Second

// remote is an energy server on another host (or another process on this
// one) that the pool sends chunks to.
type remote struct {
	addr     string
	timeout  time.Duration // of one call, Config.Timeout
	conn     *grpc.ClientConn
	rpc      energypb.EnergyClient
	health   grpc_health_v1.HealthClient
	up       atomic.Bool
	probing  atomic.Bool
	inflight atomic.Int32
	mu       sync.Mutex // guards the fields below
	last     error      // why it is down
	next     time.Time  // earliest next probe
}

func (r *remote) name() string { return "remote worker " + r.addr }
func (r *remote) load() int32  { return r.inflight.Load() }

// remoteFailure is a remote worker's failure that another worker can cure:
// the server is gone, unreachable, hung or could not evaluate.
type remoteFailure struct {
	addr string
	err  error
}

func (e *remoteFailure) Error() string {
	return fmt.Sprintf("remote worker %s failed: %v", e.addr, e.err)
}
func (e *remoteFailure) Unwrap() error { return e.err }

// connectRemotes dials cfg.Remote in parallel and admits each server that is
// healthy, speaks this protocol and serves the pool's System.
func (p *Pool) connectRemotes(ctx context.Context) error {
	if err := p.expectIdentity(ctx); err != nil {
		return err
	}
	rs := make([]*remote, len(p.cfg.Remote))
	infos := make([]*energypb.InfoResponse, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, addr := range p.cfg.Remote {
		wg.Go(func() {
			r, err := dialRemote(addr, p.cfg.TLS, p.cfg.Timeout)
			if err != nil {
				errs[i] = fmt.Errorf("plugin: remote worker %s: %w", addr, err)
				return
			}
			rs[i] = r
			cctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
			defer cancel()
			if infos[i], err = r.describe(cctx); err != nil {
				hint := ""
				if p.cfg.TLS.Enabled() && status.Code(errors.Unwrap(err)) == codes.Unavailable {
					// A server that refuses this client's certificate just
					// closes the connection, which says nothing of why.
					hint = " (with mutual TLS: does the server's CA sign this client's certificate, and this host's CA the server's?)"
				}
				errs[i] = fmt.Errorf("plugin: remote worker %s: %w%s", addr, err, hint)
			}
		})
	}
	wg.Wait()
	for _, r := range rs {
		if r != nil {
			p.remotes = append(p.remotes, r)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, info := range infos {
		if err := p.admit(rs[i].addr, info); err != nil {
			return fmt.Errorf("plugin: %w", err)
		}
		if p.ident.system == "" {
			// Remote workers only, from a PDB: the first one that matches
			// the topology and force field sets the System the others must
			// serve.
			p.ident.system, p.ident.from = info.SystemSha256, "remote worker "+rs[i].addr
		}
		rs[i].up.Store(true)
	}
	if p.info == nil {
		p.info = infos[0]
	}
	p.log.Info("remote energy workers ready", "remote", strings.Join(p.cfg.Remote, ","), "atoms", p.natoms,
		"system_sha256", p.ident.system, "tls", p.cfg.TLS.Enabled())
	return nil
}

// expectIdentity sets what remote workers must serve: the System of the
// local workers or of Config.SystemXML when the pool has it, else the
// topology of Config.PDB and the force-field options.
func (p *Pool) expectIdentity(ctx context.Context) error {
	switch {
	case len(p.workers) > 0:
		xml, err := p.SystemXML(ctx)
		if err != nil {
			return err
		}
		p.ident = identity{system: SystemDigest(xml), from: "the local workers' System"}
	case p.cfg.SystemXML != "":
		b, err := os.ReadFile(p.cfg.SystemXML)
		if err != nil {
			return fmt.Errorf("plugin: %w", err)
		}
		p.ident = identity{system: SystemDigest(string(b)), from: p.cfg.SystemXML}
	default:
		pdb, err := molecule.ReadPDBFile(p.cfg.PDB)
		if err != nil {
			return fmt.Errorf("plugin: %w", err)
		}
		p.ident = identity{topology: TopologyDigest(pdb.Topology), forceField: p.cfg.ForceField,
			constraints: p.cfg.Constraints, from: p.cfg.PDB}
	}
	return nil
}

// admit checks a remote worker's Info against the pool.
func (p *Pool) admit(addr string, info *energypb.InfoResponse) error {
	if info.ProtocolVersion != ProtocolVersion {
		return fmt.Errorf("remote worker %s speaks protocol version %d, this host %d", addr, info.ProtocolVersion, ProtocolVersion)
	}
	if err := p.ident.check(addr, info); err != nil {
		return err
	}
	if p.natoms < 0 {
		p.natoms = int(info.NumAtoms)
	} else if int(info.NumAtoms) != p.natoms {
		return fmt.Errorf("remote worker %s has %d atoms, the pool %d", addr, info.NumAtoms, p.natoms)
	}
	return nil
}

func dialRemote(addr string, files TLSFiles, timeout time.Duration) (*remote, error) {
	creds, err := transportCreds(addr, files, false)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		return nil, err
	}
	return &remote{addr: addr, timeout: timeout, conn: conn, rpc: energypb.NewEnergyClient(conn), health: grpc_health_v1.NewHealthClient(conn)}, nil
}

// describe runs the health check and asks for Info.
func (r *remote) describe(ctx context.Context) (*energypb.InfoResponse, error) {
	h, err := r.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	if h.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		return nil, fmt.Errorf("health check: server is %v", h.Status)
	}
	info, err := r.rpc.Info(ctx, &energypb.InfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	return info, nil
}

func (r *remote) markDown(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up.Store(false)
	r.last, r.next = err, time.Now().Add(probeInterval)
}

// reprobe starts a background check of each remote worker that is down and
// due, which brings it back for later batches if it is healthy and still
// serves the pool's System.
func (p *Pool) reprobe() {
	for _, r := range p.remotes {
		if r.up.Load() {
			continue
		}
		r.mu.Lock()
		due := time.Now().After(r.next)
		r.mu.Unlock()
		if !due || !r.probing.CompareAndSwap(false, true) {
			continue
		}
		p.bg.Go(func() {
			defer r.probing.Store(false)
			ctx, cancel := context.WithTimeout(p.bgCtx, probeInterval)
			defer cancel()
			info, err := r.describe(ctx)
			if err == nil {
				err = p.ident.check(r.addr, info)
			}
			if err == nil && int(info.NumAtoms) != p.natoms {
				err = fmt.Errorf("remote worker %s has %d atoms, the pool %d", r.addr, info.NumAtoms, p.natoms)
			}
			if err != nil {
				r.markDown(err)
				return
			}
			r.up.Store(true)
			p.log.Info("remote energy worker is back", "remote", r.addr)
		})
	}
}

// upSlots are the workers that take chunks now: every local worker (a dead
// one is restarted when used) and the remote workers that are up.
func (p *Pool) upSlots() []slot {
	s := make([]slot, 0, len(p.workers)+len(p.remotes))
	for _, w := range p.workers {
		s = append(s, w)
	}
	for _, r := range p.remotes {
		if r.up.Load() {
			s = append(s, r)
		}
	}
	return s
}

func (p *Pool) allDown() error {
	msgs := make([]string, len(p.remotes))
	for i, r := range p.remotes {
		r.mu.Lock()
		msgs[i] = fmt.Sprintf("%s: %v", r.addr, r.last)
		r.mu.Unlock()
	}
	return fmt.Errorf("plugin: every energy worker is down (%s)", strings.Join(msgs, "; "))
}

// runChunk evaluates samples [lo, hi) on s, and when s is a remote worker
// that fails, on another worker: each worker is tried once, the least busy
// first.
func (p *Pool) runChunk(ctx context.Context, s slot, positions [][]molecule.Vec3, lo, hi int, wantForces bool, res *energy.Result) error {
	tried := []slot{s}
	for {
		err := s.evaluate(ctx, positions, lo, hi, wantForces, res)
		var rf *remoteFailure
		if err == nil || !errors.As(err, &rf) || ctx.Err() != nil {
			return err
		}
		var next slot
		for _, c := range p.upSlots() {
			if !slices.Contains(tried, c) && (next == nil || c.load() < next.load()) {
				next = c
			}
		}
		if next == nil {
			return fmt.Errorf("plugin: samples %d-%d: no other worker is up to take them: %w", lo, hi-1, err)
		}
		p.log.Warn("remote energy worker failed; its samples go to another worker", "remote", rf.addr,
			"samples", fmt.Sprintf("%d-%d", lo, hi-1), "to", next.name(), "err", rf.err)
		tried = append(tried, next)
		s = next
	}
}

// evaluate runs samples [lo, hi) of the batch on the server. A failure of
// the server or the connection marks it down and comes back as a
// *remoteFailure; an answer it gave (bad request) does not.
func (r *remote) evaluate(ctx context.Context, positions [][]molecule.Vec3, lo, hi int, wantForces bool, res *energy.Result) error {
	n := len(positions[lo])
	what := fmt.Sprintf("evaluate samples %d-%d", lo, hi-1)
	if size := (hi - lo) * n * 24; size > maxMessage {
		return fmt.Errorf("plugin: %s: samples %d-%d are %d bytes of positions, over the %d-byte message limit: use smaller batches or more workers",
			r.name(), lo, hi-1, size, maxMessage)
	}
	if !r.up.Load() {
		return &remoteFailure{addr: r.addr, err: errors.New("down")}
	}
	req := &energypb.EvaluateRequest{Positions: encodePositions(positions[lo:hi], n), BatchSize: int32(hi - lo), WantForces: wantForces}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	r.inflight.Add(1)
	resp, err := r.rpc.Evaluate(cctx, req)
	r.inflight.Add(-1)
	cancel()
	if err == nil {
		if err := decodeInto(resp, lo, hi, n, wantForces, res); err != nil {
			return fmt.Errorf("plugin: %s: %s: %w", r.name(), what, err)
		}
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("plugin: %s: %s: %w", r.name(), what, ctx.Err())
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Internal, codes.Aborted, codes.Unknown:
		r.markDown(err)
		return &remoteFailure{addr: r.addr, err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("plugin: %s: %s: %w", r.name(), what, err)
}

// remoteSystemXML asks a remote worker that is up for the System.
func (p *Pool) remoteSystemXML(ctx context.Context) (string, error) {
	for _, r := range p.remotes {
		if !r.up.Load() {
			continue
		}
		resp, err := r.rpc.SystemXML(ctx, &energypb.SystemXMLRequest{})
		if err != nil {
			return "", fmt.Errorf("plugin: %s: system xml: %w", r.name(), err)
		}
		return resp.Xml, nil
	}
	return "", p.allDown()
}
