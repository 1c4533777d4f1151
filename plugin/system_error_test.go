package plugin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// TestSystemErrorIsTheCause starts energy and MD workers on structures
// OpenMM cannot parameterise and checks that the error is the cause in one
// line (ErrInput, the file, the residue as the PDB names it), not a dead
// worker's transport error with its traceback.
func TestSystemErrorIsTheCause(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testenv.SharedData(t), "ala2.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A residue no force field knows (alanine's atoms under another name),
	// and an alanine that lost its side chain's hydrogens.
	unknown := write("xyz.pdb", bytes.ReplaceAll(src, []byte("ALA A   2"), []byte("XYZ A   2")))
	var lines [][]byte
	for l := range bytes.Lines(src) {
		if !bytes.Contains(l, []byte(" HB")) {
			lines = append(lines, l)
		}
	}
	noHB := write("nohb.pdb", bytes.Join(lines, nil))
	if bytes.Equal(src, bytes.Join(lines, nil)) {
		t.Fatal("ala2.pdb has no HB atoms to remove")
	}
	cases := []struct {
		name  string
		start func(t *testing.T, pdb string) error
		pdb   string
		want  []string
	}{
		{"energy pool, unknown residue", startEnergyWorker, unknown, []string{"xyz.pdb", "no template", "residue XYZ 2 in chain A", "amber99sbildn.xml"}},
		{"MD worker, unknown residue", startMDWorker, unknown, []string{"xyz.pdb", "no template", "residue XYZ 2 in chain A"}},
		{"energy pool, missing atoms", startEnergyWorker, noHB, []string{"nohb.pdb", "no template", "residue ALA 2 in chain A"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.start(t, c.pdb)
			if err == nil {
				t.Fatal("the worker started")
			}
			msg := err.Error()
			t.Log(msg)
			if !errors.Is(err, ErrInput) {
				t.Errorf("error is not ErrInput: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q", w)
				}
			}
			for _, bad := range []string{"\n", "Traceback", "Unrecognized remote plugin message", "stderr"} {
				if strings.Contains(msg, bad) {
					t.Errorf("error contains %q", bad)
				}
			}
		})
	}
}

func startEnergyWorker(t *testing.T, pdb string) error {
	p, err := Start(context.Background(), testConfig(t, Config{PDB: pdb}))
	if err == nil {
		p.Close()
	}
	return err
}

func startMDWorker(t *testing.T, pdb string) error {
	m, err := StartMD(context.Background(), MDConfig{Config: testConfig(t, Config{PDB: pdb})})
	if err == nil {
		m.Close()
	}
	return err
}
