package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := WriteFile(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "one" {
		t.Errorf("a failed write changed the file to %q", got)
	}
	if err := WriteFile(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(got) != "two" || st.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v", got, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("no error for a missing directory")
	}
}

func TestPartialCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "moves.csv")
	f, err := CreatePartial(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("a,b\n1,2\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s exists before Commit (%v)", path, err)
	}
	if base := filepath.Base(f.Name()); !strings.HasPrefix(base, ".moves.csv.") || !strings.HasSuffix(base, ".partial") {
		t.Errorf("temporary file %s is not hidden beside its path", base)
	}
	if err := Commit(f, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "a,b\n1,2\n" {
		t.Fatalf("after Commit: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(entries))
	}
	// A failed rename (the target is a directory) removes the temporary file.
	g, err := CreatePartial(filepath.Join(dir, "sub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sub", "x"), nil, 0o644)
	if err := Commit(g, filepath.Join(dir, "sub")); err == nil || !strings.Contains(err.Error(), "sub") {
		t.Errorf("commit over a non-empty directory: error %v, want one naming it", err)
	}
	if _, err := os.Stat(g.Name()); !os.IsNotExist(err) {
		t.Errorf("temporary file left after a failed commit")
	}
}
