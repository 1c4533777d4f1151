//go:build !amd64 || purego

package native

// Without amd64 (or with the purego tag) there are no vector kernels: the
// portable loops run everywhere.

const avx512Available = false

func avx512NotRun() string {
	return "the kernels are amd64 assembly, left out of this build (another GOARCH or the purego tag)"
}

type avxEnergy struct{}

type avxScratch struct{}

func newAVXEnergy(*Energy) *avxEnergy { return nil }

func newAVXScratch(*Energy) *avxScratch { return nil }

func (s *avxScratch) load(*workspace) {}

func (g *gbsa) bornSumsAVX(w *workspace)                   { g.bornSums(w) }
func (g *gbsa) bornForcePairsAVX(w *workspace)             { g.bornForcePairs(w) }
func (e *Energy) fusedAVX(w *workspace) (enb, egb float64) { return e.fusedScalar(w, 0, 0) }
