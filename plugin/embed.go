package plugin

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// serverFiles is the worker as this binary was built with it: the script,
// its committed gRPC stubs, and the .proto it falls back to when the stubs do
// not fit the installed grpcio/protobuf.
//
//go:embed openmm/server.py openmm/energy_pb2.py openmm/energy_pb2_grpc.py proto/energy.proto
var serverFiles embed.FS

// ExtractServer writes the embedded worker into the user cache directory
// (os.UserCacheDir()/gobg/openmm-plugin/<content hash>, or the temporary
// directory when there is no cache directory) and returns the path of its
// server.py. The directory name is a hash of the files, so a binary never
// runs another build's worker, and extraction happens once per version.
func ExtractServer() (string, error) {
	var names []string
	err := fs.WalkDir(serverFiles, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("plugin: embedded worker: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	contents := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := serverFiles.ReadFile(n)
		if err != nil {
			return "", fmt.Errorf("plugin: embedded worker: %w", err)
		}
		contents[n] = b
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "gobg", "openmm-plugin", hex.EncodeToString(h.Sum(nil))[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("plugin: extract worker: %w", err)
	}
	for _, n := range names {
		target := filepath.Join(dir, path.Base(n)) // server.py imports the stubs from its own directory
		if st, err := os.Stat(target); err == nil && st.Size() == int64(len(contents[n])) {
			continue // the directory is content-addressed: same size, same file
		}
		// Write then rename, so that a concurrent start never runs half a file.
		tmp, err := os.CreateTemp(dir, ".tmp-*")
		if err != nil {
			return "", fmt.Errorf("plugin: extract worker: %w", err)
		}
		_, werr := tmp.Write(contents[n])
		cerr := tmp.Close()
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), target)
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return "", fmt.Errorf("plugin: extract worker to %s: %w", target, werr)
		}
	}
	return filepath.Join(dir, "server.py"), nil
}
