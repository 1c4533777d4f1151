// Package atomicfile writes files so that their path holds either the old
// content or the complete new one, never a part: the data go to a temporary
// file in the same directory, which is synced and renamed over the path.
// Every file gobg writes whole (PDB, model, checkpoint, CSV, JSON, plots)
// goes through it.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates path with the bytes fill writes (buffered). On any error the
// temporary file is removed and path is left as it was.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	if err = fill(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp's 0600 suits the temporary file, not the result.
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFile creates path with data.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// CreatePartial creates the hidden temporary file ".NAME.*.partial" beside
// path for a file written as a stream over a long time (a trajectory, a
// log of moves): readers of path never see it until Commit renames it into
// place, and a killed writer leaves only the hidden file.
func CreatePartial(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return f, nil
}

// Commit makes a file from CreatePartial the complete path: it syncs and
// closes f and renames it over path. On any error the temporary file is
// removed and path is left as it was.
func Commit(f *os.File, path string) error {
	// CreateTemp's 0600 suits the temporary file, not the result.
	err := f.Chmod(0o644)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Stream is a buffered file written over a long time into a hidden
// temporary file (CreatePartial) and renamed into place by Commit, so that
// its path never holds a torn file, even after a kill.
type Stream struct {
	*bufio.Writer
	path string
	f    *os.File
}

// NewStream starts the stream of path.
func NewStream(path string) (*Stream, error) {
	f, err := CreatePartial(path)
	if err != nil {
		return nil, err
	}
	return &Stream{Writer: bufio.NewWriterSize(f, 1<<16), path: path, f: f}, nil
}

// Commit flushes the buffer and makes the file the complete path (Commit).
func (s *Stream) Commit() error {
	if err := s.Flush(); err != nil {
		s.Abort()
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return Commit(s.f, s.path)
}

// Abort removes the temporary file.
func (s *Stream) Abort() {
	s.f.Close()
	os.Remove(s.f.Name())
}
