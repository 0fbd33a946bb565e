"""Batches gathered by index from tensor-resident data (the fast data path, CPU and GPU alike).

The whole dataset stays on its device as uint8 (:class:`~concave_lottery.data.ImageData`); a batch is an
index gather, the dataset's augmentation and the normalisation, all whole-batch tensor ops on that
device (:func:`concave_lottery.data.augment.transform`), optionally ``torch.compile``-d into one kernel.

Randomness: when :func:`batches` is called with ``train=True`` it draws, from ``generator`` (a CPU
``torch.Generator``; ``None``: torch's default generator) and in this order, the epoch's permutation
(``torch.randperm(N)``), then for the augmentation one crop offset pair and one flip bit per position
of that permutation (:func:`concave_lottery.data.augment.draw`). The draws happen on the CPU and are then
moved to the device, so one seed gives bit-identical batches on every device, and a sample's
augmentation does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields

import torch

from concave_lottery.data import augment as aug
from concave_lottery.data.imagedata import ImageData
from concave_lottery.errors import ParameterError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class BatchOptions:
    """How batches are delivered; meant to sit in a run's config (all of it works on the CPU too)."""

    channels_last: bool = field(
        default=False,
        metadata={
            "help": "deliver NCHW batches in channels_last memory (NHWC), the fast layout for convolutions on GPU"
        },
    )
    compile: bool | str = field(
        default=False,
        metadata={"help": "torch.compile the gather+augment+normalise step (True: inductor, or a backend name)"},
    )
    dtype: str = field(
        default="float32",
        metadata={
            "help": "dtype of the delivered images: float32, bfloat16 or float16 (under autocast float32 is fine)"
        },
    )

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ParameterError("dtype", self.dtype, f"dtype must be one of {', '.join(DTYPES)}")

    def kwargs(self) -> dict:
        """Keyword arguments for :func:`batches`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def num_batches(data: ImageData, batch_size: int, *, train: bool, drop_last: bool = False) -> int:
    """How many batches :func:`batches` yields for these arguments."""
    _check_batch_size(batch_size)
    n = data.num_train if train else data.num_test
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(
    data: ImageData,
    batch_size: int,
    *,
    train: bool,
    generator: torch.Generator | None = None,
    augment: bool | None = None,
    channels_last: bool = False,
    drop_last: bool = False,
    dtype: torch.dtype | str = torch.float32,
    compile: bool | str = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` batches: float normalised images and int64 labels on ``data``'s device.

    ``train=True``: the training split, shuffled with ``generator`` and augmented per
    ``data.augmentation`` (``augment=False`` turns that off). ``train=False``: the test split in order,
    not augmented (``augment=True`` applies the training augmentation to it, drawing from ``generator``).
    ``drop_last`` drops a final short batch. ``channels_last`` delivers channels_last memory;
    ``dtype`` the delivered dtype; ``compile`` runs the step under ``torch.compile`` (True: inductor,
    or a backend name such as ``"aot_eager"``).
    """
    _check_batch_size(batch_size)
    if generator is not None and generator.device.type != "cpu":
        raise ParameterError(
            "generator",
            generator.device,
            "generator must be a CPU torch.Generator (the draws "
            "are made on the CPU so that every device sees the same batches)",
        )
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ParameterError("dtype", dtype, f"dtype must be one of {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    images = data.train_images if train else data.test_images
    labels = data.train_labels if train else data.test_labels
    device = images.device
    n, c, h, w = images.shape
    order = torch.randperm(n, generator=generator) if train else None
    recipe = aug.get(data.augmentation)
    if augment is None:
        augment = train
    offsets = flips = None
    if augment and recipe is not None:
        offsets, flips = aug.draw(recipe, n, generator)
        offsets, flips = offsets.to(device, non_blocking=True), flips.to(device, non_blocking=True)
    if order is not None:
        order = order.to(device, non_blocking=True)
    mean = torch.tensor(data.mean, dtype=torch.float32, device=device)
    std = torch.tensor(data.std, dtype=torch.float32, device=device)
    scale, shift = aug.affine(mean, std, (c, h, w), channels_last)
    step = aug.compiled_transform("inductor" if compile is True else compile) if compile else aug.transform
    count = num_batches(data, batch_size, train=train, drop_last=drop_last)
    pad = recipe.pad if recipe is not None else 0
    return _iterate(
        images, labels, order, offsets, flips, pad, scale, shift, channels_last, dtype, step, batch_size, count
    )


def _iterate(
    images, labels, order, offsets, flips, pad, scale, shift, channels_last, dtype, step, batch_size, count
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    n = images.shape[0]
    for b in range(count):
        start, stop = b * batch_size, min(n, (b + 1) * batch_size)
        if order is None and offsets is None:  # test split in order: a slice, no gather
            yield aug.apply_affine(images[start:stop], scale, shift, channels_last, dtype), labels[start:stop]
            continue
        index = order[start:stop] if order is not None else torch.arange(start, stop, device=images.device)
        if offsets is None:
            x = step(images, index, None, None, pad, scale, shift, channels_last, dtype)
        else:
            x = step(images, index, offsets[start:stop], flips[start:stop], pad, scale, shift, channels_last, dtype)
        yield x, labels.index_select(0, index)


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError("batch_size", batch_size, "batch_size must be a positive integer")
