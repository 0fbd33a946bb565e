"""Small synthetic datasets for fast tests of the training and lottery loops."""

from __future__ import annotations

import torch

from concave_lottery.data import ImageData


def tiny_images(n_train: int = 256, n_test: int = 64, classes: int = 4, size: int = 8, channels: int = 1,
                seed: int = 0, name: str = "mnist") -> ImageData:
    """Class-dependent blobs: learnable in a few epochs by LeNet-300-100 on 8x8 inputs."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(classes, channels, size, size, generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, classes, (n,), generator=g)
        x = protos[y] * 0.7 + 0.3 * torch.rand(n, channels, size, size, generator=g)
        return (x * 255).round().to(torch.uint8), y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return ImageData(name=name, train_images=xtr, train_labels=ytr, test_images=xte, test_labels=yte,
                     num_classes=classes, mean=(0.5,) * channels, std=(0.25,) * channels,
                     augmentation="none", source="synthetic")
