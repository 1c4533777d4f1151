package gobgcore

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
)

// EnergyCallback is a potential energy written in Python, as Go calls it.
// Every parameter is a scalar, because gopy hangs on callbacks with slice
// parameters: posAddr is the address of batch·atoms·3 float64 positions (nm,
// x, y, z per atom, conformation after conformation), energiesAddr of batch
// float64 to fill with energies (kJ/mol), and forcesAddr of batch·atoms·3
// float64 to fill with forces (kJ/mol/nm), or 0 when no forces are wanted.
// The buffers are Go memory pinned for the duration of the call only; the
// callback must not keep them. It returns 0 on success; any other value
// fails the batch (the Python layer keeps the exception, because gopy cannot
// carry one back through a callback).
type EnergyCallback func(posAddr uintptr, batch int, atoms int, energiesAddr uintptr, forcesAddr uintptr) int

// PythonEnergy is an energy.Energy whose values come from a Python callback,
// so that Go code (training, evaluation) can use an energy function defined
// in an OpenMM script.
//
// Python can run only one callback at a time (the GIL), and a callback must
// run on one OS thread from start to end: gopy's callback code takes and
// releases the GIL around several cgo calls, and a goroutine that moved
// between OS threads in between crashes CPython. Evaluate therefore
// serialises calls and locks the calling goroutine to its OS thread for the
// call, so it may be called from any goroutine.
type PythonEnergy struct {
	atoms int
	cb    EnergyCallback

	mu                    sync.Mutex
	pos, energies, forces []float64 // scratch shared with Python, reused
}

// NewPythonEnergy wraps a callback for a system of atoms atoms. The Python
// caller must keep the callable alive as long as the PythonEnergy is used:
// gopy does not hold a reference to it.
func NewPythonEnergy(atoms int, cb EnergyCallback) (*PythonEnergy, error) {
	if atoms <= 0 {
		return nil, fmt.Errorf("python energy: %d atoms", atoms)
	}
	if cb == nil {
		return nil, fmt.Errorf("python energy: nil callback")
	}
	return &PythonEnergy{atoms: atoms, cb: cb}, nil
}

// NumAtoms is the number of atoms of every conformation.
func (e *PythonEnergy) NumAtoms() int { return e.atoms }

// Evaluate implements energy.Energy: one callback for the whole batch.
func (e *PythonEnergy) Evaluate(ctx context.Context, positions [][]molecule.Vec3, wantForces bool) (energy.Result, error) {
	if err := energy.CheckPositions(positions, e.atoms); err != nil {
		return energy.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return energy.Result{}, err
	}
	batch := len(positions)
	res := energy.Result{Energies: make([]float64, batch), Errors: make([]error, batch)}
	if wantForces {
		res.Forces = make([][]molecule.Vec3, batch)
	}
	if batch == 0 {
		return res, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	per := 3 * e.atoms
	e.pos = grow(e.pos, batch*per)
	e.energies = grow(e.energies, batch)
	if wantForces {
		e.forces = grow(e.forces, batch*per)
		clear(e.forces)
	}
	for b, x := range positions {
		copy(e.pos[b*per:(b+1)*per], unsafe.Slice((*float64)(unsafe.Pointer(&x[0])), per))
	}
	for i := range e.energies {
		e.energies[i] = math.NaN()
	}
	if err := e.call(batch, wantForces); err != nil {
		return energy.Result{}, err
	}
	for b := range batch {
		u := e.energies[b]
		res.Energies[b] = u
		if math.IsNaN(u) || math.IsInf(u, 0) {
			res.Errors[b] = &energy.SampleError{Index: b, Reason: fmt.Sprintf("non-finite energy %v from the Python energy", u)}
		}
		if !wantForces {
			continue
		}
		f := make([]molecule.Vec3, e.atoms)
		copy(unsafe.Slice((*float64)(unsafe.Pointer(&f[0])), per), e.forces[b*per:(b+1)*per])
		if res.Errors[b] == nil {
			if i, ok := firstNonFinite(f); !ok {
				res.Errors[b] = &energy.SampleError{Index: b, Reason: fmt.Sprintf("non-finite force on atom %d: %v", i, f[i])}
			}
		}
		if res.Errors[b] != nil {
			clear(f)
		}
		res.Forces[b] = f
	}
	return res, nil
}

// call runs the callback on the scratch buffers, pinned and on one OS thread.
func (e *PythonEnergy) call(batch int, wantForces bool) error {
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&e.pos[0])
	pin.Pin(&e.energies[0])
	var fAddr uintptr
	if wantForces {
		pin.Pin(&e.forces[0])
		fAddr = uintptr(unsafe.Pointer(&e.forces[0]))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := e.cb(uintptr(unsafe.Pointer(&e.pos[0])), batch, e.atoms, uintptr(unsafe.Pointer(&e.energies[0])), fAddr)
	if status != 0 {
		return fmt.Errorf("python energy: callback failed on a batch of %d (status %d)", batch, status)
	}
	return nil
}

// EvaluateInto evaluates a batch from Python buffers the way Go code will:
// the positions (batch·atoms·3 float64, nm) are copied into Go memory,
// Evaluate runs on a goroutine of its own (as in a training loop), and the
// energies (batch float64) and, when forcesLen > 0, forces (batch·atoms·3)
// are written into the caller's buffers. Conformations without a finite
// energy get NaN energies and zero forces.
func (e *PythonEnergy) EvaluateInto(posAddr uintptr, posLen int, energiesAddr uintptr, energiesLen int, forcesAddr uintptr, forcesLen int) error {
	per := 3 * e.atoms
	if posLen%per != 0 {
		return fmt.Errorf("python energy: %d float64 of positions is not a whole number of %d-atom conformations", posLen, e.atoms)
	}
	batch := posLen / per
	src, err := vec3s(posAddr, posLen, posLen/3, "positions")
	if err != nil {
		return err
	}
	out, err := float64s(energiesAddr, energiesLen, batch, "energies")
	if err != nil {
		return err
	}
	wantForces := forcesLen > 0
	var fout []molecule.Vec3
	if wantForces {
		if fout, err = vec3s(forcesAddr, forcesLen, posLen/3, "forces"); err != nil {
			return err
		}
	}
	positions := make([][]molecule.Vec3, batch)
	for b := range positions {
		positions[b] = append([]molecule.Vec3(nil), src[b*e.atoms:(b+1)*e.atoms]...)
	}
	type answer struct {
		res energy.Result
		err error
	}
	done := make(chan answer)
	go func() {
		r, err := e.Evaluate(context.Background(), positions, wantForces)
		done <- answer{r, err}
	}()
	a := <-done
	if a.err != nil {
		return a.err
	}
	for b := range batch {
		out[b] = a.res.Energies[b]
		if a.res.Errors[b] != nil {
			out[b] = math.NaN()
		}
		if wantForces {
			copy(fout[b*e.atoms:(b+1)*e.atoms], a.res.Forces[b])
		}
	}
	return nil
}

// grow returns s resized to n elements, reallocating only when too small.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// firstNonFinite returns the index of the first atom with a non-finite
// component and false, or 0 and true when all are finite.
func firstNonFinite(f []molecule.Vec3) (int, bool) {
	for i, v := range f {
		for _, c := range v {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return i, false
			}
		}
	}
	return 0, true
}

var _ energy.Energy = (*PythonEnergy)(nil)
