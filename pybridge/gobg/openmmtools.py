"""Boltzmann generators as openmmtools MCMC moves.

FlowMCMCMove is gobg.openmm.FlowMove for openmmtools (0.27): an MCMCMove that
proposes an independent structure x' from a trained generator and accepts it
with the Metropolis-Hastings probability

    min(1, exp(-(u(x') - u(x))) * q(x) / q(x'))

where u is the reduced potential of the ThermodynamicState it is applied in
and q the generator's density. openmmtools' own MetropolizedMove cannot do
this: its rule min(1, exp(-(u(x') - u(x)))) is that of a symmetric proposal,
and a flow's proposal is not symmetric (without the q ratio the chain would
sample exp(-u) q). The acceptance rule is the one FlowMove uses
(gobg.openmm.metropolis_hastings).

It composes like any openmmtools move: after Langevin dynamics in a
SequenceMove, the dynamics moves within a basin and the flow jumps between
basins, and both leave the Boltzmann distribution invariant.

    import gobg, gobg.openmmtools
    from openmmtools import cache, mcmc, states
    gen = gobg.load("examples/ala2/model.gobg")
    system = forcefield.createSystem(topology, nonbondedMethod=app.NoCutoff, constraints=None)
    thermo = states.ThermodynamicState(system, 300 * unit.kelvin)
    flow = gobg.openmmtools.FlowMCMCMove(gen, topology=topology, seed=1)
    move = mcmc.SequenceMove([mcmc.LangevinDynamicsMove(timestep=2 * unit.femtosecond,
                                                        collision_rate=1 / unit.picosecond, n_steps=250),
                              flow])
    sampler = mcmc.MCMCSampler(thermo, states.SamplerState(positions), move)
    sampler.run(1000)
    print(flow.n_proposed, flow.n_accepted, flow.acceptance_rate)

The same conditions as FlowMove hold, for the same reasons (see
gobg.openmm): a full-mode generator, and a System without constraints,
periodic boundaries or virtual sites; anything else is refused with a
GobgError when the move is first applied.
"""

import os
import warnings

import numpy as np
from openmm import app, unit
from openmmtools import mcmc

from .generator import load
from .openmm import ProposalPool, check_generator, check_system, check_topology, metropolis_hastings


class FlowMCMCMove(mcmc.MCMCMove):
    """Metropolis-Hastings independence moves from a generator, as an
    openmmtools MCMCMove.

    Args:
        generator: a gobg.Generator (gobg.load) for the System's molecule, in
            full internal coordinates.
        topology: optional openmm.app.Topology of the System's atoms: they are
            paired with the generator's by identity (Generator.atom_order: any
            order and naming convention; the first structure the move sees
            decides the pairing of hydrogen groups). Without it the System's
            atoms must be in the generator's order (that of generator.topology).
        batch: proposals drawn from the flow at a time.
        seed: seeds the proposals, the acceptance draws and the velocities of
            accepted moves (None: random).

    apply() uses the ThermodynamicState's reduced potential, so the temperature
    is the state's; a UserWarning says when that is not the temperature the
    generator was trained at, once per temperature. On acceptance the
    SamplerState takes the proposal's positions and velocities drawn at the
    state's temperature (with them the move also leaves the Maxwell-Boltzmann
    distribution of velocities invariant); on rejection it is left untouched.

    Counters: n_proposed, n_accepted (also as `statistics`, as openmmtools'
    moves report them), acceptance_rate, last_log_acceptance.

    Serialisation (openmmtools.utils.serialize, which the multistate samplers
    use to store their moves) keeps the model file's path, the generator's
    symmetrize and defensive settings, the atom pairing, the counters and the
    state of the random streams: a deserialised move reloads the model and
    continues the same sequence of proposals and draws.
    """

    def __init__(self, generator, topology=None, batch=256, seed=None):
        super().__init__()
        check_generator(generator)
        self.generator = generator
        self.topology = topology
        self.batch = int(batch)
        self.seed = int(seed) if seed is not None else int(np.random.randint(0, 2**62))
        self._rng = np.random.default_rng(self.seed)
        self._proposals = ProposalPool(generator, self.batch, self.seed)
        self._order = None  # generator's atom i is the System's atom _order[i]; None: the same order
        self._paired = topology is None
        self._checked = None
        self._warned = set()
        self.n_proposed = 0
        self.n_accepted = 0
        self.last_log_acceptance = float("nan")

    @property
    def acceptance_rate(self):
        return self.n_accepted / self.n_proposed if self.n_proposed else float("nan")

    @property
    def statistics(self):
        """The acceptance counts as a dictionary, as MetropolizedMove has them."""
        return dict(n_accepted=self.n_accepted, n_proposed=self.n_proposed)

    @statistics.setter
    def statistics(self, value):
        self.n_accepted = int(value["n_accepted"])
        self.n_proposed = int(value["n_proposed"])

    def apply(self, thermodynamic_state, sampler_state, context_cache=None):
        """Makes one move: proposes a structure and accepts or rejects it.

        Args:
            thermodynamic_state: openmmtools.states.ThermodynamicState; its
                reduced potential (and so its temperature) is the one the
                rule uses.
            sampler_state: openmmtools.states.SamplerState; on acceptance its
                positions, velocities and energies become the proposal's.
            context_cache: openmmtools.cache.ContextCache (None: the global
                one); any Context of the state serves, so the one the dynamics
                uses is reused.

        Returns True if the proposal was accepted."""
        cache = self._get_context_cache(context_cache)
        context, _ = cache.get_context(thermodynamic_state)
        sampler_state.apply_to_context(context, ignore_velocities=True)
        x = np.asarray(sampler_state.positions.value_in_unit(unit.nanometer), dtype=np.float64)
        self._check(context, x, thermodynamic_state.temperature.value_in_unit(unit.kelvin))

        u = thermodynamic_state.reduced_potential(context)
        lq = self.generator.log_prob(x if self._order is None else x[self._order])
        xp, lqp = self._proposals.next()
        if self._order is not None:
            xs = np.empty_like(xp)
            xs[self._order] = xp
            xp = xs
        context.setPositions(xp)
        up = thermodynamic_state.reduced_potential(context)
        accept, log_a = metropolis_hastings(up - u, lq, lqp, self._rng)
        self.n_proposed += 1
        self.last_log_acceptance = log_a
        if accept:
            self.n_accepted += 1
            context.setVelocitiesToTemperature(thermodynamic_state.temperature,
                                               int(self._rng.integers(1, 2**31 - 1)))
            sampler_state.update_from_context(context)
        # On rejection the Context keeps the proposal: openmmtools' moves set a
        # cached Context's positions from their SamplerState before using it.
        return accept

    def _check(self, context, x, temperature):
        if self._checked is not context:
            check_system(context.getSystem(), self.generator)
            self._checked = context
        if not self._paired:
            order = check_topology(self.topology, self.generator, x)
            self._order = None if np.array_equal(order, np.arange(len(order))) else order
            self._paired = True
        if temperature not in self._warned:
            self._warned.add(temperature)
            w = self.generator.temperature_warning(temperature)
            if w:
                warnings.warn(w, UserWarning, stacklevel=3)

    def __getstate__(self):
        g = self.generator
        state = dict(
            model=os.path.abspath(g.path),
            symmetrize=int(g.symmetrized["images"]) if g.symmetrized else 0,
            defensive=dict(g.defensive) if g.defensive else None,
            batch=self.batch, seed=self.seed,
            proposals=list(self._proposals.position()),
            rng=self._rng.bit_generator.state,
            paired=self._paired,
            order=None if self._order is None else [int(i) for i in self._order],
            topology_pdb=None,
            warned=sorted(self._warned),
            last_log_acceptance=self.last_log_acceptance,
        )
        if not self._paired:
            # Unpaired yet: the topology travels as PDB text (names, residues,
            # elements), which is all the pairing reads from it.
            import io

            text = io.StringIO()
            app.PDBFile.writeFile(self.topology, np.zeros((self.topology.getNumAtoms(), 3)), text)
            state["topology_pdb"] = text.getvalue()
        state.update(self.statistics)
        return state

    def __setstate__(self, state):
        gen = load(state["model"])
        if state["symmetrize"]:
            gen.set_symmetrize(state["symmetrize"])
        if state["defensive"]:
            d = state["defensive"]
            gen.set_defensive(d["fraction"], d["widen"], d["dims"])
        check_generator(gen)
        self.generator = gen
        self.batch = int(state["batch"])
        self.seed = int(state["seed"])
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = state["rng"]
        self._proposals = ProposalPool(gen, self.batch, self.seed)
        self._proposals.seek(*state["proposals"])
        self._paired = bool(state["paired"])
        self._order = None if state["order"] is None else np.asarray(state["order"], dtype=np.int64)
        self.topology = None
        if state["topology_pdb"] is not None:
            import io

            self.topology = app.PDBFile(io.StringIO(state["topology_pdb"])).topology
        self._checked = None
        self._warned = set(state["warned"])
        self.last_log_acceptance = float(state["last_log_acceptance"])
        self.statistics = state

    def __repr__(self):
        return (f"<gobg.openmmtools.FlowMCMCMove {self.generator.path!r}: "
                f"{self.n_accepted} of {self.n_proposed} accepted>")


__all__ = ["FlowMCMCMove"]
