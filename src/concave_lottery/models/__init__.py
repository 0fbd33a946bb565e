"""The networks of the paper, by name, built and initialised as in open_lth.

Registry in the style of open_lth ``models/registry.py``: a plain dict from name to builder, and
:func:`get_model`, which builds the network and applies open_lth's default initialisation to every
module (``model.apply``): He-normal ``Conv2d``/``Linear`` weights (``kaiming_normal``) and BatchNorm
scale ~ U[0, 1), shift 0 (``batchnorm_init='uniform'``, the default of every open_lth model).

=========  ==============================================  =====================  ===========  ===========
name       architecture                                    open_lth name          all (10 cl.) prunable
=========  ==============================================  =====================  ===========  ===========
lenet300   LeNet-300-100 (MNIST 28x28x1)                   mnist_lenet_300_100        266,610      266,200
logreg     logistic regression (MNIST 28x28x1)             --                           7,850        7,840
resnet20   ResNet-20, widths 16/32/64                      cifar_resnet_20            272,474      270,896
resnet56   ResNet-56, widths 16/32/64                      cifar_resnet_56            855,770      851,504
wrn20      WideResNet-20, widths 64/128/256                cifar_resnet_20_64       4,327,754    4,321,472
vgg11      VGG-11 + BN, global-average-pool head           cifar_vgg_11             9,231,114    9,222,848
=========  ==============================================  =====================  ===========  ===========

(conv models on 3-channel inputs; their counts do not depend on the image size.)

Prunable parameters (open_lth's convention; contributor guide §3, "Method decisions"; defined once in
:mod:`concave_lottery.method.masks`): the ``weight`` of every ``Conv2d`` and
``Linear`` -- the first conv, the 1x1 shortcut convs and the classifier included; never biases or
BatchNorm parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ParameterError, unknown_name
from ..method.masks import PRUNABLE_TYPES, prunable_layers
from .cifar_resnet import CifarResNet, resnet20, resnet56, wrn20
from .cifar_vgg import CifarVGG, vgg11
from .initializers import BN_INITIALIZERS, INITIALIZERS
from .lenet import LeNet, lenet300
from .logreg import LogisticRegression, logreg

__all__ = [
    "MODELS",
    "PRUNABLE_TYPES",
    "CifarResNet",
    "CifarVGG",
    "LeNet",
    "LogisticRegression",
    "count_parameters",
    "get_model",
    "prunable_modules",
    "prunable_parameter_names",
]

#: Builders, each called as ``builder(num_classes=..., in_channels=..., image_size=...)``; they
#: return an un-initialised network (PyTorch's default init). Use :func:`get_model`.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet300": lenet300,
    "logreg": logreg,
    "resnet20": resnet20,
    "resnet56": resnet56,
    "wrn20": wrn20,
    "vgg11": vgg11,
}



def get_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int = 3,
    image_size: int = 32,
    model_init: str = "kaiming_normal",
    batchnorm_init: str = "uniform",
) -> nn.Module:
    """Build model ``name`` and initialise it as open_lth does (deterministic given ``torch.manual_seed``).

    ``num_classes`` is the size of the output layer; ``in_channels`` and ``image_size`` describe
    the (square, NCHW) input: they fix the input width of ``lenet300``/``logreg`` and are checked
    by ``vgg11`` (>= 16); the ResNets pool globally and accept any size. ``model_init`` (one of
    :data:`~concave_lottery.models.initializers.INITIALIZERS`) and ``batchnorm_init`` (one of
    ``BN_INITIALIZERS``) default to open_lth's defaults for every model.
    """
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    if model_init not in INITIALIZERS:
        raise unknown_name("model_init", model_init, INITIALIZERS)
    if batchnorm_init not in BN_INITIALIZERS:
        raise unknown_name("batchnorm_init", batchnorm_init, BN_INITIALIZERS)
    for key, value in (
        ("num_classes", num_classes),
        ("in_channels", in_channels),
        ("image_size", image_size),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ParameterError(key, value, f"{key} must be a positive integer")

    model = MODELS[name](num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    init, bn_init = INITIALIZERS[model_init], BN_INITIALIZERS[batchnorm_init]

    def init_fn(module: nn.Module) -> None:
        init(module)
        bn_init(module)

    model.apply(init_fn)
    return model


def prunable_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified module name, module)`` for every prunable layer (Conv2d and Linear), in module order:
    :func:`concave_lottery.method.masks.prunable_layers`, the one definition."""
    return list(prunable_layers(model).items())


def prunable_parameter_names(model: nn.Module) -> list[str]:
    """Fully qualified names of the prunable weights, in module order, e.g. ``"conv.weight"``.

    Names refer to the module attribute ``weight``; they stay the same when the weight is wrapped
    by ``torch.nn.utils.parametrize`` or ``torch.nn.utils.prune`` (parametrized modules remain
    instances of their class).
    """
    return [f"{name}.weight" if name else "weight" for name, _ in prunable_modules(model)]


def _is_network_parameter(name: str) -> bool:
    """False for the extra tensors of a parametrization (e.g. a mask), true for its ``original``."""
    if ".parametrizations." not in f".{name}":
        return True
    return name.rsplit(".", 1)[-1].startswith("original")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(all parameters, prunable parameters)`` of the network.

    ``all`` counts every parameter of the network itself: the parameters of a
    ``torch.nn.utils.parametrize`` parametrization (e.g. a learnable mask) are not counted, its
    ``original`` tensor is. ``prunable`` is the number of entries of the prunable weights.
    """
    total = sum(p.numel() for name, p in model.named_parameters() if _is_network_parameter(name))
    with torch.no_grad():
        prunable = sum(module.weight.numel() for _, module in prunable_modules(model))
    return total, prunable
