"""Images per second delivered to the model: our tensor-resident batches vs torchvision's DataLoader.

Prints figures (not a timed test), all measured in this one process run on this machine:

1. CIFAR-shaped data (the mirror's real ``cifar10-subset`` when ``$LOTTERY_DATA_MIRROR`` is set, else
   random 32x32 images): random crop 32 with 4-pixel padding + horizontal flip + normalisation, batch 128.
   Reference: a ``torch.utils.data.DataLoader`` over a map-style dataset that does what torchvision's
   ``CIFAR10.__getitem__`` does (uint8 HWC array -> PIL image -> ``RandomCrop(32, padding=4)``,
   ``RandomHorizontalFlip()``, ``ToTensor()``, ``Normalize(mean, std)``), ``num_workers`` 0 and 2.
   Ours: :func:`concave_lottery.data.batches` on the same uint8 tensors (plain and ``channels_last``).
2. Tiny ImageNet (the mirror's shards): first load (decode of 110,000 JPEGs into a fresh data root)
   and second, cached load; then images/s as above at 64x64 (crop 64, padding 4). The DataLoader
   reference gets the decoded images in memory (its best case: no JPEG decoding per sample).

On a CUDA machine our batches are also timed on the GPU (data resident there). Usage::

    python benchmarks/data_speed.py [--images N] [--root DIR] [--skip-tiny]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from concave_lottery.data import ImageData, batches, load_dataset
from concave_lottery.data.cifar import CIFAR10_MEAN, CIFAR10_STD
from concave_lottery.errors import DatasetUnavailable
from concave_lottery.runs.results import cpu_model_name

BATCH = 128


def hardware() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"CPU: {cpu_model_name()}, {os.cpu_count()} logical cores ({usable} usable), "
        f"torch threads {torch.get_num_threads()}",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}",
    ]
    if torch.cuda.is_available():
        lines.append(f"GPU: {torch.cuda.get_device_name()}")
    return "\n".join(lines)


class TorchvisionStyle(Dataset):
    """What torchvision's CIFAR10.__getitem__ does: HWC uint8 array -> PIL image -> transform."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images_hwc, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def best_of(trials: int, measure) -> float:
    """The best of several trials: the figure for an otherwise idle machine (this one is shared)."""
    return max(measure() for _ in range(trials))


def reference_rate(data: ImageData, workers: int, n_images: int) -> float:
    size = data.image_size
    transform = transforms.Compose(
        [
            transforms.RandomCrop(size, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(data.mean, data.std),
        ]
    )
    images = data.train_images.permute(0, 2, 3, 1).contiguous().numpy()
    dataset = TorchvisionStyle(images, data.train_labels.numpy(), transform)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers, drop_last=True)
    seen = 0
    started = None
    for x, _ in loader:  # the first batch (worker start-up) is not timed
        if started is None:
            started = time.perf_counter()
            continue
        seen += len(x)
        if seen >= n_images:
            break
    return seen / (time.perf_counter() - started)


def our_rate(data: ImageData, n_images: int, channels_last: bool = False) -> float:
    generator = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if data.device.type == "cuda" else (lambda: None)
    next(iter(batches(data, BATCH, train=True, generator=generator, channels_last=channels_last)))  # warm-up
    sync()
    seen, started = 0, time.perf_counter()
    while seen < n_images:
        for x, _ in batches(data, BATCH, train=True, generator=generator, channels_last=channels_last, drop_last=True):
            seen += len(x)
            if seen >= n_images:
                break
    sync()
    return seen / (time.perf_counter() - started)


def compare(title: str, data: ImageData, n_reference: int, n_ours: int, trials: int) -> None:
    print(
        f"\n{title}: {data.num_train} training images {tuple(data.train_images.shape[1:])}, batch {BATCH}, "
        f"augmentation {data.augmentation!r}; best of {trials} trials"
    )
    rates = {}
    for workers in (0, 2):
        name = f"DataLoader + torchvision transforms, num_workers={workers}"
        rates[name] = best_of(trials, lambda w=workers: reference_rate(data, w, n_reference))
    rates["ours, CPU"] = best_of(trials, lambda: our_rate(data, n_ours))
    rates["ours, CPU, channels_last"] = best_of(trials, lambda: our_rate(data, n_ours, channels_last=True))
    if torch.cuda.is_available():
        gpu = data.to("cuda")
        rates["ours, CUDA (uint8 resident)"] = best_of(trials, lambda: our_rate(gpu, 20 * n_ours))
        rates["ours, CUDA (uint8 resident), channels_last"] = best_of(
            trials, lambda: our_rate(gpu, 20 * n_ours, channels_last=True)
        )
    best_reference = max(v for k, v in rates.items() if k.startswith("DataLoader"))
    for name, rate in rates.items():
        print(f"  {name:<58} {rate:>12,.0f} images/s   ({rate / best_reference:6.1f}x the best DataLoader)")


def cifar_data(mirror: str | None) -> ImageData:
    try:
        return load_dataset("cifar10-subset", mirror=mirror, download=False, progress=False)
    except DatasetUnavailable:
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (5000, 3, 32, 32), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (5000,), generator=g)
        return ImageData(
            "random-cifar-shaped",
            images,
            labels,
            images[:100],
            labels[:100],
            10,
            CIFAR10_MEAN,
            CIFAR10_STD,
            "cifar",
            "random",
        )


def tiny_loads(root: Path | None, mirror: str | None) -> ImageData | None:
    temporary = root is None
    root = Path(tempfile.mkdtemp(prefix="tiny-bench-")) if temporary else root
    try:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            data = load_dataset("tinyimagenet", root=root, mirror=mirror, download=False, progress=False)
            times.append(time.perf_counter() - started)
            print(f"  load {len(times)}: {times[-1]:6.1f} s   ({data.source})")
        data = ImageData(**{**data.__dict__, "train_images": data.train_images.clone()})  # off the mmap
        return data
    except DatasetUnavailable as exc:
        print(f"  Tiny ImageNet not available, skipped: {str(exc).splitlines()[0]}")
        return None
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="images timed per DataLoader measurement")
    parser.add_argument(
        "--root",
        type=Path,
        help="data root for the Tiny ImageNet loads (default: a fresh temporary folder, so the first load decodes)",
    )
    parser.add_argument("--mirror", default=os.environ.get("LOTTERY_DATA_MIRROR"))
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--trials", type=int, default=3, help="trials per measurement (the best is shown)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads of this process (DataLoader workers use 1 each)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(hardware())
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.1f} (other processes share these cores)")
    compare("CIFAR-shaped", cifar_data(args.mirror), args.images, 10 * args.images, args.trials)
    if not args.skip_tiny:
        print("\nTiny ImageNet loads (first: decode 110,000 JPEGs and write the cache; second: from the cache)")
        data = tiny_loads(args.root, args.mirror)
        if data is not None:
            compare("Tiny ImageNet", data, args.images // 2, 3 * args.images, args.trials)


if __name__ == "__main__":
    main()
