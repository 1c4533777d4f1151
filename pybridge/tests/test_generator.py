"""gobg.train / gobg.load / Generator / gobg.openmm.FlowMove against real
OpenMM: a tiny model is trained from Python (KL stage energies from the
test's own OpenMM Context), loaded, sampled and used for flow moves."""

import json
import math

import numpy as np
import pytest

import openmm
from openmm import app, unit


def _system(topology, constraints=None):
    ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
    return ff.createSystem(topology, nonbondedMethod=app.NoCutoff, constraints=constraints)


def _context(system, temperature=300):
    integ = openmm.LangevinMiddleIntegrator(temperature * unit.kelvin, 1 / unit.picosecond, 0.002 * unit.picoseconds)
    integ.setRandomNumberSeed(11)
    return openmm.Context(system, integ, openmm.Platform.getPlatformByName("Reference"))


@pytest.fixture(scope="module")
def trained(gobg, shared_data, tmp_path_factory):
    """Trains a tiny float64 nsf on alanine dipeptide MD frames: 6 NLL steps,
    then 3 NLL + KL steps whose energies come from a Python OpenMM Context.
    float64, not the default float32: the tests below check log q to 5e-11."""
    md = shared_data / "md" / "ala2"
    out = tmp_path_factory.mktemp("train")
    cfg = {
        "data": {"topology": str(md / "top.pdb"), "trajectories": [str(md / "traj.dcd")],
                 "stride": 20, "val_fraction": 0.1, "val_blocks": 2},
        "ic_mode": "full",
        "dtype": "float64",
        "model": {"arch": "nsf", "layers": 2, "hidden": [16], "bins": 4, "seed": 3},
        "energy": {"provider": "native", "temperature": 300},
        "stages": [
            {"name": "nll", "steps": 6, "batch_size": 32, "lr": 1e-3, "weights": {"nll": 1}},
            {"name": "nll+kl", "steps": 3, "batch_size": 16, "lr": 1e-4, "weights": {"nll": 1, "kl": 0.1}},
        ],
        "seed": 2, "output": str(out), "checkpoint_every": 0, "log_every": 3, "val_max_frames": 64,
    }
    path = out / "config.json"
    path.write_text("// a test configuration\n" + json.dumps(cfg, indent=1))
    pdb = gobg.read_pdb(md / "top.pdb")
    ctx = _context(_system(pdb.topology))
    calls = []

    def energy(x, forces):
        calls.append(len(x))
        return gobg.openmm.ContextEnergy(ctx).fn(x, forces)

    import gobg.openmm  # noqa: F401

    summary = gobg.train(path, energy=energy)
    return {"summary": summary, "model": out / "model.gobg", "calls": calls, "pdb": pdb}


def test_train_from_python(trained):
    s = trained["summary"]
    assert s["steps"] == 9 and s["skipped"] == 0, s
    assert [st["name"] for st in s["stages"]] == ["nll", "nll+kl"]
    # The Python energy really served the KL stage: 3 steps of 16 samples.
    assert sum(trained["calls"]) == 3 * 16, trained["calls"]
    assert trained["model"].exists()


def test_train_errors(gobg, tmp_path):
    with pytest.raises(FileNotFoundError):
        gobg.train(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(gobg.GobgError, match="bad.json"):
        gobg.train(bad)


def test_default_backend_is_the_environments_plugin(gobg, trained):
    """Without a backend argument, models run on XLA's CPU plugin of the
    environment gobg is imported in (found through sys.prefix)."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    if os.environ.get("GOMLX_BACKEND") or os.environ.get("GOBG_PJRT_PLUGIN"):
        pytest.skip("the environment chooses the backend")
    spec = importlib.util.find_spec("xla_plugins.xla_cpu_pjrt")
    if spec is None:
        msg = "xla-cpu-pjrt is not installed: run scripts/setup.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    plugin = Path(spec.submodule_search_locations[0]) / "xla_cpu_pjrt.so"
    backend = gobg.default_backend()
    assert backend == f"xla:{plugin}", (backend, sys.prefix)
    assert gobg.load(trained["model"], batch=16).backend == backend
    assert gobg.load(trained["model"], backend="go:ops_sequential", batch=16).backend == "go:ops_sequential"


def test_load_sample_log_prob(gobg, trained):
    gen = gobg.load(trained["model"], batch=16)
    assert gen.n_atoms == 22 and gen.mode == "full" and gen.n_free == 60
    assert [a.element.symbol for a in gen.topology.atoms()] == \
        [a.element.symbol for a in trained["pdb"].topology.atoms()]
    x, lq = gen.sample(20, seed=4)
    assert x.shape == (20, 22, 3) and lq.shape == (20,)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(lq))
    # Recomputed log q agrees to 2.6e-12 nats, 1.2e-11 after a rigid motion
    # (docs/status.md); the limits (absolute, nats) leave about 20x.
    lp = gen.log_prob(x)
    assert np.max(np.abs(lp - lq)) < 5e-11
    # One structure gives a float; an OpenMM Quantity in Angstrom is accepted.
    one = gen.log_prob(unit.Quantity(x[3] * 10, unit.angstrom))
    assert isinstance(one, float) and abs(one - lq[3]) < 5e-11
    # Rigid motion does not change the density.
    c, s = math.cos(0.7), math.sin(0.7)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert np.max(np.abs(gen.log_prob(x @ rot.T + [1.0, -2.0, 0.5]) - lq)) < 2e-10
    x2, _ = gen.sample(20, seed=4)
    assert np.array_equal(x, x2)
    with pytest.raises(ValueError, match="shape"):
        gen.log_prob(np.zeros((2, 21, 3)))
    bad = x.copy()
    bad[1, 5, 0] = np.nan
    with pytest.raises(gobg.GobgError, match="structure 1: atom 5"):
        gen.log_prob(bad)


def test_defensive(gobg, trained):
    # A defensive mixture's samples carry its density, which log_prob gives
    # too; it is at least (1 - fraction) q and above q for some samples.
    gen = gobg.load(trained["model"], batch=16)
    x0, lq0 = gen.sample(40, seed=9)
    gen.set_defensive(0.4, widen=3.0)
    assert gen.defensive == {"fraction": 0.4, "widen": 3.0, "dims": "backbone-torsions"}
    x, lm = gen.sample(40, seed=9)
    assert np.max(np.abs(gen.log_prob(x) - lm)) < 5e-11  # measured 2.7e-12 nats
    gen.set_defensive(0)
    assert gen.defensive is None
    assert np.array_equal(gen.sample(40, seed=9)[0], x0)
    lq = gen.log_prob(x)
    assert np.all(lm - lq >= math.log(0.6) - 1e-9)
    assert np.any(lm - lq > 0.1)
    for args, msg in [((1.0,), "fraction"), ((0.1, 0.5), "widening"), ((0.1, 2.0, "sidechains"), "sidechains")]:
        with pytest.raises(gobg.GobgError, match=msg):
            gen.set_defensive(*args)


def test_symmetrize(gobg, trained):
    # The averaged density is invariant under turning a methyl group's
    # hydrogens, and sample/log_prob agree on it.
    gen = gobg.load(trained["model"], batch=32)
    info = gen.set_symmetrize(27)
    assert info["images"] == 27 and len(info["groups"]) == 3 and gen.symmetrized == info
    x, lq = gen.sample(6, seed=2)
    assert np.max(np.abs(gen.log_prob(x) - lq)) < 5e-11  # identical when measured
    names = [a.name for a in gen.topology.atoms()]
    hb = [names.index(n) for n in ("HB1", "HB2", "HB3")]
    turned = x.copy()
    turned[:, hb] = x[:, hb[1:] + hb[:1]]
    assert np.max(np.abs(gen.log_prob(turned) - lq)) < 5e-11
    assert gen.set_symmetrize(0)["images"] == 1 and gen.symmetrized is None
    assert np.max(np.abs(gen.log_prob(turned) - gen.log_prob(x))) > 1e-6


def test_flow_move(gobg, trained, tmp_path):
    import gobg.openmm as gom

    gen = gobg.load(trained["model"], batch=8)
    pdb = trained["pdb"]
    ctx = _context(_system(pdb.topology))
    ctx.setPositions(pdb.positions)
    ctx.getIntegrator().step(200)
    log = tmp_path / "moves.csv"
    move = gom.FlowMove(gen, every=10, seed=5, log=log)
    kt = gom.MOLAR_GAS_CONSTANT * 300
    for _ in range(12):
        ctx.getIntegrator().step(10)
        before = ctx.getState(getPositions=True, getVelocities=True)
        accepted = move.apply(ctx)
        after = ctx.getState(getPositions=True, getVelocities=True)
        if not accepted:
            # A rejected move leaves positions and velocities exactly as they were.
            assert np.array_equal(before.getPositions(asNumpy=True)._value, after.getPositions(asNumpy=True)._value)
            assert np.array_equal(before.getVelocities(asNumpy=True)._value, after.getVelocities(asNumpy=True)._value)
    move.close()
    assert move.n_proposed == 12
    rows = log.read_text().splitlines()
    assert len(rows) == 13
    for row in rows[1:]:
        _, _, acc, u, up, lq, lqp, la = row.split(",")
        want = -(float(up) - float(u)) / kt + float(lq) - float(lqp)
        assert abs(float(la) - want) < 1e-12 * max(1, abs(want))  # identical when measured
        assert acc in ("0", "1")


def test_flow_move_refusals(gobg, trained, shared_data):
    import gobg.openmm as gom

    gen = gobg.load(trained["model"], batch=8)
    pdb = trained["pdb"]
    constrained = _context(_system(pdb.topology, constraints=app.HBonds))
    constrained.setPositions(pdb.positions)
    with pytest.raises(gobg.GobgError, match="constraints"):
        gom.FlowMove(gen, every=10).apply(constrained)
    with pytest.raises(ValueError):
        gom.FlowMove(gen, every=0)
    hp35 = gobg.read_pdb(shared_data / "hp35.pdb")
    with pytest.raises(gobg.GobgError, match="atoms"):
        gom.check_topology(hp35.topology, gen)


def _reordered_topology(topology, positions):
    """topology with each residue's atoms in reverse order, ALA's amide
    hydrogen named HN and the caps' atoms as Amber names them (HH31..33,
    NME's CH3), positions in that order, and perm: perm[i] is the original
    index of new atom i."""
    names = {("ALA", "H"): "HN", ("ACE", "H1"): "HH31", ("ACE", "H2"): "HH32", ("ACE", "H3"): "HH33",
             ("NME", "C"): "CH3", ("NME", "H1"): "HH31", ("NME", "H2"): "HH32", ("NME", "H3"): "HH33"}
    out = app.Topology()
    perm = []
    for chain in topology.chains():
        c = out.addChain(chain.id)
        for res in chain.residues():
            r = out.addResidue(res.name, c, res.id)
            for atom in reversed(list(res.atoms())):
                out.addAtom(names.get((res.name, atom.name), atom.name), atom.element, r)
                perm.append(atom.index)
    perm = np.array(perm)
    return out, np.asarray(positions)[..., perm, :], perm


@pytest.fixture(scope="module")
def committed(gobg, shared_data):
    """The committed alanine dipeptide model (gobg build's atom order and
    names) and frames of the shared MD in its top.pdb's order and names."""
    from conftest import REPO

    gen = gobg.load(REPO / "examples" / "ala2" / "model.gobg", batch=64)
    md = shared_data / "md" / "ala2"
    pdb = app.PDBFile(str(md / "top.pdb"))
    with gobg.DCDReader(md / "traj.dcd") as r:
        frames = r.read()[::150]
    return gen, pdb, frames


def test_log_prob_with_topology(committed):
    # Paired by identity, the shared MD's test NLL is near the model's own
    # -mean log q (-213 nats; the MD's constrained X-H bonds put it a few
    # nats lower). Paired by position it is about +2160.
    gen, pdb, frames = committed
    _, lq = gen.sample(256, seed=1)
    entropy = -float(np.mean(lq))
    nll = -float(np.mean(gen.log_prob(frames, topology=pdb.topology)))
    assert abs(nll - entropy) < 20, (nll, entropy)
    assert -float(np.mean(gen.log_prob(frames))) > entropy + 100
    # Another order and naming of the same atoms gives the same densities.
    top2, frames2, _ = _reordered_topology(pdb.topology, frames)
    assert np.max(np.abs(gen.log_prob(frames2, topology=top2) - gen.log_prob(frames, topology=pdb.topology))) < 1e-9
    one = gen.log_prob(unit.Quantity(frames2[5] * 10, unit.angstrom), topology=top2)
    assert isinstance(one, float) and abs(one - gen.log_prob(frames[5], topology=pdb.topology)) < 1e-9
    order = gen.atom_order(top2, frames2[0])
    assert sorted(order) == list(range(gen.n_atoms))
    assert [a.element for a in gen.topology.atoms()] == [list(top2.atoms())[i].element for i in order]


def test_atom_order_refusals(gobg, committed, shared_data):
    gen, pdb, frames = committed
    hp35 = gobg.read_pdb(shared_data / "hp35.pdb")
    with pytest.raises(gobg.GobgError, match='LEU 1, atom N'):
        gen.atom_order(hp35.topology, hp35.positions)
    top = app.Topology()
    c = top.addChain("A")
    for res in pdb.topology.residues():
        r = top.addResidue(res.name, c, res.id)
        for atom in res.atoms():
            top.addAtom("HQ" if (res.name, atom.name) == ("ALA", "HA") else atom.name, atom.element, r)
    with pytest.raises(gobg.GobgError, match="atom HQ"):
        gen.log_prob(frames, topology=top)
    with pytest.raises(ValueError, match="shape"):
        gen.atom_order(pdb.topology, frames[0][:5])


def test_flow_move_other_atom_order(gobg, committed, tmp_path):
    # A Simulation of top.pdb (OpenMM's order and names) with moves from the
    # committed model (gobg build's): paired by identity, the model's
    # unconstrained full-mode proposals are often accepted; the log q logged
    # for the current state is the model's density of it.
    import gobg.openmm as gom

    gen, pdb, _ = committed
    ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
    system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    integ = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 0.002 * unit.picoseconds)
    integ.setRandomNumberSeed(3)
    sim = app.Simulation(pdb.topology, system, integ, openmm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(pdb.positions)
    sim.step(100)
    log = tmp_path / "moves.csv"
    move = gom.FlowMove(gen, every=10, seed=7, batch=16, log=log)
    lqs = []
    for _ in range(16):
        sim.step(10)
        x = sim.context.getState(getPositions=True).getPositions(asNumpy=True)
        lqs.append(gen.log_prob(x, topology=pdb.topology))
        move.apply(sim)
    move.close()
    rows = [r.split(",") for r in log.read_text().splitlines()[1:]]
    assert len(rows) == 16
    for row, lq in zip(rows, lqs):
        assert abs(float(row[5]) - lq) < 1e-9 * max(1, abs(lq)), (row, lq)
    assert move.n_accepted >= 3, (move.n_accepted, move.n_proposed)


def _without_temperature(src, dst):
    """Writes a copy of model file src as gobg versions before the training
    temperature was recorded wrote it: format version 2, no temperature_K
    (the weights untouched)."""
    import gzip
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(src.read_bytes()))) as tin, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read()
            if member.name == "manifest.json":
                m = json.loads(data)
                assert m.pop("temperature_K") == 300
                m["version"] = 2
                data = json.dumps(m).encode()
            member.size = len(data)
            tout.addfile(member, io.BytesIO(data))
    dst.write_bytes(gzip.compress(out.getvalue()))


def test_temperature(gobg, trained, tmp_path):
    """The model file records the configuration's temperature; an older file
    without it loads as 300 K, not recorded; the warnings say which."""
    gen = gobg.load(trained["model"], batch=8)
    assert gen.temperature == 300.0 and gen.temperature_recorded
    assert gen.temperature_warning(300) == ""
    assert "trained at 300 K" in gen.temperature_warning(310)
    old = tmp_path / "old.gobg"
    _without_temperature(trained["model"], old)
    og = gobg.load(old, batch=8)
    assert og.temperature == 300.0 and not og.temperature_recorded
    assert "does not record" in og.temperature_warning(300)
    x, _ = gen.sample(4, seed=1)
    assert np.array_equal(og.log_prob(x), gen.log_prob(x))


def test_flow_move_temperature(gobg, trained):
    """FlowMove works at the integrator's temperature and warns when that is
    not the model's; without an integrator temperature it takes the
    model's."""
    import warnings

    import gobg.openmm as gom

    gen = gobg.load(trained["model"], batch=8)
    pdb = trained["pdb"]
    system = _system(pdb.topology)
    for temperature, warns in [(300, False), (330, True)]:
        ctx = _context(system, temperature=temperature)
        ctx.setPositions(pdb.positions)
        move = gom.FlowMove(gen, every=10, seed=5)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            move.apply(ctx)
            move.apply(ctx)  # once per Context
        msgs = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        assert len(msgs) == (1 if warns else 0), msgs
        if warns:
            assert "working at 330 K" in msgs[0] and "trained at 300 K" in msgs[0]
    verlet = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    assert gom.FlowMove(gen, every=10)._temperature_k(verlet) == gen.temperature
