package gobgcore

import (
	"errors"
	"fmt"
	"io"

	"github.com/gobg/gobg/energy/molecule"
)

// DCDReader streams the frames of a DCD trajectory into caller buffers.
type DCDReader struct {
	r *molecule.DCDReader
}

// OpenDCD opens a DCD file and reads its header.
func OpenDCD(path string) (*DCDReader, error) {
	r, err := molecule.OpenDCD(path)
	if err != nil {
		return nil, err
	}
	return &DCDReader{r: r}, nil
}

// NumAtoms is the number of atoms in every frame.
func (d *DCDReader) NumAtoms() int { return d.r.NumAtoms() }

// NumFrames is the number of complete frames in the file.
func (d *DCDReader) NumFrames() int { return d.r.NumFrames() }

// HasUnitCell reports whether every frame carries a periodic box.
func (d *DCDReader) HasUnitCell() bool { return d.r.HasUnitCell() }

// Timestep is the MD time step in ps, as the header stores it.
func (d *DCDReader) Timestep() float64 { return d.r.Timestep() }

// FirstStep is the MD step of frame 0.
func (d *DCDReader) FirstStep() int { return d.r.Header().FirstStep }

// Interval is the number of MD steps between frames.
func (d *DCDReader) Interval() int { return d.r.Header().Interval }

// Seek makes the next NextInto read frame k (0 ≤ k ≤ NumFrames).
func (d *DCDReader) Seek(k int) error { return d.r.Seek(k) }

// NextInto decodes the next frame's positions (nm) into a float64 buffer of
// 3·NumAtoms elements and, when boxLen is 9, its box vectors (nm, one per row)
// into the box buffer; boxLen 0 skips the box. It returns false, and leaves the
// buffers alone, after the last frame. A torn last frame, a bad record or a
// non-finite coordinate is an error naming the file and frame.
func (d *DCDReader) NextInto(posAddr uintptr, posLen int, boxAddr uintptr, boxLen int) (bool, error) {
	dst, err := vec3s(posAddr, posLen, d.r.NumAtoms(), "DCD frame")
	if err != nil {
		return false, fmt.Errorf("%s: %w", d.r.Name(), err)
	}
	b, err := box(boxAddr, boxLen, "DCD box")
	if err != nil {
		return false, fmt.Errorf("%s: %w", d.r.Name(), err)
	}
	fbox, err := d.r.NextInto(dst)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if b != nil {
		if fbox == nil {
			return false, fmt.Errorf("%s: box asked for, but the file has no unit cell", d.r.Name())
		}
		*b = *fbox
	}
	return true, nil
}

// Close closes the file.
func (d *DCDReader) Close() error { return d.r.Close() }

// DCDWriter appends frames from caller buffers to a DCD file in OpenMM's
// flavour.
type DCDWriter struct {
	w *molecule.DCDWriter
}

// CreateDCD starts a new DCD file for numAtoms atoms. timestep is the MD time
// step in ps; firstStep and interval number the frames' MD steps (interval 0
// means 1); unitCell makes every frame carry a box; title "" gives gobg's
// default. The file appears at path only when Close succeeds.
func CreateDCD(path string, numAtoms int, firstStep, interval int, timestep float64, unitCell bool, title string) (*DCDWriter, error) {
	w, err := molecule.CreateDCD(path, numAtoms, molecule.DCDOptions{
		FirstStep: firstStep, Interval: interval, Timestep: timestep, UnitCell: unitCell, Title: title,
	})
	if err != nil {
		return nil, err
	}
	return &DCDWriter{w: w}, nil
}

// AppendDCD opens an existing DCD file to add frames.
func AppendDCD(path string) (*DCDWriter, error) {
	w, err := molecule.AppendDCD(path)
	if err != nil {
		return nil, err
	}
	return &DCDWriter{w: w}, nil
}

// NumAtoms is the number of atoms every frame must have.
func (w *DCDWriter) NumAtoms() int { return w.w.NumAtoms() }

// NumFrames is the number of frames in the file so far.
func (w *DCDWriter) NumFrames() int { return w.w.NumFrames() }

// Write appends frames: posLen/(3·NumAtoms) of them from a float64 buffer of
// positions (nm), frame after frame; with a unit cell, boxLen is 9 per frame
// (the box vectors in nm, one per row), else 0. Frames before an invalid one
// are written.
func (w *DCDWriter) Write(posAddr uintptr, posLen int, boxAddr uintptr, boxLen int) error {
	per := 3 * w.w.NumAtoms()
	if posLen%per != 0 {
		return fmt.Errorf("write DCD: buffer of %d float64 is not a whole number of %d-atom frames", posLen, w.w.NumAtoms())
	}
	frames := posLen / per
	if boxLen != 0 && boxLen != 9*frames {
		return fmt.Errorf("write DCD: box buffer holds %d float64, want %d (9 per frame) or none", boxLen, 9*frames)
	}
	pos, err := vec3s(posAddr, posLen, posLen/3, "DCD frames")
	if err != nil {
		return err
	}
	boxes, err := vec3s(boxAddr, boxLen, boxLen/3, "DCD boxes")
	if err != nil {
		return err
	}
	for k := range frames {
		var b *[3]molecule.Vec3
		if boxLen != 0 {
			b = (*[3]molecule.Vec3)(boxes[3*k : 3*k+3])
		}
		if err := w.w.Write(pos[k*w.w.NumAtoms():(k+1)*w.w.NumAtoms()], b); err != nil {
			return err
		}
	}
	return nil
}

// Close finishes the file; see molecule.DCDWriter.Close.
func (w *DCDWriter) Close() error { return w.w.Close() }
