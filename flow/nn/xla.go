//go:build xla

package nn

// Built with -tags xla, binaries link GoMLX's XLA backend (cgo), so that
// "xla:/path/to/pjrt_plugin.so" backend specs work on GPU machines. The
// default build stays pure Go.
import _ "github.com/gomlx/gomlx/backends/xla"
