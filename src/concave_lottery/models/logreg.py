"""Logistic regression: flatten, then one ``Linear`` layer (the convex model of Sec. IV-C).

The paper's illustrative example (Sec. IV-C, Figs 3-4) is logistic regression on 20x20 MNIST
digits 0 and 1 (d = 400). With ``num_classes = 2`` the two logits under a softmax cross-entropy
are exactly binary logistic regression (on the difference of the logits); ``num_classes = 1``
gives the single-logit form for ``BCEWithLogitsLoss``. open_lth has no such model; it is the
degenerate LeNet with no hidden layer (``fc`` named as in ``models/mnist_lenet.py``).

Parameter counts (all / prunable = the one weight matrix):

=====================  ==========  ==========
input, classes         all         prunable
=====================  ==========  ==========
20x20x1, 2 (MNIST 0/1)     802         800
28x28x1, 10 (MNIST)      7,850       7,840
32x32x3, 10 (CIFAR)     30,730      30,720
=====================  ==========  ==========
"""

from __future__ import annotations

import torch
from torch import nn


class LogisticRegression(nn.Module):
    """x -> W flatten(x) + b, with W of shape (num_classes, num_inputs)."""

    def __init__(self, num_inputs: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(num_inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(x, 1))


def logreg(*, num_classes: int, in_channels: int = 1, image_size: int = 28) -> LogisticRegression:
    """Logistic regression on ``in_channels`` x ``image_size`` x ``image_size`` inputs (not initialised)."""
    return LogisticRegression(in_channels * image_size * image_size, num_classes)
