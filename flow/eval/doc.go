// Package eval measures how well a Boltzmann generator's samples follow the
// Boltzmann distribution p(x) ∝ exp(-U(x)/kT) of a protein, against MD of
// the same system: the metrics of Kim et al. (distance distortion ΔD, the
// mean of the lower half of sample energies, C-alpha RMSF, energy
// histograms) and those their reviewers missed (effective sample size,
// reweighted free energies, clash rates, energy quantiles). Evaluate
// gathers everything into a Report (JSON-ready); WritePlots draws it.
//
// The package takes plain data: a topology, positions in nm, energies in
// kJ/mol, log q(x) of the flow, a temperature in K. It does not know the
// flow model or how it was trained.
//
// # Importance weights
//
// log w = -U/kT - log q(x), normalised by log-sum-exp; Kish's effective
// sample size is (Σw)²/Σw², reported also as a fraction of all samples
// drawn. Samples whose energy or log q is not finite get weight 0 and are
// counted. The weights are only meaningful when q is a density on the same
// space, with respect to the same measure, as exp(-u): Cartesian space up to
// rigid motion for a flow whose internal coordinates are all free (log q
// then includes the log-Jacobian of the internal-to-Cartesian map), the
// reduced coordinates for a reduced flow (fixed bond lengths and side-chain
// angles), whose weights target the Boltzmann marginal on that constrained
// manifold. See LogWeights.
//
// # Energies
//
// Quantiles (5, 25, 50, 75, 95 %) of sample and MD energies, interpolated
// as numpy.percentile does, with non-finite energies ranked above every
// finite one; the mean of the lower half of the sample energies; the
// fraction of non-finite energies; and the importance-weighted mean energy,
// which must agree with MD's mean when the weights are right.
//
// # Clashes
//
// A clash is a pair of heavy (non-hydrogen) atoms closer than
// ClashFactor (default 0.7) times the sum of their Bondi van der Waals
// radii (C 0.170, N 0.155, O 0.152, S 0.180 nm), except pairs that are
// bonded (1-2) or bonded to a common atom (1-3): their distances are set by
// bond lengths and angles, not by contact. 1-4 pairs are checked: with
// ideal bond lengths and angles even an eclipsed C-C-C-C has its ends about
// 0.255 nm apart, above the 0.238 nm threshold of two carbons, so a 1-4
// pair below the threshold means distorted angles, a defect worth counting.
// The factor 0.7 leaves room for every contact of real structures, and
// still catches atoms that interpenetrate by 30 % of their radii (two Amber
// aliphatic carbons there have a Lennard-Jones energy above 100 kJ/mol).
// In the reference MD trajectories (ala2, HP35, protein G) no frame comes
// below it: the smallest ratio of distance to radius sum over all checked
// pairs is 0.77-0.79 (1-4 pairs across aromatic rings and the peptide bond),
// and 0.78 over pairs further apart (short O-H...O hydrogen bonds); see
// TestMDHasNoClashes.
// Hydrogens are left out because their positions are the least reliable
// part of a generated structure and their radii the least well defined. A
// conformation with a non-finite position counts as clashing (and is
// counted separately).
//
// # Backbone geometry
//
// ΔD is the mean absolute difference between the mean C-alpha distance
// matrices of samples and MD over the upper triangle (nm); for a dipeptide,
// which has one C-alpha, the backbone atoms N, CA, C of every residue
// (caps included) stand in (see BackboneAtoms). RMSF is per selected atom
// after Kabsch superposition on the same atoms: align to the first frame,
// average, realign to the average, a few times. Both have reweighted
// versions.
//
// # Free energies of a dipeptide
//
// phi = C(i-1)-N-CA-C and psi = N-CA-C-N(i+1) of one residue, histogrammed
// on [-pi, pi) into equal bins; F = -log p in kT, minimum 0. Profiles of MD,
// raw samples and reweighted samples; the RMSE of a profile against MD is
// taken over the bins where MD has at least MinCount frames, after
// removing the mean difference (free energies are defined up to a
// constant), and bins where the profile is empty are counted instead. 2-D
// Ramachandran surfaces likewise.
package eval
