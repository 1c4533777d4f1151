package train

import (
	"fmt"

	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AdamScope holds the optimizer's variables: the moments of trainable
// variable v under AdamScope+"/m"+v.Scope() and "/v"+v.Scope() with v's
// name, and the step count as AdamScope/step.
const AdamScope = "/train/adam"

// Adam hyperparameters (the usual ones).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// terms says which loss terms a step graph contains, and whether its KL
// term uses the path-gradient estimator.
type terms struct{ nll, w2, kl, path, fkl, lv bool }

func (t terms) key() string {
	return fmt.Sprintf("nll=%v,w2=%v,kl=%v,path=%v,fkl=%v,lv=%v", t.nll, t.w2, t.kl, t.path, t.fkl, t.lv)
}

// forces says whether the step needs the energy gradient of flow samples.
func (t terms) forces() bool { return t.kl || t.lv }

func termsOf(s Stage) terms {
	w := s.Weights
	return terms{nll: w.NLL != 0, w2: w.W2 != 0, kl: w.KL != 0, path: w.KL != 0 && s.KLGradient == KLGradientPath, fkl: w.FKL != 0, lv: w.LogVar != 0 || w.ESS != 0}
}

// stepOutputs are the step graph's outputs, in order.
const (
	outTotal = iota // graph loss (KL as its surrogate)
	outNLL          // -mean log q(z) of the MD batch (no ic log-det)
	outW2
	outKLSurrogate
	outFKLSurrogate
	outLogVarSurrogate
	outGradNorm // before clipping
	outOK       // 1 if the update was applied
	numOutputs
)

// pairIndex lists the atom pairs (positions into the backbone list) in
// PairDistances order.
func pairIndex(nb int) (ia, ib []int) {
	for a := range nb {
		for b := a + 1; b < nb; b++ {
			ia = append(ia, a)
			ib = append(ib, b)
		}
	}
	return ia, ib
}

// DistancesGraph returns the backbone pair distances [B, P] of positions
// x [B, N, 3], pairs in PairDistances order.
func DistancesGraph(x *Node, backbone []int) *Node {
	xb := graphops.GatherAxis(x, 1, backbone)
	ia, ib := pairIndex(len(backbone))
	diff := Sub(graphops.GatherAxis(xb, 1, ia), graphops.GatherAxis(xb, 1, ib))
	return Sqrt(ReduceSum(Square(diff), -1))
}

// f64 converts x to float64: the losses are reduced in float64 whatever
// the flow's dtype (a no-op for a float64 flow), which costs one
// conversion of a per-sample or per-element array.
func f64(x *Node) *Node { return ConvertDType(x, dtypes.Float64) }

// nllGraph is the mean negative log-likelihood of the batch x, the batch
// mean taken in float64.
func nllGraph(ctx *context.Context, f *model.Flow, x *Node) *Node {
	return Neg(ReduceAllMean(f64(f.LogProb(ctx, x))))
}

// W2Graph is the W2 term: d [B, P] are the flow's distances, order [P·B]
// (int32) holds, for each pair p, the flat indices p·B + k of its samples
// in increasing order of distance (host argsort), and ref [P, B] the MD
// distances sorted per pair (float64). The result, in float64, is mean_p
// mean_k (d_(k) - ref_k)².
func W2Graph(d, order, ref *Node) *Node {
	b, p := d.Shape().Dimensions[0], d.Shape().Dimensions[1]
	flat := Reshape(Transpose(d, 0, 1), p*b)
	sorted := Reshape(Gather(flat, Reshape(order, p*b, 1)), p, b)
	return ReduceAllMean(Square(Sub(f64(sorted), ref)))
}

// sampleSurrogate is the per-sample surrogate Σ stop(g_b)·x_b - logDet_b
// [B] of positions x [B, N, 3]: its gradient is that of f(u_b) - logDet_b,
// with g = -F/kT · f'(u) the gradient of the regularised reduced energy
// with respect to x (computed on the host, in x's dtype). The KL and
// log-variance surrogates weigh it. It is summed in float64.
func sampleSurrogate(x, g, logDet *Node) *Node {
	b := x.Shape().Dimensions[0]
	return Sub(ReduceSum(Reshape(f64(Mul(StopGradient(g), x)), b, -1), -1), f64(logDet))
}

// KLSurrogate is the reverse-KL surrogate: the batch mean of
// sampleSurrogate with logDet = log|det ∂x/∂z| of the whole map. Its
// gradient is that of E[f(u(x)) - log|det ∂x/∂z|].
func KLSurrogate(x, g, logDet *Node) *Node {
	return ReduceAllMean(sampleSurrogate(x, g, logDet))
}

// KLPathSurrogate is the path-gradient form of the reverse-KL surrogate:
// the batch mean of sampleSurrogate with -logDet = logQFrozen - ldT, where
// logQFrozen is the flow's log-density of the internal coordinates the
// positions x were built from, evaluated by the frozen copy of the weights
// (so differentiable only through the sample), and ldT = log|det ∂x/∂ic|
// of the map to Cartesian positions. Its gradient is E[∇_x(f(u) + log
// q(x)) · ∂x/∂θ], the reverse KL's gradient without the score term.
func KLPathSurrogate(x, g, logQFrozen, ldT *Node) *Node {
	return ReduceAllMean(sampleSurrogate(x, g, Sub(f64(ldT), f64(logQFrozen))))
}

// FKLSurrogate is the importance-weighted forward-KL surrogate
// -Σ_b stop(wbar_b) · logQ_b, where logQ is the flow's log-density of its
// own (constant) samples and wbar (float64) their self-normalised
// importance weights p/q. Its gradient is the self-normalised estimate of
// ∇ KL(p‖q) = -E_p[∇ log q].
func FKLSurrogate(logQ, wbar *Node) *Node {
	return Neg(ReduceAllSum(Mul(StopGradient(wbar), f64(logQ))))
}

// LogVarSurrogate is the log-variance surrogate Σ_b stop(v_b)·s_b, where
// s_b is sampleSurrogate (its gradient is that of f_b = f(u_b) + log
// q(x_b) at fixed base sample) and v_b = 2(f_b - mean f)/B (float64) is
// computed on the host. Its gradient is that of the batch variance of f,
// that is of log w = -f. This is the total derivative: unlike the KL, the
// variance's score term does not have mean zero, so there is no
// path-gradient form.
//
// The ESS term uses the same surrogate with the factors of essWeights.
func LogVarSurrogate(x, g, logDet, v *Node) *Node {
	return ReduceAllSum(Mul(StopGradient(v), sampleSurrogate(x, g, logDet)))
}

// sampleGraph maps base samples to Cartesian positions and their log q(x)
// (the density of positions on the map's image, float64), and returns the
// internal coordinates too (for the forward-KL term).
func sampleGraph(f *model.Flow, tr *ic.Transform) func(ctx *context.Context, z *Node) []*Node {
	return func(ctx *context.Context, z *Node) []*Node {
		x, logQ := f.SampleGraph(ctx, z)
		pos, ldT := tr.ToCartesian(x)
		return []*Node{pos, Sub(f64(logQ), f64(ldT)), x}
	}
}

// stepGraph builds one training step for the given terms. Inputs: lr,
// w_nll, w_w2, w_kl, w_fkl, clip (float64 scalars), then zData [B, D]
// (nll), zBase [B, D] (w2, kl or lv), order [P·B] (int32) and ref [P, B]
// (w2), g [B, N, 3] (kl or lv), v [B] (lv: the log-variance and ESS
// factors, their weights folded in on the host), xSamples [B, D] and wbar
// [B] (fkl). zData, zBase, g and xSamples are in the flow's dtype, the
// others float64; the losses and the outputs are float64.
func stepGraph(f *model.Flow, tr *ic.Transform, backbone []int, t terms) func(ctx *context.Context, in []*Node) []*Node {
	return func(ctx *context.Context, in []*Node) []*Node {
		g := in[0].Graph()
		lr, wN, wW, wK, wF, clip := in[0], in[1], in[2], in[3], in[4], in[5]
		in = in[6:]
		zero := ScalarZero(g, dtypes.Float64)
		total, nll, w2, sur, fsur, vsur := zero, zero, zero, zero, zero, zero
		if t.nll {
			nll = nllGraph(ctx, f, in[0])
			total = Add(total, Mul(wN, nll))
			in = in[1:]
		}
		if t.w2 || t.forces() {
			x, ldF := f.Forward(ctx, in[0])
			pos, ldT := tr.ToCartesian(x)
			in = in[1:]
			if t.w2 {
				w2 = W2Graph(DistancesGraph(pos, backbone), in[0], in[1])
				total = Add(total, Mul(wW, w2))
				in = in[2:]
			}
			if t.forces() {
				grad := in[0]
				in = in[1:]
				if t.kl {
					if t.path {
						sur = KLPathSurrogate(pos, grad, f.Frozen().LogProb(ctx, x), ldT)
					} else {
						sur = KLSurrogate(pos, grad, Add(f64(ldF), f64(ldT)))
					}
					total = Add(total, Mul(wK, sur))
				}
				if t.lv {
					vsur = LogVarSurrogate(pos, grad, Add(f64(ldF), f64(ldT)), in[0])
					total = Add(total, vsur)
					in = in[1:]
				}
			}
		}
		if t.fkl {
			fsur = FKLSurrogate(f.LogProb(ctx, in[0]), in[1])
			total = Add(total, Mul(wF, fsur))
		}
		gnorm, ok := adamUpdate(ctx, total, lr, clip)
		return []*Node{total, nll, w2, sur, fsur, vsur, gnorm, ConvertDType(ok, dtypes.Float64)}
	}
}

// adamUpdate adds the guarded Adam update of every trainable variable the
// loss uses: gradients clipped to global norm clip (when clip > 0), and
// nothing changed unless the loss and the gradient norm are finite. The
// loss, lr and clip are float64; the gradient norm and the bias
// corrections are computed in float64, and each variable's moments and
// update in its own dtype, as GoMLX's and PyTorch's Adam keep them.
func adamUpdate(ctx *context.Context, loss, lr, clip *Node) (gnorm, ok *Node) {
	g := loss.Graph()
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	if len(grads) != len(vars) {
		panic(fmt.Errorf("train: %d gradients for %d trainable variables", len(grads), len(vars)))
	}
	sq := ScalarZero(g, dtypes.Float64)
	for _, gr := range grads {
		sq = Add(sq, ReduceAllSum(Square(f64(gr))))
	}
	gnorm = Sqrt(sq)
	ok = LogicalAnd(IsFinite(loss), IsFinite(gnorm))
	one := ScalarOne(g, dtypes.Float64)
	// scale = min(1, clip/gnorm) when clip > 0 and gnorm > 0.
	safe := Where(GreaterThan(gnorm, ScalarZero(g, dtypes.Float64)), gnorm, one)
	scale := Where(GreaterThan(clip, ScalarZero(g, dtypes.Float64)), Min(one, Div(clip, safe)), one)
	actx := ctx.InAbsPath(AdamScope).Checked(false)
	stepVar := actx.VariableWithValue("step", 0.0).SetTrainable(false)
	step := stepVar.ValueGraph(g)
	newStep := Add(step, one)
	b1 := Scalar(g, dtypes.Float64, adamBeta1)
	b2 := Scalar(g, dtypes.Float64, adamBeta2)
	debias1 := Reciprocal(OneMinus(Pow(b1, newStep)))
	debias2 := Reciprocal(OneMinus(Pow(b2, newStep)))
	// The float64 scalars in each variable's dtype (the same nodes for a
	// float64 variable).
	type scalars struct{ scale, lr, b1, b2, debias1, debias2 *Node }
	byDType := map[dtypes.DType]scalars{}
	for i, v := range vars {
		dt := v.DType()
		c, have := byDType[dt]
		if !have {
			c = scalars{ConvertDType(scale, dt), ConvertDType(lr, dt), ConvertDType(b1, dt), ConvertDType(b2, dt), ConvertDType(debias1, dt), ConvertDType(debias2, dt)}
			byDType[dt] = c
		}
		gr := Mul(grads[i], c.scale)
		mVar := actx.InAbsPath(AdamScope+"/m"+v.Scope()).Checked(false).VariableWithValue(v.Name(), zerosLike(v)).SetTrainable(false)
		vVar := actx.InAbsPath(AdamScope+"/v"+v.Scope()).Checked(false).VariableWithValue(v.Name(), zerosLike(v)).SetTrainable(false)
		m, s := mVar.ValueGraph(g), vVar.ValueGraph(g)
		m2 := Add(Mul(c.b1, m), Mul(OneMinus(c.b1), gr))
		s2 := Add(Mul(c.b2, s), Mul(OneMinus(c.b2), Square(gr)))
		w := v.ValueGraph(g)
		upd := Div(Mul(c.lr, Mul(m2, c.debias1)), AddScalar(Sqrt(Mul(s2, c.debias2)), adamEps))
		w2 := Sub(w, upd)
		mVar.SetValueGraph(Where(ok, m2, m))
		vVar.SetValueGraph(Where(ok, s2, s))
		nw := Where(ok, w2, w)
		v.SetValueGraph(nw)
		// The frozen copy (path gradients) follows the weights step by step.
		if fv := model.FrozenOf(ctx, v); fv != nil {
			fv.SetValueGraph(nw)
		}
	}
	stepVar.SetValueGraph(Where(ok, newStep, step))
	return gnorm, ok
}

func zerosLike(v *context.Variable) any {
	return tensorsZeros(v.DType(), v.Shape().Dimensions)
}
