// Package graphops holds the GoMLX graph operations and gradient fixes that
// both the energy side (energy/native/graph) and the flow side (flow/...)
// build on, so that neither has to import the other:
//
//   - FixGradients (run by the package's init): matmul gradients that cost
//     as much as the forward product (GoMLX v0.26.0's materialise a full
//     broadcast tensor) and Slice gradients that work without the Pad op,
//     which the pure-Go backend lacks;
//   - differentiable helpers that avoid ops without gradients there:
//     CumSum, GatherSlice, GatherAxis, Unstack, MatMulAxis, and Atan2, which
//     the pure-Go backend lacks altogether;
//   - Float64s, how host code reads a graph's float results.
//
// Backend selection and the flow's layers stay in flow/nn. The measurements
// behind each workaround are in docs/gomlx-findings.md and in this package's
// tests and benchmarks.
package graphops
