package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"
)

// Log-det check methods.
const (
	// JacobianFull builds the whole D×D Jacobian of Forward with autodiff
	// (one reverse pass per row, the rows of many samples batched) and
	// compares log|det J| (LU) with Forward's log-det.
	JacobianFull = "full-jacobian"
	// JacobianPerLayer checks each step on its own: a coupling changes its
	// transformed coordinates elementwise given the others, so its Jacobian
	// is triangular (after a permutation) and its log-det is Σ log ∂y_i/∂x_i
	// over the transformed coordinates; because ∂y_k/∂x_i = 0 for the other
	// transformed k, one reverse pass of Σ_k y_k gives all those diagonal
	// entries. Cost: one reverse pass per layer instead of D.
	JacobianPerLayer = "per-layer"
	// JacobianNone skips the log-det check.
	JacobianNone = "none"
)

// CheckOptions configures Check.
type CheckOptions struct {
	// Samples is the number of base samples (and of random domain points).
	Samples int
	// Batch is the executors' batch size.
	Batch int
	// Method is JacobianFull, JacobianPerLayer, JacobianNone or "" (auto:
	// full up to FullMaxDim dimensions, per-layer above).
	Method     string
	FullMaxDim int
	// Seed seeds the base samples and the random domain points.
	Seed uint64
}

// CheckResult reports Check's measurements (maxima over samples and
// coordinates; circular coordinates compared on the circle).
type CheckResult struct {
	Dim     int    `json:"dim"`
	Params  int    `json:"params"`
	DType   string `json:"dtype"`
	Samples int    `json:"samples"`
	// InverseErr is the largest of |z - F⁻¹(F(z))| over base samples z and
	// |x - F(F⁻¹(x))| over uniform points x of the domain.
	InverseErr float64 `json:"inverse_err"`
	// LogDetPairErr is the largest |log det F'(z) + log det F⁻¹'(F(z))|.
	LogDetPairErr float64 `json:"logdet_pair_err"`
	// Moved is the largest |F(z) - z| (circular distance for angles) and
	// MaxAbsLogDet the largest |log det F'(z)|: evidence that the flow is
	// not the identity.
	Moved        float64 `json:"moved"`
	MaxAbsLogDet float64 `json:"max_abs_logdet"`
	// LogDetMethod is the autodiff check used; LogDetErr the largest
	// |analytic - autodiff| / max(1, |analytic|) (per sample for the full
	// Jacobian, per layer and sample for the per-layer check).
	LogDetMethod string  `json:"logdet_method"`
	LogDetErr    float64 `json:"logdet_err"`
}

// Check measures the flow's inversion error and the agreement of its
// log-determinant with autodiff.
func Check(f *Flow, opts CheckOptions) (*CheckResult, error) {
	if opts.Samples < 1 {
		opts.Samples = 8
	}
	if opts.Batch < 1 {
		opts.Batch = 64
	}
	if opts.FullMaxDim <= 0 {
		opts.FullMaxDim = 800
	}
	d := f.Dim()
	res := &CheckResult{Dim: d, Params: f.NumParams(), DType: f.dtype.String(), Samples: opts.Samples}
	r, err := f.NewRunner(opts.Batch)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed))
	z, err := f.SampleBase(rng, opts.Samples)
	if err != nil {
		return nil, err
	}
	x, ldF, err := r.Forward(z)
	if err != nil {
		return nil, err
	}
	z2, ldI, err := r.Inverse(x)
	if err != nil {
		return nil, err
	}
	res.InverseErr = f.maxDist(z, z2)
	res.Moved = f.maxDist(z, x)
	for i := range ldF {
		res.LogDetPairErr = math.Max(res.LogDetPairErr, math.Abs(ldF[i]+ldI[i]))
		res.MaxAbsLogDet = math.Max(res.MaxAbsLogDet, math.Abs(ldF[i]))
	}
	// Random points of the domain, the other way round.
	xr := make([]float64, len(z))
	for s := range opts.Samples {
		for i := range d {
			lo, hi := f.layout.Lower[i], f.layout.Upper[i]
			if f.layout.Circular[i] {
				lo, hi = -math.Pi, math.Pi
			}
			xr[s*d+i] = lo + (hi-lo)*rng.Float64()
		}
	}
	zr, _, err := r.Inverse(xr)
	if err != nil {
		return nil, err
	}
	xr2, _, err := r.Forward(zr)
	if err != nil {
		return nil, err
	}
	res.InverseErr = math.Max(res.InverseErr, f.maxDist(xr, xr2))

	method := opts.Method
	if method == "" {
		method = JacobianFull
		if d > opts.FullMaxDim {
			method = JacobianPerLayer
		}
	}
	res.LogDetMethod = method
	switch method {
	case JacobianNone:
	case JacobianFull:
		res.LogDetErr, err = f.checkFullJacobian(z, ldF, opts.Batch)
	case JacobianPerLayer:
		res.LogDetErr, err = f.checkPerLayer(z, opts.Batch)
	default:
		err = fmt.Errorf("flow check: unknown method %q", method)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// maxDist is the largest coordinate difference of a and b ([n, D]),
// circular coordinates measured on the circle.
func (f *Flow) maxDist(a, b []float64) float64 {
	d := f.Dim()
	worst := 0.0
	for k := range a {
		e := math.Abs(a[k] - b[k])
		if f.layout.Circular[k%d] {
			e = math.Mod(e, 2*math.Pi)
			e = math.Min(e, 2*math.Pi-e)
		}
		if math.IsNaN(e) {
			return math.NaN()
		}
		worst = math.Max(worst, e)
	}
	return worst
}

// checkFullJacobian returns the largest relative difference between ld and
// log|det| of Forward's Jacobian at each row of z.
func (f *Flow) checkFullJacobian(z, ld []float64, batch int) (float64, error) {
	d := f.Dim()
	n := len(z) / d
	exec, err := context.NewExecAny(f.backend, f.ctx, func(ctx *context.Context, z, w *graph.Node) *graph.Node {
		x, _ := f.Forward(ctx, z)
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(x, w)), z)[0]
	})
	if err != nil {
		return 0, fmt.Errorf("flow check: %w", err)
	}
	defer exec.Finalize()
	// Row i of sample s's Jacobian is the gradient of x_i at z_s: replicate
	// each sample D times, weight output i in replica i.
	rows := n * d
	jac := make([]float64, 0, rows*d)
	zb := make([]float64, batch*d)
	wb := make([]float64, batch*d)
	for start := 0; start < rows; start += batch {
		m := min(batch, rows-start)
		clear(wb)
		for k := range batch {
			q := start + min(k, m-1)
			s, i := q/d, q%d
			copy(zb[k*d:(k+1)*d], z[s*d:(s+1)*d])
			if k < m {
				wb[k*d+i] = 1
			}
		}
		out, err := exec.Exec(f.tensor(zb, batch, d), f.tensor(wb, batch, d))
		if err != nil {
			return 0, fmt.Errorf("flow check: Jacobian rows %d-%d: %w", start, start+m-1, err)
		}
		jac = append(jac, graphops.Float64s(out[0])[:m*d]...)
	}
	worst := 0.0
	for s := range n {
		j := mat.NewDense(d, d, jac[s*d*d:(s+1)*d*d])
		var lu mat.LU
		lu.Factorize(j)
		logDet, _ := lu.LogDet()
		e := math.Abs(logDet-ld[s]) / math.Max(1, math.Abs(ld[s]))
		if math.IsNaN(e) {
			return math.NaN(), nil
		}
		worst = math.Max(worst, e)
	}
	return worst, nil
}

// checkPerLayer returns the largest relative difference, over steps and
// rows of z, between each step's log-det and the sum of the logs of its
// Jacobian's diagonal entries obtained by autodiff.
func (f *Flow) checkPerLayer(z []float64, batch int) (float64, error) {
	d := f.Dim()
	r, err := f.NewRunner(batch)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	out, err := r.runWith("per-layer", z, d, func(ctx *context.Context, z *graph.Node) []*graph.Node {
		var outs []*graph.Node
		f.forward(ctx, z, func(s step) {
			diag := graphops.GatherAxis(graph.Gradient(graph.ReduceAllSum(graphops.GatherAxis(s.out, 1, s.trans)), s.in)[0], 1, s.trans)
			outs = append(outs, s.ld, graph.ReduceSum(graph.Log(graph.Abs(diag)), 1))
		})
		return outs
	})
	if err != nil {
		return 0, err
	}
	worst := 0.0
	for k := 0; k < len(out); k += 2 {
		for s := range out[k] {
			a, b := out[k][s], out[k+1][s]
			e := math.Abs(a-b) / math.Max(1, math.Abs(a))
			if math.IsNaN(e) {
				return math.NaN(), nil
			}
			worst = math.Max(worst, e)
		}
	}
	return worst, nil
}

// CheckDTypes checks f with opts (see Check) and, for the same weights
// converted to float32, its inversion and paired log-determinants: how
// exact the flow would be run in float32. The autodiff log-det check is
// float64's only.
func CheckDTypes(f *Flow, opts CheckOptions) (r64, r32 *CheckResult, err error) {
	if r64, err = Check(f, opts); err != nil {
		return nil, nil, err
	}
	f32, err := f.WithDType(dtypes.Float32)
	if err != nil {
		return nil, nil, err
	}
	opts.Method = JacobianNone
	if r32, err = Check(f32, opts); err != nil {
		return nil, nil, fmt.Errorf("float32: %w", err)
	}
	return r64, r32, nil
}
