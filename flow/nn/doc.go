// Package nn holds the GoMLX helpers that the normalizing flow builds on:
//
//   - NewBackend: backend selection (XLA through a PJRT plugin found in
//     the project's Python environment, else the pure-Go backend configured
//     against its deadlock on small machines), never triggering XLA plugin
//     downloads; SetThreads for the CPU threads they use;
//   - FixGradients (run by the package's init): matmul gradients that cost
//     as much as the forward product (GoMLX v0.26.0's materialise a full
//     broadcast tensor) and Slice gradients that work without the Pad op,
//     which the pure-Go backend lacks;
//   - differentiable helpers that avoid ops without gradients there:
//     CumSum, GatherSlice, GatherAxis, Unstack, MatMulAxis;
//   - Dense, SiLU and MLPHeads for the flow's conditioners.
//
// The measurements behind each workaround are in docs/gomlx-findings.md and
// in this package's tests and benchmarks; docs/backends.md describes the
// backends.
package nn
