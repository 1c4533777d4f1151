package train

import (
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func tensorsZeros(dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return tensors.FromFlatDataAndDimensions(make([]float64, n), dims...)
}

func tensorF64(vals []float64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), vals...), dims...)
}

func scalarF64(v float64) *tensors.Tensor { return tensors.FromValue(v) }

func tensorI32(vals []int32, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(vals, dims...)
}

// floats reads a float64 tensor and releases it.
func floats(t *tensors.Tensor) []float64 {
	var out []float64
	t.MustConstFlatData(func(flat any) {
		if v, ok := flat.([]float64); ok {
			out = append([]float64(nil), v...)
		}
	})
	_ = t.FinalizeAll()
	return out
}
