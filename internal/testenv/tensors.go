package testenv

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// RandTensor is a float64 tensor of the given dimensions with standard
// normal entries drawn from r.
func RandTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = r.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// Float64s copies a float64 tensor's values; any other dtype fails the test.
func Float64s(tb testing.TB, t *tensors.Tensor) []float64 {
	tb.Helper()
	v, err := tensors.CopyFlatData[float64](t)
	if err != nil {
		tb.Fatalf("copy tensor: %v", err)
	}
	return v
}
