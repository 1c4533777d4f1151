"""gobg.PythonEnergy: a Python energy called by Go (from a goroutine of its
own) through pinned Go buffers."""

import numpy as np
import pytest


def harmonic(k):
    def fn(x, forces):
        e = 0.5 * k * np.sum(x * x, axis=(1, 2))
        return (e, -k * x) if forces else e

    return fn


def test_python_energy_harmonic(gobg):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4, 3))
    en = gobg.PythonEnergy(4, harmonic(3.0))
    e = en.evaluate(x)
    np.testing.assert_array_equal(e, 0.5 * 3.0 * np.sum(x * x, axis=(1, 2)))
    e2, f = en.evaluate(x, forces=True)
    np.testing.assert_array_equal(e2, e)
    np.testing.assert_array_equal(f, -3.0 * x)
    # One conformation, and many calls in a row (the scratch buffers are reused).
    for i in range(50):
        np.testing.assert_array_equal(en.evaluate(x[i % 6]), e[i % 6 : i % 6 + 1])


def test_python_energy_errors(gobg):
    seen = []

    def fn(x, forces):
        seen.append(x)
        e = np.sum(x, axis=(1, 2))
        e[1] = np.nan
        return e

    en = gobg.PythonEnergy(2, fn)
    x = np.arange(3 * 2 * 3, dtype=np.float64).reshape(3, 2, 3)
    e = en.evaluate(x)
    assert np.isnan(e[1]) and e[0] == x[0].sum() and e[2] == x[2].sum()
    # fn got its own copy: it stays valid after the call.
    np.testing.assert_array_equal(seen[0], x)

    class Boom(Exception):
        pass

    def raises(x, forces):
        raise Boom("from the energy function")

    with pytest.raises(Boom, match="from the energy function"):
        gobg.PythonEnergy(2, raises).evaluate(x)
    with pytest.raises(ValueError, match="shape"):
        gobg.PythonEnergy(2, lambda x, f: np.zeros(5)).evaluate(x)
    with pytest.raises(ValueError, match="shape"):
        en.evaluate(np.zeros((3, 5, 3)))


def test_python_energy_openmm(gobg, shared_data):
    """An OpenMM energy as Go will use it: same values as OpenMM directly."""
    from openmm import Context, Platform, VerletIntegrator, app, unit

    pdb = gobg.read_pdb(shared_data / "ala2.pdb")
    ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
    system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff)
    ctx = Context(system, VerletIntegrator(0.001), Platform.getPlatformByName("Reference"))
    kjmol, kjmolnm = unit.kilojoule_per_mole, unit.kilojoule_per_mole / unit.nanometer

    def openmm_energy(x, forces):
        es, fs = [], []
        for conf in x:
            ctx.setPositions(conf)
            st = ctx.getState(getEnergy=True, getForces=forces)
            es.append(st.getPotentialEnergy().value_in_unit(kjmol))
            if forces:
                fs.append(st.getForces(asNumpy=True).value_in_unit(kjmolnm))
        return (np.array(es), np.array(fs)) if forces else np.array(es)

    rng = np.random.default_rng(2)
    x = pdb.positions + rng.normal(scale=0.005, size=(3, pdb.n_atoms, 3))
    want_e, want_f = openmm_energy(x, True)
    e, f = gobg.PythonEnergy(pdb.n_atoms, openmm_energy).evaluate(x, forces=True)
    np.testing.assert_array_equal(e, want_e)
    np.testing.assert_array_equal(f, want_f)
