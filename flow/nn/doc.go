// Package nn holds the GoMLX helpers that the normalizing flow builds on:
//
//   - NewBackend: backend selection that avoids the pure-Go backend's
//     deadlock on small machines and never triggers XLA plugin downloads;
//   - FixGradients (run by the package's init): matmul gradients that cost
//     as much as the forward product (GoMLX v0.26.0's materialise a full
//     broadcast tensor) and Slice gradients that work without the Pad op,
//     which the pure-Go backend lacks;
//   - differentiable helpers that avoid ops without gradients there:
//     CumSum, GatherSlice, GatherAxis, Unstack, MatMulAxis;
//   - Dense, SiLU and MLPHeads for the flow's conditioners.
//
// The measurements behind each workaround are in docs/gomlx-findings.md and
// in this package's tests and benchmarks.
package nn
