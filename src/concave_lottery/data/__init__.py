"""Datasets by name, from the data root, an offline mirror or the official downloads, md5-verified;
held as uint8 tensors on the device and delivered as augmented, normalised batches.

Public API::

    DATASETS                                  # the names load_dataset accepts
    load_dataset(name, device=..., root=..., mirror=..., download=True, progress=True) -> ImageData
    batches(data, batch_size, train=..., generator=..., augment=..., channels_last=..., drop_last=...)
    num_batches(data, batch_size, train=..., drop_last=...)
    dataset_status(name) -> Status            # what `lottery data check` shows
    load_mnist01(split) -> (X, y); draw_runs(X, y, n_runs, per_digit, n_train, seed) -> Runs

See :mod:`concave_lottery.data.sources` for the source order and the environment variables
(``LOTTERY_DATA``, ``LOTTERY_DATA_MIRROR``, ``LOTTERY_OFFLINE``).
"""

from concave_lottery.data.augment import AUGMENTATIONS, CropFlip
from concave_lottery.data.batches import BatchOptions, batches, num_batches
from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.mnist01 import Runs, draw_runs, load_mnist01
from concave_lottery.data.registry import DATASETS, dataset_status, load_dataset
from concave_lottery.data.sources import Status, data_root, mirror_root

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "BatchOptions",
    "CropFlip",
    "ImageData",
    "Runs",
    "Status",
    "batches",
    "data_root",
    "dataset_status",
    "draw_runs",
    "load_dataset",
    "load_mnist01",
    "mirror_root",
    "num_batches",
]
