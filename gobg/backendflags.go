package main

import (
	"flag"
	"fmt"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gomlx/gomlx/backends"
)

// backendFlags are the flags of the commands that compute with GoMLX.
type backendFlags struct {
	spec    string
	threads int
}

const backendFlagDoc = "GoMLX backend `SPEC`, e.g. go:ops_sequential or xla:/abs/plugin.so (default: $GOMLX_BACKEND, " +
	"else the PJRT plugin in $GOBG_PJRT_PLUGIN, else one found in the project's .venv, else pure Go; docs/backends.md)"

// addBackendFlags declares --backend and, unless the command has its own
// --threads (OpenMM's), --threads.
func addBackendFlags(fs *flag.FlagSet, withThreads bool) *backendFlags {
	b := &backendFlags{}
	fs.StringVar(&b.spec, "backend", "", backendFlagDoc)
	if withThreads {
		fs.IntVar(&b.threads, "threads", 0, "CPU `threads` of XLA and of the pure-Go backend (0: all cores)")
	}
	return b
}

// apply sets the thread count for the backends the command creates; call it
// after parsing, before creating one.
func (b *backendFlags) apply() error {
	if b.threads < 0 {
		return fmt.Errorf("%w: --threads must not be negative", errUsage)
	}
	nn.SetThreads(b.threads)
	return nil
}

// newBackend applies the flags and creates the backend they select.
func (b *backendFlags) newBackend() (backends.Backend, error) {
	if err := b.apply(); err != nil {
		return nil, err
	}
	return nn.NewBackend(b.spec)
}
