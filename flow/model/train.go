package model

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Trainer takes maximum-likelihood (NLL) steps with Adam on batches of a
// fixed size. The optimizer's state lives in the flow's context, outside
// RootScope (it is not saved with the model).
type Trainer struct {
	f     *Flow
	batch int
	exec  *context.Exec
}

// NewTrainer returns an NLL trainer with the given batch size and Adam
// learning rate.
func (f *Flow) NewTrainer(batch int, learningRate float64) (*Trainer, error) {
	if batch < 1 {
		return nil, fmt.Errorf("flow: batch size %d must be positive", batch)
	}
	if !(learningRate > 0) {
		return nil, fmt.Errorf("flow: learning rate %g must be positive", learningRate)
	}
	opt := optimizers.Adam().LearningRate(learningRate).Done()
	exec, err := context.NewExecAny(f.backend, f.ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		loss := f.NLL(ctx, x)
		opt.UpdateGraph(ctx, x.Graph(), loss)
		return loss
	})
	if err != nil {
		return nil, fmt.Errorf("flow: trainer: %w", err)
	}
	return &Trainer{f: f, batch: batch, exec: exec}, nil
}

// Step takes one step on x (exactly batch rows, [batch, D] row-major) and
// returns the batch's NLL before the step.
func (t *Trainer) Step(x []float64) (float64, error) {
	d := t.f.Dim()
	if len(x) != t.batch*d {
		return 0, fmt.Errorf("flow: training batch has %d values, want %d rows of %d", len(x), t.batch, d)
	}
	out, err := t.exec.Exec(t.f.tensor(x, t.batch, d))
	if err != nil {
		return 0, fmt.Errorf("flow: training step: %w", err)
	}
	loss := graphops.Float64s(out[0])[0]
	_ = out[0].FinalizeAll()
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("flow: training loss is %v", loss)
	}
	return loss, nil
}

// Close releases the compiled step.
func (t *Trainer) Close() { t.exec.Finalize() }
