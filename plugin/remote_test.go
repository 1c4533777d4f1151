package plugin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/internal/testenv"
	energypb "github.com/gobg/gobg/plugin/proto"
)

// serveEnv prefixes the variables that turn this test binary into an energy
// server (TestMain calls serveMain when serveEnv+"LISTEN" is set).
const serveEnv = "GOBG_PLUGIN_TEST_SERVE_"

// serveMain runs an energy server in this process, as `gobg energy serve`
// does: a pool of local OpenMM workers behind Serve. It prints "LISTEN addr"
// once it accepts connections and stops on SIGTERM or when its standard
// input closes (the test that started it is gone).
func serveMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	env := func(k string) string { return os.Getenv(serveEnv + k) }
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pool, err := Start(ctx, Config{Python: env("PYTHON"), Server: env("SERVER"), PDB: env("PDB"),
		Platform: env("PLATFORM"), Threads: 1, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	err = Serve(ctx, env("LISTEN"), pool, ServeOptions{
		TLS: TLSFiles{Cert: env("TLS_CERT"), Key: env("TLS_KEY"), CA: env("TLS_CA")},
		Ready: func(addr net.Addr, _ *energypb.InfoResponse) {
			fmt.Printf("LISTEN %s\n", addr)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testServer is an energy server process started by startServer.
type testServer struct {
	addr   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// startServer starts this test binary as an energy server for md/<sys> on
// 127.0.0.1 (a free port) and waits until it listens. The test's cleanup
// stops it.
func startServer(t testing.TB, sys, platform string, tlsFiles TLSFiles) *testServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		serveEnv+"LISTEN=127.0.0.1:0",
		serveEnv+"PDB="+mdTop(t, sys),
		serveEnv+"PLATFORM="+platform,
		serveEnv+"PYTHON="+testenv.Python(t),
		serveEnv+"SERVER="+filepath.Join(testenv.Root(), "plugin", "openmm", "server.py"),
		serveEnv+"TLS_CERT="+tlsFiles.Cert, serveEnv+"TLS_KEY="+tlsFiles.Key, serveEnv+"TLS_CA="+tlsFiles.CA)
	s := &testServer{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = &syncWriter{w: s.stderr}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				ready <- a
			}
		}
		close(ready)
	}()
	select {
	case a, ok := <-ready:
		if !ok {
			t.Fatalf("energy server exited before it listened: %s", s.stderr)
		}
		s.addr = a
	case <-time.After(2 * time.Minute):
		t.Fatalf("energy server did not listen within 2 min: %s", s.stderr)
	}
	return s
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// sameResult fails the test unless got equals want bit for bit, energies,
// errors and forces, with every sample present.
func sameResult(t *testing.T, got, want energy.Result) {
	t.Helper()
	if len(got.Energies) != len(want.Energies) || len(got.Forces) != len(want.Forces) {
		t.Fatalf("%d energies and %d forces, want %d and %d", len(got.Energies), len(got.Forces), len(want.Energies), len(want.Forces))
	}
	for i := range want.Energies {
		if !sameBits(got.Energies[i], want.Energies[i]) || (got.Errors[i] == nil) != (want.Errors[i] == nil) {
			t.Fatalf("sample %d: energy %v (error %v), want %v (error %v)", i, got.Energies[i], got.Errors[i], want.Energies[i], want.Errors[i])
		}
		if want.Forces == nil {
			continue
		}
		if len(got.Forces[i]) != len(want.Forces[i]) {
			t.Fatalf("sample %d: %d forces, want %d", i, len(got.Forces[i]), len(want.Forces[i]))
		}
		for a := range want.Forces[i] {
			for k := range 3 {
				if !sameBits(got.Forces[i][a][k], want.Forces[i][a][k]) {
					t.Fatalf("sample %d atom %d: force %v, want %v", i, a, got.Forces[i][a], want.Forces[i][a])
				}
			}
		}
	}
}

// A batch spread over two energy servers, with and without a local worker
// beside them, is the local pool's answer bit for bit (Reference platform).
func TestRemoteMatchesLocal(t *testing.T) {
	frames, _ := mdFrames(t, "hp35", spread(24, 200))
	local := sharedPool(t, "hp35")
	want, err := local.Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	a := startServer(t, "hp35", "Reference", TLSFiles{})
	b := startServer(t, "hp35", "Reference", TLSFiles{})
	for _, tc := range []struct {
		name    string
		workers int
	}{{"remote only", 0}, {"local and remote", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			pool := startPool(t, Config{PDB: mdTop(t, "hp35"), Platform: "Reference", Workers: tc.workers, Remote: []string{a.addr, b.addr}})
			if got := len(pool.upSlots()); got != tc.workers+2 {
				t.Fatalf("%d workers up, want %d", got, tc.workers+2)
			}
			got, err := pool.Evaluate(context.Background(), frames, true)
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, got, want)
			for _, r := range pool.remotes {
				if !r.up.Load() {
					t.Errorf("%s is down after the batch", r.name())
				}
			}
		})
	}
}

// Killing an energy server in the middle of a batch must not change the
// answer: its chunk goes to the other server, and the server is marked down.
func TestRemoteServerKilledMidBatch(t *testing.T) {
	frames, _ := mdFrames(t, "hp35", spread(64, 200))
	a := startServer(t, "hp35", "Reference", TLSFiles{})
	b := startServer(t, "hp35", "Reference", TLSFiles{})
	pool := startPool(t, Config{PDB: mdTop(t, "hp35"), Platform: "Reference", Remote: []string{a.addr, b.addr}})
	ctx := context.Background()
	want, err := pool.Evaluate(ctx, frames, true)
	if err != nil {
		t.Fatal(err)
	}
	victim := pool.remotes[1]
	got := evaluateKilling(t, pool, frames, &victim.inflight, "server "+b.addr, b.cmd.Process.Kill)
	sameResult(t, got, want)
	if victim.up.Load() {
		t.Errorf("%s is still up after it was killed", victim.name())
	}
	if !pool.remotes[0].up.Load() {
		t.Errorf("%s went down", pool.remotes[0].name())
	}
	// The next batch runs on the survivor alone.
	again, err := pool.Evaluate(ctx, frames[:4], false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again.Energies {
		if !sameBits(again.Energies[i], want.Energies[i]) {
			t.Fatalf("sample %d after the kill: %v, want %v", i, again.Energies[i], want.Energies[i])
		}
	}
}

// Plaintext to or from an address that is not loopback is refused before
// any connection is made, on both sides.
func TestRemotePlaintextRefused(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		loopback bool
	}{
		{"127.0.0.1:9000", true},
		{"127.3.4.5:9000", true},
		{"[::1]:9000", true},
		{"localhost:9000", true},
		{"192.0.2.7:9000", false},
		{"[2001:db8::1]:9000", false},
		{"0.0.0.0:9000", false},
		{":9000", false},
		{"example.org:9000", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			lo, err := isLoopback(tc.addr)
			if err != nil || lo != tc.loopback {
				t.Fatalf("isLoopback = %v, %v; want %v", lo, err, tc.loopback)
			}
			_, cerr := transportCreds(tc.addr, TLSFiles{}, false)
			_, serr := transportCreds(tc.addr, TLSFiles{}, true)
			for side, err := range map[string]error{"client": cerr, "server": serr} {
				if tc.loopback && err != nil {
					t.Errorf("%s: plaintext on loopback refused: %v", side, err)
				}
				if !tc.loopback && !errors.Is(err, ErrPlaintext) {
					t.Errorf("%s: plaintext accepted (err %v)", side, err)
				}
			}
		})
	}
	// The same through the entry points.
	cfg := testConfig(t, Config{PDB: mdTop(t, "ala2"), Remote: []string{"192.0.2.7:9000"}})
	if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrPlaintext) {
		t.Errorf("Start with a plaintext non-loopback remote: %v", err)
	}
	// A server that wrongly listens stops after the timeout, and fails.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Serve(ctx, "0.0.0.0:0", sharedPool(t, "ala2"), ServeOptions{}); !errors.Is(err, ErrPlaintext) {
		t.Errorf("Serve in plaintext on every interface: %v", err)
	}
}

// testCA is a throwaway certificate authority, made at test time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	name string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, dir: t.TempDir(), name: name}
	writePEM(t, ca.caFile(), "CERTIFICATE", der)
	return ca
}

func (ca *testCA) caFile() string { return filepath.Join(ca.dir, "ca.pem") }

// issue makes a certificate for 127.0.0.1 and localhost, good for both
// server and client authentication, and returns it with this CA as the CA
// to trust.
func (ca *testCA) issue(t *testing.T, who string) TLSFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: who},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{Cert: filepath.Join(ca.dir, who+".pem"), Key: filepath.Join(ca.dir, who+"-key.pem"), CA: ca.caFile()}
	writePEM(t, f.Cert, "CERTIFICATE", der)
	writePEM(t, f.Key, "EC PRIVATE KEY", kb)
	return f
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Mutual TLS on loopback: a client with a certificate of the server's CA
// gets the local answer; a client whose certificate another CA signed, or
// one without TLS, is refused.
func TestRemoteTLS(t *testing.T) {
	frames, _ := mdFrames(t, "ala2", spread(8, 20000))
	want, err := sharedPool(t, "ala2").Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "gobg test CA")
	srv := startServer(t, "ala2", "Reference", ca.issue(t, "server"))

	pool := startPool(t, Config{PDB: mdTop(t, "ala2"), Remote: []string{srv.addr}, TLS: ca.issue(t, "client")})
	got, err := pool.Evaluate(context.Background(), frames, true)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, got, want)

	other := newTestCA(t, "another CA")
	stranger := other.issue(t, "stranger")
	stranger.CA = ca.caFile() // it trusts the server; the server must not trust it
	for _, tc := range []struct {
		name string
		tls  TLSFiles
	}{{"certificate of another CA", stranger}, {"no TLS", TLSFiles{}}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, Config{PDB: mdTop(t, "ala2"), Remote: []string{srv.addr}, TLS: tc.tls, StartTimeout: 20 * time.Second})
			p, err := Start(context.Background(), cfg)
			if err == nil {
				p.Close()
				t.Fatal("connected")
			}
			t.Logf("refused: %v", err)
		})
	}
	// A client that does not trust the server's CA refuses the server.
	distrust := ca.issue(t, "distrustful")
	distrust.CA = other.caFile()
	cfg := testConfig(t, Config{PDB: mdTop(t, "ala2"), Remote: []string{srv.addr}, TLS: distrust, StartTimeout: 20 * time.Second})
	if p, err := Start(context.Background(), cfg); err == nil {
		p.Close()
		t.Fatal("a client that does not trust the server's CA connected")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("refusal does not name the certificate: %v", err)
	}
}

// A server of another System is refused at connect time, whether the pool
// knows its System's digest (local workers, a System XML file) or only its
// topology and force field.
func TestRemoteRefusesOtherSystem(t *testing.T) {
	srv := startServer(t, "ala2", "Reference", TLSFiles{})
	ok := startPool(t, Config{PDB: mdTop(t, "ala2"), Remote: []string{srv.addr}})
	xml, err := ok.SystemXML(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := write("same.xml", strings.Replace(xml, `openmmVersion="`, `openmmVersion="0.0-`, 1))
	// One particle a little heavier: the same topology, another System.
	heavier := write("heavier.xml", strings.Replace(xml, `<Particle mass="12.01078"/>`, `<Particle mass="12.01079"/>`, 1))
	if heavier == "" || !strings.Contains(xml, `<Particle mass="12.01078"/>`) {
		t.Fatal("ala2's System has no carbon of mass 12.01078")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" accepted
	}{
		{"same System XML", Config{SystemXML: same}, ""},
		{"other System XML", Config{SystemXML: heavier}, "serves another System"},
		{"other topology", Config{PDB: mdTop(t, "hp35")}, "serves another topology"},
		{"other constraints", Config{PDB: mdTop(t, "ala2"), Constraints: "HBonds"}, "constraints"},
		{"other force field", Config{PDB: mdTop(t, "ala2"), ForceField: []string{"amber14-all.xml"}}, "force field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Remote = []string{srv.addr}
			p, err := Start(context.Background(), testConfig(t, tc.cfg))
			if err == nil {
				p.Close()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
	// With a local worker the pool compares the digest of its own System.
	t.Run("local worker of another system", func(t *testing.T) {
		p, err := Start(context.Background(), testConfig(t, Config{PDB: mdTop(t, "hp35"), Platform: "Reference", Workers: 1, Remote: []string{srv.addr}}))
		if err == nil {
			p.Close()
			t.Fatal("accepted")
		}
		if !strings.Contains(err.Error(), "serves another System") {
			t.Fatalf("err %v", err)
		}
	})
}

// The System digest ignores what cannot change an energy and nothing else.
func TestRemoteSystemDigest(t *testing.T) {
	base := `<?xml version="1.0" ?>
<System openmmVersion="8.6.1" type="System" version="1">
	<PeriodicBoxVectors>
		<A x="2" y="0" z="0"/>
		<B x="0" y="2" z="0"/>
		<C x="0" y="0" z="2"/>
	</PeriodicBoxVectors>
	<Particles>
		<Particle mass="12.01078"/>
	</Particles>
	<Forces>
		<Force forceGroup="0" method="0" name="NonbondedForce" type="NonbondedForce" version="4"/>
	</Forces>
</System>`
	box := func(s, edge string) string { return strings.Replace(s, `<A x="2"`, `<A x="`+edge+`"`, 1) }
	periodic := strings.Replace(base, `method="0"`, `method="4"`, 1)
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"another OpenMM version", base, strings.Replace(base, "8.6.1", "8.1.0", 1), true},
		{"another box, no periodic force", base, box(base, "4.9163"), true},
		{"no box, no periodic force", base, strings.Replace(base, "\t<PeriodicBoxVectors>\n\t\t<A x=\"2\" y=\"0\" z=\"0\"/>\n\t\t<B x=\"0\" y=\"2\" z=\"0\"/>\n\t\t<C x=\"0\" y=\"0\" z=\"2\"/>\n\t</PeriodicBoxVectors>\n", "", 1), true},
		{"another box, PME", periodic, box(periodic, "4.9163"), false},
		{"another mass", base, strings.Replace(base, "12.01078", "12.01079", 1), false},
		{"another nonbonded method", base, periodic, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.a == tc.b {
				t.Fatal("the two XML texts are the same")
			}
			if got := SystemDigest(tc.a) == SystemDigest(tc.b); got != tc.same {
				t.Errorf("same digest %v, want %v", got, tc.same)
			}
		})
	}
}

// BenchmarkRemote measures energy throughput (energies and forces of a
// batch of 256 MD frames, conf/s) over 1, 2 and 4 energy servers on
// loopback, each with one OpenMM CPU worker of one thread, against one local
// worker of one thread.
func BenchmarkRemote(b *testing.B) {
	for _, sys := range []string{"ala2", "hp35"} {
		b.Run(sys, func(b *testing.B) {
			_, total := mdFrames(b, sys, []int{0})
			frames, _ := mdFrames(b, sys, spread(256, total))
			servers := make([]string, 4)
			for i := range servers {
				servers[i] = startServer(b, sys, "CPU", TLSFiles{}).addr
			}
			run := func(b *testing.B, cfg Config) {
				pool := startPool(b, cfg)
				ctx := context.Background()
				if _, err := pool.Evaluate(ctx, frames, true); err != nil { // warm-up
					b.Fatal(err)
				}
				for b.Loop() {
					res, err := pool.Evaluate(ctx, frames, true)
					if err != nil {
						b.Fatal(err)
					}
					if n := res.Failed(); n != 0 {
						b.Fatalf("%d samples failed", n)
					}
				}
				b.ReportMetric(float64(len(frames)*b.N)/b.Elapsed().Seconds(), "conf/s")
			}
			b.Run("local=1", func(b *testing.B) {
				run(b, Config{PDB: mdTop(b, sys), Workers: 1, Threads: 1})
			})
			for _, n := range []int{1, 2, 4} {
				b.Run(fmt.Sprintf("remote=%d", n), func(b *testing.B) {
					run(b, Config{PDB: mdTop(b, sys), Remote: servers[:n]})
				})
			}
		})
	}
}
