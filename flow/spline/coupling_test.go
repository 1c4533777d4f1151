package spline

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// testCoupling has 7 coordinates: interval and circular ones, transformed
// and conditioning, interleaved so that the grouping permutation is not
// trivial.
func testCoupling(t *testing.T) (*Coupling, []bool) {
	t.Helper()
	circular := []bool{false, true, false, true, true, false, true}
	c, err := NewCoupling(CouplingConfig{
		Transform: []bool{true, false, false, true, false, true, true},
		Circular:  circular,
		Bins:      6,
		Hidden:    []int{16, 16},
		Options:   DefaultOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, circular
}

// randomInputs draws a batch: interval coordinates from N(0, 3²) (about
// one in ten falls in the identity tails beyond ±5) and angles uniformly in
// [-π, π).
func randomInputs(r *rand.Rand, circular []bool, batch int) []float64 {
	d := len(circular)
	x := make([]float64, batch*d)
	for b := range batch {
		for i, circ := range circular {
			if circ {
				x[b*d+i] = -math.Pi + 2*math.Pi*r.Float64()
			} else {
				x[b*d+i] = 3 * r.NormFloat64()
			}
		}
	}
	return x
}

// randomizeVariables gives every variable random values, so that the layer
// is far from the identity (the heads start at zero).
func randomizeVariables(t *testing.T, ctx *context.Context, r *rand.Rand, scale float64) {
	t.Helper()
	n := 0
	for v := range ctx.IterVariables() {
		if v.Name() != "weights" && v.Name() != "bias" {
			continue // e.g. the context's RNG state
		}
		size := v.Shape().Size()
		data := make([]float64, size)
		for i := range data {
			data[i] = scale * r.NormFloat64()
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(data, v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no variables to randomize")
	}
}

// TestCouplingIdentityAtInit: a new layer (zero heads) is the identity.
func TestCouplingIdentityAtInit(t *testing.T) {
	c, circular := testCoupling(t)
	r := rand.New(rand.NewPCG(41, 42))
	const batch = 32
	x := randomInputs(r, circular, batch)
	ctx := context.New()
	out, err := context.MustNewExec(testenv.Backend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		y, ld := c.Forward(ctx, x)
		return []*graph.Node{y, ld}
	}).Exec(tensorOf(x, dtypes.Float64, batch, len(circular)))
	if err != nil {
		t.Fatal(err)
	}
	y, ld := values(t, out[0]), values(t, out[1])
	var worst, worstLD float64
	for i := range x {
		worst = math.Max(worst, math.Abs(y[i]-x[i]))
	}
	for _, v := range ld {
		worstLD = math.Max(worstLD, math.Abs(v))
	}
	t.Logf("new layer: max |y - x| = %.2e, max |logDet| = %.2e", worst, worstLD)
	if worst > 1e-14 || worstLD > 1e-14 {
		t.Errorf("new coupling layer is not the identity: %.3e, logDet %.3e", worst, worstLD)
	}
}

// TestCouplingInverseAndJacobian randomizes a layer, then checks that the
// inverse undoes the forward map, that the conditioning coordinates pass
// through untouched, and that logDet equals log|det J| of the full D×D
// Jacobian built row by row with autodiff; on both backends.
func TestCouplingInverseAndJacobian(t *testing.T) {
	testenv.EachBackend(t, testCouplingInverseAndJacobian)
}

func testCouplingInverseAndJacobian(t *testing.T, b backends.Backend) {
	c, circular := testCoupling(t)
	d := len(circular)
	r := rand.New(rand.NewPCG(43, 44))
	const batch = 16
	x := randomInputs(r, circular, batch)
	xt := tensorOf(x, dtypes.Float64, batch, d)
	ctx := context.New()
	fn := func(ctx *context.Context, x *graph.Node) []*graph.Node {
		y, ld := c.Forward(ctx, x)
		x2, ld2 := c.Inverse(ctx, y)
		outs := []*graph.Node{y, ld, x2, ld2}
		// Row i of each sample's Jacobian: the samples are independent, so
		// the gradient of Σ_batch y[:, i] holds all of them.
		for i := range d {
			outs = append(outs, graph.Gradient(graph.ReduceAllSum(graph.SliceAxis(y, 1, graph.AxisElem(i))), x)[0])
		}
		return outs
	}
	// Create the variables, then move them away from the identity.
	if _, err := context.MustNewExec(b, ctx, fn).Exec(xt); err != nil {
		t.Fatal(err)
	}
	randomizeVariables(t, ctx, r, 0.3)
	out, err := context.MustNewExec(b, ctx, fn).Exec(xt)
	if err != nil {
		t.Fatal(err)
	}
	y, ld, x2, ld2 := values(t, out[0]), values(t, out[1]), values(t, out[2]), values(t, out[3])
	rows := make([][]float64, d)
	for i := range d {
		rows[i] = values(t, out[4+i])
	}
	var errInv, errLD, errJac, maxLD, moved float64
	for b := range batch {
		for i := range d {
			k := b*d + i
			dist := math.Abs(x2[k] - x[k])
			if circular[i] {
				dist = math.Min(dist, 2*math.Pi-dist)
			}
			errInv = math.Max(errInv, dist)
			if !c.cfg.Transform[i] && y[k] != x[k] {
				t.Fatalf("conditioning coordinate %d of sample %d changed: %v -> %v", i, b, x[k], y[k])
			}
			moved = math.Max(moved, math.Abs(y[k]-x[k]))
		}
		errLD = math.Max(errLD, math.Abs(ld[b]+ld2[b]))
		jac := make([][]float64, d)
		for i := range d {
			jac[i] = rows[i][b*d : (b+1)*d]
		}
		errJac = math.Max(errJac, math.Abs(logAbsDet(jac)-ld[b]))
		maxLD = math.Max(maxLD, math.Abs(ld[b]))
	}
	t.Logf("max |x - inv(fwd(x))| = %.2e, max |ld_f + ld_i| = %.2e, max |logDet - log|det J|| = %.2e (max |logDet| = %.2f, max |y-x| = %.2f)",
		errInv, errLD, errJac, maxLD, moved)
	if moved < 0.1 || maxLD < 0.1 {
		t.Errorf("randomized layer is too close to the identity (max |y-x| %v, max |logDet| %v)", moved, maxLD)
	}
	// Measured 5.3e-15, 1.6e-14 and 8.9e-16; docs/status.md: spline round
	// trips ≤ 4e-13.
	if errInv > 4e-13 || errLD > 4e-13 || errJac > 4e-13 {
		t.Errorf("inverse error %.3e, logDet sum %.3e, Jacobian mismatch %.3e exceed 4e-13 (absolute)", errInv, errLD, errJac)
	}
}

// logAbsDet is log|det a| by Gaussian elimination with partial pivoting.
func logAbsDet(a [][]float64) float64 {
	n := len(a)
	m := make([][]float64, n)
	for i := range a {
		m[i] = append([]float64(nil), a[i]...)
	}
	var sum float64
	for col := range n {
		p := col
		for i := col + 1; i < n; i++ {
			if math.Abs(m[i][col]) > math.Abs(m[p][col]) {
				p = i
			}
		}
		m[col], m[p] = m[p], m[col]
		if m[col][col] == 0 {
			return math.Inf(-1)
		}
		sum += math.Log(math.Abs(m[col][col]))
		for i := col + 1; i < n; i++ {
			f := m[i][col] / m[col][col]
			for j := col; j < n; j++ {
				m[i][j] -= f * m[col][j]
			}
		}
	}
	return sum
}

func TestNewCouplingErrors(t *testing.T) {
	good := DefaultOptions()
	tests := []struct {
		name    string
		cfg     CouplingConfig
		wantErr string
	}{
		{"empty", CouplingConfig{Bins: 4, Options: good}, "no coordinates"},
		{"flag lengths", CouplingConfig{Transform: []bool{true, false}, Circular: []bool{false}, Bins: 4, Options: good}, "Circular flags"},
		{"nothing transformed", CouplingConfig{Transform: []bool{false, false}, Circular: []bool{false, true}, Bins: 4, Options: good}, "need both"},
		{"nothing conditioning", CouplingConfig{Transform: []bool{true, true}, Circular: []bool{false, true}, Bins: 4, Options: good}, "need both"},
		{"bad bins", CouplingConfig{Transform: []bool{true, false}, Circular: []bool{true, false}, Bins: 1, Options: good}, "at least 2 bins"},
		{"bad hidden", CouplingConfig{Transform: []bool{true, false}, Circular: []bool{true, false}, Bins: 4, Hidden: []int{0}, Options: good}, "hidden width"},
	}
	for _, tc := range tests {
		_, err := NewCoupling(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}
