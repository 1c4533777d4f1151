package train

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
)

// batchAxis names the one axis of the device mesh: data parallelism splits
// the batch over it.
const batchAxis = "batch"

// numDevices is the number of devices the step graphs run on (Config.Devices,
// 0 meaning 1).
func (c Config) numDevices() int { return max(c.Devices, 1) }

// batchInputs says, for each input of the step graph of tm (stepGraph's
// order), whether its first axis is the batch. Those are split over the
// devices; the rest (the scalars, and the W2 term's sort order and sorted
// reference, which mix the whole batch) are replicated. Any choice gives
// the same result, since XLA's partitioner inserts whatever communication
// the graph needs; this one keeps the per-sample work on the device that
// holds the sample.
func batchInputs(tm terms) []bool {
	in := []bool{false, false, false, false, false, false} // lr, w_nll, w_w2, w_kl, w_fkl, clip
	if tm.nll {
		in = append(in, true) // zData
	}
	if tm.w2 || tm.forces() {
		in = append(in, true) // zBase
		if tm.w2 {
			in = append(in, false, false) // order, ref
		}
		if tm.forces() {
			in = append(in, true) // g
			if tm.lv {
				in = append(in, true) // v
			}
		}
	}
	if tm.fkl {
		in = append(in, true, true) // xSamples, wbar
	}
	return in
}

// dataParallel holds the sharding of the step graphs on several devices:
// the batch split over the mesh's devices, the variables (weights and
// optimizer state) replicated on every one. XLA's Shardy partitioner
// (GoMLX's AutoSharding) turns the graph into one program per device and
// adds the all-reduce of the gradients.
type dataParallel struct {
	mesh       *distributed.DeviceMesh
	replicated *distributed.ShardingSpec
	split      *distributed.ShardingSpec
}

func newDataParallel(devices int) (*dataParallel, error) {
	mesh, err := distributed.NewDeviceMesh([]int{devices}, []string{batchAxis})
	if err != nil {
		return nil, fmt.Errorf("train: device mesh of %d devices: %w", devices, err)
	}
	split, err := distributed.NewShardingSpec(mesh, distributed.AxisSpec{batchAxis})
	if err != nil {
		return nil, fmt.Errorf("train: batch sharding: %w", err)
	}
	return &dataParallel{mesh: mesh, replicated: distributed.NewReplicatedShardingSpec(mesh), split: split}, nil
}

// configure makes e a data-parallel executor of the step graph of tm.
// Every output is replicated: the new values of the variables, which must
// stay whole on every device, and the scalar losses.
func (p *dataParallel) configure(e *gctx.Exec, tm terms) {
	specs := make([]*distributed.ShardingSpec, 0, 16)
	for _, b := range batchInputs(tm) {
		if b {
			specs = append(specs, p.split)
		} else {
			specs = append(specs, p.replicated)
		}
	}
	e.AutoSharding(p.mesh).WithInputShardingSpecs(specs...).WithOutputShardingSpecs(p.replicated)
}

// exec runs a data-parallel step executor on host tensors: it splits (or
// replicates) each argument over the devices and returns the first
// device's outputs, releasing the other devices' copies.
func (p *dataParallel) exec(e *gctx.Exec, tm terms, args []any) ([]*tensors.Tensor, error) {
	sharded := batchInputs(tm)
	if len(sharded) != len(args) {
		return nil, fmt.Errorf("train: %d step inputs, the sharding lists %d", len(args), len(sharded))
	}
	dargs := make([]any, len(args))
	for i, a := range args {
		t, ok := a.(*tensors.Tensor)
		if !ok {
			return nil, fmt.Errorf("train: step input %d is a %T, not a tensor", i, a)
		}
		spec := p.replicated
		if sharded[i] {
			spec = p.split
		}
		d, err := distributed.ShardTensor(spec, t)
		if err != nil {
			return nil, fmt.Errorf("train: shard step input %d %s over %d devices: %w", i, t.Shape(), p.mesh.NumDevices(), err)
		}
		dargs[i] = d
	}
	out, err := e.Exec(dargs...)
	if err != nil {
		return nil, err
	}
	per := len(out) / p.mesh.NumDevices()
	for _, o := range out[per:] {
		_ = o.FinalizeAll()
	}
	return out[:per], nil
}
