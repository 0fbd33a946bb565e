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
gathers (:func:`gather_windows`, after :func:`windows` turned a batch's offsets and flips into source
rows and columns), no per-sample Python. Normalisation, ``(x / 255 - mean) / std``, is one
multiply-add pass from the uint8 batch to the float one (:func:`apply_affine`). The random
offsets and flip bits are drawn by the caller on the CPU (:func:`draw`), so a seed gives the same
batch on every device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

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


class Windows(NamedTuple):
    """Where each sample's crop reads from.

    ``rows[k, i]``: source row of output row ``i`` of sample ``k``, clamped into the image;
    ``cols[k, j]``: source column of output column ``j`` (already reversed for a flipped sample);
    ``row_inside`` / ``col_inside``: whether that row / column lies inside the image (else the output
    pixel is padding, 0).
    """

    rows: torch.Tensor  # int64 (n, H)
    cols: torch.Tensor  # int64 (n, W)
    row_inside: torch.Tensor  # uint8 (n, H), 1 inside
    col_inside: torch.Tensor  # uint8 (n, W)


def windows(offsets: torch.Tensor, flips: torch.Tensor, pad: int, h: int, w: int) -> Windows:
    """The :class:`Windows` of samples with crop ``offsets`` ``(n, 2)`` and ``flips`` ``(n,)``."""
    device = offsets.device
    rows = offsets[:, :1] - pad + torch.arange(h, device=device)
    cols = offsets[:, 1:] - pad + torch.arange(w, device=device)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    row_inside, col_inside = ((rows >= 0) & (rows < h)).to(torch.uint8), ((cols >= 0) & (cols < w)).to(torch.uint8)
    return Windows(rows.clamp(0, h - 1), cols.clamp(0, w - 1), row_inside, col_inside)


def gather_windows(images: torch.Tensor, index: torch.Tensor, win: Windows) -> torch.Tensor:
    """Samples ``images[index]`` cropped (and flipped) as ``win`` says: uint8 ``(B, C, H, W)``, contiguous.

    Two whole-batch gathers: the source row of every output row (``index_select`` of ``W``-byte rows),
    then the source column of every output pixel (``gather`` along the row); padding is zeroed.
    """
    n, c, h, w = images.shape
    b = index.shape[0]
    channel_rows = torch.arange(0, c * h, h, device=images.device)[None, :, None]
    row_index = index[:, None, None] * (c * h) + channel_rows + win.rows[:, None, :]  # (B, C, H)
    batch = images.reshape(n * c * h, w).index_select(0, row_index.reshape(-1)).view(b, c, h, w)
    batch = batch.gather(3, win.cols[:, None, None, :].expand(b, c, h, w))
    return batch * (win.row_inside[:, :, None] * win.col_inside[:, None, :])[:, None]  # uint8 outer product


def crop_flip(
    images: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int
) -> torch.Tensor:
    """Gather ``images[index]`` (uint8 ``(N, C, H, W)``) with each sample cropped at ``offsets``
    (int64 ``(B, 2)``) from the ``pad``-padded image and flipped where ``flips`` (bool ``(B,)``)."""
    return gather_windows(images, index, windows(offsets, flips, pad, *images.shape[-2:]))


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
    images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``shift + x * scale`` over each sample's bytes in memory order: one pass, uint8 in, float out.

    ``images`` is a contiguous or (then ``scale``/``shift`` in (H, W, C) order) channels_last batch;
    the result keeps its memory format. (A broadcast of per-channel values over a channels_last
    tensor is several times slower on a CPU.)
    """
    b, c, h, w = images.shape
    nhwc = c > 1 and not images.is_contiguous()
    flat = (images.permute(0, 2, 3, 1) if nhwc else images).reshape(b, c * h * w)
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
    if not channels_last:
        images = images.contiguous()
    scale, shift = affine(mean.to(images.device), std.to(images.device), tuple(images.shape[1:]), channels_last)
    return apply_affine(images, scale, shift, dtype)


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
    the uint8 batch is converted (1 byte per value), so the float batch is written once, in place.
    """
    if offsets is not None:
        batch = gather_windows(images, index, windows(offsets, flips, pad, *images.shape[-2:]))
    else:
        batch = images.index_select(0, index)
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    return apply_affine(batch, scale, shift, dtype)


_COMPILED: dict[str, Callable] = {}


def compiled_transform(backend: str = "inductor") -> Callable:
    """:func:`transform` under ``torch.compile`` (one fused kernel on CUDA), compiled once per backend."""
    if backend not in _COMPILED:
        _COMPILED[backend] = torch.compile(transform, backend=backend, dynamic=True)
    return _COMPILED[backend]
