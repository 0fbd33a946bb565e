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
``W - 1 - j`` instead of ``j`` when the sample is flipped. Crop and flip are two whole-batch
gathers (:func:`crop_flip`), no per-sample Python.
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
) -> torch.Tensor:
    """Gather ``images[index]`` (uint8 ``(N, C, H, W)``) with each sample cropped and flipped.

    ``offsets`` int64 ``(B, 2)`` and ``flips`` bool ``(B,)`` on the images' device. Returns a contiguous
    uint8 ``(B, C, H, W)`` batch. Two whole-batch gathers: the source rows of every output row
    (``index_select`` of ``W``-byte rows), then the source column of every output pixel (``gather``
    along the row; a flip reverses the column index); pixels from outside the image are zeroed.
    """
    n, c, h, w = images.shape
    b = index.shape[0]
    device = images.device
    rows = offsets[:, :1] - pad + torch.arange(h, device=device)  # (B, H) source row per output row
    cols = offsets[:, 1:] - pad + torch.arange(w, device=device)  # (B, W) source column per output column
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (B, H, W)
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    row_index = (index[:, None, None] * c + torch.arange(c, device=device)[None, :, None]) * h + rows[:, None, :]
    batch = images.reshape(n * c * h, w).index_select(0, row_index.reshape(-1)).view(b, c, h, w)
    batch = batch.gather(3, cols[:, None, None, :].expand(b, c, h, w))
    return batch * valid[:, None]


def normalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(x / 255 - mean) / std`` for a uint8 batch ``x``; ``mean``/``std`` are ``(C,)``.

    Keeps the memory format (contiguous or channels_last). The multiply-add runs over each sample's
    bytes in memory order against a per-element scale and shift vector (the per-channel values repeated
    in that order): a plain broadcast over a channels_last tensor is several times slower on a CPU.
    """
    b, c, h, w = images.shape
    scale, shift = (1.0 / (255.0 * std)).to(dtype), (-mean / std).to(dtype)
    if c > 1 and not images.is_contiguous() and images.is_contiguous(memory_format=torch.channels_last):
        flat = images.permute(0, 2, 3, 1).reshape(b, h * w * c)  # a view: memory order is (H, W, C)
        out = flat.to(dtype).mul_(scale.repeat(h * w)).add_(shift.repeat(h * w))
        return out.view(b, h, w, c).permute(0, 3, 1, 2)
    flat = images.contiguous().reshape(b, c * h * w)
    out = flat.to(dtype).mul_(scale.repeat_interleave(h * w)).add_(shift.repeat_interleave(h * w))
    return out.view(b, c, h, w)


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
    """Gather, augment (when ``offsets`` is given) and normalise one batch: the whole data path.

    With ``channels_last`` the uint8 batch is converted (1 byte per value) before normalisation, so
    the float batch is written once, directly in channels_last memory.
    """
    if offsets is not None:
        batch = crop_flip(images, index, offsets, flips, pad)
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
