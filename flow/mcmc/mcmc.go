// Package mcmc holds the bookkeeping of Markov chains that mix molecular
// dynamics with Metropolis-Hastings independence moves proposed by a
// Boltzmann generator (gobg mcmc), and the estimator of integrated
// autocorrelation times that measures what the moves buy.
//
// An independence move proposes x' from the generator's density q, whatever
// the current state x, and accepts it with probability
//
//	min(1, exp(-(U(x') - U(x))/kT) * q(x)/q(x'))
//
// which leaves the Boltzmann distribution exp(-U/kT) invariant when q is a
// density on the same space, with respect to the same measure, as the
// Boltzmann density: a full-mode flow, whose density is over Cartesian
// space up to rigid motion, with unconstrained MD. A reduced-mode flow or
// constrained MD would pair densities on different manifolds, and the moves
// would not leave the simulated ensemble invariant (docs/flow-md.md).
// Everything here works with logarithms, so that energies of 1e10 kJ/mol or
// log-densities of -1e6 neither overflow nor underflow; a NaN anywhere
// rejects the move.
//
// The package is pure Go and knows nothing of OpenMM or the flow: callers
// hand it numbers.
package mcmc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// LogAcceptance returns the logarithm of the Metropolis-Hastings ratio of an
// independence move from x to x':
//
//	-(uProposal - uCurrent)/kT + logQCurrent - logQProposal
//
// with energies in the unit of kT (kJ/mol with energy.KT). The energies are
// divided by kT before they are subtracted, so no intermediate overflows
// for finite reduced energies. The result may be ±Inf (a proposal of
// infinite energy gives -Inf, which rejects it); it is NaN, which also
// rejects, when any input is NaN, kT is not positive and finite, or two
// infinities cancel (+Inf energy and +Inf log-density ratio).
func LogAcceptance(uCurrent, uProposal, logQCurrent, logQProposal, kT float64) float64 {
	if !(kT > 0) || math.IsInf(kT, 0) {
		return math.NaN()
	}
	if math.IsNaN(uCurrent) || math.IsNaN(uProposal) || math.IsNaN(logQCurrent) || math.IsNaN(logQProposal) {
		return math.NaN()
	}
	// -(u' - u) + (lq - lq'), each difference of reduced quantities; a
	// sum of +Inf and -Inf is NaN, which Accept rejects.
	return (uCurrent/kT - uProposal/kT) + (logQCurrent - logQProposal)
}

// AcceptanceProbability is min(1, exp(logA)); 0 for NaN.
func AcceptanceProbability(logA float64) float64 {
	switch {
	case math.IsNaN(logA):
		return 0
	case logA >= 0:
		return 1
	default:
		return math.Exp(logA)
	}
}

// Accept decides a move of log acceptance logA with the uniform variate u in
// (0, 1]: accepted when log u < logA, i.e. with probability min(1,
// exp(logA)). NaN is always rejected, logA >= 0 always accepted, logA = -Inf
// never. (u excludes 0, whose log -Inf would accept any finite logA, even
// that of a proposal with an energy of 1e10 kJ/mol.)
func Accept(logA, u float64) bool {
	if math.IsNaN(logA) {
		return false
	}
	if logA >= 0 {
		return true
	}
	return math.Log(u) < logA
}

// Move is one Metropolis-Hastings decision with the numbers behind it.
type Move struct {
	UCurrent, UProposal       float64 // energies (kJ/mol)
	LogQCurrent, LogQProposal float64 // log q of x and x'
	LogAcceptance             float64
	Accepted                  bool
}

// Sampler decides independence moves and counts them. Its random numbers
// come from its own seeded generator, one uniform variate per move whatever
// the outcome, so a chain's decisions are reproducible from its seed.
type Sampler struct {
	kT       float64
	rng      *rand.Rand
	moves    int
	accepted int
}

// NewSampler returns a sampler at thermal energy kT (same unit as the
// energies it is given) whose uniform variates are seeded by seed.
func NewSampler(kT float64, seed uint64) (*Sampler, error) {
	if !(kT > 0) || math.IsInf(kT, 0) {
		return nil, fmt.Errorf("mcmc: kT %v must be positive and finite", kT)
	}
	// The second PCG word keeps this stream apart from other users of the
	// same seed (the flow's sampler, the MD's velocities).
	return &Sampler{kT: kT, rng: rand.New(rand.NewPCG(seed, 0x6d636d632d6d6f76))}, nil
}

// KT is the sampler's thermal energy.
func (s *Sampler) KT() float64 { return s.kT }

// Decide makes the move from x (energy uCurrent, log-density logQCurrent)
// to the proposal x' and records its outcome.
func (s *Sampler) Decide(uCurrent, uProposal, logQCurrent, logQProposal float64) Move {
	m := Move{UCurrent: uCurrent, UProposal: uProposal, LogQCurrent: logQCurrent, LogQProposal: logQProposal}
	m.LogAcceptance = LogAcceptance(uCurrent, uProposal, logQCurrent, logQProposal, s.kT)
	m.Accepted = Accept(m.LogAcceptance, 1-s.rng.Float64()) // in (0, 1]
	s.moves++
	if m.Accepted {
		s.accepted++
	}
	return m
}

// Moves is the number of moves decided so far.
func (s *Sampler) Moves() int { return s.moves }

// Accepted is the number of accepted moves so far.
func (s *Sampler) Accepted() int { return s.accepted }

// Rate is the fraction of moves accepted (0 before the first move).
func (s *Sampler) Rate() float64 {
	if s.moves == 0 {
		return 0
	}
	return float64(s.accepted) / float64(s.moves)
}

// MovesCSVHeader is the header of a table of moves, one AppendCSV row per
// move.
const MovesCSVHeader = "move,step,accepted,u_current_kj_mol,u_proposal_kj_mol,logq_current,logq_proposal,log_acceptance"

// AppendCSV appends move k's row (made at step) of a MovesCSVHeader table,
// with every float in the shortest form that reads back exactly.
func (m Move) AppendCSV(line []byte, k int, step int64) []byte {
	acc := int64(0)
	if m.Accepted {
		acc = 1
	}
	line = strconv.AppendInt(line, int64(k), 10)
	line = strconv.AppendInt(append(line, ','), step, 10)
	line = strconv.AppendInt(append(line, ','), acc, 10)
	for _, v := range []float64{m.UCurrent, m.UProposal, m.LogQCurrent, m.LogQProposal, m.LogAcceptance} {
		line = strconv.AppendFloat(append(line, ','), v, 'g', 17, 64)
	}
	return append(line, '\n')
}

// StuckWarning explains a chain that accepted no move, given log q(x) -
// log q(x') of its moves (Chain.LogQDrops): when the dynamics' states have
// far less density under the proposer than its own samples (median below
// -50 nats over at least 10 moves), the usual cause is a generator trained
// on constrained MD, whose density of unconstrained MD's fluctuating bonds
// to hydrogen is vanishingly small. "" when there is nothing to explain.
func StuckWarning(dLogQ []float64, accepted int) string {
	if len(dLogQ) < 10 || accepted > 0 {
		return ""
	}
	d := slices.Clone(dLogQ)
	slices.Sort(d)
	med := d[len(d)/2]
	if med >= -50 {
		return ""
	}
	return fmt.Sprintf("no move accepted, and the median of log q(x) - log q(x') is %.4g: the generator gives the MD's "+
		"states far less density than its own samples. Was it trained on constrained MD (bonds to hydrogen fixed)? "+
		"Moves in unconstrained MD need a full-mode generator trained on unconstrained frames (gobg simulate --constraints None).", med)
}
