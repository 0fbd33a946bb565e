"""Fixtures of the converged layer's tests: the campaign's spec with its soft grids alone."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

#: The converged campaign's spec (``sweeps/``), which gains its IMP grid once the soft tickets' sparsity is known.
CONVERGED_SPEC = "sweeps/resnet20-cifar10-subset-converged.toml"


@pytest.fixture
def soft_spec(repo_root: Path, tmp_path: Path) -> str:
    """The converged spec's soft-ℓ1 and soft-log grids (3 seeds each, 6 runs), without an IMP grid whether or
    not the committed spec has one yet, written to a file of its own (``out`` kept)."""
    spec = tomllib.loads((repo_root / CONVERGED_SPEC).read_text())
    soft = [g for g in spec["grid"] if g["method"] == "soft"]
    assert [g["regularizer"] for g in soft] == ["l1", "log"] and all(g["seed"] == [0, 1, 2] for g in soft)
    lines = [f"out = {json.dumps(spec['out'])}"]
    for grid in soft:
        lines += ["", "[[grid]]"] + [f"{key} = {json.dumps(value)}" for key, value in grid.items()]
    path = tmp_path / "converged-soft.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)
