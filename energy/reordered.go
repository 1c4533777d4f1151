package energy

import (
	"context"
	"fmt"

	"github.com/gobg/gobg/energy/molecule"
)

// Reordered evaluates structures given in a reference topology's atom order
// with an Energy whose system lists the same atoms in another order: Match
// pairs the reference's atoms with those of E's system (Match.Order[i] is the
// index in E's system of reference atom i). Forces come back in the
// reference's order.
type Reordered struct {
	E     Energy
	Match *molecule.AtomMatch
}

// NumAtoms is the number of atoms of E's system.
func (r Reordered) NumAtoms() int { return r.E.NumAtoms() }

// Evaluate reorders the positions into E's order, evaluates them, and
// reorders the forces back.
func (r Reordered) Evaluate(ctx context.Context, positions [][]molecule.Vec3, wantForces bool) (Result, error) {
	n := len(r.Match.Order)
	in := make([][]molecule.Vec3, len(positions))
	for b, x := range positions {
		if len(x) != n {
			return Result{}, fmt.Errorf("conformation %d has %d positions, want %d", b, len(x), n)
		}
		in[b] = make([]molecule.Vec3, n)
		r.Match.FromRef(in[b], x)
	}
	res, err := r.E.Evaluate(ctx, in, wantForces)
	if err != nil {
		return res, err
	}
	for b, f := range res.Forces {
		if len(f) == n {
			out := make([]molecule.Vec3, n)
			r.Match.ToRef(out, f)
			res.Forces[b] = out
		}
	}
	return res, nil
}
