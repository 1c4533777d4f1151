package generator

import (
	"context"
	"fmt"

	"github.com/gobg/gobg/energy/molecule"
)

// SampleStructures draws n structures as [n][atoms] positions with their
// log q(x), in calls of Sample of at most batch structures, the call
// starting at structure k seeded seed + k: the same seed and batch give the
// same structures, and seeds that differ by less than batch give
// independent sets. progress, if not nil, is called with the number drawn
// after each call.
func (g *Generator) SampleStructures(ctx context.Context, n, batch int, seed uint64, progress func(done int)) ([][]molecule.Vec3, []float64, error) {
	if n < 0 || batch < 1 {
		// A batch of 0 would never finish.
		return nil, nil, fmt.Errorf("draw %d samples in batches of %d: want n >= 0 and a batch of at least 1", n, batch)
	}
	na := g.NumAtoms()
	xs, logQ := make([][]molecule.Vec3, n), make([]float64, n)
	pos := make([]float64, batch*na*3)
	for done := 0; done < n; {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		k := min(batch, n-done)
		if err := g.Sample(k, seed+uint64(done), pos[:k*na*3], logQ[done:done+k]); err != nil {
			return nil, nil, err
		}
		for i := range k {
			x := make([]molecule.Vec3, na)
			for a := range x {
				o := (i*na + a) * 3
				x[a] = molecule.Vec3{pos[o], pos[o+1], pos[o+2]}
			}
			xs[done+i] = x
		}
		done += k
		if progress != nil {
			progress(done)
		}
	}
	return xs, logQ, nil
}

// NLL is -mean log q(x) of structures in the generator's atom order: the
// test negative log-likelihood of MD frames, in nats per structure.
func (g *Generator) NLL(frames [][]molecule.Vec3) (float64, error) {
	n, na := len(frames), g.NumAtoms()
	if n == 0 {
		return 0, fmt.Errorf("NLL of no structures")
	}
	pos := make([]float64, 0, n*na*3)
	for i, x := range frames {
		if len(x) != na {
			return 0, fmt.Errorf("structure %d has %d atoms, the model %d", i, len(x), na)
		}
		for _, p := range x {
			pos = append(pos, p[0], p[1], p[2])
		}
	}
	lq := make([]float64, n)
	if err := g.LogProb(n, pos, lq); err != nil {
		return 0, err
	}
	var sum float64
	for _, v := range lq {
		sum += v
	}
	return -sum / float64(n), nil
}
