"""How many IMP levels pass a sparsity (:func:`concave_lottery.method.search.imp_levels_to_pass`): the fewest
levels n with 1 − (1 − p)^n above the target, checked against the definition and against real pruning."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from concave_lottery.errors import ParameterError
from concave_lottery.method import masks as masklib
from concave_lottery.method.search import MagnitudePruning, imp_levels_to_pass


@given(st.floats(0.0, 0.9999), st.floats(0.01, 0.9))
def test_the_fewest_levels_that_pass(sparsity, p):
    n = imp_levels_to_pass(sparsity, p)
    assert 1 - (1 - p) ** n > sparsity
    assert n == 0 or 1 - (1 - p) ** (n - 1) <= sparsity


def test_known_values():
    assert imp_levels_to_pass(0.0) == 1          # level 0 is dense: one pruning passes 0%
    assert imp_levels_to_pass(0.2) == 2          # exactly 20% is not passed by one level
    assert imp_levels_to_pass(0.932) == 13       # 1 − 0.8^13 = 94.5%; 12 levels give 93.1%
    assert imp_levels_to_pass(0.98) == 18


def test_real_imp_levels_pass_the_sparsity_they_were_sized_for():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 10))
    masklib.attach_masks(model, "binary")
    imp, target = MagnitudePruning(0.2), 0.9
    for _ in range(imp_levels_to_pass(target)):
        imp.prune(model)
    assert masklib.sparsity_report(model).sparsity > target


@pytest.mark.parametrize(("sparsity", "p", "name"), [(1.0, 0.2, "sparsity"), (-0.1, 0.2, "sparsity"),
                                                     (0.5, 0.0, "prune_fraction"), (0.5, 1.0, "prune_fraction")])
def test_bad_values_name_the_parameter(sparsity, p, name):
    with pytest.raises(ParameterError, match=name):
        imp_levels_to_pass(sparsity, p)
