"""CIFAR ResNets (He et al. 2016, Sec. 4.2) as in open_lth: ResNet-20, ResNet-56, WideResNet-20.

Follows open_lth ``models/cifar_resnet.py`` (``cifar_resnet_N[_W]``) block for block:

- stem: 3x3 conv (``in_channels`` -> W, no bias) + BN + ReLU;
- three segments of D = (N - 2) / 6 basic blocks with W, 2W, 4W filters; a block is
  conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU; the first block of
  segments 2 and 3 has stride 2;
- shortcut: identity, or, where the shape changes, a 1x1 conv (stride 2, no bias) + BN
  (open_lth's projection shortcut, option B, not the zero-padding option A of the original paper);
- global average pool and a linear classifier ``fc`` (4W -> classes).

One change from open_lth: the pool is ``adaptive_avg_pool2d(., 1)`` instead of an average pool
with kernel = feature-map width; identical for square inputs, and it also takes non-square ones.
The residual sum is out-of-place (same values) so it works under autocast and parametrizations.
The 1x1 shortcut conv uses the block's stride (open_lth hard-codes 2; the same in every model here,
since the shape changes only where a segment downsamples).

Names: ``resnet20`` = ``cifar_resnet_20`` (W = 16), ``resnet56`` = ``cifar_resnet_56``,
``wrn20`` = ``cifar_resnet_20_64`` (the paper's "WideResNet-20 with 64 filters in the first block").

Parameter counts for 10 classes, 3 input channels (all / prunable = weights of every conv, the
1x1 shortcut convs and ``fc``; the rest are BN scales/shifts and the ``fc`` bias). Input size does
not change them; 100 and 200 classes add 90 x (4W + 1) and 190 x (4W + 1).

==========  ===========  ===========  ===========  ===========
model       all (10)     prunable     all (100)    all (200)
==========  ===========  ===========  ===========  ===========
resnet20        272,474      270,896      278,324      284,824
resnet56        855,770      851,504      861,620      868,120
wrn20         4,327,754    4,321,472    4,350,884    4,376,584
==========  ===========  ===========  ===========  ===========
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """A basic residual block (open_lth ``cifar_resnet.Model.Block``)."""

    def __init__(self, f_in: int, f_out: int, downsample: bool = False) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(f_in, f_out, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        if downsample or f_in != f_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(f_in, f_out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(f_out),
            )
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """ResNet with ``plan = [(W, D), (2W, D), (4W, D)]`` (filters, blocks) per segment."""

    def __init__(self, plan: Sequence[tuple[int, int]], num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        current = plan[0][0]
        self.conv = nn.Conv2d(in_channels, current, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(current)
        blocks = []
        for segment, (filters, num_blocks) in enumerate(plan):
            for index in range(num_blocks):
                blocks.append(Block(current, filters, downsample=segment > 0 and index == 0))
                current = filters
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(plan[-1][0], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.conv(x)))
        out = self.blocks(out)
        out = F.adaptive_avg_pool2d(out, 1)
        return self.fc(torch.flatten(out, 1))


def cifar_resnet(depth: int, width: int = 16, *, num_classes: int, in_channels: int = 3) -> CifarResNet:
    """open_lth ``cifar_resnet_<depth>_<width>``: depth = 6D + 2, widths W, 2W, 4W."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth must be 6D + 2 with D >= 1, got {depth}")
    d = (depth - 2) // 6
    return CifarResNet([(width, d), (2 * width, d), (4 * width, d)], num_classes, in_channels)


def resnet20(*, num_classes: int, in_channels: int = 3, image_size: int = 32) -> CifarResNet:
    """ResNet-20 (open_lth ``cifar_resnet_20``); any image size (global pool)."""
    return cifar_resnet(20, 16, num_classes=num_classes, in_channels=in_channels)


def resnet56(*, num_classes: int, in_channels: int = 3, image_size: int = 32) -> CifarResNet:
    """ResNet-56 (open_lth ``cifar_resnet_56``); any image size (global pool)."""
    return cifar_resnet(56, 16, num_classes=num_classes, in_channels=in_channels)


def wrn20(*, num_classes: int, in_channels: int = 3, image_size: int = 32) -> CifarResNet:
    """WideResNet-20 with 64 filters in the first segment (open_lth ``cifar_resnet_20_64``)."""
    return cifar_resnet(20, 64, num_classes=num_classes, in_channels=in_channels)
