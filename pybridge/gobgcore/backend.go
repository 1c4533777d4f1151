package gobgcore

import (
	"strings"

	"github.com/gobg/gobg/flow/nn"
)

// SetPythonPath tells the Go side where the Python it runs in finds packages
// (sys.path, newline-joined), so that the default backend finds the PJRT
// plugin installed there (docs/backends.md): inside Python the executable is
// the interpreter, which says nothing about the environment. The Python
// package calls it on import.
func SetPythonPath(paths string) { nn.AddSearchDirs(strings.Split(paths, "\n")...) }

// DefaultBackend is the spec of the backend a model loaded without one
// uses, e.g. "xla:/abs/path/xla_cpu_pjrt.so", or the error that selection
// met.
func DefaultBackend() (string, error) {
	c, err := nn.Select("")
	if err != nil {
		return "", err
	}
	return c.Spec, nil
}
