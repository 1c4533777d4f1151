// Package gobgcore is the part of gobg that Python sees: gopy
// (github.com/go-python/gopy) generates the CPython extension gobg._gobg from
// it, and the Python package gobg (pybridge/gobg) wraps that extension in a
// Pythonic API for OpenMM scripts.
//
// The package is shaped for gopy rather than for Go callers:
//
//   - Arrays never cross as Go slices. gopy converts a slice element by
//     element through a handle table (about 0.3 µs per float64), so a
//     conformation batch would cost milliseconds each way. Instead Python
//     passes the address and length of a C-contiguous numpy buffer
//     (arr.ctypes.data, arr.size) and Go views it with unsafe.Slice, reading
//     inputs and writing results in place into buffers the caller owns and
//     keeps alive for the duration of the call. Lengths count elements, not
//     bytes.
//   - Results are plain values (int, float64, string, bool) or opaque handles
//     (*Structure, *DCDReader, ...) whose accessors fill caller buffers.
//     Lists of strings cross as one newline-joined string: one call instead
//     of one per atom.
//   - Callbacks into Python (EnergyCallback) take scalar parameters only: a
//     gopy callback with a slice parameter hangs. Arrays reach Python as the
//     addresses of Go memory pinned with runtime.Pinner for the call.
//
// Nothing here checks that an address really points to as many elements as
// its length says: the Python layer (gobg._as_buffer) does, from the numpy
// array it was given. Go callers (tests) pass the address of a live Go slice
// and keep it alive with runtime.KeepAlive.
package gobgcore

import (
	"fmt"
	"unsafe"

	"github.com/gobg/gobg/energy/molecule"
)

// version is gobg's version; setup.py reads it from this line.
const version = "0.1.0.dev0"

// Version returns gobg's version string.
func Version() string { return version }

// view turns an address and an element count into a slice of T. The memory
// belongs to the caller (usually numpy, outside the Go heap), so turning the
// integer back into a pointer is safe here as long as the caller keeps the
// memory alive for the call; the double indirection keeps go vet's unsafeptr
// check, which cannot know that, quiet.
func view[T any](addr uintptr, n int, what string) ([]T, error) {
	var zero T
	size := unsafe.Sizeof(zero)
	switch {
	case n < 0:
		return nil, fmt.Errorf("%s: negative length %d", what, n)
	case n == 0:
		return []T{}, nil
	case addr == 0:
		return nil, fmt.Errorf("%s: null address for %d elements", what, n)
	case addr%unsafe.Alignof(zero) != 0:
		return nil, fmt.Errorf("%s: address %#x is not aligned to %d bytes", what, addr, unsafe.Alignof(zero))
	case uintptr(n) > ^uintptr(0)/size:
		return nil, fmt.Errorf("%s: length %d too large", what, n)
	}
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*T)(p), n), nil
}

// float64s views a float64 buffer of exactly want elements (want < 0: any
// length).
func float64s(addr uintptr, n, want int, what string) ([]float64, error) {
	if want >= 0 && n != want {
		return nil, fmt.Errorf("%s: buffer holds %d float64, want %d", what, n, want)
	}
	return view[float64](addr, n, what)
}

// int64s views an int64 buffer of exactly want elements.
func int64s(addr uintptr, n, want int, what string) ([]int64, error) {
	if n != want {
		return nil, fmt.Errorf("%s: buffer holds %d int64, want %d", what, n, want)
	}
	return view[int64](addr, n, what)
}

// vec3s views a float64 buffer of 3·atoms elements as atoms positions.
func vec3s(addr uintptr, n, atoms int, what string) ([]molecule.Vec3, error) {
	if n != 3*atoms {
		return nil, fmt.Errorf("%s: buffer holds %d float64, want %d (%d atoms × 3)", what, n, 3*atoms, atoms)
	}
	return view[molecule.Vec3](addr, atoms, what)
}

// box views an optional 3×3 box buffer: n == 0 means no box.
func box(addr uintptr, n int, what string) (*[3]molecule.Vec3, error) {
	if n == 0 {
		return nil, nil
	}
	v, err := vec3s(addr, n, 3, what)
	if err != nil {
		return nil, err
	}
	return (*[3]molecule.Vec3)(v), nil
}
