package plugin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// ServeOptions say how Serve offers a pool's System on the network.
type ServeOptions struct {
	// TLS is required unless the address is loopback (see TLSFiles).
	TLS TLSFiles
	// Energy evaluates the requests instead of the pool: gobg's native Go
	// energy of the pool's System, say. Nil: the pool.
	Energy energy.Energy
	// Platform names what evaluates in Info (default: the pool's OpenMM
	// platform).
	Platform string
	// Ready is called once the server accepts connections, with the address
	// it listens on (the port filled in for ":0") and its Info.
	Ready func(addr net.Addr, info *energypb.InfoResponse)
	// Logger (default: the pool's).
	Logger *slog.Logger
}

// drainTimeout bounds how long a stopping server waits for calls in flight.
const drainTimeout = 10 * time.Second

// Serve offers the pool's System as the gobg.energy.v1 Energy service on
// addr (host:port) until ctx ends: a remote worker for pools on other hosts
// (Config.Remote). Its Info carries the System's digest, the topology's and
// the build options, which clients check before they send work. Plaintext is
// refused unless addr is loopback; with TLS files the server requires a
// client certificate signed by the CA. Serve does not close the pool.
func Serve(ctx context.Context, addr string, pool *Pool, opts ServeOptions) error {
	creds, err := transportCreds(addr, opts.TLS, true)
	if err != nil {
		return fmt.Errorf("plugin: serve: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = pool.log
	}
	e := opts.Energy
	if e == nil {
		e = energy.Energy(pool)
	}
	if e.NumAtoms() != pool.natoms {
		return fmt.Errorf("plugin: serve: the energy has %d atoms, the pool's System %d", e.NumAtoms(), pool.natoms)
	}
	info, xml, err := describe(ctx, pool)
	if err != nil {
		return fmt.Errorf("plugin: serve: %w", err)
	}
	if opts.Platform != "" {
		info.Platform = opts.Platform
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("plugin: serve: %w", err)
	}
	srv := grpc.NewServer(grpc.Creds(creds), grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
	energypb.RegisterEnergyServer(srv, &energyServer{e: e, n: pool.natoms, info: info, xml: xml, log: opts.Logger})
	hs := health.NewServer()
	hs.SetServingStatus("", grpc_health_v1.HealthCheckResponse_SERVING)
	grpc_health_v1.RegisterHealthServer(srv, hs)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	opts.Logger.Info("energy server ready", "addr", lis.Addr().String(), "atoms", info.NumAtoms,
		"system_sha256", info.SystemSha256, "platform", info.Platform, "tls", opts.TLS.Enabled())
	if opts.Ready != nil {
		opts.Ready(lis.Addr(), proto.Clone(info).(*energypb.InfoResponse))
	}
	select {
	case err := <-served:
		return fmt.Errorf("plugin: serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(drainTimeout):
		srv.Stop()
		<-stopped
	}
	return nil
}

// describe is the pool's Info as a server states it: this process's pid,
// the digests of the System and of the topology, the build options.
func describe(ctx context.Context, pool *Pool) (*energypb.InfoResponse, string, error) {
	xml, err := pool.SystemXML(ctx)
	if err != nil {
		return nil, "", err
	}
	info := proto.Clone(pool.info).(*energypb.InfoResponse)
	info.Pid = int64(os.Getpid())
	info.SystemSha256 = SystemDigest(xml)
	info.ForceField, info.Constraints, info.TopologySha256 = nil, "", ""
	if pool.cfg.PDB != "" {
		pdb, err := molecule.ReadPDBFile(pool.cfg.PDB)
		if err != nil {
			return nil, "", err
		}
		info.TopologySha256 = TopologyDigest(pdb.Topology)
		info.ForceField = pool.cfg.ForceField
		info.Constraints = pool.cfg.Constraints
	}
	return info, xml, nil
}

type energyServer struct {
	energypb.UnimplementedEnergyServer
	e    energy.Energy
	n    int
	info *energypb.InfoResponse
	xml  string
	log  *slog.Logger
}

func (s *energyServer) Info(context.Context, *energypb.InfoRequest) (*energypb.InfoResponse, error) {
	return s.info, nil
}

func (s *energyServer) SystemXML(context.Context, *energypb.SystemXMLRequest) (*energypb.SystemXMLResponse, error) {
	return &energypb.SystemXMLResponse{Xml: s.xml}, nil
}

func (s *energyServer) Evaluate(ctx context.Context, req *energypb.EvaluateRequest) (*energypb.EvaluateResponse, error) {
	b := int(req.BatchSize)
	if b < 0 || len(req.Positions) != b*s.n*24 {
		return nil, status.Errorf(codes.InvalidArgument, "positions hold %d bytes; batch %d x %d atoms x 3 x 8 needs %d",
			len(req.Positions), b, s.n, b*s.n*24)
	}
	res, err := s.e.Evaluate(ctx, decodePositions(req.Positions, b, s.n), req.WantForces)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		// This server's own workers failed past their restarts: the client
		// is told to take the chunk to another worker.
		s.log.Warn("energy server: evaluate failed", "samples", b, "err", err)
		return nil, status.Errorf(codes.Unavailable, "energy server: %v", err)
	}
	r := &energypb.EvaluateResponse{Energies: make([]byte, 0, 8*b), Errors: make([]string, b)}
	for i, e := range res.Energies {
		r.Energies = appendFloat64(r.Energies, e)
		if err := res.Errors[i]; err != nil {
			var se *energy.SampleError
			if errors.As(err, &se) {
				r.Errors[i] = se.Reason
			} else {
				r.Errors[i] = err.Error()
			}
		}
	}
	if req.WantForces {
		r.Forces = make([]byte, 0, 24*b*s.n)
		for _, f := range res.Forces {
			if len(f) != s.n {
				// A sample without an energy may come without forces; the
				// protocol says zeros.
				f = make([]molecule.Vec3, s.n)
			}
			for _, v := range f {
				r.Forces = appendFloat64(appendFloat64(appendFloat64(r.Forces, v[0]), v[1]), v[2])
			}
		}
	}
	return r, nil
}

func appendFloat64(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func decodePositions(b []byte, batch, n int) [][]molecule.Vec3 {
	out := make([][]molecule.Vec3, batch)
	for s := range out {
		x := make([]molecule.Vec3, n)
		base := 3 * n * s
		for a := range x {
			x[a] = molecule.Vec3{float64At(b, base+3*a), float64At(b, base+3*a+1), float64At(b, base+3*a+2)}
		}
		out[s] = x
	}
	return out
}
