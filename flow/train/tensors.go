package train

import (
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// tensorsZeros is a zero tensor of dtype dt (float32 or float64).
func tensorsZeros(dt dtypes.DType, dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return tensorOf(dt, make([]float64, n), dims...)
}

func tensorF64(vals []float64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), vals...), dims...)
}

// tensorOf makes a tensor of dtype dt (float32 or float64) from float64
// values, rounding them for float32.
func tensorOf(dt dtypes.DType, vals []float64, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensorF64(vals, dims...)
}

func scalarF64(v float64) *tensors.Tensor { return tensors.FromValue(v) }

func tensorI32(vals []int32, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(vals, dims...)
}

// floats reads a float64 or float32 tensor as float64 and releases it.
func floats(t *tensors.Tensor) []float64 {
	out := graphops.Float64s(t)
	_ = t.FinalizeAll()
	return out
}
