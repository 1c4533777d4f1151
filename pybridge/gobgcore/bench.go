package gobgcore

// The two ways an array can cross between numpy and Go, side by side, for
// pybridge/bench_zero_copy.py and the tests: by address and length into
// caller-owned buffers (what every function of this package does), and as a
// Go slice, which gopy converts element by element.

// ScaleInto writes factor·src[i] into dst[i]; src and dst are float64
// buffers of the same length and may be the same buffer (scaling in place).
func ScaleInto(srcAddr uintptr, srcLen int, dstAddr uintptr, dstLen int, factor float64) error {
	src, err := float64s(srcAddr, srcLen, -1, "source")
	if err != nil {
		return err
	}
	dst, err := float64s(dstAddr, dstLen, srcLen, "destination")
	if err != nil {
		return err
	}
	for i, v := range src {
		dst[i] = factor * v
	}
	return nil
}

// ScaleSlice returns factor·xs as a new slice. From Python, xs and the result
// cross through gopy's slice conversion; it exists to measure that path
// against ScaleInto.
func ScaleSlice(xs []float64, factor float64) []float64 {
	out := make([]float64, len(xs))
	for i, v := range xs {
		out[i] = factor * v
	}
	return out
}
