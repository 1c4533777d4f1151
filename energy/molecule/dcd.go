package molecule

// DCD trajectories, CHARMM flavour, as OpenMM's DCDReporter/DCDFile writes them
// and mdtraj (through VMD's dcdplugin) reads them.
//
// Layout. Every record is framed by Fortran record markers: a 4-byte integer
// holding the record's length in bytes, before and after it.
//
//	header  (84 bytes): "CORD", then 20 int32 control words ICNTRL[0..19]:
//	        [0] NSET   frames in the file (OpenMM updates it after every frame)
//	        [1] ISTART step of the first frame
//	        [2] NSAVC  steps between frames
//	        [3] NSTEP  OpenMM 8: step of the last frame (7.x: one interval more)
//	        [8] NAMNF  number of fixed atoms
//	        [9] DELTA  time step as float32 in AKMA units (X-PLOR: float64 in [9..10])
//	        [10] 1 if every frame starts with a unit-cell record (CHARMM only)
//	        [11] 1 if frames carry a fourth coordinate (CHARMM only)
//	        [19] CHARMM version (0 means an X-PLOR file)
//	titles  int32 NTITLE, then NTITLE lines of 80 bytes
//	atoms   int32 NATOM
//	frames  [unit cell: 6 float64: a, cos γ, b, cos β, cos α, c (Å)]
//	        X: NATOM float32 (Å), Y: ..., Z: ... — each its own record
//
// Every frame has the same size, so the number of frames follows from the file
// size and any frame can be reached with one seek.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gobg/gobg/internal/atomicfile"
)

// AKMATime is the AKMA unit of time in picoseconds (sqrt(Å²·amu/(kcal/mol))),
// the unit of the DELTA field of a DCD header; the value is OpenMM's.
const AKMATime = 0.04888821

// Sentinel errors, for errors.Is; the returned errors add the file, the frame
// and the details.
var (
	// ErrTruncated: the file ends inside a record.
	ErrTruncated = errors.New("truncated")
	// ErrBadMarker: a Fortran record marker does not hold the expected length.
	ErrBadMarker = errors.New("bad record marker")
	// ErrNonFinite: a coordinate or unit-cell value is NaN or infinite.
	ErrNonFinite = errors.New("non-finite coordinate")
	// ErrUnsupported: a valid DCD variant that gobg does not read (64-bit
	// record markers, 4D coordinates, fixed atoms).
	ErrUnsupported = errors.New("unsupported DCD variant")
	// ErrNotDCD: the file does not start with a DCD header.
	ErrNotDCD = errors.New("not a DCD file")
)

// Frame is one frame of a trajectory.
type Frame struct {
	Positions []Vec3 // nm
	// Box holds the periodic box vectors in nm, reduced as OpenMM requires
	// (a along x, b in the xy plane), or nil when the file has no unit cell.
	Box *[3]Vec3
}

// DCDHeader is what a DCD header says about the trajectory.
type DCDHeader struct {
	NumAtoms int
	// HeaderFrames is NSET as stored. DCDReader.NumFrames does not use it: see
	// there.
	HeaderFrames int
	FirstStep    int // ISTART: MD step of frame 0
	Interval     int // NSAVC: MD steps between frames
	// LastStep is NSTEP as stored: OpenMM 8 (and gobg) keep the step of the
	// last frame there, OpenMM 7 one interval more; other writers differ.
	// Use FirstStep + k·Interval for frame k.
	LastStep  int
	DeltaAKMA float64 // DELTA as stored: the MD time step in AKMA units
	UnitCell  bool    // frames carry a unit-cell record
	Charmm    bool    // CHARMM flavour (false: X-PLOR)
	Titles    []string
	BigEndian bool
}

// Timestep returns the MD time step in ps (DELTA·AKMATime). CHARMM files
// store DELTA as float32, so the value carries float32 rounding: 0.004 ps
// reads back as 0.0040000000x.
func (h DCDHeader) Timestep() float64 { return h.DeltaAKMA * AKMATime }

// FrameTime returns the simulated time of frame k in ps:
// (FirstStep + k·Interval)·Timestep.
func (h DCDHeader) FrameTime(k int) float64 {
	return float64(h.FirstStep+k*h.Interval) * h.Timestep()
}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// layout is what reading and writing frames needs to know.
type layout struct {
	order      byteOrder
	natoms     int
	cell       bool
	headerSize int64
}

func (l layout) frameSize() int64 {
	n := 3 * (8 + 4*int64(l.natoms))
	if l.cell {
		n += 8 + 48
	}
	return n
}

// DCDReader streams frames from a DCD file. It is not safe for concurrent use.
type DCDReader struct {
	name   string
	r      io.ReadSeeker
	closer io.Closer
	hdr    DCDHeader
	lay    layout
	frames int   // complete frames in the file
	torn   int64 // bytes after the last complete frame
	next   int   // index of the frame Next returns
	pos    int64 // where r is, -1 when unknown
	buf    []byte
	box    [3]Vec3
}

// OpenDCD opens a DCD file and reads its header. Either byte order is read.
func OpenDCD(path string) (*DCDReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open DCD: %w", err)
	}
	r, err := NewDCDReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewDCDReader reads a DCD header from r; name is used in error messages.
//
// The number of frames comes from the size of r: (size − header) / frame size,
// rounded down. The header's NSET is not trusted, because OpenMM rewrites it
// after each frame (a crash can leave it one behind), other writers leave it 0
// when appending, and a file that ends inside a frame (a torn last frame from an
// interrupted run) has fewer complete frames than NSET. mdtraj/VMD count the
// same way. The torn tail, if any, is reported by TornBytes and by Next once it
// reaches it.
func NewDCDReader(r io.ReadSeeker, name string) (*DCDReader, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &DCDReader{name: name, r: r}
	if err := d.readHeader(size); err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	fs := d.lay.frameSize()
	d.frames = int((size - d.lay.headerSize) / fs)
	d.torn = (size - d.lay.headerSize) % fs
	d.pos = d.lay.headerSize
	return d, nil
}

// readHeader parses the three header records; size is the file size, used to
// refuse records longer than the file before allocating for them.
func (d *DCDReader) readHeader(size int64) error {
	var first [12]byte
	if _, err := io.ReadFull(d.r, first[:]); err != nil {
		return fmt.Errorf("%w: file is %d bytes", ErrNotDCD, size)
	}
	switch {
	case binary.LittleEndian.Uint32(first[:]) == 84 && string(first[4:8]) == "CORD":
		d.lay.order = binary.LittleEndian
	case binary.BigEndian.Uint32(first[:]) == 84 && string(first[4:8]) == "CORD":
		d.lay.order = binary.BigEndian
		d.hdr.BigEndian = true
	case (binary.LittleEndian.Uint64(first[:]) == 84 || binary.BigEndian.Uint64(first[:]) == 84) &&
		string(first[8:12]) == "CORD":
		return fmt.Errorf("%w: 64-bit record markers", ErrUnsupported)
	default:
		return fmt.Errorf("%w: first record marker is % x, want 84 then \"CORD\"", ErrNotDCD, first[:8])
	}
	o := d.lay.order
	if _, err := d.r.Seek(4, io.SeekStart); err != nil {
		return err
	}
	off := int64(4)
	rec := make([]byte, 84+4)
	if _, err := io.ReadFull(d.r, rec); err != nil {
		return fmt.Errorf("%w: file is %d bytes", ErrTruncated, size)
	}
	off += int64(len(rec))
	if m := o.Uint32(rec[84:]); m != 84 {
		return fmt.Errorf("%w at byte %d: %d, want 84", ErrBadMarker, off-4, int32(m))
	}
	icntrl := func(i int) int32 { return int32(o.Uint32(rec[4+4*i:])) }
	h := &d.hdr
	h.HeaderFrames = int(icntrl(0))
	h.FirstStep = int(icntrl(1))
	h.Interval = int(icntrl(2))
	h.LastStep = int(icntrl(3))
	h.Charmm = icntrl(19) != 0
	if h.Charmm {
		h.DeltaAKMA = float64(math.Float32frombits(o.Uint32(rec[4+4*9:])))
		h.UnitCell = icntrl(10) != 0
		if icntrl(11) != 0 {
			return fmt.Errorf("%w: 4D coordinates", ErrUnsupported)
		}
	} else {
		h.DeltaAKMA = math.Float64frombits(o.Uint64(rec[4+4*9:]))
	}
	if nf := icntrl(8); nf != 0 {
		return fmt.Errorf("%w: %d fixed atoms", ErrUnsupported, nf)
	}

	// Titles.
	var m [4]byte
	if _, err := io.ReadFull(d.r, m[:]); err != nil {
		return fmt.Errorf("%w in the title record", ErrTruncated)
	}
	off += 4
	tlen := int64(int32(o.Uint32(m[:])))
	if tlen < 4 || (tlen-4)%80 != 0 {
		return fmt.Errorf("%w at byte %d: title record length %d is not 4+80·n", ErrBadMarker, off-4, tlen)
	}
	if off+tlen+4 > size {
		return fmt.Errorf("%w in the title record: it needs %d bytes, file is %d", ErrTruncated, off+tlen+4, size)
	}
	rec = make([]byte, tlen+4)
	if _, err := io.ReadFull(d.r, rec); err != nil {
		return fmt.Errorf("%w in the title record", ErrTruncated)
	}
	off += int64(len(rec))
	if e := int64(int32(o.Uint32(rec[tlen:]))); e != tlen {
		return fmt.Errorf("%w at byte %d: %d, want %d (end of title record)", ErrBadMarker, off-4, e, tlen)
	}
	for t := rec[4:tlen]; len(t) >= 80; t = t[80:] {
		h.Titles = append(h.Titles, strings.TrimRight(string(t[:80]), "\x00 "))
	}

	// Atom count.
	var a [12]byte
	if _, err := io.ReadFull(d.r, a[:]); err != nil {
		return fmt.Errorf("%w in the atom-count record", ErrTruncated)
	}
	if m1, m2 := o.Uint32(a[:]), o.Uint32(a[8:]); m1 != 4 || m2 != 4 {
		return fmt.Errorf("%w at byte %d: atom-count record markers %d, %d, want 4", ErrBadMarker, off, int32(m1), int32(m2))
	}
	off += 12
	n := int32(o.Uint32(a[4:]))
	if n <= 0 {
		return fmt.Errorf("header declares %d atoms", n)
	}
	h.NumAtoms = int(n)
	d.lay.natoms = int(n)
	d.lay.cell = h.UnitCell
	d.lay.headerSize = off
	return nil
}

// Header returns what the header says.
func (d *DCDReader) Header() DCDHeader { return d.hdr }

// Name returns the name used in error messages (the path for OpenDCD).
func (d *DCDReader) Name() string { return d.name }

// NumAtoms returns the number of atoms per frame.
func (d *DCDReader) NumAtoms() int { return d.hdr.NumAtoms }

// NumFrames returns the number of complete frames, counted from the file size
// (see NewDCDReader for why the header's NSET is not used).
func (d *DCDReader) NumFrames() int { return d.frames }

// HasUnitCell reports whether frames carry a unit cell (a periodic box).
func (d *DCDReader) HasUnitCell() bool { return d.hdr.UnitCell }

// Timestep returns the MD time step in ps; see DCDHeader.Timestep.
func (d *DCDReader) Timestep() float64 { return d.hdr.Timestep() }

// TornBytes returns how many bytes follow the last complete frame: non-zero
// when the writer was interrupted mid-frame. Those bytes are never returned
// as a frame.
func (d *DCDReader) TornBytes() int64 { return d.torn }

// CheckComplete returns the ErrTruncated error that Next gives at the end
// of a file with a torn last frame ("traj.dcd: frame 1532: truncated: want
// 7064 bytes, got 312"), and nil for a file of complete frames: for readers
// that seek to chosen frames and would otherwise never reach the torn one.
func (d *DCDReader) CheckComplete() error {
	if d.torn == 0 {
		return nil
	}
	return fmt.Errorf("%s: frame %d: %w: want %d bytes, got %d", d.name, d.frames, ErrTruncated, d.lay.frameSize(), d.torn)
}

// FrameSize returns the size of one frame in bytes.
func (d *DCDReader) FrameSize() int64 { return d.lay.frameSize() }

// CheckAtoms returns an error unless the atom counts of a trajectory and a
// topology agree, naming both files: "traj.dcd has 584 atoms, top.pdb has 582".
func CheckAtoms(dcdPath string, dcdAtoms int, topPath string, topAtoms int) error {
	if dcdAtoms != topAtoms {
		return fmt.Errorf("atom count mismatch: %s has %d atoms, %s has %d", dcdPath, dcdAtoms, topPath, topAtoms)
	}
	return nil
}

// CheckAtoms compares the reader's atom count with a topology's; see CheckAtoms.
func (d *DCDReader) CheckAtoms(topPath string, topAtoms int) error {
	return CheckAtoms(d.name, d.hdr.NumAtoms, topPath, topAtoms)
}

// Seek positions the reader so that the next Next returns frame k
// (0 ≤ k ≤ NumFrames; k == NumFrames means the end).
func (d *DCDReader) Seek(k int) error {
	if k < 0 || k > d.frames {
		return fmt.Errorf("%s: seek to frame %d: file has %d frames", d.name, k, d.frames)
	}
	d.next = k
	return nil
}

// Next reads the next frame. After the last complete frame it returns io.EOF,
// or, when the file ends in a torn frame, an ErrTruncated error naming the
// frame ("traj.dcd: frame 1532: truncated: want 7064 bytes, got 312"). Frames
// are counted from 0. A frame with a bad record marker or a non-finite
// coordinate gives an error naming the frame (and atom); the reader still moves
// past it.
func (d *DCDReader) Next() (Frame, error) {
	if d.next >= d.frames {
		// Before allocating: a corrupt header may claim billions of atoms.
		_, err := d.NextInto(nil)
		return Frame{}, err
	}
	pos := make([]Vec3, d.hdr.NumAtoms)
	box, err := d.NextInto(pos)
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Positions: pos}
	if box != nil {
		b := *box
		f.Box = &b
	}
	return f, nil
}

// NextInto is Next without allocation: it decodes the next frame's positions
// (nm) into dst, which must hold NumAtoms entries. The returned box is nil when
// the file has no unit cell; otherwise it points into the reader and is
// overwritten by the next call.
func (d *DCDReader) NextInto(dst []Vec3) (box *[3]Vec3, err error) {
	k := d.next
	fs := d.lay.frameSize()
	if k >= d.frames {
		if d.torn == 0 || k > d.frames {
			return nil, io.EOF
		}
		d.next++
		return nil, fmt.Errorf("%s: frame %d: %w: want %d bytes, got %d", d.name, k, ErrTruncated, fs, d.torn)
	}
	if len(dst) != d.hdr.NumAtoms {
		return nil, fmt.Errorf("%s: frame %d: destination holds %d atoms, file has %d", d.name, k, len(dst), d.hdr.NumAtoms)
	}
	off := d.lay.headerSize + int64(k)*fs
	if d.pos != off {
		if _, err := d.r.Seek(off, io.SeekStart); err != nil {
			d.pos = -1
			return nil, fmt.Errorf("%s: frame %d: %w", d.name, k, err)
		}
	}
	if int64(cap(d.buf)) < fs {
		d.buf = make([]byte, fs)
	}
	buf := d.buf[:fs]
	n, err := io.ReadFull(d.r, buf)
	d.pos = off + int64(n)
	d.next++
	if err != nil {
		// The file shrank after it was opened.
		return nil, fmt.Errorf("%s: frame %d: %w: want %d bytes, got %d", d.name, k, ErrTruncated, fs, n)
	}
	hasBox, err := decodeFrame(d.lay, buf, dst, &d.box)
	if err != nil {
		return nil, fmt.Errorf("%s: frame %d: %w", d.name, k, err)
	}
	if !hasBox {
		return nil, nil
	}
	return &d.box, nil
}

// Scan reads every remaining frame, so that a torn last frame or a
// coordinate that is not finite is found now, with its frame named, rather
// than deep inside a long job; it returns the frames it read and stops when
// ctx is cancelled.
func (d *DCDReader) Scan(ctx context.Context) (int, error) {
	buf := make([]Vec3, d.NumAtoms())
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if _, err := d.NextInto(buf); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}

// Close closes the file opened by OpenDCD (and nothing for NewDCDReader).
func (d *DCDReader) Close() error {
	if d.closer == nil {
		return nil
	}
	c := d.closer
	d.closer = nil
	return c.Close()
}

// ReadDCDFile reads every complete frame of a DCD file. If the file ends in
// a torn frame it returns the complete frames together with the ErrTruncated
// error, so the caller can choose to use them.
func ReadDCDFile(path string) ([]Frame, error) {
	d, err := OpenDCD(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	frames := make([]Frame, 0, d.NumFrames())
	for {
		f, err := d.Next()
		if err == io.EOF {
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		frames = append(frames, f)
	}
}

// decodeFrame decodes one frame (len(buf) == frame size) into dst (nm) and,
// when the layout has a unit cell, box. It reports whether a box was decoded.
func decodeFrame(l layout, buf []byte, dst []Vec3, box *[3]Vec3) (bool, error) {
	o := l.order
	off := 0
	marker := func(want int) error {
		if m := int32(o.Uint32(buf[off:])); int(m) != want {
			return fmt.Errorf("%w at frame byte %d: %d, want %d", ErrBadMarker, off, m, want)
		}
		off += 4
		return nil
	}
	hasBox := false
	if l.cell {
		if err := marker(48); err != nil {
			return false, err
		}
		var c [6]float64
		for i := range c {
			c[i] = math.Float64frombits(o.Uint64(buf[off+8*i:]))
		}
		off += 48
		if err := marker(48); err != nil {
			return false, err
		}
		var err error
		hasBox, err = cellToBox(c, box)
		if err != nil {
			return false, err
		}
	}
	n := l.natoms
	bad, badAxis := n, 0
	for axis := 0; axis < 3; axis++ {
		if err := marker(4 * n); err != nil {
			return false, fmt.Errorf("%c coordinates: %w", 'x'+axis, err)
		}
		p := buf[off : off+4*n]
		for i := range dst {
			v := math.Float32frombits(o.Uint32(p[4*i:]))
			if v-v != 0 && i < bad { // NaN or ±Inf
				bad, badAxis = i, axis
			}
			dst[i][axis] = float64(v) / 10
		}
		off += 4 * n
		if err := marker(4 * n); err != nil {
			return false, fmt.Errorf("%c coordinates: %w", 'x'+axis, err)
		}
	}
	if bad < n {
		return false, fmt.Errorf("atom %d: %w: %c = %v Å", bad, ErrNonFinite, 'x'+badAxis, dst[bad][badAxis]*10)
	}
	return hasBox, nil
}

// cellToBox turns a unit-cell record (a, γ, b, β, α, c; lengths in Å) into
// box vectors in nm the way OpenMM's computePeriodicBoxVectors does. Angles are
// stored as cosines by CHARMM, NAMD ≥ 2.5 and OpenMM, as degrees by older
// writers; like VMD, values that all lie in [−1, 1] are taken as cosines. An
// all-zero cell (written by some programs for non-periodic systems) means no
// box: it returns false.
func cellToBox(c [6]float64, box *[3]Vec3) (bool, error) {
	for _, v := range c {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false, fmt.Errorf("unit cell %v: %w", c, ErrNonFinite)
		}
	}
	a, b, cl := c[0]/10, c[2]/10, c[5]/10
	if a == 0 && b == 0 && cl == 0 {
		return false, nil
	}
	cosG, cosB, cosA := c[1], c[3], c[4]
	if math.Abs(cosG) > 1 || math.Abs(cosB) > 1 || math.Abs(cosA) > 1 {
		cosG = math.Cos(c[1] * math.Pi / 180)
		cosB = math.Cos(c[3] * math.Pi / 180)
		cosA = math.Cos(c[4] * math.Pi / 180)
	}
	sinG := math.Sqrt(1 - cosG*cosG)
	va := Vec3{a, 0, 0}
	vb := Vec3{b * cosG, b * sinG, 0}
	cx := cl * cosB
	cy := cl * (cosA - cosB*cosG) / sinG
	vc := Vec3{cx, cy, math.Sqrt(cl*cl - cx*cx - cy*cy)}
	// OpenMM sets elements within 1e-6 nm of zero to exactly zero.
	for _, v := range []*Vec3{&va, &vb, &vc} {
		for i := range v {
			if math.Abs(v[i]) < 1e-6 {
				v[i] = 0
			}
		}
	}
	if !(a > 0 && vb[1] > 0 && vc[2] > 0) {
		return false, fmt.Errorf("unit cell %v: not a valid box", c)
	}
	// Reduced form (OpenMM: |c_y| ≤ b_y/2, |c_x|, |b_x| ≤ a_x/2); Python's
	// round, which OpenMM uses, rounds halves to even.
	sub := func(v *Vec3, w Vec3, k float64) {
		for i := range v {
			v[i] -= k * w[i]
		}
	}
	sub(&vc, vb, math.RoundToEven(vc[1]/vb[1]))
	sub(&vc, va, math.RoundToEven(vc[0]/va[0]))
	sub(&vb, va, math.RoundToEven(vb[0]/va[0]))
	*box = [3]Vec3{va, vb, vc}
	return true, nil
}

// boxToCell is the inverse of cellToBox: lengths in Å and angle cosines, in
// the order of the unit-cell record (a, cos γ, b, cos β, cos α, c).
func boxToCell(box *[3]Vec3) ([6]float64, error) {
	dot := func(u, v Vec3) float64 { return u[0]*v[0] + u[1]*v[1] + u[2]*v[2] }
	la, lb, lc := math.Sqrt(dot(box[0], box[0])), math.Sqrt(dot(box[1], box[1])), math.Sqrt(dot(box[2], box[2]))
	if !(la > 0 && lb > 0 && lc > 0) || math.IsInf(la+lb+lc, 0) {
		return [6]float64{}, fmt.Errorf("box %v: vectors must be finite and non-zero", *box)
	}
	clamp := func(x float64) float64 { return math.Max(-1, math.Min(1, x)) }
	cosA := clamp(dot(box[1], box[2]) / (lb * lc))
	cosB := clamp(dot(box[2], box[0]) / (lc * la))
	cosG := clamp(dot(box[0], box[1]) / (la * lb))
	return [6]float64{10 * la, cosG, 10 * lb, cosB, cosA, 10 * lc}, nil
}

// DCDOptions are the header fields of a new DCD file.
type DCDOptions struct {
	FirstStep int     // MD step of the first frame (ISTART)
	Interval  int     // MD steps between frames (NSAVC); 0 means 1
	Timestep  float64 // MD time step in ps; stored in AKMA units as float32
	UnitCell  bool    // every frame carries a periodic box
	Title     string  // first title line (at most 80 bytes); default "Created by gobg"
}

// DCDWriter writes a DCD file in OpenMM's flavour (CHARMM version 24, record
// markers of 4 bytes), in the byte order of the file it appends to and
// little-endian for new files.
//
// Durability: each Write writes the whole frame with one write call and then
// updates the header's NSET and last-step fields, so the file on disk is a
// valid DCD after every Write (readers count frames from the file size in any
// case, so a crash between the two leaves a readable file too). Write does not
// fsync; call Sync for that.
//
// A file made by CreateDCD is written to a temporary file beside the final path
// (TempPath) and renamed into place by Close, so the final path never holds a
// half-written file; after a crash the complete frames are in the temporary
// file. AppendDCD writes in place.
type DCDWriter struct {
	f         *os.File
	path, tmp string
	lay       layout
	first     int
	interval  int
	n         int
	buf       []byte
	err       error // sticky I/O error
	torn      int64
}

// CreateDCD starts a new DCD file for numAtoms atoms; see DCDWriter.
func CreateDCD(path string, numAtoms int, opts DCDOptions) (*DCDWriter, error) {
	if numAtoms <= 0 {
		return nil, fmt.Errorf("create %s: %d atoms", path, numAtoms)
	}
	if opts.Interval == 0 {
		opts.Interval = 1
	}
	if opts.Interval < 0 || opts.FirstStep < 0 || opts.FirstStep > math.MaxInt32 || opts.Interval > math.MaxInt32 {
		return nil, fmt.Errorf("create %s: first step %d and interval %d must fit int32 and not be negative", path, opts.FirstStep, opts.Interval)
	}
	if opts.Title == "" {
		opts.Title = "Created by gobg"
	}
	if len(opts.Title) > 80 {
		return nil, fmt.Errorf("create %s: title longer than 80 bytes", path)
	}
	f, err := atomicfile.CreatePartial(path)
	if err != nil {
		return nil, err
	}
	w := &DCDWriter{f: f, path: path, tmp: f.Name(), first: opts.FirstStep, interval: opts.Interval}
	w.lay = layout{order: binary.LittleEndian, natoms: numAtoms, cell: opts.UnitCell}
	hdr := w.header(opts)
	w.lay.headerSize = int64(len(hdr))
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		os.Remove(w.tmp)
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return w, nil
}

func (w *DCDWriter) header(opts DCDOptions) []byte {
	o := w.lay.order
	var b []byte
	b = o.AppendUint32(b, 84)
	b = append(b, "CORD"...)
	var ic [20]uint32
	ic[0] = 0
	ic[1] = uint32(opts.FirstStep)
	ic[2] = uint32(opts.Interval)
	ic[3] = 0
	ic[9] = math.Float32bits(float32(opts.Timestep / AKMATime))
	if opts.UnitCell {
		ic[10] = 1
	}
	ic[19] = 24 // CHARMM version, as OpenMM writes
	for _, v := range ic {
		b = o.AppendUint32(b, v)
	}
	b = o.AppendUint32(b, 84)
	titles := [2]string{opts.Title, "Created " + time.Now().Format(time.ANSIC)}
	b = o.AppendUint32(b, uint32(4+80*len(titles)))
	b = o.AppendUint32(b, uint32(len(titles)))
	for _, t := range titles {
		var line [80]byte
		copy(line[:], t)
		b = append(b, line[:]...)
	}
	b = o.AppendUint32(b, uint32(4+80*len(titles)))
	b = o.AppendUint32(b, 4)
	b = o.AppendUint32(b, uint32(w.lay.natoms))
	b = o.AppendUint32(b, 4)
	return b
}

// AppendDCD opens an existing DCD file to add frames, keeping its header
// (atom count, unit cell, first step, interval, byte order). A torn last frame
// left by an interrupted writer is cut off (logged as a warning and reported
// by TruncatedBytes); a stale NSET is corrected.
func AppendDCD(path string) (*DCDWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("append DCD: %w", err)
	}
	d, err := NewDCDReader(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("append: %w", err)
	}
	h := d.Header()
	if !h.Charmm {
		f.Close()
		return nil, fmt.Errorf("append %s: %w: X-PLOR flavour", path, ErrUnsupported)
	}
	w := &DCDWriter{f: f, path: path, lay: d.lay, first: h.FirstStep, interval: h.Interval, n: d.NumFrames()}
	if d.TornBytes() > 0 {
		w.torn = d.TornBytes()
		end := w.lay.headerSize + int64(w.n)*w.lay.frameSize()
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, fmt.Errorf("append %s: cut torn frame %d: %w", path, w.n, err)
		}
		slog.Warn("DCD: cut off a torn last frame", "file", path, "frame", w.n, "bytes", w.torn)
	}
	if h.HeaderFrames != w.n {
		if err := w.updateHeader(); err != nil {
			f.Close()
			return nil, fmt.Errorf("append %s: %w", path, err)
		}
	}
	return w, nil
}

// NumAtoms returns the atom count of every frame.
func (w *DCDWriter) NumAtoms() int { return w.lay.natoms }

// NumFrames returns the number of frames in the file so far.
func (w *DCDWriter) NumFrames() int { return w.n }

// TempPath returns where CreateDCD's frames are until Close ("" for AppendDCD).
func (w *DCDWriter) TempPath() string { return w.tmp }

// TruncatedBytes returns the size of the torn frame AppendDCD cut off (0 if none).
func (w *DCDWriter) TruncatedBytes() int64 { return w.torn }

// Write appends a frame: positions in nm (NumAtoms of them) and, if and only
// if the file has a unit cell, the box vectors in nm. Invalid input (wrong
// count, NaN/Inf, a coordinate beyond float32 range, a missing or unexpected
// box) is refused before anything is written.
func (w *DCDWriter) Write(positions []Vec3, box *[3]Vec3) error {
	if w.f == nil {
		return fmt.Errorf("write %s: writer is closed", w.path)
	}
	if w.err != nil {
		return w.err
	}
	k := w.n
	if len(positions) != w.lay.natoms {
		return fmt.Errorf("write %s: frame %d: %d positions, file has %d atoms", w.path, k, len(positions), w.lay.natoms)
	}
	if int64(w.first)+int64(k)*int64(w.interval) > math.MaxInt32 {
		return fmt.Errorf("write %s: frame %d: step number exceeds int32", w.path, k)
	}
	o := w.lay.order
	b := w.buf[:0]
	if w.lay.cell {
		if box == nil {
			return fmt.Errorf("write %s: frame %d: file has a unit cell but no box was given", w.path, k)
		}
		c, err := boxToCell(box)
		if err != nil {
			return fmt.Errorf("write %s: frame %d: %w", w.path, k, err)
		}
		b = o.AppendUint32(b, 48)
		for _, v := range c {
			b = o.AppendUint64(b, math.Float64bits(v))
		}
		b = o.AppendUint32(b, 48)
	} else if box != nil {
		return fmt.Errorf("write %s: frame %d: box given but the file has no unit cell (DCDOptions.UnitCell)", w.path, k)
	}
	rl := uint32(4 * w.lay.natoms)
	for axis := 0; axis < 3; axis++ {
		b = o.AppendUint32(b, rl)
		for i, p := range positions {
			v := float32(10 * p[axis])
			if v-v != 0 {
				w.buf = b
				return fmt.Errorf("write %s: frame %d: atom %d: %w: %c = %v nm", w.path, k, i, ErrNonFinite, 'x'+axis, p[axis])
			}
			b = o.AppendUint32(b, math.Float32bits(v))
		}
		b = o.AppendUint32(b, rl)
	}
	w.buf = b
	off := w.lay.headerSize + int64(k)*w.lay.frameSize()
	if _, err := w.f.WriteAt(b, off); err != nil {
		w.err = fmt.Errorf("write %s: frame %d: %w", w.path, k, err)
		return w.err
	}
	w.n++
	if err := w.updateHeader(); err != nil {
		w.err = fmt.Errorf("write %s: frame %d: %w", w.path, k, err)
		return w.err
	}
	return nil
}

// updateHeader stores NSET and the last step (bytes 8–24: NSET, ISTART,
// NSAVC, NSTEP) with one write.
func (w *DCDWriter) updateHeader() error {
	o := w.lay.order
	last := w.first
	if w.n > 0 {
		last = w.first + (w.n-1)*w.interval
	}
	var b []byte
	b = o.AppendUint32(b, uint32(w.n))
	b = o.AppendUint32(b, uint32(w.first))
	b = o.AppendUint32(b, uint32(w.interval))
	b = o.AppendUint32(b, uint32(last))
	_, err := w.f.WriteAt(b, 8)
	return err
}

// Sync flushes the file to stable storage (fsync).
func (w *DCDWriter) Sync() error {
	if w.f == nil {
		return fmt.Errorf("sync %s: writer is closed", w.path)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.path, err)
	}
	return nil
}

// Close syncs and closes the file; for CreateDCD it then renames the temporary
// file to the final path. If a Write failed with an I/O error, a new file is
// removed instead of renamed into place, and that error is returned.
func (w *DCDWriter) Close() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	if w.err != nil {
		f.Close()
		if w.tmp != "" {
			os.Remove(w.tmp)
		}
		return w.err
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if w.tmp != "" {
			os.Remove(w.tmp)
		}
		return fmt.Errorf("close %s: %w", w.path, err)
	}
	if w.tmp == "" {
		return nil
	}
	if err := os.Chmod(w.tmp, 0o644); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("close %s: %w", w.path, err)
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("close %s: %w", w.path, err)
	}
	// Make the rename itself durable.
	if dir, err := os.Open(filepath.Dir(w.path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
