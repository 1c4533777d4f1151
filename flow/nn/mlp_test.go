package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gobg/gobg/flow/nn"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestMLPHeads checks the zero-initialised heads, then sets every variable
// to known values and compares the outputs with the same MLP computed in Go.
func TestMLPHeads(t *testing.T) {
	b := testenv.PureGo(t)
	r := rand.New(rand.NewPCG(13, 14))
	const batch, in = 4, 3
	hidden, heads := []int{5, 6}, []int{2, 1, 3}
	x0 := testenv.RandTensor(r, batch, in)
	ctx := context.New()
	fn := func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return nn.MLPHeads(ctx.In("mlp"), x, hidden, heads, true)
	}
	out, err := context.MustNewExec(b, ctx, fn).Exec(x0)
	if err != nil {
		t.Fatal(err)
	}
	for j, o := range out {
		if got := o.Shape().Dimensions; got[0] != batch || got[1] != heads[j] {
			t.Fatalf("head %d shape %v, want [%d %d]", j, got, batch, heads[j])
		}
		for _, v := range testenv.Float64s(t, o) {
			if v != 0 {
				t.Fatalf("zero-initialised head %d output %v", j, v)
			}
		}
	}

	// Known values for every variable, read back by scope and name.
	vars := map[string][]float64{}
	count := 0
	for v := range ctx.IterVariables() {
		if v.Name() != "weights" && v.Name() != "bias" {
			continue // e.g. the context's RNG state, used by the He initializer
		}
		data := make([]float64, v.Shape().Size())
		for i := range data {
			data[i] = r.NormFloat64()
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(data, v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
		vars[v.Scope()+"/"+v.Name()] = data
		count++
	}
	if want := 2*len(hidden) + 2*len(heads); count != want {
		t.Fatalf("%d variables, want %d", count, want)
	}
	out, err = context.MustNewExec(b, ctx, fn).Exec(x0)
	if err != nil {
		t.Fatal(err)
	}
	dense := func(h [][]float64, scope string, width int) [][]float64 {
		w, bias := vars[scope+"/weights"], vars[scope+"/bias"]
		if w == nil || bias == nil {
			t.Fatalf("missing variables in scope %s (have %d)", scope, len(vars))
		}
		o := make([][]float64, len(h))
		for n := range h {
			o[n] = make([]float64, width)
			for k := range width {
				s := bias[k]
				for i := range h[n] {
					s += h[n][i] * w[i*width+k]
				}
				o[n][k] = s
			}
		}
		return o
	}
	xs := testenv.Float64s(t, x0)
	h := make([][]float64, batch)
	for n := range h {
		h[n] = xs[n*in : (n+1)*in]
	}
	for i, width := range hidden {
		h = dense(h, "/mlp/hidden_"+string(rune('0'+i)), width)
		for n := range h {
			for k, v := range h[n] {
				h[n][k] = v / (1 + math.Exp(-v)) // SiLU
			}
		}
	}
	for j, width := range heads {
		want := dense(h, "/mlp/head_"+string(rune('0'+j)), width)
		got := testenv.Float64s(t, out[j])
		for n := range batch {
			for k := range width {
				if d := math.Abs(got[n*width+k] - want[n][k]); d > 1e-12 {
					t.Fatalf("head %d [%d,%d] = %v, want %v", j, n, k, got[n*width+k], want[n][k])
				}
			}
		}
	}
}
