// Package model holds gobg's normalizing-flow architectures over internal
// coordinates (Kim et al. 2024, "Scalable Normalizing Flows Enable
// Boltzmann Generators for Macromolecules"), their base distributions, the
// host-level executors that evaluate and sample them with fixed batch
// shapes, a maximum-likelihood trainer, consistency checks (inversion and
// log-determinant against autodiff), and the model file.
//
// # Architectures (Config.Arch)
//
//   - "nsf": the baseline neural spline flow. One channel of
//     rational-quadratic spline couplings (flow/spline.Coupling) with MLP
//     conditioners; masks alternate (see couplingMask) so that every
//     coordinate is transformed and every pair of coordinates is split by
//     some layer.
//   - "split-gau": the split-channel flow. In the generative direction, a
//     stack of backbone couplings (conditioned only on backbone
//     coordinates), then a stack of side-chain couplings conditioned on the
//     transformed backbone and the other side-chain coordinates, so that
//     q(x) = q(backbone) q(side chains | backbone). Conditioners are gated
//     attention units over one token per residue (see gauCoupling).
//   - "split-mlp": the same split structure with MLP conditioners (the
//     architecture ablation).
//
// A fresh flow's couplings are the identity (zero-initialised output
// heads). The flow's input is described by a Layout (circular or interval
// dimensions, channel, residue token), independent of how it was built;
// LayoutFromSpec makes one from an internal-coordinate spec (flow/ic).
//
// # Base distributions
//
// Circular dimensions: uniform, or von Mises with per-dimension location
// and concentration (fixed or trainable); log I0 is computed in-graph by
// its power series below κ = 20 and its asymptotic expansion above (both
// within 1e-14 relative of the exact value; see LogI0). Interval
// dimensions: standard normal truncated to the preimage of [-1, 1] under
// the act-norm layer (see Flow). Samples are drawn on the host with a
// seeded PCG generator: von Mises by Best and Fisher's rejection method,
// truncated normals by inverse CDF.
//
// # Executors and checks
//
// Flow's graph functions (Forward, Inverse, LogProb, NLL, SampleGraph,
// BaseLogProb) take the executor's context; Runner, Trainer and
// StructureSampler run them on the host with one fixed batch size, padding
// the last partial batch, so each compiles once. Check measures inversion
// errors and compares the log-determinant with autodiff: the full D×D
// Jacobian (one reverse pass per row) for small D, and for large D a
// per-layer check that uses the triangular structure of coupling layers
// (one reverse pass per layer gives every diagonal entry).
//
// # Model file
//
// Save writes one gzip-compressed tar archive (see file.go for the exact
// entries): manifest.json (format version, configuration, layout, dtype,
// the internal-coordinate definition, the variable index and, where
// known, the temperature the model was trained at: SaveWithInfo,
// LoadWithInfo),
// topology.pdb (the structure the Z-matrix is rebuilt from), and
// weights.bin (the variables' raw little-endian values, whose SHA-256 the
// manifest records). Load rebuilds the flow and the spec without training
// data and checks the rebuilt Z-matrix against the stored one.
package model
