package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/model"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
)

// TestKLPathGradientVanishesAtTarget takes the flow's own density as the
// target (u = -log q, in internal coordinates): the reverse KL is then at
// its minimum, so the path-gradient estimator must give a zero gradient for
// every batch, while the total-gradient estimator still has its
// zero-mean score term. A frozen copy that differed from the weights, or a
// surrogate with a wrong term, would leave the path gradient non-zero.
func TestKLPathGradientVanishesAtTarget(t *testing.T) {
	cfg := tinyConfig(t, 1, 1)
	cfg.Stages[1].KLGradient = KLGradientPath
	tr := newTrainer(t, cfg, Options{})
	f := tr.flow
	if err := f.Perturb(0.3, 5); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncFrozen(); err != nil {
		t.Fatal(err)
	}
	const b = 64
	d := f.Dim()
	zb, err := f.SampleBase(rand.New(rand.NewPCG(3, 4)), b)
	if err != nil {
		t.Fatal(err)
	}
	// g = ∇_x u(x) = -∇_x log q(x) at the samples, as the host would pass it.
	fwd, err := gctx.NewExecAny(f.Backend(), f.Context(), func(ctx *gctx.Context, z *Node) *Node {
		x, _ := f.Forward(ctx, z)
		return x
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Finalize()
	gradU, err := gctx.NewExecAny(f.Backend(), f.Context(), func(ctx *gctx.Context, x *Node) *Node {
		return Gradient(Neg(ReduceAllSum(f.LogProb(ctx, x))), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gradU.Finalize()
	out, err := fwd.Exec(tensorF64(zb, b, d))
	if err != nil {
		t.Fatal(err)
	}
	out, err = gradU.Exec(out[0])
	if err != nil {
		t.Fatal(err)
	}
	g := floats(out[0])
	norms, err := gctx.NewExecAny(f.Backend(), f.Context(), func(ctx *gctx.Context, z, g *Node) []*Node {
		x, ldF := f.Forward(ctx, z)
		zero := ZerosLike(ldF)
		res := make([]*Node, 0, 3)
		for _, loss := range []*Node{
			KLPathSurrogate(x, g, f.Frozen().LogProb(ctx, x), zero),
			KLSurrogate(x, g, ldF),
		} {
			sq := ScalarZero(z.Graph(), z.DType())
			for _, gr := range ctx.BuildTrainableVariablesGradientsGraph(loss) {
				sq = Add(sq, ReduceAllSum(Square(gr)))
			}
			res = append(res, Sqrt(sq))
		}
		// The frozen copy's density must equal the live one's.
		res = append(res, ReduceAllMax(Abs(Sub(f.Frozen().LogProb(ctx, x), f.LogProb(ctx, x)))))
		return res
	})
	if err != nil {
		t.Fatal(err)
	}
	defer norms.Finalize()
	out, err = norms.Exec(tensorF64(zb, b, d), tensorF64(g, b, d))
	if err != nil {
		t.Fatal(err)
	}
	path, total, dlq := floats(out[0])[0], floats(out[1])[0], floats(out[2])[0]
	t.Logf("gradient norm at the target: path %.3g, total %.3g; frozen log q differs by %.3g", path, total, dlq)
	// The frozen copy runs the same graph on the same weights: identical.
	if dlq != 0 {
		t.Errorf("frozen log q differs from the flow's by %.3g, want exactly 0", dlq)
	}
	if !(total > 1e-3) {
		t.Fatalf("total-gradient estimator's norm %.3g: the test cannot tell the estimators apart", total)
	}
	// docs/status.md: exactly zero for every batch. g comes from the same
	// log-density graph as the surrogate's frozen term, so the two cancel
	// bit for bit.
	if path != 0 {
		t.Errorf("path gradient norm %.3g at the target (total estimator %.3g): want exactly 0", path, total)
	}
	for v := range f.Context().IterVariables() {
		if strings.HasPrefix(v.Scope(), model.FrozenScope) && v.Trainable {
			t.Errorf("frozen variable %s is trainable", v.ScopeAndName())
		}
	}
}

// TestPathGradientFollowsWeights trains with the path-gradient estimator
// and checks that the frozen copy still equals the weights afterwards, that
// no step was skipped, and that the model file holds no frozen variable.
func TestPathGradientFollowsWeights(t *testing.T) {
	cfg := tinyConfig(t, 2, 3)
	cfg.Stages[1].KLGradient = KLGradientPath
	tr := newTrainer(t, cfg, Options{})
	s, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Skipped != 0 {
		t.Errorf("%d steps skipped", s.Skipped)
	}
	snap := snapshot(t, tr.flow.Context())
	n := 0
	for k, v := range snap {
		if !strings.HasPrefix(k, model.RootScope+"/") {
			continue
		}
		fv, ok := snap[model.FrozenScope+strings.TrimPrefix(k, model.RootScope)]
		if !ok {
			t.Errorf("%s has no frozen copy", k)
			continue
		}
		for i := range v {
			if v[i] != fv[i] || math.IsNaN(v[i]) {
				t.Fatalf("%s[%d]: weight %.17g, frozen copy %.17g", k, i, v[i], fv[i])
			}
		}
		n++
	}
	if n == 0 {
		t.Fatal("no flow variables")
	}
	m, _, err := model.Load(filepath.Join(cfg.Output, ModelFile), tr.flow.Backend())
	if err != nil {
		t.Fatalf("model file: %v", err)
	}
	for v := range m.Context().IterVariables() {
		if strings.HasPrefix(v.Scope(), model.FrozenScope) {
			t.Errorf("model file holds frozen variable %s", v.ScopeAndName())
		}
	}
	t.Logf("%d variables: frozen copy equals the weights after %d steps; losses %v", n, s.Steps, s.Losses)
}
