package graphops

import (
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26.0 differentiates Dot and DotGeneral by broadcasting the
// incoming gradient against the other operand into a tensor of size
// (output × contracted) and reducing it: for an MLP layer [256,256]·[256,256]
// that is a 16.7M-element temporary per operand. BenchmarkMLPStep measured a
// 64-256-256-64 MLP step at batch 256 (float32, pure-Go backend) at 432 ms
// with those VJPs and 26 ms with ours. The gradient of a contraction is
// itself a contraction, so we register VJPs that call DotGeneral directly.

var (
	fixMatmulOnce sync.Once
	// originalDotVJP and originalDotGeneralVJP keep GoMLX's own VJPs: they
	// are the fallback when a node's parameters cannot be read (a future
	// GoMLX version), and the baseline in the benchmark.
	originalDotVJP, originalDotGeneralVJP graph.VJP
	matmulMu                              sync.Mutex
)

// FixMatmulGradients replaces GoMLX's VJPs for Dot and DotGeneral (and so
// for MatMul, Einsum and every dense layer) by contraction-based ones that
// cost as much as the forward product. It is idempotent and cheap, and the
// package's init calls it (through FixGradients). It edits the global
// graph.VJPRegistration map, so a program must not call it while another
// goroutine builds gradients; init time is safe.
func FixMatmulGradients() {
	fixMatmulOnce.Do(func() { setMatmulVJPs(true) })
}

// setMatmulVJPs installs the fast VJPs (fast=true) or restores GoMLX's own;
// the benchmark uses it to measure both on the same graph.
func setMatmulVJPs(fast bool) {
	matmulMu.Lock()
	defer matmulMu.Unlock()
	if originalDotVJP == nil {
		originalDotVJP = graph.VJPRegistration[graph.NodeTypeDot]
		originalDotGeneralVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
	}
	if fast {
		graph.VJPRegistration[graph.NodeTypeDot] = dotVJP
		graph.VJPRegistration[graph.NodeTypeDotGeneral] = dotGeneralVJP
	} else {
		graph.VJPRegistration[graph.NodeTypeDot] = originalDotVJP
		graph.VJPRegistration[graph.NodeTypeDotGeneral] = originalDotGeneralVJP
	}
}

// dotVJP handles the Dot node: lhs [..., k] · rhs [k, ...] with ranks 1 or
// 2, which is DotGeneral contracting lhs's last axis with rhs's first.
func dotVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	inputs := node.Inputs()
	if len(inputs) != 2 || len(vjpOutputs) != 1 {
		return originalDotVJP(node, vjpOutputs, outputShape)
	}
	lhs, rhs := inputs[0], inputs[1]
	gl, gr := contractionGrads(vjpOutputs[0], lhs, []int{lhs.Rank() - 1}, nil, rhs, []int{0}, nil)
	return []*graph.Node{gl, gr}
}

// dotGeneralVJP handles DotGeneral; its axes live in unexported fields of the
// node, which we read by reflection (reading, not writing, unexported fields
// is allowed). If that fails, GoMLX's own VJP is used.
func dotGeneralVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	inputs := node.Inputs()
	axes, err := dotGeneralAxes(node)
	if err != nil || len(inputs) != 2 || len(vjpOutputs) != 1 {
		return originalDotGeneralVJP(node, vjpOutputs, outputShape)
	}
	gl, gr := contractionGrads(vjpOutputs[0], inputs[0], axes[0], axes[1], inputs[1], axes[2], axes[3])
	return []*graph.Node{gl, gr}
}

// dotGeneralAxes returns lhsContracting, lhsBatch, rhsContracting, rhsBatch.
func dotGeneralAxes(node *graph.Node) ([4][]int, error) {
	var out [4][]int
	for i, name := range []string{"lhsContractingAxes", "lhsBatchAxes", "rhsContractingAxes", "rhsBatchAxes"} {
		v, err := intSliceParam(node, name)
		if err != nil {
			return out, err
		}
		out[i] = v
	}
	return out, nil
}

// intSliceParam reads the []int field name of a node's (unexported) inputs
// struct. Reading unexported fields through reflect is allowed; the fields
// are those of GoMLX v0.26.0's generated nodeInputs* types.
func intSliceParam(node *graph.Node, name string) ([]int, error) {
	v := reflect.ValueOf(node)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, fmt.Errorf("not a node")
	}
	in := v.Elem().FieldByName("inputs")
	if !in.IsValid() || in.Kind() != reflect.Interface || in.IsNil() {
		return nil, fmt.Errorf("node has no inputs field")
	}
	in = in.Elem()
	if in.Kind() == reflect.Pointer {
		in = in.Elem()
	}
	if in.Kind() != reflect.Struct {
		return nil, fmt.Errorf("inputs is %s, not a struct", in.Kind())
	}
	f := in.FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		return nil, fmt.Errorf("field %s missing or not []int", name)
	}
	out := make([]int, f.Len())
	for j := range out {
		out[j] = int(f.Index(j).Int())
	}
	return out, nil
}

// crossAxes lists, in increasing order, the axes of an operand of the given
// rank that are neither contracted nor batch axes.
func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

// seq returns [start, start+1, ..., start+n-1].
func seq(start, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = start + i
	}
	return s
}

// contractionGrads returns the gradients of sum(v ⊙ DotGeneral(lhs, lc, lb,
// rhs, rc, rb)) with respect to lhs and rhs. DotGeneral's output is laid out
// as [batch..., lhs cross..., rhs cross...], so
//
//	dlhs = DotGeneral(v, rhs) contracting v's rhs-cross axes with rhs's cross
//	       axes, batch with batch; the free axes that remain are rhs's
//	       contracted axes, which pair with lhs's contracted axes;
//	drhs = DotGeneral(lhs, v) symmetrically;
//
// each followed by a transpose back to the operand's axis order.
func contractionGrads(v, lhs *graph.Node, lc, lb []int, rhs *graph.Node, rc, rb []int) (*graph.Node, *graph.Node) {
	nb := len(lb)
	lx := crossAxes(lhs.Rank(), lc, lb)
	rx := crossAxes(rhs.Rank(), rc, rb)
	vBatch := seq(0, nb)
	vLhsCross := seq(nb, len(lx))
	vRhsCross := seq(nb+len(lx), len(rx))

	// Gradient for lhs: output [batch..., lx..., (rc sorted by rhs axis)...].
	gl := graph.DotGeneral(v, vRhsCross, vBatch, rhs, rx, rb)
	permL := make([]int, lhs.Rank())
	for i, a := range lb {
		permL[a] = i
	}
	for j, a := range lx {
		permL[a] = nb + j
	}
	rcSorted := slices.Clone(rc)
	slices.Sort(rcSorted)
	for k, ra := range rcSorted {
		permL[lc[slices.Index(rc, ra)]] = nb + len(lx) + k
	}
	gl = transposeIfNeeded(gl, permL)

	// Gradient for rhs: output [batch..., (lc sorted by lhs axis)..., rx...].
	gr := graph.DotGeneral(lhs, lx, lb, v, vLhsCross, vBatch)
	permR := make([]int, rhs.Rank())
	for i, a := range rb {
		permR[a] = i
	}
	lcSorted := slices.Clone(lc)
	slices.Sort(lcSorted)
	for k, la := range lcSorted {
		permR[rc[slices.Index(lc, la)]] = nb + k
	}
	for j, a := range rx {
		permR[a] = nb + len(lc) + j
	}
	gr = transposeIfNeeded(gr, permR)
	return gl, gr
}

// transposeIfNeeded returns TransposeAllAxes(x, perm...) (output axis i is
// input axis perm[i]) unless perm is the identity.
func transposeIfNeeded(x *graph.Node, perm []int) *graph.Node {
	for i, p := range perm {
		if i != p {
			return graph.TransposeAllAxes(x, perm...)
		}
	}
	return x
}
