// Package ic turns protein structures into the internal coordinates that
// gobg's normalizing flows model, and back: a Z-matrix built from the bond
// graph, coordinate classes and the reduced representation of Kim et al.
// (bond lengths and side-chain angles fixed), a float64 CPU reference
// transform, and a batched, differentiable GoMLX transform (float32 or
// float64) with the log-determinant of its Jacobian.
//
// # Z-matrix rules (NewZMatrix)
//
// Input: a topology whose bonds are set (molecule.ReadPDB does this from
// residue templates), made of chains of the standard amino acids (and their
// Amber protonation variants HID/HIE/HIP, CYX/CYM, ASH, GLH, LYN), optionally
// capped by ACE (first) and NME (last), with all hydrogens.
//
// Placement order (deterministic for a given topology):
//
//  1. Backbone, chain by chain. N, CA, C of the first amino acid of the
//     first chain are the global frame: the first at the origin, the second
//     on +x, the third in the xy-plane (y > 0). Then N, CA, C of each
//     following residue (N, C of NME), then the ACE cap backwards (C from N,
//     CH3 from C). The first N of a later chain hangs from C of the previous
//     chain's last amino acid through a non-bond; the six coordinates this
//     creates are class ClassInterChain and always free.
//  2. Remaining heavy atoms, residue by residue: the side chain breadth-first
//     from CA through side-chain atoms only, children in the order of the
//     residue table (CB, CG, CG1 before CG2, OG1 before CG2, ND1 before CD2,
//     ...), so that a ring is always entered from CA: CD of PRO hangs from
//     CG and its bond to N is a ring closure, and aromatic rings close at
//     their last atom (ring-closure bonds are not Z-matrix bonds). Then the
//     carbonyl O (and OXT), ACE O, from their placed neighbours.
//  3. Hydrogens, on the heavy atom they are bonded to, following the
//     placement order of the heavy atoms, in name order among siblings.
//
// References of an atom i placed from its bond partner b:
//   - angle reference a: the atom b was placed from (b's own bond partner);
//     for the frame's first atom, and for the first atom of a later chain,
//     a placed heavy neighbour of b instead;
//   - torsion reference t: if a sibling of i (another atom bonded to b,
//     other than a) is already placed, the first such sibling, heavy atoms
//     first: an improper torsion (Entry.Improper). Otherwise a placed
//     neighbour of a other than b (heavy first, earliest placed): a proper
//     torsion. This way each rotatable group is described once, by the
//     proper torsion of its first child (chi1 = N-CA-CB-CG, a methyl's
//     first H), and its other members sit at nearly constant improper
//     offsets from it, so the coordinates are not strongly correlated. CB
//     and HA are placed by impropers against C, the amide H against CA,
//     and the carbonyl O against N(i+1); the backbone itself gets the
//     proper dihedrals phi, psi and omega.
//
// Every atom is placed exactly once. Layers: the frame atoms are layers 0,
// 1, 2; every other atom is 1 + the largest layer of its three references,
// so all atoms of a layer can be placed together (about three layers per
// residue along the backbone: 111 for HP35, 173 for protein G).
//
// Errors, never a silent wrong Z-matrix: unknown residue names, missing
// heavy atoms (a truncated side chain), a chain without the C(i)-N(i+1)
// bond (missing residues or a gap: the PDB reader adds the bond only when
// the atoms are close), residues without hydrogens, caps inside a chain,
// atoms that no bond reaches. Each message names the residue
// (Residue.String) and the atom.
//
// # Coordinates and classes
//
// A Z-matrix of N atoms has D = 3N-6 coordinates, laid out as the bonds of
// entries 1..N-1, the angles of entries 2..N-1, then the torsions of
// entries 3..N-1 (ZMatrix.BondIndex, AngleIndex, TorsionIndex). Bonds are
// in nm, angles in radians on [0, pi], torsions in radians on [-pi, pi).
// Torsion angle of entry (i, b, a, t) is the IUPAC dihedral t-a-b-i.
//
// Classes (Coord.Class): ClassBond; ClassBackboneAngle, an angle whose three
// atoms are heavy backbone atoms (N, CA, C, O, OXT and the heavy atoms of
// ACE/NME): N-CA-C, CA-C-N, C-N-CA, CA-C-O; ClassSideChainAngle, every other
// angle, including those of backbone hydrogens (H, HA, N-terminal H1-H3) and
// of CB; ClassBackboneTorsion, a torsion of four heavy backbone atoms (phi,
// psi, omega, the carbonyl O improper); ClassSideChainTorsion, every other
// torsion (chi, ring, rotor, improper: CB, hydrogens); ClassInterChain.
// Names read like "PHI ALA 2", "CHI1 LEU 3", "ROT HB1 ALA 2", "IMP HA ALA 2",
// "ANGLE N-CA-C ALA 2".
//
// Modes: Reduced (the default for proteins) fixes all bonds and side-chain
// angles at reference values (means over the fitting frames) and leaves
// backbone angles, all torsions and inter-chain coordinates free; Full
// leaves everything free. Backbone hydrogens count as side chain: their
// angles are fixed in Reduced mode; the paper keeps backbone bond angles
// free, which this follows for the heavy-atom backbone.
//
// # Normalisation and log-determinant
//
// The flow sees the free coordinates as a vector z: torsions unchanged
// (circular on [-pi, pi)), bonds and angles mapped affinely onto [-1, 1]
// from an interval fitted to the data (see Spec.Fit). Optionally
// (Spec.FitTorsionWindows) torsions that stay near their mean, such as
// peptide bonds and impropers, are unwrapped around it and mapped onto
// [-1, 1] from a fitted window like angles. ToCartesian returns
// log|dx/dz| = the normalisation's constant log-determinant plus, for each
// free coordinate, the log length of its Jacobian column on its own atom:
// 1 for a bond, r for an angle, r sin(theta) for a torsion (r, theta: the
// bond and angle of that atom; the angle of the third frame atom counts as
// an angle, the second atom's bond as a bond). The NeRF Jacobian is block
// triangular in placement order and each atom's three columns are
// orthogonal, so in Full mode this is exactly log|det J| of the map to the
// 3N-6 canonical-frame coordinates (r^2 sin(theta) per atom, r for the third
// frame atom, 1 for the second). In Reduced mode it is that same
// determinant with the fixed coordinates at their values, up to a
// constant: the density factor for which exp(-u(x(z)) + logDet) is the
// marginal of the free coordinates when the fixed ones are stiff (as in
// unconstrained MD). It is not the Gram volume sqrt(det(J^T J)) of the
// reduced manifold, which depends on every downstream atom (measured on 20
// HP35 MD frames: the two differ by 248.6 to 251.9 nats, so not by a
// constant); see GramLogDet for that factor (optionally mass-weighted),
// which matters for ensembles with rigid constraints.
//
// # Transforms
//
// ZMatrix.Internal and ZMatrix.Cartesian are the float64 CPU reference
// (NeRF placement; CanonicalFrame gives the frame Cartesian builds in);
// Spec.ToInternal, Spec.ToCartesian and Spec.Reconstruct add the reduction
// and the normalisation. Transform is the same map as GoMLX graph code
// (float32 or float64, batched, differentiable): Internal, ToInternal,
// ToCartesian. The graph builders panic on wrong shapes, as GoMLX ops do;
// graph.Exec turns the panic into an error. Atan2 is a graph atan2 for the
// pure-Go backend, which has none.
//
// # Other tools
//
// Superpose (Kabsch) and Spec.ReductionCost measure what the reduction does
// to a structure (RMSD of the reduced reconstruction after superposition;
// the reconstruction is returned for energy evaluations). Build makes a
// peptide of any sequence of the 20 amino acids with ideal amber99sb-ildn
// geometry (tables generated from OpenMM's force-field file by
// gen/amber_tables.py) at given phi and psi.
package ic
