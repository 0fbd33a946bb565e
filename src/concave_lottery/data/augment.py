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
``W - 1 - j`` instead of ``j`` when the sample is flipped. Crop and flip are whole-batch
ops (:func:`crop_flip`: one padded buffer, one ``index_select`` of its row windows), no per-sample
Python. Normalisation, ``(x / 255 - mean) / std``, is one
multiply-add pass from the uint8 batch to the float one (:func:`apply_affine`). The random
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
    images: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int
) -> torch.Tensor:
    """Gather ``images[index]`` (uint8 ``(N, C, H, W)``) with each sample cropped at ``offsets``
    (int64 ``(B, 2)``) from the ``pad``-zero-padded image and flipped where ``flips`` (bool ``(B,)``).

    Returns a contiguous uint8 ``(B, C, H, W)`` batch, built with whole-batch ops only: the batch and
    its mirror image are written into one zero-padded buffer, and every output row is then a
    ``W``-byte window of that buffer, so one ``index_select`` over the buffer's sliding windows
    (``unfold``) cuts all crops at once. A flipped crop is the crop of the mirrored padded image at
    column offset ``2 * pad - dx``.
    """
    n, c, h, w = images.shape
    b = index.shape[0]
    hp, wp = h + 2 * pad, w + 2 * pad
    device = images.device
    batch = images.index_select(0, index)
    padded = images.new_zeros((2, b, c, hp, wp))  # [0]: the batch, [1]: its mirror image
    padded[0, :, :, pad : pad + h, pad : pad + w] = batch
    padded[1, :, :, pad : pad + h, pad : pad + w] = batch.flip(3)
    sample = flips.long() * b + torch.arange(b, device=device)  # which padded image each output reads
    dx = torch.where(flips, 2 * pad - offsets[:, 1], offsets[:, 1])
    first_row = (sample[:, None, None] * c + torch.arange(c, device=device)[None, :, None]) * hp
    row = first_row + offsets[:, :1, None] + torch.arange(h, device=device)[None, None, :]  # (B, C, H)
    starts = row * wp + dx[:, None, None]  # byte offset in the buffer of every output row
    return padded.view(-1).unfold(0, w, 1).index_select(0, starts.reshape(-1)).view(b, c, h, w)


def affine(
    mean: torch.Tensor, std: torch.Tensor, shape: tuple[int, int, int], channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element ``scale``, ``shift`` (float32, one value per byte of a ``(C, H, W)`` sample in memory
    order) with ``x * scale + shift == (x / 255 - mean) / std``."""
    c, h, w = shape
    scale, shift = 1.0 / (255.0 * std.float()), -mean.float() / std.float()
    if channels_last and c > 1:
        return scale.repeat(h * w), shift.repeat(h * w)  # memory order (H, W, C)
    return scale.repeat_interleave(h * w), shift.repeat_interleave(h * w)  # memory order (C, H, W)


def apply_affine(
    images: torch.Tensor,
    scale: torch.Tensor,
    shift: torch.Tensor,
    channels_last: bool = False,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``shift + x * scale`` over each sample's bytes in memory order: uint8 in, float out.

    ``scale``/``shift`` come from :func:`affine` with the same ``channels_last``; the batch is put in
    that memory format first (a no-op when it already is) and the result has it too. (A broadcast of
    per-channel values over a channels_last tensor is several times slower on a CPU.)
    """
    b, c, h, w = images.shape
    nhwc = channels_last and c > 1
    if nhwc:
        flat = images.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(b, c * h * w)
    else:
        flat = images.contiguous().reshape(b, c * h * w)
    out = flat.float()
    out = torch.addcmul(shift, out, scale, out=out)  # in place: fastest on a CPU (no second buffer)
    if dtype != torch.float32:
        out = out.to(dtype)
    return out.view(b, h, w, c).permute(0, 3, 1, 2) if nhwc else out.view(b, c, h, w)


def normalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(x / 255 - mean) / std`` for a uint8 batch ``x`` (contiguous or channels_last, kept);
    ``mean``/``std`` are ``(C,)``."""
    channels_last = not images.is_contiguous() and images.is_contiguous(memory_format=torch.channels_last)
    scale, shift = affine(mean.to(images.device), std.to(images.device), tuple(images.shape[1:]), channels_last)
    return apply_affine(images, scale, shift, channels_last, dtype)


def transform(
    images: torch.Tensor,
    index: torch.Tensor,
    offsets: torch.Tensor | None,
    flips: torch.Tensor | None,
    pad: int,
    scale: torch.Tensor,
    shift: torch.Tensor,
    channels_last: bool,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Gather, augment (when ``offsets`` is given), lay out and normalise one batch: the whole data path.

    ``scale``/``shift`` come from :func:`affine` for the same ``channels_last``. With ``channels_last``
    the uint8 batch is converted (1 byte per value) and the float batch written once, in that layout.
    """
    if offsets is not None:
        batch = crop_flip(images, index, offsets, flips, pad)
    else:
        batch = images.index_select(0, index)
    return apply_affine(batch, scale, shift, channels_last, dtype)


_COMPILED: dict[str, Callable] = {}


def compiled_transform(backend: str = "inductor") -> Callable:
    """:func:`transform` under ``torch.compile`` (one fused kernel on CUDA), compiled once per backend."""
    if backend not in _COMPILED:
        _COMPILED[backend] = torch.compile(transform, backend=backend, dynamic=True)
    return _COMPILED[backend]
