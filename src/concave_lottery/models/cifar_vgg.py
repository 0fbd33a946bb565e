"""VGG-11 with BatchNorm for CIFAR-sized inputs, as in open_lth, with a global-average-pool head.

Follows open_lth ``models/cifar_vgg.py`` (``cifar_vgg_11``): plan
``[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512]`` where each number is a 3x3 conv (padding 1,
with bias, as in open_lth) + BN + ReLU and ``M`` a 2x2 max pool; then a linear classifier ``fc``
(512 -> classes). open_lth pools the final 2x2 map of a 32x32 input with ``AvgPool2d(2)``; here the
head is a global average pool (``adaptive_avg_pool2d(., 1)``), identical on 32x32 inputs and also
valid on 64x64 Tiny ImageNet (4x4 final map), as the paper's Fig. 7 needs. Inputs must be at least
16x16 (four 2x2 pools).

Parameter counts, 3 input channels (all / prunable = the eight conv weights and ``fc.weight``;
the rest are conv biases, BN scales/shifts and the ``fc`` bias). Input size does not change them.

===========  ===========  ===========
classes      all          prunable
===========  ===========  ===========
10           9,231,114    9,222,848
100          9,277,284    9,268,928
200          9,328,584    9,320,128
===========  ===========  ===========
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError

PLANS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
}


class ConvModule(nn.Module):
    """3x3 conv (with bias) -> BN -> ReLU (open_lth ``cifar_vgg.Model.ConvModule``)."""

    def __init__(self, in_filters: int, out_filters: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_filters, out_filters, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(out_filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class CifarVGG(nn.Module):
    """VGG from a plan of conv widths and ``"M"`` (max pool), global-average-pool head."""

    def __init__(self, plan: Sequence[int | str], num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        filters = in_channels
        for spec in plan:
            if spec == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                assert isinstance(spec, int)
                layers.append(ConvModule(filters, spec))
                filters = spec
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


def vgg11(*, num_classes: int, in_channels: int = 3, image_size: int = 32) -> CifarVGG:
    """VGG-11 with BN (open_lth ``cifar_vgg_11``), global-average-pool head; image_size >= 16."""
    if image_size < 16:
        raise ParameterError(
            "image_size", image_size, "VGG-11 needs inputs of at least 16x16 (four 2x2 pools)"
        )
    return CifarVGG(PLANS[11], num_classes, in_channels)
