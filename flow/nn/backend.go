package nn

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	// The pure-Go backend is always linked: it is the only one that runs on
	// machines without a PJRT plugin.
	_ "github.com/gomlx/gomlx/backends/simplego"
)

// DefaultBackendSpec is the backend used when neither an explicit spec nor
// $GOMLX_BACKEND is given.
//
// The pure-Go backend's default configuration runs independent ops in
// parallel on the same worker pool that its matmul uses to split work; on a
// 2-core machine a matmul can wait for workers held by ops that wait for it,
// and the process hangs. "ops_sequential" runs ops one at a time (matmul
// still uses all cores), which removes the deadlock at no measurable cost for
// our graphs, whose ops are mostly large and elementwise.
const DefaultBackendSpec = "go:ops_sequential"

// NoAutoInstallEnv is the environment variable that stops GoMLX's XLA backend
// from downloading a PJRT plugin when it is created. Our machines have no
// general internet access, so a download attempt only fails slowly.
const NoAutoInstallEnv = "GOMLX_NO_AUTO_INSTALL"

// NewBackend returns a GoMLX backend for spec ("<name>:<config>", e.g.
// "go:ops_sequential" or "xla:/path/to/pjrt_plugin.so"). An empty spec falls
// back to $GOMLX_BACKEND and then to DefaultBackendSpec.
//
// Only the pure-Go backend is linked by this package. The XLA backend needs
// cgo and a PJRT plugin; a binary that wants it imports
// github.com/gomlx/gomlx/backends/xla itself, and that package honours
// GOMLX_NO_AUTO_INSTALL (set it to 1 where there is no internet). NewBackend
// refuses an "xla" spec without an absolute plugin path while the variable
// is unset, because that combination would try to download a plugin.
//
// NewBackend also makes sure this package's gradient replacements are
// installed (see FixGradients; the package's init already does it).
func NewBackend(spec string) (b backends.Backend, err error) {
	FixGradients()
	source := "argument"
	if spec == "" {
		spec, source = os.Getenv(backends.ConfigEnvVar), "$"+backends.ConfigEnvVar
	}
	if spec == "" {
		spec, source = DefaultBackendSpec, "default"
	}
	name, config, _ := strings.Cut(spec, ":")
	if plugin, _, _ := strings.Cut(config, ","); name == "xla" && !filepath.IsAbs(plugin) {
		// GoMLX's XLA backend auto-installs plugins whenever the plugin is
		// not an absolute path, unless the variable below is set.
		if _, set := os.LookupEnv(NoAutoInstallEnv); !set {
			return nil, fmt.Errorf("backend spec %q (from %s): an XLA backend without an absolute plugin path would "+
				"auto-install a PJRT plugin from the internet; give the path (\"xla:/path/to/plugin.so\") or set %s=1",
				spec, source, NoAutoInstallEnv)
		}
	}
	available := backends.List()
	slices.Sort(available)
	if !slices.Contains(available, name) {
		return nil, fmt.Errorf("backend spec %q (from %s): backend %q is not linked into this binary (linked: %s); "+
			"the XLA backend needs an explicit import of github.com/gomlx/gomlx/backends/xla",
			spec, source, name, strings.Join(available, ", "))
	}
	// Backend constructors report some configuration errors by panicking;
	// turn those into errors so that a bad flag never crashes the program.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("create backend %q (from %s): %v", spec, source, r)
		}
	}()
	b, err = backends.NewWithConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("create backend %q (from %s): %w", spec, source, err)
	}
	return b, nil
}
