"""Concave-regularised lottery tickets: the library behind the reproduction book.

Reference implementation of Fracastoro, Fosson, Migliorati and Calafiore, *Playing the Lottery
With Concave Regularizers for Sparse Trainable Neural Networks*, IEEE TNNLS 2025.

The layers of the library, one subpackage each (the contributor guide maps every file):

- :mod:`concave_lottery.method`: the regularizers r(m) of Assumption 1, the mask m ⊙ θ, the search methods
  (Algorithm 1, IMP, the sigmoid and fixed-fraction baselines), rewinding, and :class:`SoftMaskPruner`
  (Algorithm 1 in your own training loop, on any ``nn.Module``);
- :mod:`concave_lottery.runs`: the run config and presets, training, the lottery loop, results and sweeps;
- :mod:`concave_lottery.section4`: the numerics of Section IV (Problem (4), Theorems 1-2, Lemma 1);
- :mod:`concave_lottery.evidence`: matched-sparsity analysis, the paper's claims, verdicts and figures;
- :mod:`concave_lottery.data`, :mod:`concave_lottery.models`: datasets and networks;
- :mod:`concave_lottery.book`: the book pipeline (never imported by the library).

The names below are the public API, importable from the top level (``from concave_lottery import
RunConfig, run_lottery``); each is loaded on first use, so ``import concave_lottery`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_API: dict[str, str] = {
    # the method
    "Regularizer": "concave_lottery.method.regularizers",
    "get_regularizer": "concave_lottery.method.regularizers",
    "attach_masks": "concave_lottery.method.masks",
    "project_masks_": "concave_lottery.method.masks",
    "sparsity_report": "concave_lottery.method.masks",
    "SearchMethod": "concave_lottery.method.search",
    "make_method": "concave_lottery.method.search",
    "SoftMaskPruner": "concave_lottery.method.pruner",
    # runs
    "RunConfig": "concave_lottery.runs.config",
    "PRESETS": "concave_lottery.runs.config",
    "resolve_config": "concave_lottery.runs.config",
    "epoch_matched_lambda": "concave_lottery.runs.config",
    "train": "concave_lottery.runs.training",
    "run_lottery": "concave_lottery.runs.lottery",
    "extend_rounds": "concave_lottery.runs.lottery",
    "load_result": "concave_lottery.runs.results",
    "load_runs": "concave_lottery.runs.results",
    "load_spec": "concave_lottery.runs.sweep",
    "run_sweep": "concave_lottery.runs.sweep",
    # data and models
    "load_dataset": "concave_lottery.data",
    "get_model": "concave_lottery.models",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'concave_lottery' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
