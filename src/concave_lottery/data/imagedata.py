"""An image-classification dataset held as whole uint8 tensors (the tensor-resident data path).

The images stay uint8 ``(N, C, H, W)`` on the device they will be used on, 1 byte per pixel: full
CIFAR-10 is 184 MB, Tiny ImageNet 1.35 GB. :func:`concave_lottery.data.batches` gathers batches by index
and converts, augments and normalises them on that device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from concave_lottery.errors import ParameterError


@dataclass
class ImageData:
    """Train and test split of one dataset as uint8 image tensors plus int64 labels.

    ``mean`` and ``std`` are per channel in [0, 1] pixel units: a batch is normalised as
    ``(x / 255 - mean) / std``. ``augmentation`` names the training augmentation
    (see :mod:`concave_lottery.data.augment`); ``source`` says where the data came from.
    """

    name: str
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor  # uint8 (M, C, H, W)
    test_labels: torch.Tensor  # int64 (M,)
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augmentation: str  # "none" | "cifar" | "tinyimagenet"
    source: str

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"{split}_images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
            if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{split}_labels must be int64 ({images.shape[0]},), got {labels.dtype} {tuple(labels.shape)}"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError("train and test images differ in shape")
        if not len(self.mean) == len(self.std) == self.in_channels:
            raise ValueError("mean and std need one value per channel")

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        """Side of the (square) images in pixels."""
        return int(self.train_images.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    @property
    def num_train(self) -> int:
        return int(self.train_images.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.test_images.shape[0])

    def to(self, device: str | torch.device) -> ImageData:
        """The same data with every tensor on ``device`` (no copy if already there)."""
        device = torch.device(device)
        return replace(
            self,
            train_images=self.train_images.to(device),
            train_labels=self.train_labels.to(device),
            test_images=self.test_images.to(device),
            test_labels=self.test_labels.to(device),
        )

    def first_classes(self, k: int) -> ImageData:
        """The images of classes ``0 .. k-1`` only (labels unchanged, ``num_classes = k``): a reduced
        dataset with fewer classes but every image of each kept class (e.g. 10 of Tiny ImageNet's 200)."""
        if not 1 <= k <= self.num_classes:
            raise ParameterError("classes", k, f"classes must lie in [1, {self.num_classes}] for {self.name} "
                                 f"(0 keeps all classes)")
        if k == self.num_classes:
            return self
        train = torch.nonzero(self.train_labels < k).flatten()
        test = torch.nonzero(self.test_labels < k).flatten()
        return replace(self, train_images=self.train_images[train], train_labels=self.train_labels[train],
                       test_images=self.test_images[test], test_labels=self.test_labels[test], num_classes=k,
                       source=f"{self.source} (first {k} of {self.num_classes} classes)")

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> ImageData:
        """A reproducible subset: ``n_train`` training and ``n_test`` test images (``None``: keep all).

        Stratified: every class gets ``n // num_classes`` images, the remainder goes one each to
        classes drawn at random; a class with too few images gives what it has and the shortfall is
        drawn at random from the rest. The chosen images keep their original order. The same
        ``seed`` gives the same subset on any device.
        """
        generator = torch.Generator().manual_seed(seed)
        train = _stratified(self.train_labels, n_train, self.num_classes, generator, "n_train")
        test = _stratified(self.test_labels, n_test, self.num_classes, generator, "n_test")
        out = self
        if train is not None:
            index = train.to(self.device)
            out = replace(out, train_images=self.train_images[index], train_labels=self.train_labels[index])
        if test is not None:
            index = test.to(self.device)
            out = replace(out, test_images=self.test_images[index], test_labels=self.test_labels[index])
        return replace(out, source=f"{self.source} (subset n_train={n_train}, n_test={n_test}, seed={seed})")


def _stratified(
    labels: torch.Tensor, n: int | None, num_classes: int, generator: torch.Generator, what: str
) -> torch.Tensor | None:
    """Sorted CPU indices of a stratified random sample of ``n`` labels, or ``None`` for all."""
    total = int(labels.shape[0])
    if n is None or n == total:
        return None
    if not 0 <= n <= total:
        raise ParameterError(what, n, f"{what} must lie in [0, {total}]")
    labels = labels.cpu()
    per_class = [torch.nonzero(labels == k).flatten() for k in range(num_classes)]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    quota = torch.full((num_classes,), n // num_classes, dtype=torch.long)
    quota[torch.randperm(num_classes, generator=generator)[: n % num_classes]] += 1
    chosen, leftover = [], []
    for k, idx in enumerate(per_class):
        take = min(int(quota[k]), len(idx))
        chosen.append(idx[:take])
        leftover.append(idx[take:])
    short = n - sum(len(c) for c in chosen)
    if short > 0:
        rest = torch.cat(leftover)
        chosen.append(rest[torch.randperm(len(rest), generator=generator)[:short]])
    return torch.cat(chosen).sort().values
