"""Training speed of our loop against a plain reference loop, in one process run.

Prints, for this machine:

* LeNet-300-100, seconds per MNIST epoch (60,000 images, batch 128, SGD lr 0.1):
  (the median over epochs after a first warm-up epoch; an epoch includes the test-set evaluation)
  - ours: :func:`concave_lottery.runs.training.train` on tensor-resident data, with the binary mask of a
    ticket and with the relaxed mask + log penalty + projection of Algorithm 1;
  - reference: torchvision ``MNIST`` + ``DataLoader`` (``ToTensor`` + ``Normalize``) + the same model
    and optimizer in a standard PyTorch loop (the way open_lth trains).
* ResNet-20, seconds per training step at batch 128 on CIFAR-shaped data (the real
  ``cifar10-subset`` images): ours (on-device crop + flip, masked model) vs the reference
  (``DataLoader`` with ``RandomCrop(32, 4)``, ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``).

Goals on the 2-core CPU of this project: LeNet epoch <= 1.0 s and >= 3x faster than the reference;
ResNet-20 step no slower than the reference. Run: ``make bench`` or
``python benchmarks/train_speed.py [--lenet-epochs 2] [--resnet-steps 20]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from concave_lottery.data import batches, load_dataset
from concave_lottery.method import masks as masklib
from concave_lottery.method.regularizers import get_regularizer
from concave_lottery.method.search import SoftMask
from concave_lottery.models import get_model
from concave_lottery.runs.results import device_name
from concave_lottery.runs.training import Hooks, TrainSettings, train


def lenet_ours(data, epochs: int, relaxed: bool) -> float:
    torch.manual_seed(0)
    model = get_model("lenet300", num_classes=10, in_channels=1, image_size=28)
    hooks = Hooks()
    if relaxed:
        masklib.attach_masks(model, "relaxed")
        method = SoftMask(get_regularizer("log", eps=0.1), lam=1e-6, alpha=0.01)
        hooks = Hooks(penalty=method.penalty(model), penalty_grad=method.penalty_grad(model),
                      after_step=lambda: masklib.project_masks_(model))
    else:
        masklib.attach_masks(model, "binary")
    settings = TrainSettings(epochs=epochs, batch_size=128, lr=0.1, momentum=0.0, weight_decay=0.0,
                             mask_lr_scale=100.0)
    result = train(model, data, settings, seed=0, hooks=hooks, progress=False)
    # train() also evaluates on the test set each epoch: an epoch here is training + evaluation.
    # The first epoch warms up (allocator, kernels) and is left out of the median.
    return float(np.median([e.seconds for e in result.history[1:]]))


def lenet_reference(root: str, epochs: int, workers: int) -> float:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = torchvision.datasets.MNIST(root, train=True, transform=tf, download=False)
    test_set = torchvision.datasets.MNIST(root, train=False, transform=tf, download=False)
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True, num_workers=workers)
    test_loader = DataLoader(test_set, batch_size=1000, num_workers=workers)
    torch.manual_seed(0)
    model = get_model("lenet300", num_classes=10, in_channels=1, image_size=28)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for x, y in train_loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in test_loader)
        assert correct > 0
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


class CifarLike(Dataset):
    """The reference input pipeline: PIL images through torchvision transforms, one at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        from PIL import Image

        self.images = [Image.fromarray(img) for img in images]
        self.labels = labels.tolist()
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def median_step_seconds(model, batch_iter, steps: int) -> float:
    """Median seconds of one SGD step (fetching the batch included), after two warm-up steps."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        x, y = next(batch_iter)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[2:]))


def resnet_step_ours(data, steps: int) -> float:
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=10)
    masklib.attach_masks(model, "binary")
    it = batches(data, 128, train=True, generator=torch.Generator().manual_seed(0), drop_last=True)
    return median_step_seconds(model, it, steps)


def resnet_step_reference(images: np.ndarray, labels: np.ndarray, steps: int, workers: int) -> float:
    loader = DataLoader(CifarLike(images, labels), batch_size=128, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=workers > 0)
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=10)
    return median_step_seconds(model, iter(loader), steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lenet-epochs", type=int, default=4, help="epochs per LeNet measurement (first = warm-up)")
    parser.add_argument("--resnet-steps", type=int, default=15)
    args = parser.parse_args()

    cpu = torch.device("cpu")
    print(f"hardware: {device_name(cpu)}; torch {torch.__version__}; python {platform.python_version()}")
    mnist = load_dataset("mnist", device="cpu", progress=False)
    mnist_root = mnist.source.split(":", 1)[-1]
    mnist_root = os.path.dirname(os.path.dirname(mnist_root.rstrip("/")))  # .../MNIST/raw -> parent of MNIST
    print(f"MNIST from {mnist.source}")

    print("\nLeNet-300-100, seconds per MNIST epoch (train 60k + test 10k), batch 128:")
    ours_bin = lenet_ours(mnist, args.lenet_epochs, relaxed=False)
    ours_rel = lenet_ours(mnist, args.lenet_epochs, relaxed=True)
    ref0 = lenet_reference(mnist_root, args.lenet_epochs, workers=0)
    ref2 = lenet_reference(mnist_root, args.lenet_epochs, workers=2)
    ref = min(ref0, ref2)
    print(f"  ours, binary mask (ticket training)        {ours_bin:7.3f} s  "
          f"({ref / ours_bin:5.1f}x the best reference)")
    print(f"  ours, relaxed mask + log penalty (Alg. 1)  {ours_rel:7.3f} s  ({ref / ours_rel:5.1f}x)")
    print(f"  reference DataLoader, num_workers=0        {ref0:7.3f} s")
    print(f"  reference DataLoader, num_workers=2        {ref2:7.3f} s")
    goal = ours_bin <= 1.0 and ours_rel <= 1.0 and ref / max(ours_bin, ours_rel) >= 3
    print(f"  goal (<= 1.0 s and >= 3x the reference): {'met' if goal else 'NOT met'}")

    cifar = load_dataset("cifar10-subset", device="cpu", progress=False)
    images = cifar.train_images.permute(0, 2, 3, 1).contiguous().numpy()
    labels = cifar.train_labels.numpy()
    print(f"\nResNet-20, seconds per training step at batch 128 (cifar10-subset, {len(labels)} images):")
    ours = resnet_step_ours(cifar, args.resnet_steps)
    r0 = resnet_step_reference(images, labels, args.resnet_steps, workers=0)
    r2 = resnet_step_reference(images, labels, args.resnet_steps, workers=2)
    print(f"  ours (on-device crop+flip, masked model)   {ours:7.3f} s")
    print(f"  reference DataLoader, num_workers=0        {r0:7.3f} s")
    print(f"  reference DataLoader, num_workers=2        {r2:7.3f} s")
    print(f"  goal (no slower than the reference): {'met' if ours <= min(r0, r2) * 1.02 else 'NOT met'} "
          f"(ratio ours / best reference = {ours / min(r0, r2):.3f})")


if __name__ == "__main__":
    main()
