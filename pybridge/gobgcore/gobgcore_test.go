package gobgcore

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/internal/testmodel"
)

// addr is what Python passes for a numpy buffer: the address of its first
// element. The caller keeps s alive (runtime.KeepAlive) until Go is done.
func addr[T any](s []T) uintptr {
	if len(s) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&s[0]))
}

func TestView(t *testing.T) {
	buf := make([]float64, 4)
	base := addr(buf)
	tests := []struct {
		name    string
		addr    uintptr
		n       int
		wantErr string
	}{
		{"whole buffer", base, 4, ""},
		{"prefix", base, 2, ""},
		{"empty with null address", 0, 0, ""},
		{"null address", 0, 3, "null address"},
		{"negative length", base, -1, "negative length"},
		{"misaligned", base + 1, 2, "not aligned"},
		{"absurd length", base, math.MaxInt, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := view[float64](tc.addr, tc.n, "test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != tc.n {
				t.Fatalf("len = %d, want %d", len(v), tc.n)
			}
			if tc.n > 0 && &v[0] != &buf[0] {
				t.Fatal("view does not alias the caller's memory")
			}
		})
	}
	runtime.KeepAlive(buf)
}

func TestScaleInto(t *testing.T) {
	const n = 1000
	src := make([]float64, n)
	for i := range src {
		src[i] = float64(i)*0.37 - 100
	}
	orig := slices.Clone(src)

	dst := make([]float64, n)
	if err := ScaleInto(addr(src), n, addr(dst), n, 2.5); err != nil {
		t.Fatal(err)
	}
	for i := range dst {
		if dst[i] != 2.5*orig[i] || src[i] != orig[i] {
			t.Fatalf("element %d: dst %v src %v, want dst %v and src unchanged", i, dst[i], src[i], 2.5*orig[i])
		}
	}

	// In place: the result must appear in the caller's own memory.
	if err := ScaleInto(addr(src), n, addr(src), n, -3); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if src[i] != -3*orig[i] {
			t.Fatalf("in place, element %d: %v, want %v", i, src[i], -3*orig[i])
		}
	}

	if err := ScaleInto(addr(src), n, addr(dst), n-1, 1); err == nil {
		t.Fatal("length mismatch accepted")
	}
	runtime.KeepAlive(src)
	runtime.KeepAlive(dst)

	got := ScaleSlice(orig, 2)
	for i := range got {
		if got[i] != 2*orig[i] {
			t.Fatalf("ScaleSlice element %d: %v, want %v", i, got[i], 2*orig[i])
		}
	}
}

func TestStructure(t *testing.T) {
	path := filepath.Join(testenv.SharedData(t), "hp35.pdb")
	want, err := molecule.ReadPDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadPDB(path)
	if err != nil {
		t.Fatal(err)
	}
	top := want.Topology
	if s.NumAtoms() != len(top.Atoms) || s.NumResidues() != len(top.Residues) || s.NumChains() != len(top.Chains) ||
		s.NumBonds() != len(top.Bonds) || s.NumModels() != len(want.Models) {
		t.Fatalf("counts %d atoms %d residues %d chains %d bonds %d models, want %d %d %d %d %d",
			s.NumAtoms(), s.NumResidues(), s.NumChains(), s.NumBonds(), s.NumModels(),
			len(top.Atoms), len(top.Residues), len(top.Chains), len(top.Bonds), len(want.Models))
	}

	bonds := make([]int64, 2*s.NumBonds())
	if err := s.BondsInto(addr(bonds), len(bonds)); err != nil {
		t.Fatal(err)
	}
	for k, b := range top.Bonds {
		if bonds[2*k] != int64(b.I) || bonds[2*k+1] != int64(b.J) {
			t.Fatalf("bond %d: (%d, %d), want (%d, %d)", k, bonds[2*k], bonds[2*k+1], b.I, b.J)
		}
	}

	pos := make([]float64, 3*s.NumAtoms())
	if err := s.PositionsInto(0, addr(pos), len(pos)); err != nil {
		t.Fatal(err)
	}
	for i, p := range want.Models[0] {
		if pos[3*i] != p[0] || pos[3*i+1] != p[1] || pos[3*i+2] != p[2] {
			t.Fatalf("atom %d: %v, want %v", i, pos[3*i:3*i+3], p)
		}
	}

	res := make([]int64, s.NumAtoms())
	serial := make([]int64, s.NumAtoms())
	if err := s.AtomTableInto(addr(res), len(res), addr(serial), len(serial)); err != nil {
		t.Fatal(err)
	}
	names := strings.Split(s.AtomNames(), "\n")
	elems := strings.Split(s.AtomElements(), "\n")
	for i, a := range top.Atoms {
		if res[i] != int64(a.Residue.Index) || serial[i] != int64(a.Serial) || names[i] != a.Name || elems[i] != a.Element.Symbol {
			t.Fatalf("atom %d: residue %d serial %d name %q element %q, want %d %d %q %q",
				i, res[i], serial[i], names[i], elems[i], a.Residue.Index, a.Serial, a.Name, a.Element.Symbol)
		}
	}

	nr := s.NumResidues()
	chain, num, het := make([]int64, nr), make([]int64, nr), make([]int64, nr)
	if err := s.ResidueTableInto(addr(chain), nr, addr(num), nr, addr(het), nr); err != nil {
		t.Fatal(err)
	}
	rnames := strings.Split(s.ResidueNames(), "\n")
	for i, r := range top.Residues {
		if chain[i] != int64(r.Chain.Index) || num[i] != int64(r.Number) || (het[i] == 1) != r.Hetero || rnames[i] != r.Name {
			t.Fatalf("residue %d: chain %d number %d het %d name %q, want %d %d %v %q",
				i, chain[i], num[i], het[i], rnames[i], r.Chain.Index, r.Number, r.Hetero, r.Name)
		}
	}
	if got := strings.Split(s.ChainIDs(), "\n"); len(got) != len(top.Chains) || got[0] != top.Chains[0].ID {
		t.Fatalf("chain IDs %q", got)
	}

	if s.HasBox() != (want.Box != nil) {
		t.Fatalf("HasBox %v, file box %v", s.HasBox(), want.Box)
	}
	if want.Box != nil {
		b := make([]float64, 9)
		if err := s.BoxInto(addr(b), 9); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			for j := range 3 {
				if b[3*i+j] != want.Box[i][j] {
					t.Fatalf("box[%d][%d] = %v, want %v", i, j, b[3*i+j], want.Box[i][j])
				}
			}
		}
	}

	// Wrong sizes and indices are errors, never writes past a buffer.
	short := make([]float64, 3*s.NumAtoms()-3)
	for name, err := range map[string]error{
		"short positions": s.PositionsInto(0, addr(short), len(short)),
		"model 1":         s.PositionsInto(1, addr(pos), len(pos)),
		"short bonds":     s.BondsInto(addr(bonds), len(bonds)-1),
		"short residues":  s.AtomTableInto(addr(res), len(res)-1, addr(serial), len(serial)),
		"box of 8":        s.BoxInto(addr(pos), 8),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	runtime.KeepAlive(bonds)
	runtime.KeepAlive(pos)
	runtime.KeepAlive(short)

	if _, err := ReadPDB(filepath.Join(t.TempDir(), "missing.pdb")); err == nil || !strings.Contains(err.Error(), "missing.pdb") {
		t.Fatalf("missing file: err = %v, want one naming the file", err)
	}
}

func TestDCDReadWrite(t *testing.T) {
	path := filepath.Join(testenv.SharedData(t), "md", "hp35", "traj.dcd")
	ref, err := molecule.OpenDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()

	d, err := OpenDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.NumAtoms() != ref.NumAtoms() || d.NumFrames() != ref.NumFrames() || d.HasUnitCell() != ref.HasUnitCell() {
		t.Fatalf("header: %d atoms %d frames cell %v, want %d %d %v",
			d.NumAtoms(), d.NumFrames(), d.HasUnitCell(), ref.NumAtoms(), ref.NumFrames(), ref.HasUnitCell())
	}
	n := d.NumAtoms()

	// Read the last frames through caller buffers, several into one buffer
	// as write will take them.
	const frames = 4
	start := d.NumFrames() - frames
	if err := d.Seek(start); err != nil {
		t.Fatal(err)
	}
	if err := ref.Seek(start); err != nil {
		t.Fatal(err)
	}
	pos := make([]float64, frames*3*n)
	boxes := make([]float64, frames*9)
	for k := range frames {
		ok, err := d.NextInto(addr(pos[k*3*n:]), 3*n, addr(boxes[9*k:]), 9)
		if err != nil || !ok {
			t.Fatalf("frame %d: ok %v err %v", start+k, ok, err)
		}
		f, err := ref.Next()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range f.Positions {
			if !slices.Equal(pos[(k*n+i)*3:(k*n+i+1)*3], p[:]) {
				t.Fatalf("frame %d atom %d: %v, want %v", start+k, i, pos[(k*n+i)*3:(k*n+i+1)*3], p)
			}
		}
		if f.Box != nil {
			for i := range 3 {
				if !slices.Equal(boxes[9*k+3*i:9*k+3*i+3], f.Box[i][:]) {
					t.Fatalf("frame %d box row %d: %v, want %v", start+k, i, boxes[9*k+3*i:9*k+3*i+3], f.Box[i])
				}
			}
		}
	}
	if ok, err := d.NextInto(addr(pos), 3*n, 0, 0); ok || err != nil {
		t.Fatalf("after the last frame: ok %v err %v, want false, nil", ok, err)
	}
	if _, err := d.NextInto(addr(pos), 3*n-1, 0, 0); err == nil {
		t.Fatal("short frame buffer accepted")
	}

	// Write them back (all frames in one call) and read them with the
	// reference reader: DCD stores float32 Å, and values that came from
	// float32 survive the trip exactly.
	out := filepath.Join(t.TempDir(), "out.dcd")
	w, err := CreateDCD(out, n, 100, 10, 0.002, true, "pybridge test")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(addr(pos), len(pos)-1, addr(boxes), len(boxes)); err == nil {
		t.Fatal("partial frame accepted")
	}
	if err := w.Write(addr(pos), len(pos), addr(boxes), 9); err == nil {
		t.Fatal("box count mismatch accepted")
	}
	if err := w.Write(addr(pos), len(pos), addr(boxes), len(boxes)); err != nil {
		t.Fatal(err)
	}
	if w.NumFrames() != frames {
		t.Fatalf("writer has %d frames, want %d", w.NumFrames(), frames)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	back, err := molecule.ReadDCDFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != frames {
		t.Fatalf("read back %d frames, want %d", len(back), frames)
	}
	for k, f := range back {
		for i, p := range f.Positions {
			if !slices.Equal(pos[(k*n+i)*3:(k*n+i+1)*3], p[:]) {
				t.Fatalf("written frame %d atom %d: %v, want %v", k, i, p, pos[(k*n+i)*3:(k*n+i+1)*3])
			}
		}
	}

	// Append one more frame, without a box, to a file with a unit cell.
	a, err := AppendDCD(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(addr(pos), 3*n, 0, 0); err == nil {
		t.Fatal("frame without box accepted by a file with a unit cell")
	}
	if err := a.Write(addr(pos), 3*n, addr(boxes), 9); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenDCD(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumFrames() != frames+1 || r.FirstStep() != 100 || r.Interval() != 10 || math.Abs(r.Timestep()-0.002) > 1e-9 {
		t.Fatalf("appended file: %d frames, first step %d, interval %d, timestep %v", r.NumFrames(), r.FirstStep(), r.Interval(), r.Timestep())
	}
	runtime.KeepAlive(pos)
	runtime.KeepAlive(boxes)
}

// harmonic is an EnergyCallback written in Go, standing in for Python: it
// reads and writes through the addresses exactly as the Python layer does.
// E = Σ k/2 |x|², F = −k x, per conformation.
func harmonic(k float64, nanAt int) EnergyCallback {
	return func(posAddr uintptr, batch, atoms int, eAddr, fAddr uintptr) int {
		x, err := view[float64](posAddr, batch*atoms*3, "x")
		if err != nil {
			return 2
		}
		e, err := view[float64](eAddr, batch, "e")
		if err != nil {
			return 2
		}
		var f []float64
		if fAddr != 0 {
			if f, err = view[float64](fAddr, batch*atoms*3, "f"); err != nil {
				return 2
			}
		}
		for b := range batch {
			u := 0.0
			for i := b * atoms * 3; i < (b+1)*atoms*3; i++ {
				u += 0.5 * k * x[i] * x[i]
				if f != nil {
					f[i] = -k * x[i]
				}
			}
			e[b] = u
			if b == nanAt {
				e[b] = math.NaN()
			}
		}
		return 0
	}
}

func TestPythonEnergy(t *testing.T) {
	const atoms, batch, k = 3, 4, 2.0
	positions := make([][]molecule.Vec3, batch)
	for b := range positions {
		positions[b] = make([]molecule.Vec3, atoms)
		for i := range atoms {
			positions[b][i] = molecule.Vec3{float64(b) + 0.1*float64(i), -0.5, float64(i)}
		}
	}
	wantE := func(b int) float64 {
		u := 0.0
		for _, p := range positions[b] {
			for _, c := range p {
				u += 0.5 * k * c * c
			}
		}
		return u
	}

	e, err := NewPythonEnergy(atoms, harmonic(k, 2))
	if err != nil {
		t.Fatal(err)
	}
	var _ energy.Energy = e
	// From a goroutine other than the test's, as a training loop calls it.
	type answer struct {
		r   energy.Result
		err error
	}
	ch := make(chan answer)
	go func() {
		r, err := e.Evaluate(context.Background(), positions, true)
		ch <- answer{r, err}
	}()
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	for b := range batch {
		if b == 2 {
			if !errors.Is(a.r.Errors[b], energy.ErrNonFinite) || !slices.Equal(a.r.Forces[b], make([]molecule.Vec3, atoms)) {
				t.Fatalf("sample 2 (NaN energy): error %v forces %v, want ErrNonFinite and zero forces", a.r.Errors[b], a.r.Forces[b])
			}
			continue
		}
		if a.r.Errors[b] != nil || a.r.Energies[b] != wantE(b) {
			t.Fatalf("sample %d: energy %v error %v, want %v", b, a.r.Energies[b], a.r.Errors[b], wantE(b))
		}
		for i, p := range positions[b] {
			for c := range 3 {
				if a.r.Forces[b][i][c] != -k*p[c] {
					t.Fatalf("sample %d atom %d: force %v, want %v", b, i, a.r.Forces[b][i], -k*p[c])
				}
			}
		}
	}

	// The Python entry point: flat caller buffers in and out.
	flat := make([]float64, 0, batch*atoms*3)
	for _, x := range positions {
		for _, p := range x {
			flat = append(flat, p[:]...)
		}
	}
	energies := make([]float64, batch)
	forces := make([]float64, len(flat))
	if err := e.EvaluateInto(addr(flat), len(flat), addr(energies), batch, addr(forces), len(forces)); err != nil {
		t.Fatal(err)
	}
	for b := range batch {
		if b == 2 {
			if !math.IsNaN(energies[b]) {
				t.Fatalf("sample 2: energy %v, want NaN", energies[b])
			}
			continue
		}
		if energies[b] != wantE(b) {
			t.Fatalf("EvaluateInto sample %d: %v, want %v", b, energies[b], wantE(b))
		}
	}
	for i := range flat {
		if b := i / (atoms * 3); b != 2 && forces[i] != -k*flat[i] {
			t.Fatalf("EvaluateInto force %d: %v, want %v", i, forces[i], -k*flat[i])
		}
	}
	runtime.KeepAlive(flat)
	runtime.KeepAlive(energies)
	runtime.KeepAlive(forces)

	failing, _ := NewPythonEnergy(atoms, func(uintptr, int, int, uintptr, uintptr) int { return 1 })
	if _, err := failing.Evaluate(context.Background(), positions, false); err == nil {
		t.Fatal("failing callback: no error")
	}
	if _, err := e.Evaluate(context.Background(), [][]molecule.Vec3{positions[0][:2]}, false); err == nil {
		t.Fatal("wrong atom count accepted")
	}
	if _, err := NewPythonEnergy(0, harmonic(k, -1)); err == nil {
		t.Fatal("zero atoms accepted")
	}
}

func TestVersion(t *testing.T) {
	if Version() == "" || strings.ContainsAny(Version(), " \n") {
		t.Fatalf("Version() = %q", Version())
	}
}

// TestMatchPDBInto pairs a renamed, reordered alanine dipeptide PDB with the
// committed model: the order written is that of the Go pairing, the groups
// paired by geometry come back, and a buffer of the wrong size or a foreign
// molecule is an error.
func TestMatchPDBInto(t *testing.T) {
	g, err := LoadGenerator(filepath.Join(testenv.Root(), "examples", "ala2", "model.gobg"), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	path, _ := testmodel.ALA2Renamed(t, t.TempDir())
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := molecule.ReadPDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := g.g.MatchAtoms(molecule.AtomSource{File: path, Top: p.Topology, Positions: p.Models[0]})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, g.NumAtoms())
	groups, err := g.MatchPDBInto(string(text), "renamed.pdb", addr(out), len(out))
	runtime.KeepAlive(out)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range want.Order {
		if out[i] != int64(j) {
			t.Fatalf("order %v, want %v", out, want.Order)
		}
	}
	if groups != strings.Join(want.Reoriented, "\n") || groups == "" {
		t.Errorf("groups %q, want %q", groups, want.Reoriented)
	}
	if _, err := g.MatchPDBInto(string(text), "renamed.pdb", addr(out), len(out)-1); err == nil {
		t.Errorf("a short buffer was accepted")
	}
	hp35, err := os.ReadFile(filepath.Join(testenv.SharedData(t), "hp35.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.MatchPDBInto(string(hp35), "hp35.pdb", addr(out), len(out)); err == nil || !strings.Contains(err.Error(), "hp35.pdb") {
		t.Errorf("another molecule: %v", err)
	}
}

// TestTrainStartsConfiguredEnergy: Train without an energy of the caller's
// starts the provider the configuration's energy section names, for its
// topology: a KL step runs on the native energy, and a System XML file that
// does not exist is what the run fails on.
func TestTrainStartsConfiguredEnergy(t *testing.T) {
	md := filepath.Join(testenv.SharedData(t), "md", "ala2")
	t.Setenv("GOBG_PYTHON", testenv.Python(t))
	write := func(systemXML string) string {
		dir := t.TempDir()
		cfg := `{
  "data": {"topology": "` + filepath.Join(md, "top.pdb") + `", "trajectories": ["` + filepath.Join(md, "traj.dcd") + `"],
           "stride": 20, "val_fraction": 0.1, "val_blocks": 2},
  "ic_mode": "full",
  "model": {"arch": "nsf", "layers": 1, "hidden": [4], "bins": 2, "seed": 3},
  "energy": {"provider": "native", "temperature": 300, "workers": 1, "system_xml": "` + systemXML + `"},
  "stages": [{"name": "nll+kl", "steps": 1, "batch_size": 8, "lr": 1e-4, "weights": {"nll": 1, "kl": 0.1}}],
  "seed": 2, "output": "` + dir + `", "checkpoint_every": 0, "log_every": 1, "val_max_frames": 16
}`
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	missing := filepath.Join(t.TempDir(), "system.xml")
	if _, err := Train(write(missing), false); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing System XML: error %v, want one naming %s", err, missing)
	}
	sum, err := Train(write(""), false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum, `"steps":1`) || !strings.Contains(sum, `"skipped":0`) {
		t.Errorf("summary %s: want one step, none skipped", sum)
	}
}
