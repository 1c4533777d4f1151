//go:build !(goexperiment.simd && amd64)

package native

// Without GOEXPERIMENT=simd on amd64 there are no vector kernels: the
// portable loops run everywhere.

const simdAvailable = false

type vecTables struct{}

type simdScratch struct{}

func clearUpper() {}

func newSIMDScratch(n int) simdScratch { return simdScratch{} }

func newVecTables(yMax float64) *vecTables { return nil }

func (g *gbsa) bornSumsSIMD(w *workspace)       { g.bornSums(w) }
func (g *gbsa) bornForcePairsSIMD(w *workspace) { g.bornForcePairs(w) }
func (e *Energy) fusedSIMD(w *workspace) (enb, egb float64) {
	return e.fusedScalar(w, 0, 0)
}
