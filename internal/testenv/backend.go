// The GoMLX backends tests run on: the default one that every command uses
// without a flag (XLA through the PJRT CPU plugin of the project's .venv,
// docs/backends.md), and both backends for the exactness tests that must
// hold on each.
//
// A test binary creates each backend once: an XLA client costs a few hundred
// milliseconds and holds thread pools. Without a PJRT plugin the XLA side is
// skipped, except under CI=true, where a missing plugin fails the test: CI
// must test the backend users get.

package testenv

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gomlx/gomlx/backends"
)

// testXLAFlags is XLA_FLAGS for tests, unless set: LLVM's optimisation level
// 0 halves XLA's compile time (ala2 nsf flow check: 33 s of CPU against 58 s)
// and makes compiled code 2.4-3.4 times slower (HP35 nsf NLL step and
// sampling). Tests compile many graphs and run each a few times, so the
// suite is faster at level 0. The computation is the same: XLA does not
// enable fast math at any level. Benchmarks (-test.bench) keep XLA's default.
const testXLAFlags = "--xla_backend_optimization_level=0"

// init sets XLA_FLAGS before any backend of the test binary exists (XLA reads
// it when it first compiles), unless the binary runs benchmarks: go test
// passes -test.bench=REGEXP in the arguments.
func init() {
	if _, set := os.LookupEnv("XLA_FLAGS"); set {
		return
	}
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-test.bench="); ok && v != "" {
			return
		}
	}
	os.Setenv("XLA_FLAGS", testXLAFlags)
}

type result struct {
	b   backends.Backend
	err error
}

var (
	defaultOnce = sync.OnceValue(func() result {
		b, err := nn.NewBackend("")
		return result{b, err}
	})
	pureGoOnce = sync.OnceValue(func() result {
		b, err := nn.NewBackend(nn.PureGoSpec)
		return result{b, err}
	})
	xlaOnce = sync.OnceValue(func() result {
		p := nn.CPUPlugin()
		if p == "" {
			return result{}
		}
		b, err := nn.NewBackend("xla:" + p)
		return result{b, err}
	})
)

func ci() bool { return os.Getenv("CI") == "true" }

// Backend returns the backend commands use without a flag (nn.NewBackend("")).
// Under CI=true, unless $GOMLX_BACKEND chooses one, it must be XLA.
func Backend(tb testing.TB) backends.Backend {
	tb.Helper()
	r := defaultOnce()
	if r.err != nil {
		tb.Fatalf("default backend: %v", r.err)
	}
	if ci() && !nn.IsXLA(r.b) && os.Getenv(backends.ConfigEnvVar) == "" {
		tb.Fatalf("default backend is %s, not XLA: no PJRT plugin found (run scripts/setup.sh or set %s)",
			nn.SpecOf(r.b), nn.PluginEnv)
	}
	return r.b
}

// PureGo returns the pure-Go backend (nn.PureGoSpec).
func PureGo(tb testing.TB) backends.Backend {
	tb.Helper()
	r := pureGoOnce()
	if r.err != nil {
		tb.Fatalf("pure-Go backend: %v", r.err)
	}
	return r.b
}

// XLA returns XLA on the PJRT CPU plugin (nn.CPUPlugin). Without a plugin the
// test is skipped, or fails under CI=true.
func XLA(tb testing.TB) backends.Backend {
	tb.Helper()
	r := xlaOnce()
	if r.err != nil {
		tb.Fatalf("XLA CPU backend: %v", r.err)
	}
	if r.b == nil {
		msg := "no PJRT CPU plugin found (run scripts/setup.sh or set " + nn.PluginEnv + ")"
		if ci() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return r.b
}

// BackendNames are the subtest names of EachBackend, in order.
var BackendNames = []string{"go", "xla"}

// EachBackend runs fn as a subtest on the pure-Go backend ("go") and on XLA's CPU
// plugin ("xla"), for the checks that must hold on both.
func EachBackend(t *testing.T, fn func(t *testing.T, b backends.Backend)) {
	t.Helper()
	t.Run(BackendNames[0], func(t *testing.T) { fn(t, PureGo(t)) })
	t.Run(BackendNames[1], func(t *testing.T) { fn(t, XLA(t)) })
}
