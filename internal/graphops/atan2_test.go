package graphops_test

import (
	"math"
	"testing"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestAtan2 compares the graph Atan2 with math.Atan2 over all quadrants,
// the axes and the origin, and its gradient with the analytic one.
func TestAtan2(t *testing.T) {
	var ys, xs []float64
	vals := []float64{0, 1e-300, 1e-8, 0.3, 1, 1 - 1e-12, 2.5, 1e6}
	for _, a := range vals {
		for _, b := range vals {
			for _, sa := range []float64{1, -1} {
				for _, sb := range []float64{1, -1} {
					ys, xs = append(ys, sa*a), append(xs, sb*b)
				}
			}
		}
	}
	for k := 0; k < 2000; k++ { // a fine sweep of the circle
		th := -math.Pi + 2*math.Pi*float64(k)/2000
		ys, xs = append(ys, 0.7*math.Sin(th)), append(xs, 0.7*math.Cos(th))
	}
	for _, tc := range []struct {
		dt       dtypes.DType
		tol, rel float64
	}{{dtypes.Float64, 1e-15, 1e-12}, {dtypes.Float32, 5e-7, 1e-5}} {
		exec := MustNewExec(testenv.Backend(t), func(y, x *Node) (*Node, *Node, *Node) {
			a := graphops.Atan2(y, x)
			grads := Gradient(ReduceAllSum(a), y, x)
			return a, grads[0], grads[1]
		})
		out := exec.MustExec(floats(tc.dt, ys), floats(tc.dt, xs))
		got, gy, gx := graphops.Float64s(out[0]), graphops.Float64s(out[1]), graphops.Float64s(out[2])
		worst, worstG := 0.0, 0.0
		for i := range xs {
			y, x := ys[i], xs[i]
			if tc.dt == dtypes.Float32 {
				y, x = float64(float32(y)), float64(float32(x))
			}
			want := wrapAngle(math.Atan2(y, x))
			if x == 0 && y == 0 {
				want = 0 // by definition here; math.Atan2 gives +-pi for x = -0
			}
			d := math.Abs(got[i] - want)
			if tc.dt == dtypes.Float32 && math.Abs(math.Abs(want)-math.Pi) < 1e-6 {
				d = math.Abs(math.Abs(got[i]) - math.Pi) // +-pi both acceptable at float32's rounding of pi
			}
			worst = math.Max(worst, d)
			r2 := x*x + y*y
			if r2 > 1e-12 && r2 < 1e10 {
				ey, ex := x/r2, -y/r2
				scale := math.Sqrt(1 / r2)
				worstG = math.Max(worstG, math.Max(math.Abs(gy[i]-ey), math.Abs(gx[i]-ex))/scale)
			}
		}
		t.Logf("%s: max |atan2 error| %.3g rad, max gradient error %.3g (relative to 1/r)", tc.dt, worst, worstG)
		if worst > tc.tol || worstG > tc.rel {
			t.Errorf("%s: atan2 error %g (tol %g), gradient error %g (tol %g)", tc.dt, worst, tc.tol, worstG, tc.rel)
		}
	}
}

// floats packs values into a vector of dtype.
func floats(dt dtypes.DType, v []float64) *tensors.Tensor {
	if dt == dtypes.Float32 {
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f, len(v))
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), len(v))
}

// wrapAngle maps an angle onto [-pi, pi).
func wrapAngle(x float64) float64 {
	if x >= -math.Pi && x < math.Pi {
		return x
	}
	x = math.Mod(x+math.Pi, 2*math.Pi)
	if x < 0 {
		x += 2 * math.Pi
	}
	return x - math.Pi
}
