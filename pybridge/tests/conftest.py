"""Shared fixtures of the gobg Python tests.

The tests import the installed gobg (scripts/setup.sh runs `pip install .`
into .venv) and read the repository's test fixtures (testdata/: the reference
PDB files and every 10th frame of their MD). A missing gobg module skips them,
saying so, except under CI=true, where that fails.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _missing(what):
    if os.environ.get("CI") == "true":
        pytest.fail(what, pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def gobg():
    try:
        import gobg
    except ImportError as exc:
        _missing(f"gobg is not installed ({exc}): run scripts/setup.sh or `pip install .`")
    if not hasattr(gobg, "read_pdb"):
        # A checkout's gobg/ (the Go CLI) seen as a namespace package.
        _missing(f"`import gobg` found {list(getattr(gobg, '__path__', []))}, not the installed package")
    return gobg


@pytest.fixture(scope="session")
def shared_data():
    """The test fixtures, laid out as the reference data is (PDB files, md/<system>/)."""
    d = REPO / "testdata"
    assert (d / "md").is_dir(), f"test fixtures missing: {d}"
    return d
