package eval

import "github.com/gobg/gobg/internal/atomicfile"

// writeFileAtomic writes data to path so that a reader never sees a
// half-written file and a crash leaves the old file (or none) in place.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data)
}
