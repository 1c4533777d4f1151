package nn

// GoMLX's XLA backend (cgo; it loads a PJRT plugin with dlopen) is linked into
// every binary: the PJRT CPU plugin is the default backend wherever one is
// found (see DefaultBackend), and a CUDA plugin runs the same graphs on a GPU.
import _ "github.com/gomlx/gomlx/backends/xla"
