"""Training augmentation and normalisation of whole batches on the data's device.

Per dataset (``ImageData.augmentation``):

- ``"cifar"``: random crop 32 from the image zero-padded by 4 pixels, then a horizontal flip with
  probability 1/2 (the paper's Sec. V-D protocol; torchvision's ``RandomCrop(32, padding=4)`` +
  ``RandomHorizontalFlip()``).
- ``"tinyimagenet"``: the same at 64x64 with 4-pixel padding. The paper does not say how it augments
  Tiny ImageNet; this is our documented choice (the CIFAR recipe carried over, same relative shift
  budget as open_lth-style CIFAR training, no rescaling, so train and test images share one scale).
- ``"none"`` (MNIST): nothing.

A crop offset ``(dy, dx)`` lies in ``{0, ..., 2 * pad}``: output pixel ``(i, j)`` of a sample is
pixel ``(i + dy - pad, j + dx - pad)`` of the original image (zero outside it), read at column
``W - 1 - j`` instead of ``j`` when the sample is flipped. Crop and flip are one gather
(:func:`crop_flip`): a single ``torch.take`` with a per-element source index, no per-sample Python.
Normalisation, ``(x / 255 - mean) / std``, is one multiply-add on the gathered batch. The random
offsets and flip bits are drawn by the caller on the CPU (:func:`draw`), so a seed gives the same
batch on every device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from concave_lottery.errors import unknown_name


@dataclass(frozen=True)
class CropFlip:
    """Random crop of the original size from the image padded by ``pad`` zeros, then a random flip."""

    pad: int = 4
    flip: bool = True


AUGMENTATIONS: dict[str, CropFlip | None] = {
    "none": None,
    "cifar": CropFlip(pad=4),
    "tinyimagenet": CropFlip(pad=4),
}


def get(name: str) -> CropFlip | None:
    if name not in AUGMENTATIONS:
        raise unknown_name("augmentation", name, AUGMENTATIONS)
    return AUGMENTATIONS[name]


def draw(aug: CropFlip, n: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` crop offsets (int64 ``(n, 2)``, each in ``[0, 2 * pad]``) and flip bits (bool ``(n,)``)
    on the CPU, in this order, from ``generator`` (``None``: torch's default CPU generator)."""
    offsets = torch.randint(0, 2 * aug.pad + 1, (n, 2), generator=generator)
    if aug.flip:
        flips = torch.randint(0, 2, (n,), generator=generator).bool()
    else:
        flips = torch.zeros(n, dtype=torch.bool)
    return offsets, flips


def crop_flip(
    images: torch.Tensor,
    index: torch.Tensor,
    offsets: torch.Tensor,
    flips: torch.Tensor,
    pad: int,
    channels_last: bool = False,
) -> torch.Tensor:
    """Gather ``images[index]`` (uint8 ``(N, C, H, W)``) with each sample cropped and flipped.

    ``offsets`` int64 ``(B, 2)`` and ``flips`` bool ``(B,)`` on the images' device. Returns uint8
    ``(B, C, H, W)``; with ``channels_last`` its memory is ``(B, H, W, C)`` (``torch.channels_last``).
    """
    n, c, h, w = images.shape
    device = images.device
    rows = offsets[:, :1] - pad + torch.arange(h, device=device)  # (B, H) source row per output row
    cols = offsets[:, 1:] - pad + torch.arange(w, device=device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (B, H, W)
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    base = index[:, None, None] * (c * h * w) + rows[:, :, None] * w + cols[:, None, :]  # (B, H, W)
    plane = torch.arange(c, device=device) * (h * w)
    if channels_last:
        source = base[..., None] + plane  # (B, H, W, C)
        out = images.reshape(-1).take(source) * valid[..., None]
        return out.permute(0, 3, 1, 2)  # NCHW view, channels_last memory
    source = base[:, None] + plane[None, :, None, None]  # (B, C, H, W)
    return images.reshape(-1).take(source) * valid[:, None]


def normalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(x / 255 - mean) / std`` for uint8 ``x`` (memory format kept); ``mean``/``std`` are ``(C,)``."""
    scale = (1.0 / (255.0 * std)).to(dtype).view(1, -1, 1, 1)
    shift = (-mean / std).to(dtype).view(1, -1, 1, 1)
    return images.to(dtype).mul_(scale).add_(shift)


def transform(
    images: torch.Tensor,
    index: torch.Tensor,
    offsets: torch.Tensor | None,
    flips: torch.Tensor | None,
    pad: int,
    mean: torch.Tensor,
    std: torch.Tensor,
    channels_last: bool,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Gather, augment (when ``offsets`` is given) and normalise one batch: the whole data path."""
    if offsets is not None:
        batch = crop_flip(images, index, offsets, flips, pad, channels_last)
    else:
        batch = images.index_select(0, index)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
    return normalize(batch, mean, std, dtype)


_COMPILED: dict[str, Callable] = {}


def compiled_transform(backend: str = "inductor") -> Callable:
    """:func:`transform` under ``torch.compile`` (one fused kernel on CUDA), compiled once per backend."""
    if backend not in _COMPILED:
        _COMPILED[backend] = torch.compile(transform, backend=backend, dynamic=True)
    return _COMPILED[backend]
