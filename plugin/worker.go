package plugin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// Handshake is what host and worker must agree on before they talk. The
// magic cookie only tells a user who runs server.py by hand what it is; it is
// no security measure. server.py holds the same values.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "GOBG_ENERGY_PLUGIN",
	MagicCookieValue: "b0ltzmann-openmm-energy",
}

// PluginName is the name the energy service is dispensed under.
const PluginName = "energy"

// maxMessage raises gRPC's 4 MB default: a batch of 256 conformations of 855
// atoms is 5.3 MB of positions and as much of forces. The worker sets the
// same limit.
const maxMessage = 1 << 30

// grpcPlugin lets go-plugin hand out the generated gRPC client. The server
// half is Python's, so GRPCServer is never called in this process.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (grpcPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the energy plugin is served by plugin/openmm/server.py, not by Go")
}

func (grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return energypb.NewEnergyClient(c), nil
}

// proc is one running worker process.
type proc struct {
	client *goplugin.Client
	cmd    *exec.Cmd // go-plugin starts this very Cmd, so cmd.Process is the worker
	rpc    energypb.EnergyClient
	info   *energypb.InfoResponse
	pid    int
	stderr *tailBuffer
}

// killGrace bounds a graceful stop. go-plugin's Kill asks the worker to shut
// down and waits for the answer without a deadline; a hung worker never
// answers, so after killGrace the process is killed, which ends that wait.
const killGrace = 5 * time.Second

// kill stops the process and returns once it has been reaped. hard skips
// the shutdown request: for a worker that failed, there is nothing to save.
func (pr *proc) kill(hard bool) {
	if hard {
		_ = pr.cmd.Process.Kill()
	}
	done := make(chan struct{})
	go func() {
		pr.client.Kill()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(killGrace):
	}
	_ = pr.cmd.Process.Kill()
	<-done
}

// spawn starts worker process number index and checks it: health, protocol
// version and, after the first worker, the atom count.
func (p *Pool) spawn(ctx context.Context, index int) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugin: start worker %d: %w", index, err)
	}
	tail := newTailBuffer(4096)
	cmd := exec.Command(p.python, append([]string{"-u", p.server}, p.args...)...)
	// go-plugin appends the host's environment and its own variables.
	cmd.Env = []string{"PYTHONUNBUFFERED=1"}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          goplugin.PluginSet{PluginName: grpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           newHCLogger(p.log.With("worker", index)),
		Stderr:           tail,
		StartTimeout:     p.cfg.StartTimeout,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage))},
	})
	fail := func(err error) (*proc, error) {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		client.Kill()
		return nil, fmt.Errorf("plugin: start worker %d (%s -u %s): %w%s", index, p.python, p.server, err, tail.suffix())
	}
	protocol, err := client.Client()
	if err != nil {
		return fail(err)
	}
	gc, ok := protocol.(*goplugin.GRPCClient)
	if !ok {
		return fail(fmt.Errorf("worker speaks %T, not gRPC", protocol))
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	h, err := grpc_health_v1.NewHealthClient(gc.Conn).Check(cctx,
		&grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
	if err != nil {
		return fail(fmt.Errorf("health check: %w", err))
	}
	if h.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		return fail(fmt.Errorf("health check: worker is %v", h.Status))
	}
	raw, err := protocol.Dispense(PluginName)
	if err != nil {
		return fail(err)
	}
	rpc := raw.(energypb.EnergyClient)
	info, err := rpc.Info(cctx, &energypb.InfoRequest{})
	if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
		// The worker runs but could not build its System, and said why in
		// one line: that is the whole story, without the worker's command
		// line and stderr, and no restart would change it. The worker is
		// healthy, so it is asked to stop (a kill would be logged as a
		// crash next to the message).
		(&proc{client: client, cmd: cmd}).kill(false)
		return nil, fmt.Errorf("plugin: %w: %s", ErrInput, st.Message())
	}
	if err != nil {
		return fail(fmt.Errorf("info: %w", err))
	}
	if info.ProtocolVersion != ProtocolVersion {
		return fail(fmt.Errorf("worker speaks protocol version %d, this host %d", info.ProtocolVersion, ProtocolVersion))
	}
	if p.natoms >= 0 && int(info.NumAtoms) != p.natoms {
		return fail(fmt.Errorf("worker has %d atoms, the pool %d", info.NumAtoms, p.natoms))
	}
	p.log.Debug("openmm worker started", "worker", index, "pid", info.Pid, "platform", info.Platform,
		"properties", info.Properties)
	return &proc{client: client, cmd: cmd, rpc: rpc, info: info, pid: int(info.Pid), stderr: tail}, nil
}

// worker is one slot of the pool: the process in it may be replaced.
type worker struct {
	index    int
	pool     *Pool
	mu       sync.Mutex // guards proc and gen; held during a restart
	proc     *proc      // nil while down
	gen      int        // counts replacements of proc
	restarts atomic.Int32
	inflight atomic.Int32 // calls in progress (tests wait on it)
}

func (w *worker) current() (*proc, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.proc, w.gen
}

// restart replaces the process of generation gen, unless another caller has
// replaced it already.
func (w *worker) restart(ctx context.Context, gen int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gen != gen {
		return nil
	}
	if w.pool.closed.Load() {
		return errors.New("pool is closed")
	}
	if w.proc != nil {
		w.proc.kill(true)
		w.proc = nil
	}
	w.gen++
	pr, err := w.pool.spawn(ctx, w.index)
	if err != nil {
		return err
	}
	w.proc = pr
	w.restarts.Add(1)
	return nil
}

func (w *worker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.proc != nil {
		w.proc.kill(false)
		w.proc = nil
	}
}

var errWorkerDown = errors.New("worker is down")

// ErrInput marks a worker's report that OpenMM cannot build its System or
// Context from the worker's inputs (a residue without a template in the
// force field, a PDB file OpenMM cannot read, an unknown platform): a fault
// of the input, which the error's message names in one line; no restart
// cures it.
var ErrInput = errors.New("OpenMM refuses the input")

// call runs fn against the worker under the per-call timeout. When the
// worker process fails (it died, its connection broke, it hung past the
// timeout) call restarts it and runs fn again, at most MaxRestarts times.
// Errors the worker reports itself (bad request, a bug) are not retried: a
// new process would answer the same.
func (w *worker) call(ctx context.Context, what string, fn func(context.Context, energypb.EnergyClient) error) error {
	p := w.pool
	for attempt := 1; ; attempt++ {
		pr, gen := w.current()
		pid := 0
		err := errWorkerDown
		if pr != nil {
			pid = pr.pid
			cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
			w.inflight.Add(1)
			err = fn(cctx, pr.rpc)
			w.inflight.Add(-1)
			cancel()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("plugin: worker %d (pid %d), attempt %d: %s: %w", w.index, pid, attempt, what, ctx.Err())
		}
		if pr != nil && !processFailed(err, pr) {
			return fmt.Errorf("plugin: worker %d (pid %d), attempt %d: %s: %w", w.index, pid, attempt, what, err)
		}
		if attempt > p.cfg.MaxRestarts {
			return fmt.Errorf("plugin: worker %d (pid %d) failed on attempt %d of %d: %s: %w%s",
				w.index, pid, attempt, p.cfg.MaxRestarts+1, what, err, stderrOf(pr))
		}
		p.log.Warn("openmm worker failed; restarting it", "worker", w.index, "pid", pid,
			"attempt", attempt, "call", what, "err", err)
		if rerr := w.restart(ctx, gen); rerr != nil {
			return fmt.Errorf("plugin: worker %d (pid %d) failed on attempt %d (%s: %v) and did not restart: %w",
				w.index, pid, attempt, what, err, rerr)
		}
	}
}

// processFailed tells failures of the worker process, which a restart
// cures, from errors the worker reported.
func processFailed(err error, pr *proc) bool {
	if pr.client.Exited() {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, // connection refused or broken
		codes.DeadlineExceeded, // our per-call timeout: treat as hung
		codes.Canceled,         // connection closed under the call (the caller's ctx is live)
		codes.Internal,         // transport errors (RST_STREAM, malformed frames)
		codes.Aborted:
		return true
	}
	return false
}

func stderrOf(pr *proc) string {
	if pr == nil {
		return ""
	}
	return pr.stderr.suffix()
}

// evaluate runs samples [lo, hi) of the batch on this worker and writes
// their answers into res (each chunk owns its indices, so chunks can write
// concurrently).
func (w *worker) evaluate(ctx context.Context, positions [][]molecule.Vec3, lo, hi int, wantForces bool, res *energy.Result) error {
	n := w.pool.natoms
	if size := (hi - lo) * n * 24; size > maxMessage {
		return fmt.Errorf("plugin: worker %d: samples %d-%d are %d bytes of positions, over the %d-byte message limit: use smaller batches or more workers",
			w.index, lo, hi-1, size, maxMessage)
	}
	req := &energypb.EvaluateRequest{
		Positions:  encodePositions(positions[lo:hi], n),
		BatchSize:  int32(hi - lo),
		WantForces: wantForces,
	}
	what := fmt.Sprintf("evaluate samples %d-%d", lo, hi-1)
	return w.call(ctx, what, func(ctx context.Context, c energypb.EnergyClient) error {
		r, err := c.Evaluate(ctx, req)
		if err != nil {
			return err
		}
		return decodeInto(r, lo, hi, n, wantForces, res)
	})
}

func encodePositions(x [][]molecule.Vec3, n int) []byte {
	buf := make([]byte, len(x)*n*24)
	o := 0
	for _, conf := range x {
		for _, v := range conf {
			for _, c := range v {
				binary.LittleEndian.PutUint64(buf[o:], math.Float64bits(c))
				o += 8
			}
		}
	}
	return buf
}

func float64At(b []byte, i int) float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
}

// decodeInto checks the response's sizes and copies it into res.
func decodeInto(r *energypb.EvaluateResponse, lo, hi, n int, wantForces bool, res *energy.Result) error {
	b := hi - lo
	if len(r.Energies) != 8*b || len(r.Errors) != b {
		return fmt.Errorf("malformed response: %d energy bytes and %d errors for %d samples", len(r.Energies), len(r.Errors), b)
	}
	if wantForces && len(r.Forces) != 24*b*n {
		return fmt.Errorf("malformed response: %d force bytes for %d samples of %d atoms", len(r.Forces), b, n)
	}
	for i := range b {
		res.Energies[lo+i] = float64At(r.Energies, i)
		res.Errors[lo+i] = nil
		if msg := r.Errors[i]; msg != "" {
			res.Errors[lo+i] = &energy.SampleError{Index: lo + i, Reason: msg}
		}
		if !wantForces {
			continue
		}
		f := make([]molecule.Vec3, n)
		base := 3 * n * i
		for a := range f {
			f[a] = molecule.Vec3{float64At(r.Forces, base+3*a), float64At(r.Forces, base+3*a+1), float64At(r.Forces, base+3*a+2)}
		}
		res.Forces[lo+i] = f
	}
	return nil
}
