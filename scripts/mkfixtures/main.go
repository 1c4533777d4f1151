// Command mkfixtures makes the test fixtures in testdata/ from the reference
// data (PDB files and MD trajectories laid out as in ../shared/data): the PDB
// files whole, and every stride-th frame of each trajectory with its
// energies, so that the test suite runs in full from a clone.
//
//	go run ./scripts/mkfixtures -src ../shared/data -out testdata
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/atomicfile"
)

// strides keeps the proteins' fixtures near 1 MB each. Alanine dipeptide is
// kept whole (20,000 frames, 5.8 MB): its tests compare torsion statistics
// and free-energy profiles that need the full trajectory.
var strides = map[string]int{"ala2": 1, "hp35": 10, "protein_g": 10}

func main() {
	src := flag.String("src", "../shared/data", "reference data folder")
	out := flag.String("out", "testdata", "fixture folder to write")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkfixtures:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	for _, sys := range []string{"ala2", "hp35", "protein_g"} {
		if err := copyFile(filepath.Join(src, sys+".pdb"), filepath.Join(out, sys+".pdb")); err != nil {
			return err
		}
		if err := subsetMD(filepath.Join(src, "md", sys), filepath.Join(out, "md", sys), strides[sys]); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(to, b)
}

// subsetMD writes frames 0, stride, 2·stride, ... of dir's trajectory with
// their energies, and its meta.json with the frame count and interval of what
// was kept.
func subsetMD(dir, out string, stride int) error {
	if stride == 1 {
		for _, f := range []string{"top.pdb", "traj.dcd", "energies.csv", "meta.json"} {
			if err := copyFile(filepath.Join(dir, f), filepath.Join(out, f)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := copyFile(filepath.Join(dir, "top.pdb"), filepath.Join(out, "top.pdb")); err != nil {
		return err
	}
	r, err := molecule.OpenDCD(filepath.Join(dir, "traj.dcd"))
	if err != nil {
		return err
	}
	defer r.Close()
	h := r.Header()
	w, err := molecule.CreateDCD(filepath.Join(out, "traj.dcd"), r.NumAtoms(), molecule.DCDOptions{
		FirstStep: h.FirstStep, Interval: h.Interval * stride, Timestep: h.Timestep(), UnitCell: r.HasUnitCell(),
		Title: fmt.Sprintf("every %dth frame of %s", stride, filepath.Base(dir)),
	})
	if err != nil {
		return err
	}
	kept := 0
	for k := 0; k < r.NumFrames(); k++ {
		f, err := r.Next()
		if err != nil {
			w.Close()
			return fmt.Errorf("%s: frame %d: %w", dir, k, err)
		}
		if k%stride == 0 {
			if err := w.Write(f.Positions, f.Box); err != nil {
				w.Close()
				return err
			}
			kept++
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := subsetEnergies(filepath.Join(dir, "energies.csv"), filepath.Join(out, "energies.csv"), stride); err != nil {
		return err
	}
	var meta map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("%s/meta.json: %w", dir, err)
	}
	if s, ok := meta["save_interval_ps"].(float64); ok {
		meta["save_interval_ps"] = s * float64(stride)
	}
	meta["frames_written"] = kept
	b, err = json.MarshalIndent(meta, "", " ")
	if err != nil {
		return err
	}
	slog.Info("fixture", "system", filepath.Base(dir), "frames", kept, "of", r.NumFrames())
	return atomicfile.WriteFile(filepath.Join(out, "meta.json"), append(b, '\n'))
}

// subsetEnergies keeps the header and the rows of the kept frames, renumbered.
func subsetEnergies(from, to string, stride int) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for line := -1; sc.Scan(); line++ {
		if line < 0 {
			fmt.Fprintln(&b, sc.Text())
			continue
		}
		if line%stride == 0 {
			_, v, ok := strings.Cut(sc.Text(), ",")
			if !ok {
				return fmt.Errorf("%s:%d: want frame,energy", from, line+2)
			}
			fmt.Fprintf(&b, "%d,%s\n", line/stride, v)
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %w", from, err)
	}
	return atomicfile.WriteFile(to, []byte(b.String()))
}
