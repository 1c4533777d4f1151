"""Boltzmann generators inside OpenMM simulations.

FlowMove makes a simulation sample faster while staying exact: every k
integrator steps it proposes an independent structure x' from a trained
generator and accepts it with the Metropolis-Hastings probability

    min(1, exp(-(U(x') - U(x)) / kT) * q(x) / q(x'))

where U comes from the simulation's own Context and q is the generator's
density. On acceptance the velocities are redrawn at the temperature; on
rejection the simulation continues from exactly the state it had (positions
and velocities). Plain MD moves within a basin; flow moves jump between
basins; together they sample the Boltzmann distribution of the System.

Constraints. A flow in full internal coordinates proposes every bond length;
a reduced flow fixes bond lengths at its training data's means. Neither
lands on the manifold of a constrained System (HBonds, rigid water) with the
density that constrained dynamics samples there, so a move would break
detailed balance: FlowMove refuses Systems with constraints and reduced
models. Create the System with constraints=None (2 fs steps; hydrogen mass
repartitioning is fine, masses do not change the configurational
distribution) and train a full-mode model on unconstrained MD. Periodic
Systems are refused as well: the flow models a solute, not its solvent.

    import gobg, gobg.openmm
    gen = gobg.load("examples/ala2/model.gobg")
    move = gobg.openmm.FlowMove(gen, every=50)
    simulation.reporters.append(move)      # a move every 50 steps
    simulation.step(100_000)
    print(move.n_proposed, move.n_accepted, move.acceptance_rate)

gobg.openmmtools.FlowMCMCMove makes the same moves in openmmtools' samplers;
both use metropolis_hastings, ProposalPool and the checks below.
"""

import csv
import math
import warnings

import numpy as np
import openmm
from openmm import unit

from ._core import GobgError
from .energy import PythonEnergy

MOLAR_GAS_CONSTANT = 8.31446261815324e-3  # kJ/(mol K), as OpenMM's unit.MOLAR_GAS_CONSTANT_R


class FlowMove:
    """Metropolis-Hastings independence moves from a generator, as an OpenMM
    reporter: append it to simulation.reporters and it acts every `every`
    steps (or call apply(simulation) yourself).

    Args:
        generator: a gobg.Generator (gobg.load) for the simulation's molecule,
            in full internal coordinates. On a Simulation its atoms are paired
            with the simulation's topology by identity (Generator.atom_order:
            any order and naming convention); on a bare Context, which has no
            topology, they must be in the generator's order.
        every: integrator steps between moves.
        temperature: in K (a number or an OpenMM Quantity); default: the
            integrator's temperature, which is the ensemble the dynamics
            samples and so the one the acceptance rule must use; for an
            integrator without one, the generator's training temperature
            (generator.temperature). A warning (UserWarning) says when the
            temperature used is not the one the generator was trained at,
            or the model file does not record one.
        batch: proposals drawn from the flow at a time.
        seed: seeds the proposals and the acceptance draws (None: random).
        log: optional path of a CSV file with one row per move.

    Counters: n_proposed, n_accepted, acceptance_rate; last_log_acceptance.
    """

    def __init__(self, generator, every, temperature=None, batch=256, seed=None, log=None):
        if every <= 0:
            raise ValueError(f"every = {every}: want a positive number of steps")
        check_generator(generator)
        self.generator = generator
        self.every = int(every)
        self.temperature = temperature
        self.batch = int(batch)
        rng_seed = seed if seed is not None else int(np.random.randint(0, 2**62))
        self._rng = np.random.default_rng(rng_seed)
        self._proposals = ProposalPool(generator, self.batch, rng_seed)
        self._checked = None
        self._order = None  # generator's atom i is the simulation's atom _order[i]; None: the same order
        self.n_proposed = 0
        self.n_accepted = 0
        self.last_log_acceptance = float("nan")
        self._log = None
        self._writer = None
        if log is not None:
            self._log = open(log, "w", newline="")
            self._writer = csv.writer(self._log)
            self._writer.writerow(["move", "step", "accepted", "u_current_kj_mol", "u_proposal_kj_mol",
                                   "logq_current", "logq_proposal", "log_acceptance"])

    @property
    def acceptance_rate(self):
        return self.n_accepted / self.n_proposed if self.n_proposed else float("nan")

    # The reporter protocol of openmm.app.Simulation.
    def describeNextReport(self, simulation):
        steps = self.every - simulation.currentStep % self.every
        return {"steps": steps, "periodic": None, "include": []}

    def report(self, simulation, state):
        self.apply(simulation)

    def apply(self, simulation_or_context):
        """Makes one move on a Simulation or Context; returns True if the
        proposal was accepted."""
        context = getattr(simulation_or_context, "context", simulation_or_context)
        step = getattr(simulation_or_context, "currentStep", -1)
        self._check(context, getattr(simulation_or_context, "topology", None))
        kt = MOLAR_GAS_CONSTANT * self._temperature_k(context)
        before = context.getState(getPositions=True, getVelocities=True, getEnergy=True)
        x = before.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        u = before.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        lq = self.generator.log_prob(x if self._order is None else x[self._order])
        xp, lqp = self._proposals.next()
        if self._order is not None:
            xs = np.empty_like(xp)
            xs[self._order] = xp
            xp = xs
        context.setPositions(xp)
        up = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        accept, log_a = metropolis_hastings((up - u) / kt, lq, lqp, self._rng)
        self.n_proposed += 1
        self.last_log_acceptance = log_a
        if accept:
            self.n_accepted += 1
            context.setVelocitiesToTemperature(self._temperature_k(context) * unit.kelvin,
                                               int(self._rng.integers(1, 2**31 - 1)))
        else:
            context.setPositions(before.getPositions(asNumpy=True))
            context.setVelocities(before.getVelocities(asNumpy=True))
        if self._writer is not None:
            self._writer.writerow([self.n_proposed, step, int(accept), repr(u), repr(up), repr(lq), repr(lqp), repr(log_a)])
            self._log.flush()
        return accept

    def close(self):
        if self._log is not None:
            self._log.close()
            self._log = self._writer = None

    def _temperature_k(self, context):
        t = self.temperature
        if t is None:
            integ = context.getIntegrator()
            if not hasattr(integ, "getTemperature"):
                return self.generator.temperature
            t = integ.getTemperature()
        if unit.is_quantity(t):
            t = t.value_in_unit(unit.kelvin)
        t = float(t)
        if not (t > 0 and math.isfinite(t)):
            raise GobgError(f"temperature {t} K: want a finite temperature above 0 K")
        return t

    def _check(self, context, topology):
        if self._checked is context:
            return
        check_system(context.getSystem(), self.generator)
        self._order = None
        if topology is not None:
            x = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
            order = check_topology(topology, self.generator, x)
            if not np.array_equal(order, np.arange(len(order))):
                self._order = order
        w = self.generator.temperature_warning(self._temperature_k(context))
        if w:
            warnings.warn(w, UserWarning, stacklevel=4)
        self._checked = context


def check_generator(generator):
    """Raises GobgError unless generator can propose exact moves: a model in
    full internal coordinates."""
    if generator.mode != "full":
        raise GobgError(
            f"model {generator.path} is in {generator.mode} internal coordinates: its proposals keep bond "
            "lengths fixed, so unconstrained MD could never move back to them and constrained MD samples "
            "another density on that manifold; flow moves need a full-mode model (ic_mode \"full\")")


def metropolis_hastings(delta_reduced_energy, logq_current, logq_proposal, rng):
    """The acceptance rule of an independence proposal from the generator:
    returns (accepted, log_acceptance) for a move from x to x', where
    delta_reduced_energy = (U(x') - U(x)) / kT (dimensionless), logq_* are
    the generator's log q of x and x', and rng a numpy Generator that draws
    the uniform number when the log acceptance is below 0.

        log_acceptance = -delta_reduced_energy + log q(x) - log q(x')

    The q(x)/q(x') factor is what makes an asymmetric proposal exact: without
    it (the Metropolis rule of a symmetric proposal) the chain would sample
    exp(-U/kT) q instead of exp(-U/kT). A proposal whose energy is NaN or
    +inf (atoms on top of each other) is rejected."""
    log_a = -delta_reduced_energy + logq_current - logq_proposal
    if math.isnan(log_a):
        log_a = -math.inf
    accept = log_a >= 0 or rng.random() < math.exp(log_a)
    return accept, log_a


class ProposalPool:
    """Independent proposals from a generator, drawn batch structures at a
    time: block k of the pool is generator.sample(batch, seed + k * batch),
    so a seed fixes the sequence of proposals."""

    def __init__(self, generator, batch, seed):
        if batch <= 0:
            raise ValueError(f"batch = {batch}: want a positive number of proposals")
        self.generator = generator
        self.batch = int(batch)
        self.seed = int(seed)
        self.block = 0  # blocks drawn so far
        self.used = 0   # proposals taken from the last block drawn
        self._x = self._lq = None

    def next(self):
        """The next proposal: (positions [n_atoms, 3] nm in the generator's
        order, log q)."""
        if self._x is None or self.used >= len(self._x):
            self._x, self._lq = self.generator.sample(self.batch, seed=self.seed + self.block * self.batch)
            self.block += 1
            self.used = 0
        k = self.used
        self.used += 1
        return self._x[k], float(self._lq[k])

    def position(self):
        """(block, used): where the sequence stands, for seek."""
        return self.block, self.used

    def seek(self, block, used):
        """Continues the sequence where position() was (block, used)."""
        self.block, self.used = int(block), int(used)
        self._x = self._lq = None
        if self.block > 0 and self.used < self.batch:
            self._x, self._lq = self.generator.sample(self.batch, seed=self.seed + (self.block - 1) * self.batch)


def check_system(system, generator):
    """Raises GobgError unless flow moves of generator are exact for system:
    same atom count, no constraints, not periodic, no virtual sites."""
    n = system.getNumParticles()
    if n != generator.n_atoms:
        raise GobgError(f"the System has {n} particles, model {generator.path} makes {generator.n_atoms} atoms")
    nc = system.getNumConstraints()
    if nc:
        i, j, d = system.getConstraintParameters(0)
        raise GobgError(
            f"the System has {nc} constraints (the first: atoms {i}-{j} at {d}): flow moves propose "
            "unconstrained bond lengths, which constrained dynamics cannot follow, and MH moves between them "
            "would not sample the constrained ensemble; create the System with constraints=None and a 2 fs step "
            "(see gobg.openmm's documentation)")
    if system.usesPeriodicBoundaryConditions():
        raise GobgError("the System is periodic: a flow models the solute only, so moves in explicit solvent "
                        "would be almost always rejected and the box is not modelled; use implicit solvent")
    for k in range(n):
        if system.isVirtualSite(k):
            raise GobgError(f"particle {k} is a virtual site, which the flow does not model")


def check_topology(topology, generator, positions=None):
    """Pairs the atoms of topology (an openmm.app.Topology) with the
    generator's by identity and returns the pairing (Generator.atom_order:
    for each of the generator's atoms, its index in topology); raises
    GobgError naming the first atom that does not pair. positions, one
    structure of topology, decide the pairing of hydrogen groups."""
    return generator.atom_order(topology, positions)


def ContextEnergy(context):
    """A gobg.PythonEnergy that evaluates conformations with an existing
    OpenMM Context (for gobg.train's KL stages, for example). It sets each
    conformation's positions in turn and restores the Context's positions
    and velocities after each batch."""
    n = context.getSystem().getNumParticles()

    def fn(x, want_forces):
        saved = context.getState(getPositions=True, getVelocities=True)
        e = np.empty(x.shape[0])
        f = np.zeros_like(x) if want_forces else None
        try:
            for b in range(x.shape[0]):
                try:
                    context.setPositions(x[b])
                    st = context.getState(getEnergy=True, getForces=want_forces)
                    e[b] = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
                    if want_forces:
                        f[b] = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
                except openmm.OpenMMException:
                    e[b] = np.nan
        finally:
            context.setPositions(saved.getPositions(asNumpy=True))
            context.setVelocities(saved.getVelocities(asNumpy=True))
        return (e, f) if want_forces else e

    return PythonEnergy(n, fn)
