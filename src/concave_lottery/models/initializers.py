"""Weight and BatchNorm initialisers, applied module by module with ``model.apply``.

Follows open_lth ``models/initializers.py`` and ``models/bn_initializers.py``: every model there
defaults to ``model_init='kaiming_normal'`` and ``batchnorm_init='uniform'`` (see each model's
``default_hparams``), and its registry applies both, in that order, to every module.

- ``kaiming_normal``: ``torch.nn.init.kaiming_normal_`` (fan-in, ReLU gain sqrt(2)) on the ``weight``
  of every ``Conv2d`` and ``Linear``. Biases keep PyTorch's default initialisation.
- BatchNorm ``uniform``: scale gamma ~ U[0, 1), shift beta = 0 (open_lth's default for every model).
- BatchNorm ``fixed``: gamma = 1, beta = 0 (PyTorch's own default), for comparison.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_LAYERS = (nn.Conv2d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def kaiming_normal(module: nn.Module) -> None:
    """He-normal initialisation of Conv2d/Linear weights (open_lth's default)."""
    if isinstance(module, _LAYERS):
        nn.init.kaiming_normal_(module.weight)


def kaiming_uniform(module: nn.Module) -> None:
    """He-uniform initialisation of Conv2d/Linear weights."""
    if isinstance(module, _LAYERS):
        nn.init.kaiming_uniform_(module.weight)


def bn_uniform(module: nn.Module) -> None:
    """BatchNorm scale ~ U[0, 1), shift 0 (open_lth ``bn_initializers.uniform``, its default)."""
    if isinstance(module, _BATCHNORMS):
        with torch.no_grad():
            module.weight.uniform_(0.0, 1.0)
            module.bias.zero_()


def bn_fixed(module: nn.Module) -> None:
    """BatchNorm scale 1, shift 0 (open_lth ``bn_initializers.fixed``; PyTorch's default)."""
    if isinstance(module, _BATCHNORMS):
        with torch.no_grad():
            module.weight.fill_(1.0)
            module.bias.zero_()


INITIALIZERS: dict[str, Callable[[nn.Module], None]] = {
    "kaiming_normal": kaiming_normal,
    "kaiming_uniform": kaiming_uniform,
}

BN_INITIALIZERS: dict[str, Callable[[nn.Module], None]] = {
    "uniform": bn_uniform,
    "fixed": bn_fixed,
}
