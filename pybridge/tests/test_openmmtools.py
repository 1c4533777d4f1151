"""gobg.openmmtools.FlowMCMCMove in real openmmtools samplers: the Hastings
ratio at the ThermodynamicState's temperature, atoms paired by identity,
serialisation, refusals, and detailed balance in practice (Langevin dynamics
and flow moves in an MCMCSampler against 25 ns of plain MD, with a negative
control that must fail)."""

import json
import sys
import warnings

import numpy as np
import pytest

import openmm
from openmm import app, unit

from conftest import REPO, _missing

ALA2 = REPO / "examples" / "ala2"
MODEL = ALA2 / "model.gobg"
# The detailed-balance statistics, the reference and the controls of
# examples/ala2 (flow_md, reference, balance).
if str(ALA2) not in sys.path:
    sys.path.append(str(ALA2))

NS = 1.0     # Langevin dynamics and flow moves simulated in the detailed-balance test
STEPS = 250  # 2 fs steps of dynamics between flow moves (0.5 ps), as examples/ala2/test_flow_md.py
KB = unit.BOLTZMANN_CONSTANT_kB * unit.AVOGADRO_CONSTANT_NA


@pytest.fixture(scope="module")
def omt():
    try:
        from openmmtools import cache, mcmc, states, utils
    except ImportError as exc:
        _missing(f"openmmtools is not installed ({exc}): it is in requirements.txt")
    import gobg.openmmtools as gomt

    return {"cache": cache, "mcmc": mcmc, "states": states, "utils": utils, "gomt": gomt}


@pytest.fixture(scope="module")
def ala2(gobg):
    """The committed model, and its molecule as an unconstrained System at
    300 K, as examples/ala2/flow_md.py simulates it."""
    gen = gobg.load(MODEL, batch=64)
    return gen, _system(gen.topology)


def _system(topology, constraints=None):
    ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
    return ff.createSystem(topology, nonbondedMethod=app.NoCutoff, constraints=constraints,
                           hydrogenMass=3 * unit.amu)


def _reference_platform_cache(omt):
    return omt["cache"].ContextCache(platform=openmm.Platform.getPlatformByName("Reference"))


def _energy(system, x):
    """Potential energy (kJ/mol) of positions x (nm) with a fresh Context."""
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(x)
    return ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


def test_hastings_ratio(gobg, omt, ala2):
    # Each move's log acceptance is -(U(x') - U(x))/kT + log q(x) - log q(x')
    # at the ThermodynamicState's temperature (600 K here, not the model's
    # 300 K, which warns once): recomputed from the proposals, which a seed
    # fixes (block 0 of the pool is generator.sample(batch, seed)).
    gen, system = ala2
    states = omt["states"]
    thermo = states.ThermodynamicState(system, 600 * unit.kelvin)
    x0, _ = gen.sample(1, seed=21)
    ss = states.SamplerState(x0[0] * unit.nanometer)
    move = omt["gomt"].FlowMCMCMove(gen, batch=8, seed=5)
    proposals, lq_proposals = gen.sample(8, seed=5)
    kt = (KB * 600 * unit.kelvin).value_in_unit(unit.kilojoule_per_mole)
    cc = _reference_platform_cache(omt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        accepted = []
        for k in range(8):
            x = ss.positions.value_in_unit(unit.nanometer).copy()
            u_before = ss.potential_energy
            want = (-(_energy(system, proposals[k]) - _energy(system, x)) / kt
                    + gen.log_prob(x) - lq_proposals[k])
            accepted.append(move.apply(thermo, ss, context_cache=cc))
            assert abs(move.last_log_acceptance - want) < 1e-9 * max(1, abs(want)), (k, move.last_log_acceptance, want)
            # An accepted move leaves the proposal with its energy in the
            # SamplerState, a rejected one the state as it was.
            now = ss.positions.value_in_unit(unit.nanometer)
            if accepted[-1]:
                assert np.array_equal(now, proposals[k])
                assert abs(ss.potential_energy.value_in_unit(unit.kilojoule_per_mole) - _energy(system, now)) < 1e-6
            else:
                assert np.array_equal(now, x) and ss.potential_energy is u_before
    msgs = [str(w.message) for w in caught if issubclass(w.category, UserWarning) and "trained at" in str(w.message)]
    assert len(msgs) == 1 and "working at 600 K" in msgs[0], msgs
    assert move.n_proposed == 8 and move.n_accepted == sum(accepted)
    assert 0 < move.n_accepted < 8, accepted  # both branches ran
    assert move.statistics == {"n_accepted": sum(accepted), "n_proposed": 8}


def test_other_atom_order(gobg, omt, ala2, shared_data):
    # A System in top.pdb's atom order and names (OpenMM's) gives the same
    # moves as one in the model's order: the atoms are paired by identity.
    gen, system = ala2
    states = omt["states"]
    pdb = app.PDBFile(str(shared_data / "md" / "ala2" / "top.pdb"))
    order = gen.atom_order(pdb.topology, pdb.positions)
    assert not np.array_equal(order, np.arange(gen.n_atoms))
    x0, _ = gen.sample(1, seed=8)
    x0_pdb = np.empty_like(x0[0])
    x0_pdb[order] = x0[0]
    runs = []
    for sys_, x, top, cc in [(system, x0[0], None, _reference_platform_cache(omt)),
                             (_system(pdb.topology), x0_pdb, pdb.topology, _reference_platform_cache(omt))]:
        thermo = states.ThermodynamicState(sys_, 300 * unit.kelvin)
        ss = states.SamplerState(x * unit.nanometer)
        move = omt["gomt"].FlowMCMCMove(gen, topology=top, batch=8, seed=9)
        steps = []
        for _ in range(12):
            acc = move.apply(thermo, ss, context_cache=cc)
            steps.append((acc, move.last_log_acceptance))
        pos = ss.positions.value_in_unit(unit.nanometer)
        runs.append((steps, pos if top is None else pos[order]))
    (a, xa), (b, xb) = runs
    assert [s[0] for s in a] == [s[0] for s in b] and any(s[0] for s in a), (a, b)
    assert max(abs(sa[1] - sb[1]) for sa, sb in zip(a, b)) < 1e-9  # 3e-14 when measured
    assert np.array_equal(xa, xb)


def test_serialization(gobg, omt, ala2):
    # openmmtools.utils.serialize -> YAML -> deserialize gives a move that
    # continues the same proposals and draws, counters included.
    import yaml

    gen, system = ala2
    states, utils = omt["states"], omt["utils"]
    gen.set_symmetrize(27)
    try:
        thermo = states.ThermodynamicState(system, 300 * unit.kelvin)
        x0, _ = gen.sample(1, seed=4)
        ss = states.SamplerState(x0[0] * unit.nanometer)
        move = omt["gomt"].FlowMCMCMove(gen, topology=gen.topology, batch=4, seed=2)
        cc = _reference_platform_cache(omt)
        for _ in range(5):  # into the second block of proposals
            move.apply(thermo, ss, context_cache=cc)
        text = yaml.safe_dump(utils.serialize(move))
        copy = utils.deserialize(yaml.safe_load(text))
        assert isinstance(copy, omt["gomt"].FlowMCMCMove) and copy.generator is not gen
        assert copy.generator.symmetrized["images"] == 27
        assert copy.statistics == move.statistics
        ss2 = states.SamplerState(ss.positions)
        for _ in range(6):
            assert move.apply(thermo, ss, context_cache=cc) == copy.apply(thermo, ss2, context_cache=cc)
            assert abs(move.last_log_acceptance - copy.last_log_acceptance) < 1e-9
        assert np.allclose(ss.positions.value_in_unit(unit.nanometer), ss2.positions.value_in_unit(unit.nanometer),
                           rtol=0, atol=1e-12)
        assert copy.statistics == move.statistics and move.n_proposed == 11
    finally:
        gen.set_symmetrize(0)


def test_refusals(gobg, omt, ala2, shared_data, tmp_path):
    gen, _ = ala2
    states = omt["states"]
    constrained = states.ThermodynamicState(_system(gen.topology, constraints=app.HBonds), 300 * unit.kelvin)
    x0, _ = gen.sample(1, seed=1)
    move = omt["gomt"].FlowMCMCMove(gen, seed=1)
    with pytest.raises(gobg.GobgError, match="constraints"):
        move.apply(constrained, states.SamplerState(x0[0] * unit.nanometer), context_cache=_reference_platform_cache(omt))
    assert move.n_proposed == 0
    with pytest.raises(ValueError, match="batch"):
        omt["gomt"].FlowMCMCMove(gen, batch=0)
    # A reduced-mode model (one NLL step on the shared MD: enough to have one).
    md = shared_data / "md" / "ala2"
    cfg = {
        "data": {"topology": str(md / "top.pdb"), "trajectories": [str(md / "traj.dcd")],
                 "stride": 20, "val_fraction": 0.1, "val_blocks": 2},
        "ic_mode": "reduced",
        "model": {"arch": "nsf", "layers": 1, "hidden": [4], "bins": 2, "seed": 3},
        "energy": {"provider": "native", "temperature": 300},
        "stages": [{"name": "nll", "steps": 1, "batch_size": 8, "lr": 1e-3, "weights": {"nll": 1}}],
        "seed": 2, "output": str(tmp_path), "checkpoint_every": 0, "log_every": 1, "val_max_frames": 16,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    gobg.train(tmp_path / "config.json")
    reduced = gobg.load(tmp_path / "model.gobg", batch=4)
    assert reduced.mode == "reduced"
    with pytest.raises(gobg.GobgError, match="reduced internal coordinates"):
        omt["gomt"].FlowMCMCMove(reduced)


class _Chain:
    """Langevin dynamics (STEPS steps, a seeded integrator) and a flow move
    in an openmmtools MCMCSampler, started from a minimised structure of the
    generator; frame() advances 1 ps (two iterations)."""

    def __init__(self, omt, generator, system, seed):
        mcmc, states = omt["mcmc"], omt["states"]

        class SeededLangevin(mcmc.LangevinDynamicsMove):
            def _get_integrator(self, thermodynamic_state):
                integ = super()._get_integrator(thermodynamic_state)
                integ.setRandomNumberSeed(seed)
                return integ

        self.cache = _reference_platform_cache(omt)
        thermo = states.ThermodynamicState(system, 300 * unit.kelvin)
        x0, _ = generator.sample(1, seed=seed)
        self.flow = omt["gomt"].FlowMCMCMove(generator, topology=generator.topology, seed=seed)
        dynamics = SeededLangevin(timestep=2 * unit.femtosecond, collision_rate=1 / unit.picosecond, n_steps=STEPS)
        self.sampler = mcmc.MCMCSampler(thermo, states.SamplerState(x0[0] * unit.nanometer),
                                        mcmc.SequenceMove([dynamics, self.flow]))
        self.sampler.minimize(context_cache=self.cache)
        ctx, _ = self.cache.get_context(self.sampler.thermodynamic_state)
        self.sampler.sampler_state.apply_to_context(ctx)
        ctx.setVelocitiesToTemperature(300 * unit.kelvin, seed)
        self.sampler.sampler_state.update_from_context(ctx)

    def run(self, frames):
        """Positions [frames, n_atoms, 3] (nm) and potential energies
        (kJ/mol) of the SamplerState, a frame per ps."""
        ss = self.sampler.sampler_state
        x = np.empty((frames, ss.n_particles, 3))
        u = np.empty(frames)
        for f in range(frames):
            self.sampler.run(2, context_cache=self.cache)
            x[f] = ss.positions.value_in_unit(unit.nanometer)
            u[f] = ss.potential_energy.value_in_unit(unit.kilojoule_per_mole)
        return x, u


def _statistics(generator, x, u, reference):
    from balance import statistics
    from flow_md import backbone_atoms, dihedral

    a, b = backbone_atoms(generator.topology)
    return statistics(dihedral(x, *a), dihedral(x, *b), u, reference)


def test_detailed_balance(gobg, omt, ala2):
    """Langevin dynamics with a flow move every 0.5 ps, 1 ns, in an
    openmmtools MCMCSampler reproduces 25 ns of plain MD
    (examples/ala2/reference_md.json) by the checks of
    examples/ala2/test_flow_md.py (examples/ala2/balance.py): phi/psi TV at
    most 0.10, mean energy within 4 combined standard errors. Measured: TV
    0.089, mean U -58.75 +- 0.38 kJ/mol against -59.67 +- 0.11 (tolerance
    1.60). The control, the chain with the sign of log q flipped in the
    acceptance ratio (its flow moves sample exp(-u) q^2), must fail the
    energy check: 0.5 ns of it give -67.72 +- 0.47 kJ/mol, 17 combined
    standard errors low. Its phi/psi TV (0.109) is not asserted: the phi/psi
    check does not catch this control in 1 ns chains of FlowMove
    (examples/ala2/test_flow_md.py states what each check detects)."""
    from balance import TV_TOLERANCE, MisweightedGenerator

    reference = json.loads((ALA2 / "reference_md.json").read_text())
    u_ref = reference["mean_potential_kj_mol"]
    gen, system = ala2
    frames = int(round(NS * 1000))

    chain = _Chain(omt, gen, system, seed=3)
    x, u = chain.run(frames)
    st = _statistics(gen, x, u, reference)
    flow = chain.flow
    print(f"\nopenmmtools, dynamics + flow moves: {flow.n_proposed} moves, acceptance {flow.acceptance_rate:.3f}; "
          f"TV {st['tv']:.4f} (tolerance {TV_TOLERANCE}); mean U {st['mean_u']:.2f} +- {st['se_u']:.2f} kJ/mol "
          f"vs plain MD {u_ref:.2f} (tolerance {st['tolerance_u']:.2f})")
    assert flow.n_proposed == 2 * frames and flow.n_accepted >= 20, flow.statistics
    # The SamplerState's energy is that of its positions.
    assert abs(u[-1] - _energy(system, x[-1])) < 1e-6
    assert st["tv_ok"], f"phi/psi are TV {st['tv']:.3f} from plain MD"
    assert st["energy_ok"], f"mean energy {st['mean_u']:.2f} vs plain MD {u_ref:.2f} (tolerance {st['tolerance_u']:.2f})"

    # Half as long: the energy check's tolerance follows the chain's own
    # standard error, and the control misses it by far more than that.
    bad = _Chain(omt, MisweightedGenerator(gen, "sign"), system, seed=3)
    xb, ub = bad.run(frames // 2)
    sb = _statistics(gen, xb, ub, reference)
    print(f"control (sign of log q flipped): acceptance {bad.flow.acceptance_rate:.3f}; TV {sb['tv']:.4f}; "
          f"mean U {sb['mean_u']:.2f} +- {sb['se_u']:.2f} kJ/mol ({sb['z']:+.1f} combined standard errors)")
    assert not sb["energy_ok"], f"the control passes the energy check ({sb['mean_u']:.2f}): the check cannot fail"
