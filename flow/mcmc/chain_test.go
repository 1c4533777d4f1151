package mcmc

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
)

// The test system: one particle on the x axis in the tilted double well
// U(x) = kT (h (x² - 1)² + a x), whose Boltzmann distribution is known by
// quadrature. Its dynamics is random-walk Metropolis in x, which leaves
// exp(-U/kT) exactly invariant but, with a barrier of h = 6 kT and small
// steps, hardly ever crosses it: the chain's flow moves must move the
// population between the wells, with the right ratio.
const (
	wellT    = 300.0
	wellH    = 6.0
	wellA    = 0.6 // tilt: the well at x = -1 is deeper
	wellStep = 0.15
)

func wellU(x float64) float64 {
	return energy.KT(wellT) * (wellH*(x*x-1)*(x*x-1) + wellA*x)
}

// wellDynamics is random-walk Metropolis on wellU, with its whole state
// (position, step, random state) in its checkpoints.
type wellDynamics struct {
	x    float64
	step int64
	pcg  *rand.PCG
	rng  *rand.Rand
}

func newWellDynamics(x float64, seed uint64) *wellDynamics {
	p := rand.NewPCG(seed, 1)
	return &wellDynamics{x: x, pcg: p, rng: rand.New(p)}
}

func (d *wellDynamics) state() State {
	return State{Step: d.step, Positions: []molecule.Vec3{{d.x, 0, 0}}, PotentialKJ: wellU(d.x)}
}

func (d *wellDynamics) Run(ctx context.Context, steps, interval int64, fn func(State) error) error {
	kT := energy.KT(wellT)
	for i := int64(1); i <= steps; i++ {
		y := d.x + wellStep*(2*d.rng.Float64()-1)
		if math.Log(1-d.rng.Float64()) < -(wellU(y)-wellU(d.x))/kT {
			d.x = y
		}
		d.step++
		if i%interval == 0 {
			if err := fn(d.state()); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

func (d *wellDynamics) State(context.Context) (State, error) { return d.state(), nil }

func (d *wellDynamics) Checkpoint(context.Context) ([]byte, error) {
	r, err := d.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.LittleEndian.AppendUint64(nil, math.Float64bits(d.x))
	b = binary.LittleEndian.AppendUint64(b, uint64(d.step))
	return append(b, r...), nil
}

func (d *wellDynamics) Restore(_ context.Context, b []byte) (State, error) {
	if len(b) < 16 {
		return State{}, errors.New("short checkpoint")
	}
	d.x = math.Float64frombits(binary.LittleEndian.Uint64(b))
	d.step = int64(binary.LittleEndian.Uint64(b[8:]))
	if err := d.pcg.UnmarshalBinary(b[16:]); err != nil {
		return State{}, err
	}
	return d.state(), nil
}

func (d *wellDynamics) SetPositions(_ context.Context, x []molecule.Vec3) (State, error) {
	d.x = x[0][0]
	return d.state(), nil
}

// SetVelocities has nothing to draw: the dynamics has no momenta.
func (d *wellDynamics) SetVelocities(context.Context, float64, int32) error { return nil }

// wellProposer proposes x from a two-Gaussian mixture that puts most
// weight on the shallower well (the wrong one), so that a chain that got
// the q(x)/q(x') factor wrong would be visibly biased.
type wellProposer struct{}

var wellMix = [2]struct{ w, mu, sigma float64 }{{0.3, -1, 0.25}, {0.7, 1, 0.25}}

func (wellProposer) logQ(x float64) float64 {
	var q float64
	for _, c := range wellMix {
		z := (x - c.mu) / c.sigma
		q += c.w * math.Exp(-z*z/2) / (c.sigma * math.Sqrt(2*math.Pi))
	}
	return math.Log(q)
}

func (p wellProposer) Sample(n int, seed uint64, pos, logQ []float64) error {
	rng := rand.New(rand.NewPCG(seed, 2))
	for i := range n {
		c := wellMix[0]
		if rng.Float64() >= c.w {
			c = wellMix[1]
		}
		x := c.mu + c.sigma*rng.NormFloat64()
		pos[3*i], pos[3*i+1], pos[3*i+2] = x, 0, 0
		logQ[i] = p.logQ(x)
	}
	return nil
}

func (p wellProposer) LogProb(n int, pos, logQ []float64) error {
	for i := range n {
		logQ[i] = p.logQ(pos[3*i])
	}
	return nil
}

// wellExact returns P(x > 0), E[x] and E[x²] under exp(-U/kT) (Simpson's
// rule on [-3, 3], where the density is below 1e-100 at the ends).
func wellExact() (pPos, mean, meanSq float64) {
	const n = 60000
	const lo, hi = -3.0, 3.0
	h := (hi - lo) / n
	var z, zp, zx, zxx float64
	for i := 0; i <= n; i++ {
		x := lo + float64(i)*h
		w := 2.0
		switch {
		case i == 0 || i == n:
			w = 1
		case i%2 == 1:
			w = 4
		}
		p := w * math.Exp(-wellU(x)/energy.KT(wellT))
		z += p
		zx += p * x
		zxx += p * x * x
		if x > 0 {
			zp += p
		}
	}
	return zp / z, zx / z, zxx / z
}

// TestChainStationary runs the chain on the double well and checks that
// P(x > 0), E[x] and E[x²] over its frames match the Boltzmann
// distribution's within 4.5 standard errors (batch means). The chain starts
// in the shallow well, which holds about 24% of the population.
func TestChainStationary(t *testing.T) {
	wantP, wantX, wantXX := wellExact()
	d := newWellDynamics(1, 7)
	var xs []float64
	const moves = 20000
	cfg := ChainConfig{Steps: 20 * moves, Every: 20, FrameEvery: 10, Temperature: wellT, Seed: 3, Batch: 64,
		OnFrame: func(_ int64, x []molecule.Vec3) error {
			xs = append(xs, x[0][0])
			return nil
		}}
	ch, err := NewChain(d, wellProposer{}, 1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.WarmUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ch.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ch.Step() != cfg.Steps || ch.Sampler().Moves() != moves-1 || len(xs) != int(cfg.Steps/cfg.FrameEvery) {
		t.Fatalf("step %d, %d moves, %d frames", ch.Step(), ch.Sampler().Moves(), len(xs))
	}
	rate := ch.Sampler().Rate()
	t.Logf("acceptance %.3f, mean acceptance probability %.3f", rate, ch.MeanAcceptanceProbability())
	if rate < 0.05 || rate > 0.95 {
		t.Errorf("acceptance %.3f: the test needs moves that both succeed and fail", rate)
	}
	for _, c := range []struct {
		name string
		f    func(x float64) float64
		want float64
	}{
		{"P(x > 0)", func(x float64) float64 { return b2f(x > 0) }, wantP},
		{"E[x]", func(x float64) float64 { return x }, wantX},
		{"E[x²]", func(x float64) float64 { return x * x }, wantXX},
	} {
		m, se := batchMeans(xs, 50, c.f)
		t.Logf("%s: chain %.5f ± %.5f, exact %.5f", c.name, m, se, c.want)
		if math.Abs(m-c.want) > 4.5*se || se > 0.02 {
			t.Errorf("%s: chain %.5f ± %.5f, exact %.5f (%.1f standard errors)", c.name, m, se, c.want, math.Abs(m-c.want)/se)
		}
	}
}

// TestChainRejectRestores checks that a rejected move leaves the dynamics
// as if no move had been tried: a chain whose every proposal is impossible
// (infinite energy) follows the plain dynamics frame for frame.
func TestChainRejectRestores(t *testing.T) {
	run := func(prop Proposer, every int64) []float64 {
		var xs []float64
		cfg := ChainConfig{Steps: 2000, Every: every, FrameEvery: 5, Temperature: wellT, Seed: 5, Batch: 8,
			OnFrame: func(_ int64, x []molecule.Vec3) error {
				xs = append(xs, x[0][0])
				return nil
			}}
		ch, err := NewChain(newWellDynamics(-1, 9), prop, 1, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if every > 0 && (ch.Sampler().Moves() == 0 || ch.Sampler().Accepted() != 0) {
			t.Fatalf("%d moves, %d accepted", ch.Sampler().Moves(), ch.Sampler().Accepted())
		}
		return xs
	}
	plain, moved := run(nil, 0), run(farProposer{}, 10)
	if len(plain) != len(moved) {
		t.Fatalf("%d frames with moves, %d without", len(moved), len(plain))
	}
	for i := range plain {
		if plain[i] != moved[i] {
			t.Fatalf("frame %d: %v with rejected moves, %v without", i, moved[i], plain[i])
		}
	}
}

// farProposer proposes x = 50, where U is about 3.7e7 kT: never accepted.
type farProposer struct{}

func (farProposer) Sample(n int, _ uint64, pos, logQ []float64) error {
	for i := range n {
		pos[3*i], logQ[i] = 50, 0
	}
	return nil
}

func (farProposer) LogProb(n int, _, logQ []float64) error {
	for i := range n {
		logQ[i] = 0
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// batchMeans is the mean of f over xs and its standard error from the
// means of k consecutive batches.
func batchMeans(xs []float64, k int, f func(float64) float64) (mean, se float64) {
	n := len(xs) / k
	means := make([]float64, k)
	for b := range k {
		for _, x := range xs[b*n : (b+1)*n] {
			means[b] += f(x)
		}
		means[b] /= float64(n)
		mean += means[b]
	}
	mean /= float64(k)
	var v float64
	for _, m := range means {
		v += (m - mean) * (m - mean)
	}
	return mean, math.Sqrt(v / float64(k-1) / float64(k))
}
