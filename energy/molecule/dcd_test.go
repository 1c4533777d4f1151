package molecule

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// pyMdtrajDump reads DCD files with mdtraj. argv[1] is a JSON list of jobs
// {dcd, top ("-": a made-up topology of carbons), out, frames ("all" or a list)}.
// For each job it writes, as raw float64 (np.tofile): out.raw (the float32 Å
// values of DCDTrajectoryFile.read), out.xyz (nm, from load_dcd), and when the
// file has a unit cell out.box (load_dcd's unitcell_vectors, nm), out.len (Å)
// and out.ang (degrees); and out.json with counts. Nothing goes through stdout
// because VMD's dcdplugin prints there.
const pyMdtrajDump = `
import sys, json, numpy as np, mdtraj as md
from mdtraj.formats import DCDTrajectoryFile
for job in json.loads(sys.argv[1]):
    dcd, top, out, sel = job["dcd"], job["top"], job["out"], job["frames"]
    with DCDTrajectoryFile(dcd) as f:
        raw, lengths, angles = f.read()
    n_frames, n_atoms = raw.shape[0], raw.shape[1]
    if top == "-":
        top = md.Topology()
        r = top.add_residue("UNK", top.add_chain())
        for i in range(n_atoms):
            top.add_atom("C%d" % i, md.element.carbon, r)
    traj = md.load_dcd(dcd, top=top)
    idx = np.arange(n_frames) if sel == "all" else np.array(sel, dtype=int)
    raw[idx].astype(np.float64).tofile(out + ".raw")
    traj.xyz[idx].astype(np.float64).tofile(out + ".xyz")
    has_cell = traj.unitcell_vectors is not None
    if has_cell:
        traj.unitcell_vectors[idx].astype(np.float64).tofile(out + ".box")
        lengths[idx].astype(np.float64).tofile(out + ".len")
        angles[idx].astype(np.float64).tofile(out + ".ang")
    with open(out + ".json", "w") as f:
        json.dump({"n_frames": int(n_frames), "n_atoms": int(n_atoms), "load_frames": int(traj.n_frames),
                   "top_atoms": int(traj.topology.n_atoms), "has_cell": bool(has_cell)}, f)
`

// pyOpenMMWrite writes a DCD file with OpenMM's DCDFile. argv[1] is JSON
// {out, pos (raw float64 nm, frames×atoms×3), box (raw float64 nm, frames×3×3,
// or ""), n_frames, n_atoms, dt (ps), first, interval, append}.
const pyOpenMMWrite = `
import sys, json, numpy as np
import openmm.app as app
from openmm import Vec3
from openmm.unit import nanometers, picoseconds
a = json.loads(sys.argv[1])
nf, na = a["n_frames"], a["n_atoms"]
pos = np.fromfile(a["pos"], dtype=np.float64).reshape(nf, na, 3)
box = np.fromfile(a["box"], dtype=np.float64).reshape(nf, 3, 3) if a["box"] else None
top = app.Topology()
res = top.addResidue("UNK", top.addChain())
for i in range(na):
    top.addAtom("C%d" % i, app.Element.getBySymbol("C"), res)
vecs = lambda b: tuple(Vec3(*map(float, v)) for v in b) * nanometers
if box is not None:
    top.setPeriodicBoxVectors(vecs(box[0]))
with open(a["out"], "r+b" if a["append"] else "wb") as f:
    d = app.DCDFile(f, top, a["dt"] * picoseconds, a["first"], a["interval"], append=a["append"])
    for k in range(nf):
        p = [Vec3(*map(float, x)) for x in pos[k]] * nanometers
        if box is None:
            d.writeModel(p)
        else:
            d.writeModel(p, periodicBoxVectors=vecs(box[k]))
`

// pyBoxVectors converts lengths (nm) and angles (degrees) to box vectors with
// OpenMM's computePeriodicBoxVectors. argv: in (raw float64 frames×6), out.
const pyBoxVectors = `
import sys, math, numpy as np
from openmm.app.internal.unitcell import computePeriodicBoxVectors
from openmm.unit import nanometers
c = np.fromfile(sys.argv[1], dtype=np.float64).reshape(-1, 6)
out = []
for a, b, cl, al, be, ga in c:
    v = computePeriodicBoxVectors(a, b, cl, math.radians(al), math.radians(be), math.radians(ga))
    out.append(np.array(v.value_in_unit(nanometers)))
np.array(out, dtype=np.float64).tofile(sys.argv[2])
`

type mdtrajResult struct {
	NFrames    int  `json:"n_frames"`
	NAtoms     int  `json:"n_atoms"`
	LoadFrames int  `json:"load_frames"`
	TopAtoms   int  `json:"top_atoms"`
	HasCell    bool `json:"has_cell"`
	Raw        []float64
	XYZ        []float64
	Box        []float64
	Len, Ang   []float64
}

type mdtrajJob struct {
	DCD    string `json:"dcd"`
	Top    string `json:"top"`
	Out    string `json:"out"`
	Frames any    `json:"frames"`
}

// mdtrajRead runs pyMdtrajDump for the jobs (frames: nil for all) in one
// Python process.
func mdtrajRead(t *testing.T, jobs []mdtrajJob) []mdtrajResult {
	t.Helper()
	dir := t.TempDir()
	for i := range jobs {
		jobs[i].Out = filepath.Join(dir, strconv.Itoa(i))
		if jobs[i].Frames == nil {
			jobs[i].Frames = "all"
		}
		if jobs[i].Top == "" {
			jobs[i].Top = "-"
		}
	}
	arg, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunPython(t, pyMdtrajDump, string(arg))
	res := make([]mdtrajResult, len(jobs))
	for i, j := range jobs {
		b, err := os.ReadFile(j.Out + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &res[i]); err != nil {
			t.Fatal(err)
		}
		res[i].Raw = testenv.ReadFloat64s(t, j.Out+".raw")
		res[i].XYZ = testenv.ReadFloat64s(t, j.Out+".xyz")
		if res[i].HasCell {
			res[i].Box = testenv.ReadFloat64s(t, j.Out+".box")
			res[i].Len = testenv.ReadFloat64s(t, j.Out+".len")
			res[i].Ang = testenv.ReadFloat64s(t, j.Out+".ang")
		}
	}
	return res
}

func writeFloat64s(t testing.TB, path string, v []float64) {
	t.Helper()
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testTraj is a made-up trajectory: random positions and (optionally) boxes.
type testTraj struct {
	pos   [][]Vec3
	boxes []*[3]Vec3
}

// randomTraj makes nf frames of na atoms in a ±4 nm cube. box is nil for no
// unit cell; otherwise each frame's box is box scaled by 1 + 0.01·k.
func randomTraj(seed uint64, nf, na int, box *[3]Vec3) testTraj {
	rng := rand.New(rand.NewPCG(seed, 1))
	var tr testTraj
	for k := 0; k < nf; k++ {
		p := make([]Vec3, na)
		for i := range p {
			for a := range 3 {
				p[i][a] = 8*rng.Float64() - 4
			}
		}
		tr.pos = append(tr.pos, p)
		if box != nil {
			b := *box
			for i := range b {
				for a := range 3 {
					b[i][a] *= 1 + 0.01*float64(k)
				}
			}
			tr.boxes = append(tr.boxes, &b)
		} else {
			tr.boxes = append(tr.boxes, nil)
		}
	}
	return tr
}

func (tr testTraj) slice(i, j int) testTraj {
	return testTraj{pos: tr.pos[i:j], boxes: tr.boxes[i:j]}
}

func writeGobg(t *testing.T, path string, tr testTraj, opts DCDOptions) {
	t.Helper()
	w, err := CreateDCD(path, len(tr.pos[0]), opts)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, w, tr)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFrames(t *testing.T, w *DCDWriter, tr testTraj) {
	t.Helper()
	for k := range tr.pos {
		if err := w.Write(tr.pos[k], tr.boxes[k]); err != nil {
			t.Fatal(err)
		}
	}
}

// writeOpenMM writes tr with OpenMM's DCDFile (appending when app is set).
func writeOpenMM(t testing.TB, path string, tr testTraj, opts DCDOptions, app bool) {
	t.Helper()
	dir := t.TempDir()
	var pos, box []float64
	for k, p := range tr.pos {
		for _, v := range p {
			pos = append(pos, v[:]...)
		}
		if b := tr.boxes[k]; b != nil {
			for _, v := range b {
				box = append(box, v[:]...)
			}
		}
	}
	args := map[string]any{
		"out": path, "pos": filepath.Join(dir, "pos"), "box": "",
		"n_frames": len(tr.pos), "n_atoms": len(tr.pos[0]),
		"dt": opts.Timestep, "first": opts.FirstStep, "interval": opts.Interval, "append": app,
	}
	writeFloat64s(t, filepath.Join(dir, "pos"), pos)
	if box != nil {
		args["box"] = filepath.Join(dir, "box")
		writeFloat64s(t, filepath.Join(dir, "box"), box)
	}
	b, _ := json.Marshal(args)
	testenv.RunPython(t, pyOpenMMWrite, string(b))
}

// float32nm is what a DCD file keeps of a coordinate x (nm): float32 Å.
func float32nm(x float64) float64 { return float64(float32(10*x)) / 10 }

// checkFrames compares gobg's reading of path with tr: positions exactly as
// float32 Å, boxes to boxTol nm.
func checkFrames(t *testing.T, path string, tr testTraj, boxTol float64) {
	t.Helper()
	r, err := OpenDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumFrames() != len(tr.pos) {
		t.Fatalf("%s: gobg reads %d frames, want %d", path, r.NumFrames(), len(tr.pos))
	}
	for k := range tr.pos {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range tr.pos[k] {
			for a := range 3 {
				if got, want := f.Positions[i][a], float32nm(p[a]); got != want {
					t.Fatalf("%s: frame %d atom %d axis %d: gobg reads %v, wrote %v (float32: %v)", path, k, i, a, got, p[a], want)
				}
			}
		}
		if (f.Box == nil) != (tr.boxes[k] == nil) {
			t.Fatalf("%s: frame %d: box %v, want %v", path, k, f.Box, tr.boxes[k])
		}
		if f.Box != nil {
			if d := maxDiff(f.Box[:], tr.boxes[k][:]); d > boxTol {
				t.Fatalf("%s: frame %d: box %v, want %v (max diff %g nm)", path, k, *f.Box, *tr.boxes[k], d)
			}
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("%s: after the last frame: %v, want io.EOF", path, err)
	}
}

// checkMdtraj compares mdtraj's reading of a file with tr: the float32 Å
// values exactly, load_dcd's nm positions to 1e-6 nm, unit-cell vectors to
// 1e-6 nm and lengths/angles to float32 precision.
func checkMdtraj(t *testing.T, m mdtrajResult, tr testTraj) {
	t.Helper()
	if m.NFrames != len(tr.pos) || m.LoadFrames != len(tr.pos) {
		t.Fatalf("mdtraj reads %d frames (load_dcd %d), want %d", m.NFrames, m.LoadFrames, len(tr.pos))
	}
	if m.HasCell != (tr.boxes[0] != nil) {
		t.Fatalf("mdtraj unit cell %v, want %v", m.HasCell, tr.boxes[0] != nil)
	}
	na := len(tr.pos[0])
	var maxXYZ float64
	for k := range tr.pos {
		for i, p := range tr.pos[k] {
			for a := range 3 {
				j := (k*na+i)*3 + a
				if got, want := m.Raw[j], float64(float32(10*p[a])); got != want {
					t.Fatalf("frame %d atom %d axis %d: mdtraj reads %v Å, want %v", k, i, a, got, want)
				}
				maxXYZ = math.Max(maxXYZ, math.Abs(m.XYZ[j]-p[a]))
			}
		}
		if b := tr.boxes[k]; b != nil {
			var got [3]Vec3
			for i := range 3 {
				copy(got[i][:], m.Box[k*9+3*i:])
			}
			if d := maxDiff(got[:], b[:]); d > 1e-6 {
				t.Errorf("frame %d: mdtraj box %v, want %v (diff %g nm)", k, got, *b, d)
			}
			cell, _ := boxToCell(b)
			wantLen := [3]float64{cell[0], cell[2], cell[5]}
			wantAng := [3]float64{acosDeg(cell[4]), acosDeg(cell[3]), acosDeg(cell[1])}
			for i := range 3 {
				if d := math.Abs(m.Len[3*k+i] - wantLen[i]); d > 2e-7*wantLen[i] {
					t.Errorf("frame %d: mdtraj cell length %d = %v Å, want %v", k, i, m.Len[3*k+i], wantLen[i])
				}
				if d := math.Abs(m.Ang[3*k+i] - wantAng[i]); d > 1e-5 {
					t.Errorf("frame %d: mdtraj cell angle %d = %v°, want %v", k, i, m.Ang[3*k+i], wantAng[i])
				}
			}
		}
	}
	// load_dcd divides float32 Å by 10 in float32; positions are within ±4 nm,
	// so rounding to float32 twice stays far below 1e-6 nm.
	if maxXYZ > 1e-6 {
		t.Errorf("mdtraj load_dcd positions differ from written ones by up to %g nm", maxXYZ)
	}
	t.Logf("mdtraj: %d frames; load_dcd positions within %.2g nm of the float64 input", m.NFrames, maxXYZ)
}

func acosDeg(c float64) float64 { return math.Acos(c) * 180 / math.Pi }

func maxDiff(a, b []Vec3) float64 {
	var d float64
	for i := range a {
		for j := range 3 {
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}

// TestDCDReference reads the reference trajectories with gobg and mdtraj.
func TestDCDReference(t *testing.T) {
	data := testenv.SharedData(t)
	type sys struct {
		name   string
		frames []int // nil: all
	}
	systems := []sys{{"ala2", nil}, {"hp35", nil}, {"protein_g", nil}}
	var jobs []mdtrajJob
	for i, s := range systems {
		dir := filepath.Join(data, "md", s.name)
		r, err := OpenDCD(filepath.Join(dir, "traj.dcd"))
		if err != nil {
			t.Fatal(err)
		}
		n := r.NumFrames()
		r.Close()
		if s.name != "ala2" {
			// First, last, neighbours and a spread in between, out of order to
			// exercise Seek.
			systems[i].frames = []int{n - 1, 0, 1, n / 2, n/2 + 1, n / 3, 2 * n / 3, n - 2, 7}
		}
		job := mdtrajJob{DCD: filepath.Join(dir, "traj.dcd"), Top: filepath.Join(dir, "top.pdb")}
		if systems[i].frames != nil {
			job.Frames = systems[i].frames
		}
		jobs = append(jobs, job)
	}
	res := mdtrajRead(t, jobs)
	for i, s := range systems {
		t.Run(s.name, func(t *testing.T) {
			dir := filepath.Join(data, "md", s.name)
			var meta struct {
				Frames   int     `json:"frames_written"`
				Timestep float64 `json:"timestep_ps"`
				Save     float64 `json:"save_interval_ps"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &meta); err != nil {
				t.Fatal(err)
			}
			m := res[i]
			r, err := OpenDCD(jobs[i].DCD)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h := r.Header()
			if r.NumFrames() != m.NFrames || r.NumFrames() != meta.Frames || h.HeaderFrames != meta.Frames {
				t.Errorf("gobg %d frames (header NSET %d), mdtraj %d, meta.json %d", r.NumFrames(), h.HeaderFrames, m.NFrames, meta.Frames)
			}
			if r.NumAtoms() != m.NAtoms || r.NumAtoms() != m.TopAtoms {
				t.Errorf("gobg %d atoms, mdtraj %d, top.pdb %d", r.NumAtoms(), m.NAtoms, m.TopAtoms)
			}
			if err := r.CheckAtoms(jobs[i].Top, m.TopAtoms); err != nil {
				t.Error(err)
			}
			if r.HasUnitCell() != m.HasCell {
				t.Errorf("gobg unit cell %v, mdtraj %v", r.HasUnitCell(), m.HasCell)
			}
			// DELTA is float32 AKMA: relative error up to ~6e-8.
			if d := math.Abs(r.Timestep()-meta.Timestep) / meta.Timestep; d > 1e-7 {
				t.Errorf("timestep %v ps, meta.json %v", r.Timestep(), meta.Timestep)
			}
			if d := math.Abs(float64(h.Interval)*r.Timestep() - meta.Save); d > 1e-6 {
				t.Errorf("interval %d steps × %v ps, meta.json saves every %v ps", h.Interval, r.Timestep(), meta.Save)
			}
			if span, want := h.FrameTime(meta.Frames-1)-h.FrameTime(0), float64(meta.Frames-1)*meta.Save; math.Abs(span-want) > 1e-7*want {
				t.Errorf("frames span %v ps, meta.json %v ps", span, want)
			}
			// NSTEP (LastStep) is not checked: OpenMM 7.7, which wrote these
			// files, stored first + frames·interval there, OpenMM 8 stores the
			// last frame's step (checked in TestDCDMatchesOpenMM).
			frames := s.frames
			if frames == nil {
				frames = make([]int, r.NumFrames())
				for k := range frames {
					frames[k] = k
				}
			}
			na := r.NumAtoms()
			dst := make([]Vec3, na)
			var maxNM float64
			for fi, k := range frames {
				if s.frames != nil {
					if err := r.Seek(k); err != nil {
						t.Fatal(err)
					}
				}
				box, err := r.NextInto(dst)
				if err != nil {
					t.Fatal(err)
				}
				for i := range dst {
					for a := range 3 {
						j := (fi*na+i)*3 + a
						// Same float32 Å value, divided by 10 in float64 on
						// both sides: exact.
						if want := m.Raw[j] / 10; dst[i][a] != want {
							t.Fatalf("frame %d atom %d axis %d: gobg %v nm, mdtraj raw %v Å", k, i, a, dst[i][a], m.Raw[j])
						}
						maxNM = math.Max(maxNM, math.Abs(dst[i][a]-m.XYZ[j]))
					}
				}
				if (box != nil) != m.HasCell {
					t.Fatalf("frame %d: box %v, mdtraj has cell %v", k, box, m.HasCell)
				}
				if box != nil {
					var want [3]Vec3
					for i := range 3 {
						copy(want[i][:], m.Box[fi*9+3*i:])
					}
					if d := maxDiff(box[:], want[:]); d > 1e-6 {
						t.Fatalf("frame %d: box %v, mdtraj %v", k, *box, want)
					}
				}
			}
			if maxNM > 1e-6 {
				t.Errorf("positions differ from mdtraj load_dcd by up to %g nm", maxNM)
			}
			t.Logf("%d atoms, %d frames, unit cell %v, dt %.10g ps, interval %d, first step %d; compared %d frames: float32 values identical, max |gobg − load_dcd| = %.3g nm",
				na, r.NumFrames(), r.HasUnitCell(), r.Timestep(), h.Interval, h.FirstStep, len(frames), maxNM)
		})
	}
}

func TestCheckAtoms(t *testing.T) {
	if err := CheckAtoms("traj.dcd", 582, "top.pdb", 582); err != nil {
		t.Errorf("equal counts: %v", err)
	}
	err := CheckAtoms("traj.dcd", 584, "top.pdb", 582)
	if err == nil || !strings.Contains(err.Error(), "traj.dcd has 584 atoms, top.pdb has 582") {
		t.Errorf("mismatch: %v", err)
	}
}

// TestDCDMatchesOpenMM writes the same frames with gobg and with OpenMM's
// DCDFile and compares the files byte for byte (except the title lines, which
// name the program and the time), then reads both with gobg and gobg's file
// with mdtraj.
func TestDCDMatchesOpenMM(t *testing.T) {
	rect := &[3]Vec3{{3.1, 0, 0}, {0, 2.7, 0}, {0, 0, 4.3}}
	// Triclinic in OpenMM's reduced form.
	tric := &[3]Vec3{{3.0, 0, 0}, {1.0, 2.8, 0}, {-0.9, 1.1, 2.6}}
	opts := DCDOptions{FirstStep: 25250, Interval: 250, Timestep: 0.004}
	cases := []struct {
		name string
		box  *[3]Vec3
	}{{"no-cell", nil}, {"rectangular", rect}, {"triclinic", tric}}
	var jobs []mdtrajJob
	dir := t.TempDir()
	trajs := make([]testTraj, len(cases))
	for ci, c := range cases {
		trajs[ci] = randomTraj(uint64(ci), 4, 17, c.box)
		o := opts
		o.UnitCell = c.box != nil
		writeGobg(t, filepath.Join(dir, c.name+".gobg.dcd"), trajs[ci], o)
		writeOpenMM(t, filepath.Join(dir, c.name+".openmm.dcd"), trajs[ci], o, false)
		jobs = append(jobs, mdtrajJob{DCD: filepath.Join(dir, c.name+".gobg.dcd")})
	}
	res := mdtrajRead(t, jobs)
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := filepath.Join(dir, c.name+".gobg.dcd")
			o := filepath.Join(dir, c.name+".openmm.dcd")
			compareWithOpenMM(t, g, o, c.box == nil || c.box == rect)
			// OpenMM's angles go through acos and sin; the box comes back to
			// ~1e-15 nm either way.
			checkFrames(t, g, trajs[ci], 1e-12)
			checkFrames(t, o, trajs[ci], 1e-12)
			r, err := OpenDCD(o)
			if err != nil {
				t.Fatal(err)
			}
			h := r.Header()
			r.Close()
			if h.FirstStep != opts.FirstStep || h.Interval != opts.Interval || h.LastStep != opts.FirstStep+3*opts.Interval ||
				math.Abs(h.Timestep()-opts.Timestep) > 1e-7*opts.Timestep || h.HeaderFrames != 4 || h.BigEndian || !h.Charmm {
				t.Errorf("OpenMM file header read as %+v", h)
			}
			checkMdtraj(t, res[ci], trajs[ci])
		})
	}
}

// compareWithOpenMM compares two DCD files byte for byte outside the title
// record; exactCell false allows the unit-cell doubles to differ in the last
// bits (OpenMM computes angle cosines as sin(π/2 − acos(x))).
func compareWithOpenMM(t *testing.T, gobgPath, openmmPath string, exactCell bool) {
	t.Helper()
	g, err := os.ReadFile(gobgPath)
	if err != nil {
		t.Fatal(err)
	}
	o, err := os.ReadFile(openmmPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != len(o) {
		t.Fatalf("gobg file is %d bytes, OpenMM's %d", len(g), len(o))
	}
	const titleStart, titleEnd = 96, 96 + 160 // after NTITLE, 2 lines of 80 bytes
	r, err := NewDCDReader(bytes.NewReader(o), openmmPath)
	if err != nil {
		t.Fatal(err)
	}
	fs := int(r.FrameSize())
	hs := len(o) - r.NumFrames()*fs
	for i := range g {
		if i >= titleStart && i < titleEnd || g[i] == o[i] {
			continue
		}
		if fo := i - hs; !exactCell && r.HasUnitCell() && fo >= 0 && fo%fs >= 4 && fo%fs < 52 {
			p := i - (fo%fs-4)%8
			x := math.Float64frombits(binary.LittleEndian.Uint64(g[p:]))
			y := math.Float64frombits(binary.LittleEndian.Uint64(o[p:]))
			if math.Abs(x-y) <= 1e-13*math.Max(1, math.Abs(y)) {
				continue
			}
			t.Fatalf("unit cell value at byte %d: gobg %v, OpenMM %v", p, x, y)
		}
		t.Fatalf("byte %d differs: gobg %#x, OpenMM %#x", i, g[i], o[i])
	}
}

// TestDCDAppend writes 3 frames, closes, appends 2 and compares the result
// with OpenMM writing all 5 at once, and with gobg and mdtraj reading it. It
// also appends with gobg to a file OpenMM wrote and with OpenMM to gobg's.
func TestDCDAppend(t *testing.T) {
	box := &[3]Vec3{{2.5, 0, 0}, {0, 2.6, 0}, {0, 0, 2.7}}
	tr := randomTraj(7, 5, 9, box)
	opts := DCDOptions{FirstStep: 10, Interval: 5, Timestep: 0.002, UnitCell: true}
	dir := t.TempDir()
	gg := filepath.Join(dir, "gobg+gobg.dcd")
	writeGobg(t, gg, tr.slice(0, 3), opts)
	w, err := AppendDCD(gg)
	if err != nil {
		t.Fatal(err)
	}
	if w.NumFrames() != 3 || w.TruncatedBytes() != 0 || w.NumAtoms() != 9 {
		t.Fatalf("AppendDCD: %d frames, %d atoms, cut %d bytes; want 3, 9, 0", w.NumFrames(), w.NumAtoms(), w.TruncatedBytes())
	}
	writeFrames(t, w, tr.slice(3, 5))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	og := filepath.Join(dir, "openmm+gobg.dcd")
	writeOpenMM(t, og, tr.slice(0, 3), opts, false)
	w, err = AppendDCD(og)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, w, tr.slice(3, 5))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	gm := filepath.Join(dir, "gobg+openmm.dcd")
	writeGobg(t, gm, tr.slice(0, 3), opts)
	writeOpenMM(t, gm, tr.slice(3, 5), opts, true)
	all := filepath.Join(dir, "openmm5.dcd")
	writeOpenMM(t, all, tr, opts, false)

	paths := []string{gg, og, gm}
	var jobs []mdtrajJob
	for _, p := range paths {
		jobs = append(jobs, mdtrajJob{DCD: p})
	}
	res := mdtrajRead(t, jobs)
	for i, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			compareWithOpenMM(t, p, all, true)
			checkFrames(t, p, tr, 1e-12)
			checkMdtraj(t, res[i], tr)
		})
	}
}

// TestDCDTornFrame simulates a writer killed mid-frame: the complete frames
// stay readable (gobg and mdtraj agree), reading past them names the torn
// frame, and AppendDCD cuts it off before appending.
func TestDCDTornFrame(t *testing.T) {
	tr := randomTraj(3, 4, 6, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "torn.dcd")
	writeGobg(t, path, tr.slice(0, 3), DCDOptions{Timestep: 0.002})
	whole, err := OpenDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := whole.CheckComplete(); err != nil {
		t.Errorf("CheckComplete of a file of whole frames: %v", err)
	}
	if n, err := whole.Scan(context.Background()); n != 3 || err != nil {
		t.Errorf("Scan of a file of 3 whole frames: %d, %v", n, err)
	}
	whole.Close()
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The start of a fourth frame, as a crash inside write() leaves it.
	extra := make([]byte, 37)
	binary.LittleEndian.PutUint32(extra, 4*6)
	torn := append(append([]byte(nil), full...), extra...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}

	r, err := OpenDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.NumFrames() != 3 || r.TornBytes() != 37 {
		t.Fatalf("NumFrames %d, TornBytes %d; want 3, 37", r.NumFrames(), r.TornBytes())
	}
	want := fmt.Sprintf("torn.dcd: frame 3: truncated: want %d bytes, got 37", 3*(8+4*6))
	if err := r.CheckComplete(); err == nil || !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckComplete: %v, want an error containing %q", err, want)
	}
	if n, err := r.Scan(context.Background()); n != 3 || !errors.Is(err, ErrTruncated) {
		t.Errorf("Scan of a file of 3 whole frames and a torn one: %d, %v; want 3 and ErrTruncated", n, err)
	}
	r.Close()
	frames, err := ReadDCDFile(path)
	if err == nil || !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), want) {
		t.Fatalf("ReadDCDFile error %v, want one containing %q", err, want)
	}
	if len(frames) != 3 {
		t.Fatalf("ReadDCDFile returned %d frames with the error, want 3", len(frames))
	}
	m := mdtrajRead(t, []mdtrajJob{{DCD: path}})
	checkMdtraj(t, m[0], tr.slice(0, 3))

	w, err := AppendDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.TruncatedBytes() != 37 || w.NumFrames() != 3 {
		t.Fatalf("AppendDCD cut %d bytes, kept %d frames; want 37, 3", w.TruncatedBytes(), w.NumFrames())
	}
	writeFrames(t, w, tr.slice(3, 4))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, path, tr, 0)
}

// TestDCDStaleHeaderCount: NSET 0 (left by appenders that do not update it)
// or too large (a file cut at a frame boundary) does not change the frame
// count, which comes from the file size, as in mdtraj.
func TestDCDStaleHeaderCount(t *testing.T) {
	tr := randomTraj(5, 3, 4, nil)
	dir := t.TempDir()
	var jobs []mdtrajJob
	for _, nset := range []uint32{0, 10, 3} {
		p := filepath.Join(dir, fmt.Sprintf("nset%d.dcd", nset))
		writeGobg(t, p, tr, DCDOptions{})
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(b[8:], nset)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, mdtrajJob{DCD: p})
	}
	res := mdtrajRead(t, jobs)
	for i, j := range jobs {
		r, err := OpenDCD(j.DCD)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if r.NumFrames() != 3 || res[i].NFrames != 3 {
			t.Errorf("%s: gobg %d frames, mdtraj %d, want 3", j.DCD, r.NumFrames(), res[i].NFrames)
		}
		checkFrames(t, j.DCD, tr, 0)
	}
}

// swapDCD converts a CHARMM DCD file between byte orders (order: the file's
// current one) by walking its records: every 4-byte word is reversed, except
// "CORD" and the title text, and the unit-cell doubles are reversed as 8-byte
// words.
func swapDCD(t testing.TB, b []byte, order binary.ByteOrder) []byte {
	t.Helper()
	out := append([]byte(nil), b...)
	rev := func(p []byte) {
		for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
			p[i], p[j] = p[j], p[i]
		}
	}
	cell := order.Uint32(b[48:]) != 0 // ICNTRL[10]
	perFrame := 3
	if cell {
		perFrame = 4
	}
	off := 0
	for rec := 0; off < len(b); rec++ {
		n := int(order.Uint32(b[off:]))
		if off+8+n > len(b) {
			t.Fatalf("swapDCD: record %d at byte %d runs past the end", rec, off)
		}
		body := out[off+4 : off+4+n]
		switch {
		case rec == 0: // header: skip "CORD"
			for i := 4; i < n; i += 4 {
				rev(body[i : i+4])
			}
		case rec == 1: // titles: only NTITLE is a number
			rev(body[:4])
		case rec > 2 && cell && (rec-3)%perFrame == 0: // unit cell
			for i := 0; i < n; i += 8 {
				rev(body[i : i+8])
			}
		default:
			for i := 0; i < n; i += 4 {
				rev(body[i : i+4])
			}
		}
		rev(out[off : off+4])
		rev(out[off+4+n : off+8+n])
		off += n + 8
	}
	return out
}

// TestDCDByteSwapped reads big-endian copies of a gobg file (with a unit cell)
// and of the first frames of ala2 (without), checks that gobg and mdtraj read
// them as the originals, and appends to one in its own byte order.
func TestDCDByteSwapped(t *testing.T) {
	dir := t.TempDir()
	box := &[3]Vec3{{3.0, 0, 0}, {1.0, 2.8, 0}, {-0.9, 1.1, 2.6}}
	tr := randomTraj(11, 3, 5, box)
	le := filepath.Join(dir, "le.dcd")
	writeGobg(t, le, tr, DCDOptions{UnitCell: true, FirstStep: 4, Interval: 2, Timestep: 0.001})

	// The first 5 frames of ala2, as OpenMM wrote them (no unit cell).
	src := filepath.Join(testenv.SharedData(t), "md", "ala2", "traj.dcd")
	r, err := OpenDCD(src)
	if err != nil {
		t.Fatal(err)
	}
	n := int(r.lay.headerSize + 5*r.FrameSize())
	r.Close()
	alaLE, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	alaLE = alaLE[:n]
	binary.LittleEndian.PutUint32(alaLE[8:], 5)
	alaPath := filepath.Join(dir, "ala5.dcd")
	if err := os.WriteFile(alaPath, alaLE, 0o644); err != nil {
		t.Fatal(err)
	}
	var jobs []mdtrajJob
	var pairs [][2]string
	for _, p := range []string{le, alaPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		be := swapDCD(t, b, binary.LittleEndian)
		if back := swapDCD(t, be, binary.BigEndian); !bytes.Equal(back, b) {
			t.Fatal("swapping twice does not give the original")
		}
		bp := strings.TrimSuffix(p, ".dcd") + ".be.dcd"
		if err := os.WriteFile(bp, be, 0o644); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, [2]string{p, bp})
		jobs = append(jobs, mdtrajJob{DCD: p}, mdtrajJob{DCD: bp})
	}
	res := mdtrajRead(t, jobs)
	for i, pr := range pairs {
		a, b := res[2*i], res[2*i+1]
		if a.NFrames != b.NFrames || !slicesEqual(a.Raw, b.Raw) || !slicesEqual(a.Box, b.Box) {
			t.Errorf("%s: mdtraj reads the swapped file differently", pr[1])
		}
		fa, err := ReadDCDFile(pr[0])
		if err != nil {
			t.Fatal(err)
		}
		fb, err := ReadDCDFile(pr[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(fa) != len(fb) || len(fa) == 0 {
			t.Fatalf("%s: %d frames, swapped %d", pr[0], len(fa), len(fb))
		}
		for k := range fa {
			if maxDiff(fa[k].Positions, fb[k].Positions) != 0 || (fa[k].Box == nil) != (fb[k].Box == nil) ||
				fa[k].Box != nil && *fa[k].Box != *fb[k].Box {
				t.Fatalf("%s: frame %d differs from the little-endian original", pr[1], k)
			}
			na := len(fa[k].Positions)
			for j, v := range fb[k].Positions {
				for ax := range 3 {
					if v[ax] != b.Raw[(k*na+j)*3+ax]/10 {
						t.Fatalf("%s: frame %d atom %d: gobg %v, mdtraj %v Å", pr[1], k, j, v, b.Raw[(k*na+j)*3+ax])
					}
				}
			}
		}
		hb, err := OpenDCD(pr[1])
		if err != nil {
			t.Fatal(err)
		}
		ha, _ := OpenDCD(pr[0])
		if !hb.Header().BigEndian || ha.Header().BigEndian || hb.Header().Interval != ha.Header().Interval ||
			hb.Timestep() != ha.Timestep() || hb.Header().FirstStep != ha.Header().FirstStep {
			t.Errorf("headers differ: %+v vs %+v", ha.Header(), hb.Header())
		}
		ha.Close()
		hb.Close()
	}

	// Appending keeps the big-endian order; mdtraj reads the result.
	bePath := pairs[0][1]
	w, err := AppendDCD(bePath)
	if err != nil {
		t.Fatal(err)
	}
	more := randomTraj(12, 2, 5, box)
	writeFrames(t, w, more)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	all := testTraj{pos: append(append([][]Vec3{}, tr.pos...), more.pos...), boxes: append(append([]*[3]Vec3{}, tr.boxes...), more.boxes...)}
	checkFrames(t, bePath, all, 1e-12)
	checkMdtraj(t, mdtrajRead(t, []mdtrajJob{{DCD: bePath}})[0], all)
}

func slicesEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDCDBadFiles: damaged and unsupported files give errors that name the
// problem, the file and the frame, and never a panic.
func TestDCDBadFiles(t *testing.T) {
	box := &[3]Vec3{{2, 0, 0}, {0, 2, 0}, {0, 0, 2}}
	tr := randomTraj(1, 3, 4, box)
	dir := t.TempDir()
	path := filepath.Join(dir, "ok.dcd")
	writeGobg(t, path, tr, DCDOptions{UnitCell: true})
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const hs = 276
	fs := 56 + 3*(8+4*4)
	le := binary.LittleEndian
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	putF32 := func(b []byte, off int, v float32) { le.PutUint32(b[off:], math.Float32bits(v)) }
	// Offset of frame k's coordinate of atom i on axis a.
	coord := func(k, i, a int) int { return hs + k*fs + 56 + a*(8+4*4) + 4 + 4*i }
	cases := []struct {
		name    string
		data    []byte
		openErr error  // error from NewDCDReader, or nil
		frames  int    // complete frames
		bad     int    // frame whose Next fails (-1: none)
		errIs   error  // its error
		msg     string // substring of its error (or of openErr's)
	}{
		{"valid", good, nil, 3, -1, nil, ""},
		{"cut mid-frame", good[:hs+fs+fs/2], nil, 1, 1, ErrTruncated, fmt.Sprintf("bad.dcd: frame 1: truncated: want %d bytes, got %d", fs, fs/2)},
		{"cut at a frame boundary", good[:hs+2*fs], nil, 2, -1, nil, ""},
		{"cut in the header", good[:100], ErrTruncated, 0, -1, nil, "bad.dcd: header"},
		{"empty", nil, ErrNotDCD, 0, -1, nil, "bad.dcd: header"},
		{"not a DCD", []byte("ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\n"), ErrNotDCD, 0, -1, nil, "first record marker"},
		{"bad marker y", edit(func(b []byte) []byte { le.PutUint32(b[hs+2*fs+56+24:], 99); return b }), nil, 3, 2, ErrBadMarker, "bad.dcd: frame 2: y coordinates: bad record marker"},
		{"bad cell marker", edit(func(b []byte) []byte { le.PutUint32(b[hs+fs+52:], 47); return b }), nil, 3, 1, ErrBadMarker, "frame 1: bad record marker at frame byte 52: 47, want 48"},
		{"NaN coordinate", edit(func(b []byte) []byte { putF32(b, coord(1, 2, 1), float32(math.NaN())); return b }), nil, 3, 1, ErrNonFinite, "bad.dcd: frame 1: atom 2: non-finite coordinate: y = NaN"},
		{"Inf coordinate", edit(func(b []byte) []byte {
			putF32(b, coord(2, 3, 0), float32(math.Inf(-1)))
			putF32(b, coord(2, 1, 2), float32(math.Inf(1)))
			return b
		}), nil, 3, 2, ErrNonFinite, "frame 2: atom 1: non-finite coordinate: z = +Inf"},
		{"NaN cell", edit(func(b []byte) []byte { le.PutUint64(b[hs+4:], math.Float64bits(math.NaN())); return b }), nil, 3, 0, ErrNonFinite, "frame 0: unit cell"},
		{"negative cell", edit(func(b []byte) []byte { le.PutUint64(b[hs+4:], math.Float64bits(-20)); return b }), nil, 3, 0, nil, "frame 0: unit cell"},
		{"64-bit markers", func() []byte {
			b := make([]byte, 200)
			le.PutUint64(b, 84)
			copy(b[8:], "CORD")
			return b
		}(), ErrUnsupported, 0, -1, nil, "64-bit record markers"},
		{"4D", edit(func(b []byte) []byte { le.PutUint32(b[4+4+4*11:], 1); return b }), ErrUnsupported, 0, -1, nil, "4D coordinates"},
		{"fixed atoms", edit(func(b []byte) []byte { le.PutUint32(b[4+4+4*8:], 2); return b }), ErrUnsupported, 0, -1, nil, "2 fixed atoms"},
		{"bad header end marker", edit(func(b []byte) []byte { le.PutUint32(b[88:], 85); return b }), ErrBadMarker, 0, -1, nil, "at byte 88"},
		{"bad title length", edit(func(b []byte) []byte { le.PutUint32(b[92:], 163); return b }), ErrBadMarker, 0, -1, nil, "title record length 163"},
		{"huge title length", edit(func(b []byte) []byte { le.PutUint32(b[92:], 4+80*1000000); return b }), ErrTruncated, 0, -1, nil, "title record"},
		{"negative atoms", edit(func(b []byte) []byte { le.PutUint32(b[hs-8:], 0xfffffff0); return b }), nil, 0, -1, nil, "declares -16 atoms"},
		{"huge atom count", edit(func(b []byte) []byte { le.PutUint32(b[hs-8:], 1<<30); return b }), nil, 0, 0, ErrTruncated, "bad.dcd: frame 0: truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewDCDReader(bytes.NewReader(c.data), "bad.dcd")
			if c.openErr != nil || (err != nil && c.msg != "") {
				if err == nil {
					t.Fatalf("opened; want error %v", c.openErr)
				}
				if c.openErr != nil && !errors.Is(err, c.openErr) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("error %q; want %v containing %q", err, c.openErr, c.msg)
				}
				t.Logf("open: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.NumFrames() != c.frames {
				t.Fatalf("NumFrames %d, want %d", r.NumFrames(), c.frames)
			}
			for k := 0; ; k++ {
				f, err := r.Next()
				if err == io.EOF {
					if c.bad >= k {
						t.Fatalf("io.EOF at frame %d; want an error at frame %d", k, c.bad)
					}
					if k != c.frames && c.bad != c.frames {
						t.Fatalf("io.EOF after %d frames, want %d", k, c.frames)
					}
					break
				}
				if k == c.bad {
					if err == nil || c.errIs != nil && !errors.Is(err, c.errIs) || !strings.Contains(err.Error(), c.msg) {
						t.Fatalf("frame %d: error %v; want %v containing %q", k, err, c.errIs, c.msg)
					}
					t.Logf("frame %d: %v", k, err)
					continue
				}
				if err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				for i, p := range f.Positions {
					for a := range 3 {
						if p[a] != float32nm(tr.pos[k][i][a]) {
							t.Fatalf("frame %d atom %d: %v, wrote %v", k, i, p, tr.pos[k][i])
						}
					}
				}
				if k > c.frames {
					t.Fatal("read past the end")
				}
			}
		})
	}
}

// TestDCDSeek reads frames in random order with Seek and compares them with
// a sequential read; out-of-range seeks fail.
func TestDCDSeek(t *testing.T) {
	box := &[3]Vec3{{2, 0, 0}, {0, 2, 0}, {0, 0, 2}}
	tr := randomTraj(2, 6, 3, box)
	path := filepath.Join(t.TempDir(), "seek.dcd")
	writeGobg(t, path, tr, DCDOptions{UnitCell: true})
	r, err := OpenDCD(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, k := range []int{5, 0, 3, 3, 1, 4, 2} {
		if err := r.Seek(k); err != nil {
			t.Fatal(err)
		}
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Positions[2][1] != float32nm(tr.pos[k][2][1]) || math.Abs(f.Box[1][1]-tr.boxes[k][1][1]) > 1e-12 {
			t.Fatalf("frame %d after Seek: %v, want %v", k, f.Positions[2], tr.pos[k][2])
		}
	}
	if err := r.Seek(6); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next at the end: %v, want io.EOF", err)
	}
	for _, k := range []int{-1, 7} {
		if err := r.Seek(k); err == nil || !strings.Contains(err.Error(), "seek.dcd: seek to frame") {
			t.Errorf("Seek(%d): %v", k, err)
		}
	}
	if _, err := r.NextInto(make([]Vec3, 2)); err == nil {
		t.Error("NextInto with a short buffer succeeded")
	}
}

// TestDCDWriterErrors: bad input is refused without damaging the file, and a
// new file appears at its path only on Close.
func TestDCDWriterErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.dcd")
	w, err := CreateDCD(path, 2, DCDOptions{UnitCell: true})
	if err != nil {
		t.Fatal(err)
	}
	box := &[3]Vec3{{2, 0, 0}, {0, 2, 0}, {0, 0, 2}}
	ok := []Vec3{{0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}}
	if err := w.Write(ok, box); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		pos  []Vec3
		box  *[3]Vec3
		msg  string
	}{
		{"too few atoms", ok[:1], box, "frame 1: 1 positions, file has 2 atoms"},
		{"NaN", []Vec3{{0, 0, 0}, {0, math.NaN(), 0}}, box, "frame 1: atom 1: non-finite coordinate: y = NaN nm"},
		{"beyond float32", []Vec3{{1e38, 0, 0}, {0, 0, 0}}, box, "frame 1: atom 0: non-finite coordinate: x = 1e+38 nm"},
		{"no box", ok, nil, "no box was given"},
		{"zero box", ok, &[3]Vec3{}, "vectors must be finite and non-zero"},
	}
	for _, c := range bad {
		if err := w.Write(c.pos, c.box); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.msg)
		}
	}
	if err := w.Write(ok, box); err != nil {
		t.Fatalf("a valid frame after refused ones: %v", err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("final path exists before Close: %v", err)
	}
	// Until Close the frames are readable in the temporary file.
	r, err := OpenDCD(w.TempPath())
	if err != nil {
		t.Fatal(err)
	}
	if r.NumFrames() != 2 || r.Header().HeaderFrames != 2 {
		t.Fatalf("temporary file: %d frames, NSET %d; want 2, 2", r.NumFrames(), r.Header().HeaderFrames)
	}
	r.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.TempPath()); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	if err := w.Write(ok, box); err == nil {
		t.Error("Write after Close succeeded")
	}
	frames, err := ReadDCDFile(path)
	if err != nil || len(frames) != 2 {
		t.Fatalf("ReadDCDFile: %d frames, %v", len(frames), err)
	}

	w2, err := CreateDCD(filepath.Join(dir, "nocell.dcd"), 2, DCDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ok, box); err == nil || !strings.Contains(err.Error(), "no unit cell") {
		t.Errorf("box without unit cell: %v", err)
	}
	w2.Close()
	if _, err := CreateDCD(filepath.Join(dir, "x.dcd"), 0, DCDOptions{}); err == nil {
		t.Error("CreateDCD with 0 atoms succeeded")
	}
	if _, err := CreateDCD(filepath.Join(dir, "nodir", "x.dcd"), 1, DCDOptions{}); err == nil {
		t.Error("CreateDCD in a missing directory succeeded")
	}
	if _, err := AppendDCD(filepath.Join(dir, "missing.dcd")); err == nil {
		t.Error("AppendDCD of a missing file succeeded")
	}
}

// BenchmarkReadDCD streams the hp35 reference trajectory (582 atoms, unit cell).
func BenchmarkReadDCD(b *testing.B) {
	path := filepath.Join(testenv.SharedData(b), "md", "hp35", "traj.dcd")
	var frames int
	for b.Loop() {
		r, err := OpenDCD(path)
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]Vec3, r.NumAtoms())
		for {
			if _, err := r.NextInto(dst); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			frames++
		}
		r.Close()
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}

// TestDCDCellToBox compares the unit-cell conversion with OpenMM's
// computePeriodicBoxVectors, for cells stored with angle cosines (OpenMM,
// CHARMM) and in degrees (older writers), including cells that need
// reduction.
func TestDCDCellToBox(t *testing.T) {
	cells := [][6]float64{ // a, b, c (Å); α, β, γ (degrees)
		{30, 40, 50, 90, 90, 90},
		{30, 30, 30, 60, 60, 60},                                  // b_x ≈ a/2: on the edge of reduction
		{40, 40, 55, 90, 90, 120},                                 // hexagonal
		{31, 27, 43, 70, 80, 110},                                 // general triclinic
		{20, 50, 60, 40, 85, 95},                                  // c_y > b_y/2: reduced
		{25.5, 25.5, 25.5, 109.4712206, 109.4712206, 109.4712206}, // truncated octahedron
	}
	var in []float64
	var got [][3]Vec3
	for _, c := range cells {
		in = append(in, c[0]/10, c[1]/10, c[2]/10, c[3], c[4], c[5])
		cos := func(deg float64) float64 { return math.Cos(deg * math.Pi / 180) }
		for _, rec := range [][6]float64{
			{c[0], cos(c[5]), c[1], cos(c[4]), cos(c[3]), c[2]}, // cosines
			{c[0], c[5], c[1], c[4], c[3], c[2]},                // degrees
		} {
			var box [3]Vec3
			ok, err := cellToBox(rec, &box)
			if err != nil || !ok {
				t.Fatalf("cell %v: %v, %v", rec, ok, err)
			}
			got = append(got, box)
			// Writing the box back gives the same cell (up to rounding).
			back, err := boxToCell(&box)
			if err != nil {
				t.Fatal(err)
			}
			var box2 [3]Vec3
			if _, err := cellToBox(back, &box2); err != nil || maxDiff(box2[:], box[:]) > 1e-12 {
				t.Errorf("cell %v: box %v, rewritten %v (%v)", rec, box, box2, err)
			}
		}
	}
	dir := t.TempDir()
	writeFloat64s(t, filepath.Join(dir, "in"), in)
	testenv.RunPython(t, pyBoxVectors, filepath.Join(dir, "in"), filepath.Join(dir, "out"))
	want := testenv.ReadFloat64s(t, filepath.Join(dir, "out"))
	for i, c := range cells {
		var w [3]Vec3
		for j := range 3 {
			copy(w[j][:], want[9*i+3*j:])
		}
		for form, g := range got[2*i : 2*i+2] {
			if d := maxDiff(g[:], w[:]); d > 1e-12 {
				t.Errorf("cell %v (form %d): gobg %v, OpenMM %v (diff %g nm)", c, form, g, w, d)
			}
		}
	}
	var box [3]Vec3
	if ok, err := cellToBox([6]float64{}, &box); ok || err != nil {
		t.Errorf("all-zero cell: box %v, %v; want no box", ok, err)
	}
}
