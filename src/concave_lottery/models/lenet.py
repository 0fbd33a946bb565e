"""LeNet-300-100: the fully connected MNIST network of the lottery-ticket papers.

Follows open_lth ``models/mnist_lenet.py`` (``mnist_lenet_300_100``): flatten the input, two hidden
``Linear`` layers with ReLU (kept in ``fc_layers``), and a linear output layer ``fc``. Unlike
open_lth (fixed 784 inputs), the input size is ``in_channels * image_size ** 2``, so the same model
serves MNIST (28x28x1) and, for instance, CIFAR (32x32x3).

Parameter counts (all = prunable + biases; prunable = the three ``Linear`` weights):

=====================  ==========  ==========
input, classes         all         prunable
=====================  ==========  ==========
28x28x1, 10 (MNIST)    266,610     266,200
32x32x3, 10 (CIFAR)    953,010     952,600
=====================  ==========  ==========
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LeNet(nn.Module):
    """Fully connected: flatten -> Linear(d, 300) -> ReLU -> Linear(300, 100) -> ReLU -> Linear(100, K).

    ``plan`` lists the hidden widths (default ``(300, 100)``, LeNet-300-100). Input is NCHW (or any
    N x ...) float; it is flattened in the logical (C, H, W) order whatever the memory format.
    """

    def __init__(self, num_inputs: int, num_classes: int, plan: Sequence[int] = (300, 100)) -> None:
        super().__init__()
        layers = []
        current = num_inputs
        for width in plan:
            layers.append(nn.Linear(current, width))
            current = width
        self.fc_layers = nn.ModuleList(layers)
        self.fc = nn.Linear(current, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        for layer in self.fc_layers:
            x = F.relu(layer(x))
        return self.fc(x)


def lenet300(*, num_classes: int, in_channels: int = 1, image_size: int = 28) -> LeNet:
    """LeNet-300-100 for ``in_channels`` x ``image_size`` x ``image_size`` inputs (not initialised)."""
    return LeNet(in_channels * image_size * image_size, num_classes, (300, 100))
