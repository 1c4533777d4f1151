// Package train trains gobg's Boltzmann generators with the staged
// schedule of Kim et al. (2024): maximum likelihood (NLL) on MD frames,
// then NLL plus a 2-Wasserstein term on backbone distances, then NLL plus
// the energy-based reverse KL divergence (with and without W2).
//
// # Losses (all per batch of B samples)
//
//   - NLL: -mean log p(x) of MD frames x, in Cartesian terms: the flow's
//     log-density of the frames' free internal coordinates z plus
//     log|dz/dx| of the internal-coordinate map (ic.Spec.ToInternal). The
//     frames' z and log|dz/dx| are computed once on the host; the second
//     term does not depend on the weights, so it changes the value
//     reported, not the gradient.
//   - W2: the mean over backbone atom pairs of the squared 1-D
//     2-Wasserstein distance between the distribution of that pair's
//     distance in B flow samples and in B MD frames (nm²), computed
//     exactly from sorted samples: W2²_p = mean_k (a_(k) - b_(k))². The
//     flow samples are sorted on the host (argsort) and the graph gathers
//     its own distances in that order, so the gradient flows through the
//     sorted flow values (sorting is piecewise a permutation). Why not the
//     Gaussian closed form: it needs a matrix square root (no
//     eigendecomposition on GoMLX's pure-Go backend), and distance
//     marginals of flexible proteins are often multimodal, which a
//     Gaussian fit cannot see. Backbone atoms are the C-alpha atoms when
//     there are at least 4, else every N, CA and C (dipeptides).
//   - KL: the reverse KL divergence up to log Z, E_z[f(u(x)) + log q(x)]
//     with x = T(F(z)) (flow F, internal-to-Cartesian map T), u = U/kT and
//     f the lin-log cut (energy.LinLogCut). Energies and forces come from
//     an energy.Energy on the host for a first, forward-only pass over the
//     base samples; the training graph then recomputes x and uses the
//     surrogate sum_b sum_i stop_gradient(-F_bi/kT · f'(u_b))·x_bi - log|det
//     ∂x/∂z|, whose gradient is that of the KL. The base samples are not
//     reparameterised (von Mises rejection sampling), so the KL gradient
//     does not reach the base distribution's parameters; they learn from
//     the NLL term, which every stage of the schedule keeps.
//   - KL with kl_gradient "path" (per stage): the same loss with the
//     path-gradient estimator. The surrogate is sum_b sum_i
//     stop_gradient(-F_bi/kT · f'(u_b))·x_bi + log q'(x_b), where q' is the
//     flow's density evaluated with a frozen copy of the weights
//     (model.FrozenScope, kept equal to the weights by every Adam update),
//     so its gradient reaches the weights only through the samples x. It
//     drops the score term E[∇θ log q(x)] at fixed x, which has mean zero
//     but a variance that stays large as q approaches p; at q = p the
//     estimator is exactly zero for every batch (the tests check this). It
//     costs one more (inverse) pass per step.
//   - FKL (weight fkl): the forward KL divergence KL(p‖q) estimated on the
//     flow's own samples, which need no MD data: with log-weights log w_b
//     = -f(u_b) - log q(x_b) and self-normalised weights wbar = softmax(log
//     w), the surrogate is -Σ_b stop(wbar_b) log q(x_b), with log q
//     re-evaluated by an inverse pass on the (constant) samples. Its
//     gradient pushes q up where the weights are large, which is where
//     importance sampling loses its effective sample size; reverse KL,
//     mode-seeking, barely sees those regions. The logged value is
//     log B minus the entropy of wbar, the self-normalised estimate of
//     KL(p‖q) (0 when every weight is equal). It is biased for small
//     effective sample sizes, so it belongs after the flow is close to p
//     (after NLL and KL).
//   - LogVar (weight logvar): the batch variance of the log importance
//     weights log w_b = -f(u_b) - log q(x_b) of the flow's own samples,
//     the log-variance loss of Richter et al. (2020). It is zero only when
//     q = p, and for log-normal weights the Kish effective sample size is
//     about exp(-var), so this term aims at the evaluation metric itself;
//     the reverse KL is about var/2 there and weighs every sample alike,
//     while this gradient, 2/B Σ_b (f_b - mean f)·∇f_b, weighs each sample
//     by how far its weight is from the batch's. The host computes the
//     factors 2(f_b - mean f)/B, and the graph differentiates the per-sample
//     reverse-KL surrogate (forces and log-det, as for kl "total") weighted
//     by them. There is no path form: the score term of a variance does not
//     have mean zero.
//   - ESS (weight ess): minus the log of the batch's Kish effective sample
//     size fraction, log B + log Σ_b w_b² - 2 log Σ_b w_b, an estimate of
//     the α = 2 (Rényi) divergence of p from q, log E_q[(p/q)²]. The
//     evaluation reports the Kish ESS, and near convergence its loss is
//     set by a few samples with the largest weights, which the log
//     variance weighs like any other sample whose weight is as far from
//     the mean. Its gradient is Σ_b 2(s1_b - s2_b)∇f_b with s1 =
//     softmax(log w) and s2 = softmax(2 log w): the host computes the
//     factors, and the graph shares the log-variance surrogate (the two
//     terms' weights are folded into one factor per sample). It is
//     positive weight only on the samples whose weight exceeds the
//     batch's w²-weighted mean, so it acts on the tail that sets the ESS;
//     the estimate is noisy when a batch's ESS is small, so it belongs,
//     like fkl, at the end of training.
//
// A sample without a finite energy makes the KL non-finite, and the step
// is skipped; so is a step whose total loss or gradient norm is not finite
// (checked in the graph). A skipped step changes neither the weights nor
// the optimizer's state.
//
// # Optimiser
//
// Adam (β = 0.9, 0.999, ε = 1e-8) with global-norm gradient clipping, as
// graph code written here rather than GoMLX's optimizers.Adam: every
// variable update (weights, both moments, the step count) is guarded by
// Where(step is finite, new, old), which GoMLX's Adam cannot do (it would
// still decay its moments on a zeroed gradient). The tests check it
// against optimizers.Adam step by step.
//
// # Precision
//
// The flow trains in Config.DType, float32 by default (as PyTorch peers
// do; faster on XLA) or float64: the weights, Adam's moments and the
// flow's graphs are in that dtype. What must stay exact stays float64:
// the step graph converts per-sample log-densities and surrogates to
// float64 before it reduces them over the batch, the gradient norm is
// summed and Adam's bias corrections computed in float64, and the host
// keeps energies, forces (sent to the graph in the flow's dtype),
// log-weights and the logged losses in float64.
//
// # Determinism and checkpoints
//
// All randomness of step s (the base samples) comes from a PCG generator
// seeded with (seed, s), and the MD batches from a per-epoch permutation
// seeded with (seed, epoch) read at a data cursor; so the state to save is
// the step, the cursor and the variables. Checkpoints (see checkpoint.go)
// hold every variable of the flow's context (weights and Adam moments and
// step), the stage index and step within it, the global step, the data
// cursor, the skip counts, the stage summaries so far and the dtype; a
// checkpoint resumes only in its own dtype. They are written
// to a temporary file, synced and renamed over the previous one, so a
// crash leaves the last complete checkpoint. Resuming rebuilds the flow
// from the same data and configuration and loads the variables; the run
// then continues bit for bit as if it had not stopped.
package train
