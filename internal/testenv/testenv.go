// Package testenv finds what gobg's tests need outside the Go tree: the
// repository root, the test fixtures (testdata/) and the full reference data
// (../shared/data) for long checks, and the project's
// Python interpreter (the .venv made by scripts/setup.sh) with OpenMM, and
// gives tests their GoMLX backends (Backend, PureGo, XLA, EachBackend).
package testenv

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Root is the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedData returns the reference data the tests read: the fixture folder
// testdata/ of the repository (the PDB files of alanine dipeptide, HP35 and
// protein G, and every 10th frame of their reference MD, laid out as the full
// reference data is; scripts/mkfixtures makes it). It is part of every clone,
// so tests that use it never skip.
func SharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(), "testdata")
	if _, err := os.Stat(filepath.Join(dir, "md")); err != nil {
		t.Fatalf("test fixtures missing: %v (the repository's testdata/ folder)", err)
	}
	return dir
}

// FullData returns the full reference data (GOBG_SHARED_DATA, else
// ../shared/data beside the repository): whole MD trajectories, for the long
// checks and benchmarks that need more frames than the fixtures hold. Those
// skip, saying so, without it, except under CI=true, where its absence is a
// failure.
func FullData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("GOBG_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join(Root(), "..", "shared", "data")
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("full reference data not found at %s (set GOBG_SHARED_DATA)", dir)
		}
		t.Skipf("long check: full reference data not found at %s (set GOBG_SHARED_DATA)", dir)
	}
	return dir
}

// Python returns the interpreter of the project's environment
// (GOBG_PYTHON, else .venv/bin/python at the repository root). Tests that need
// it skip without it, except under CI=true, where its absence is a failure.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("GOBG_PYTHON")
	if py == "" {
		py = filepath.Join(Root(), ".venv", "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python environment not found at %s: run scripts/setup.sh", py)
		}
		t.Skipf("python environment not found at %s: run scripts/setup.sh", py)
	}
	return py
}

// RunPython runs a Python script with the project's interpreter and returns
// its standard output; stderr is included in the failure message.
func RunPython(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr)
	}
	return out
}

// ReadFloat64s reads a file of little-endian float64 values, the format
// the tests' Python reference scripts write with numpy's tofile.
func ReadFloat64s(t testing.TB, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}
