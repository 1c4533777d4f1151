// Package nn holds the GoMLX helpers that the normalizing flow builds on:
//
//   - NewBackend: backend selection (XLA through a PJRT plugin found in
//     the project's Python environment, else the pure-Go backend configured
//     against its deadlock on small machines), never triggering XLA plugin
//     downloads; SetThreads for the CPU threads they use;
//   - Dense, SiLU and MLPHeads for the flow's conditioners.
//
// The graph operations and gradient fixes that the flows share with the
// graph energy (energy/native/graph) live below both, in internal/graphops;
// importing nn installs the gradient fixes too. docs/backends.md describes
// the backends.
package nn
