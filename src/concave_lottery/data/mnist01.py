"""The MNIST 0-vs-1 subset of Sec. IV-C (the logistic-regression example, Figs. 3-4).

The paper restricts MNIST to the digits 0 and 1 and uses images of d = 400 pixels: we cut each 28x28
image to its central 20x20 pixels (rows and columns 4..23; MNIST digits are centred in a 20x20 box
inside a 4-pixel border), flattened row by row, with pixel values in [0, 1]. Each of the paper's 100
random runs takes 200 samples per digit, 160 for training and N = 40 for validation
(:func:`draw_runs`). The intercept column of X in R^{N x 401} is the model's business, not added here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import torch

from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.mnist import MEAN, STD
from concave_lottery.data.mnist import load as load_mnist
from concave_lottery.data.sources import data_root, mirror_root
from concave_lottery.errors import ParameterError

DIGITS = (0, 1)
CROP = slice(4, 24)  # the central 20x20 pixels of a 28x28 image
SIDE = 20
D = SIDE * SIDE  # 400


def crop_01(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the digits 0 and 1 of uint8 (N, 1, 28, 28) MNIST images and cut them to (n, 1, 20, 20)."""
    keep = (labels == DIGITS[0]) | (labels == DIGITS[1])
    return images[keep][:, :, CROP, CROP].contiguous(), labels[keep]


def from_mnist(mnist: ImageData) -> ImageData:
    """The 0-vs-1, 20x20 subset of loaded MNIST, both splits, as an :class:`ImageData` (2 classes)."""
    train_images, train_labels = crop_01(mnist.train_images, mnist.train_labels)
    test_images, test_labels = crop_01(mnist.test_images, mnist.test_labels)
    return ImageData(
        "mnist01",
        train_images,
        train_labels,
        test_images,
        test_labels,
        2,
        MEAN,
        STD,
        "none",
        f"{mnist.source} (digits 0 and 1, central 20x20)",
    )


def load(name: str, root: Path, mirror: Path | None, download: bool, progress: bool) -> ImageData:
    return from_mnist(load_mnist("mnist", root, mirror, download, progress))


def load_mnist01(
    split: str = "train",
    *,
    root: str | Path | None = None,
    mirror: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Sec. IV-C design matrix: ``X`` float64 (n, 400) in [0, 1] and labels ``y`` int64 in {0, 1}.

    ``split`` is ``"train"`` (MNIST's 60,000 training images: 5,923 zeros and 6,742 ones, the pool the
    runs are drawn from) or ``"test"`` (2,115 images). Rows keep MNIST's order.
    """
    if split not in ("train", "test"):
        raise ParameterError("split", split, "split must be 'train' or 'test'")
    data = load("mnist01", data_root(root), mirror_root(mirror), download, progress)
    images = data.train_images if split == "train" else data.test_images
    labels = data.train_labels if split == "train" else data.test_labels
    return images.reshape(len(images), D).to(torch.float64) / 255.0, labels.clone()


class Runs(NamedTuple):
    """``n_runs`` random draws of the Sec. IV-C protocol, stacked along the first dimension.

    Within a run the rows are the zeros, then the ones (each in random order); ``*_index`` are the
    rows of the ``X`` the runs were drawn from.
    """

    X_train: torch.Tensor  # (n_runs, 2 * n_train, d)
    y_train: torch.Tensor  # (n_runs, 2 * n_train)
    X_val: torch.Tensor  # (n_runs, 2 * (per_digit - n_train), d)
    y_val: torch.Tensor  # (n_runs, 2 * (per_digit - n_train))
    train_index: torch.Tensor
    val_index: torch.Tensor


def draw_runs(
    X: torch.Tensor,
    y: torch.Tensor,
    n_runs: int = 100,
    per_digit: int = 200,
    n_train: int = 160,
    seed: int = 0,
) -> Runs:
    """Draw the paper's random runs: per run and digit, ``per_digit`` distinct samples, the first
    ``n_train`` for training and the rest for validation (paper: 200 = 160 + 40, 100 runs).

    Batched and reproducible: the same ``seed`` gives the same runs; run ``r`` does not depend on
    ``n_runs`` (each digit has its own generator, and run ``r`` uses row ``r`` of its ``torch.rand`` matrix).
    """
    if n_runs < 1:
        raise ParameterError("n_runs", n_runs, "n_runs must be at least 1")
    if not 0 < n_train < per_digit:
        raise ParameterError("n_train", n_train, f"n_train must lie in [1, per_digit - 1] = [1, {per_digit - 1}]")
    if X.dim() != 2 or y.shape != X.shape[:1]:
        raise ParameterError("X", tuple(X.shape), "X must be (n, d) with one label in y per row")
    train, val = [], []
    for digit in DIGITS:
        generator = torch.Generator().manual_seed(_digit_seed(seed, digit))
        rows = torch.nonzero(y.cpu() == digit).flatten()
        if len(rows) < per_digit:
            raise ParameterError("per_digit", per_digit, f"digit {digit} has only {len(rows)} samples")
        pick = rows[torch.rand(n_runs, len(rows), generator=generator).argsort(dim=1)[:, :per_digit]]
        train.append(pick[:, :n_train])
        val.append(pick[:, n_train:])
    train_index, val_index = torch.cat(train, dim=1).to(X.device), torch.cat(val, dim=1).to(X.device)
    return Runs(X[train_index], y[train_index], X[val_index], y[val_index], train_index, val_index)


def _digit_seed(seed: int, digit: int) -> int:
    """An independent 63-bit seed per (seed, digit)."""
    return int.from_bytes(hashlib.sha256(f"mnist01:{seed}:{digit}".encode()).digest()[:8], "little") >> 1
