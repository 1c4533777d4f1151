//go:build unix

package nativegraph

import (
	"fmt"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/internal/graphops"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkPairLayout compares two layouts of the Coulomb plus
// Lennard-Jones energy and its gradient (HP35, float64): the pair list of
// Build (each pair i < j once, positions gathered, gradients scattered) and
// a dense [B, N, N] layout (every ordered pair, parameters as N×N matrices
// with zeros on the diagonal and at exclusions, no gathers).
func BenchmarkPairLayout(b *testing.B) {
	ref := reference(b, "hp35", 1)
	e, err := New(ref.Sys, dtypes.Float64, testenv.Backend(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := e.p
	n := p.n
	qq := make([]float64, n*n)
	sig2 := make([]float64, n*n)
	eps4 := make([]float64, n*n)
	for k := range p.pairI {
		i, j := int(p.pairI[k]), int(p.pairJ[k])
		for _, ij := range [][2]int{{i, j}, {j, i}} {
			qq[ij[0]*n+ij[1]] = p.qq[k]
			sig2[ij[0]*n+ij[1]] = p.sig2[k]
			eps4[ij[0]*n+ij[1]] = p.eps4[k]
		}
	}
	frames := spreadFrames(b, filepathMD(b, "hp35")+"/traj.dcd", 8)
	flat := make([]float64, 0, len(frames)*n*3)
	for _, x := range frames {
		for _, v := range x {
			flat = append(flat, v[0], v[1], v[2])
		}
	}
	in := tensors.FromFlatDataAndDimensions(flat, len(frames), n, 3)
	nb := len(frames)
	layouts := map[string]func(x *graph.Node) *graph.Node{
		"pairlist": func(x *graph.Node) *graph.Node {
			bd := &builder{g: x.Graph(), dt: x.DType(), batch: nb, p: p}
			c := graphops.Unstack(graph.TransposeAllAxes(x, 2, 1, 0), 0)
			bd.pos = vec{c[0], c[1], c[2]}
			pi, pj := bd.indices(p.pairI), bd.indices(p.pairJ)
			d := sub(bd.gather(pi, true), bd.gather(pj, false))
			rinv := graph.Reciprocal(graph.Sqrt(dot(d, d)))
			s2 := graph.Mul(bd.perItem(p.sig2), graph.Mul(rinv, rinv))
			s6 := graph.Mul(graph.Mul(s2, s2), s2)
			lj := graph.Mul(bd.perItem(p.eps4), graph.Mul(s6, graph.Sub(s6, graph.OnesLike(s6))))
			return sumItems(graph.Add(lj, graph.Mul(bd.perItem(p.qq), rinv)))
		},
		"dense": func(x *graph.Node) *graph.Node {
			g := x.Graph()
			c := graphops.Unstack(graph.TransposeAllAxes(x, 2, 0, 1), 0) // [B, N] each
			var r2 *graph.Node
			for _, v := range c {
				a := graph.BroadcastToDims(graph.Reshape(v, nb, n, 1), nb, n, n)
				bb := graph.BroadcastToDims(graph.Reshape(v, nb, 1, n), nb, n, n)
				dv := graph.Sub(a, bb)
				if r2 == nil {
					r2 = graph.Mul(dv, dv)
				} else {
					r2 = graph.Add(r2, graph.Mul(dv, dv))
				}
			}
			mat := func(v []float64) *graph.Node {
				return graph.BroadcastPrefix(graph.Reshape(graph.Const(g, v), n, n), nb)
			}
			eye := make([]float64, n*n)
			for i := range n {
				eye[i*n+i] = 1
			}
			diag := graph.GreaterThan(mat(eye), graph.ScalarZero(g, dtypes.Float64))
			r2 = graph.Where(diag, graph.OnesLike(r2), r2) // double-Where: no 1/0 on the diagonal
			rinv := graph.Reciprocal(graph.Sqrt(r2))
			s2 := graph.Mul(mat(sig2), graph.Mul(rinv, rinv))
			s6 := graph.Mul(graph.Mul(s2, s2), s2)
			lj := graph.Mul(mat(eps4), graph.Mul(s6, graph.Sub(s6, graph.OnesLike(s6))))
			return graph.MulScalar(graph.ReduceSum(graph.Add(lj, graph.Mul(mat(qq), rinv)), 1, 2), 0.5)
		},
	}
	var energies [2][]float64
	for li, name := range []string{"pairlist", "dense"} {
		fn := layouts[name]
		b.Run(fmt.Sprintf("%s/B%d", name, nb), func(b *testing.B) {
			ex, err := graph.NewExec(e.backend, func(x *graph.Node) (*graph.Node, *graph.Node) {
				u := fn(x)
				return u, graph.Gradient(graph.ReduceAllSum(u), x)[0]
			})
			if err != nil {
				b.Fatal(err)
			}
			out := ex.MustExec(in)
			energies[li] = graphops.Float64s(out[0])
			b.ResetTimer()
			for range b.N {
				ex.MustExec(in)
			}
			b.ReportMetric(float64(nb*b.N)/b.Elapsed().Seconds(), "conf/s")
		})
	}
	if energies[0] != nil && energies[1] != nil {
		for k := range energies[0] {
			if d := energy.RelEnergyError(energies[1][k], energies[0][k]); d > 1e-12 {
				b.Errorf("frame %d: layouts disagree by %.3g", k, d)
			}
		}
	}
}
