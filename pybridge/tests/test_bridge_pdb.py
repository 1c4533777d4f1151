"""gobg.read_pdb against OpenMM's own PDB reader."""

import numpy as np
import pytest
from openmm import app, unit

# Both readers turn the same 3-decimal Å text into float64 nm, each with one
# rounding: they may differ by a few ulp, relative.
RTOL = 4 * np.finfo(np.float64).eps


def bond_set(top):
    return {tuple(sorted((a.index, b.index))) for a, b in top.bonds()}


@pytest.mark.parametrize("name", ["hp35.pdb", "ala2.pdb", "protein_g.pdb"])
def test_read_pdb_matches_openmm(gobg, shared_data, name):
    path = shared_data / name
    got = gobg.read_pdb(path)
    want = app.PDBFile(str(path))
    gt, wt = got.topology, want.topology

    assert isinstance(gt, app.Topology)
    assert gt.getNumAtoms() == wt.getNumAtoms()
    assert gt.getNumBonds() == wt.getNumBonds()
    assert bond_set(gt) == bond_set(wt)
    assert [(c.index, c.id) for c in gt.chains()] == [(c.index, c.id) for c in wt.chains()]
    assert [(r.name, r.id, r.insertionCode, r.chain.index) for r in gt.residues()] == [
        (r.name, r.id, r.insertionCode, r.chain.index) for r in wt.residues()
    ]
    assert [(a.name, a.element, a.id, a.residue.index) for a in gt.atoms()] == [
        (a.name, a.element, a.id, a.residue.index) for a in wt.atoms()
    ]

    x = want.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    assert got.positions.shape == (wt.getNumAtoms(), 3)
    assert got.positions.dtype == np.float64
    np.testing.assert_allclose(got.positions, x, rtol=RTOL, atol=0)
    np.testing.assert_allclose(got.getPositions(asNumpy=True).value_in_unit(unit.nanometer), x, rtol=RTOL, atol=0)

    wbox = wt.getPeriodicBoxVectors()
    if wbox is None:
        assert got.box is None and gt.getPeriodicBoxVectors() is None
    else:
        wb = np.array(wbox.value_in_unit(unit.nanometer))
        np.testing.assert_allclose(got.box, wb, rtol=RTOL, atol=0)
        np.testing.assert_allclose(np.array(gt.getPeriodicBoxVectors().value_in_unit(unit.nanometer)), wb, rtol=RTOL, atol=0)


def test_topology_builds_an_openmm_system(gobg, shared_data):
    """The Topology is complete enough for a force field to match every
    residue template, and gives the same energy as OpenMM's own reader."""
    from openmm import LangevinMiddleIntegrator, Platform
    from openmm.app import ForceField, NoCutoff, Simulation

    path = shared_data / "ala2.pdb"
    ff = ForceField("amber99sbildn.xml", "amber99_obc.xml")
    energies = []
    for pdb in (gobg.read_pdb(path), app.PDBFile(str(path))):
        system = ff.createSystem(pdb.getTopology(), nonbondedMethod=NoCutoff)
        sim = Simulation(pdb.getTopology(), system, LangevinMiddleIntegrator(300, 1, 0.002),
                         Platform.getPlatformByName("Reference"))
        sim.context.setPositions(pdb.getPositions())
        energies.append(sim.context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    assert energies[0] == pytest.approx(energies[1], rel=1e-12, abs=1e-9)


def test_read_pdb_errors(gobg, tmp_path):
    with pytest.raises(FileNotFoundError):
        gobg.read_pdb(tmp_path / "missing.pdb")
    bad = tmp_path / "bad.pdb"
    bad.write_text("ATOM      1  N   ALA A   1      xx.xxx  13.505  19.438  1.00  0.00           N\n")
    with pytest.raises(gobg.GobgError, match="bad.pdb"):
        gobg.read_pdb(bad)
    empty = tmp_path / "empty.pdb"
    empty.write_text("REMARK nothing here\nEND\n")
    with pytest.raises(gobg.GobgError, match="no atoms"):
        gobg.read_pdb(empty)
