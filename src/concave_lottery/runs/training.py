"""One training run: SGD on θ (and on the mask, when it is trainable), epoch-based learning-rate
milestones, a penalty hook, a post-step hook, evaluation, and per-epoch checkpoint/resume.

The objective minimised is the one of eq. (2),

.. math::  \\mathcal{L}(x; m \\odot \\theta) + \\lambda \\mathbb{R}(m),

with the mean cross-entropy as :math:`\\mathcal{L}`; the penalty term comes from the search method
(:mod:`concave_lottery.methods`) through ``hooks.penalty`` and the projection onto ``[0, 1]^d``
through ``hooks.after_step``.

Optimizer: one SGD with two parameter groups. θ (every network parameter: weights, biases,
BatchNorm) uses ``lr``, ``momentum`` and ``weight_decay``; the mask parameters use
``lr · mask_lr_scale`` and ``mask_weight_decay`` with the same momentum. Both follow the same
milestone schedule (``lr_gamma`` at each milestone epoch).

Determinism and resume: the batch order and the augmentation of epoch ``e`` are drawn from a CPU
generator seeded with ``(seed, e)``, so an epoch is the same whether or not the run was
interrupted before it. After every epoch the model, optimizer, scheduler and history are written
atomically to ``checkpoint``; :func:`train` given an existing checkpoint continues after its
last completed epoch.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text bars: tqdm.auto warns in a notebook without ipywidgets

from ..data import ImageData, batches, num_batches
from ..errors import CorruptFile, UserError
from ..method import masks as masklib
from .precision import autocast_context


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (one round's search, or one ticket training)."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    mask_lr_scale: float = 1.0
    mask_weight_decay: float = 0.0
    #: bf16 autocast of the network's forward and backward, on the CPU as on CUDA (the run's resolved
    #: ``precision``, see :mod:`concave_lottery.runs.precision`); masks, penalty and optimizer stay fp32.
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False


@dataclass
class Hooks:
    """What a search method adds to plain training.

    ``penalty()`` returns the regularisation term λR(m) added to the loss of each step;
    ``penalty_grad()``, when given, adds that term's gradient in place after ``backward()`` instead
    (``penalty()`` is then evaluated only for the record, once per epoch);
    ``after_step()`` runs after every optimizer step (projection onto [0, 1]);
    ``before_epoch(e)`` runs at the start of epoch ``e`` (0-based; the sigmoid β schedule);
    ``on_step(k)`` runs after optimizer step ``k`` (1-based; captures θ_k for rewinding).
    """

    penalty: Callable[[], torch.Tensor] | None = None
    penalty_grad: Callable[[], None] | None = None
    after_step: Callable[[], None] | None = None
    before_epoch: Callable[[int], None] | None = None
    on_step: Callable[[int], None] | None = None


@dataclass
class EpochMetrics:
    epoch: int
    lr: float
    train_loss: float
    train_penalty: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    sparsity: float
    seconds: float


@dataclass
class TrainResult:
    history: list[EpochMetrics] = field(default_factory=list)
    steps: int = 0

    @property
    def final_test_accuracy(self) -> float:
        return self.history[-1].test_accuracy

    @property
    def best_test_accuracy(self) -> float:
        return max(e.test_accuracy for e in self.history)

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.history)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s batch order and augmentation."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 17) % (2**63 - 1)


def make_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.SGD:
    groups = masklib.param_groups(model, lr=s.lr, weight_decay=s.weight_decay, mask_lr_scale=s.mask_lr_scale,
                                  mask_weight_decay=s.mask_weight_decay)
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum)


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData, *, batch_size: int = 1000, bf16: bool = False,
             channels_last: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the test split."""
    was_training = model.training
    model.eval()
    device = data.test_images.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for x, y in batches(data, batch_size, train=False, channels_last=channels_last):
        with autocast_context(device, bf16):
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    n = data.test_labels.numel()
    return float(loss_sum) / n, float(correct) / n


def _progress_enabled(progress: bool | None) -> bool | None:
    if os.environ.get("LOTTERY_PROGRESS", "").lower() in {"0", "false", "no"}:
        return False
    return progress


def load_checked(path: Path, *, map_location: str | torch.device | None = None, weights_only: bool = True) -> Any:
    """``torch.load`` that turns an unreadable file into a :class:`CorruptFile` error naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as exc:  # truncated, not a torch file, or unpickling refused
        raise CorruptFile(f"{path} cannot be read ({type(exc).__name__}: {exc}). It is not used: delete it "
                          f"and rerun to recompute what it held.") from None


def save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class TrainingDiverged(UserError, FloatingPointError):
    """The training loss became infinite or NaN: the step is too large for this problem."""


class CheckpointStore:
    """How :func:`train` reads and writes its checkpoint (plain files here; a run's checkpoints go through
    its digests, :class:`concave_lottery.runs.digests.Digests`)."""

    def load(self, path: Path, map_location: torch.device) -> Any:
        return load_checked(path, map_location=map_location, weights_only=False)

    def save(self, obj: object, path: Path) -> None:
        save_atomic(obj, path)


def _resume(checkpoint: Path, state: Any, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: Any) -> TrainResult:
    """Load a checkpoint's state; one that does not fit (other keys, shapes or dtypes) is a clear error."""
    try:
        if not isinstance(state, dict):
            raise TypeError(f"a {type(state).__name__}, not a dict")
        missing = {"model", "optimizer", "scheduler", "steps", "history"} - set(state)
        if missing:
            raise KeyError(f"no {', '.join(sorted(missing))}")
        own = model.state_dict()
        for name, tensor in state["model"].items():
            if name in own and (tensor.shape != own[name].shape or tensor.dtype != own[name].dtype):
                raise ValueError(f"{name} is {tuple(tensor.shape)} {tensor.dtype}, the model's "
                                 f"{tuple(own[name].shape)} {own[name].dtype}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        return TrainResult([EpochMetrics(**e) for e in state["history"]], int(state["steps"]))
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CorruptFile(f"{checkpoint} is not a checkpoint of this training ({type(exc).__name__}: {exc}), so "
                          f"it is not used: delete {checkpoint} (the phase is trained again from its start).") from None


def _epoch_penalty(hooks: Hooks, penalty_sum: torch.Tensor, steps: int) -> float:
    """The epoch's λR(m): the mean over its steps, or (in-place gradient) its value at the epoch's end."""
    if hooks.penalty is None:
        return 0.0
    if hooks.penalty_grad is None:
        return float(penalty_sum) / max(steps, 1)
    with torch.no_grad():
        return float(hooks.penalty())


def train(model: nn.Module, data: ImageData, settings: TrainSettings, *, seed: int,
          hooks: Hooks | None = None, checkpoint: Path | None = None, desc: str = "train",
          progress: bool | None = None, sparsity: Callable[[], float] | None = None,
          store: CheckpointStore | None = None) -> TrainResult:
    """Train ``model`` on ``data`` for ``settings.epochs`` epochs (resuming from ``checkpoint``).

    ``sparsity()`` (optional) is shown in the progress bar and recorded per epoch: for a search
    with a relaxed mask it is the fraction of prunable entries currently below the threshold α.
    """
    hooks = hooks or Hooks()
    store = store or CheckpointStore()
    device = data.train_images.device
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, settings)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(settings.milestones),
                                                     gamma=settings.lr_gamma)
    forward = torch.compile(model) if settings.compile else model
    result = TrainResult()
    start_epoch = 0
    if checkpoint is not None and checkpoint.exists():
        result = _resume(checkpoint, store.load(checkpoint, device), model, optimizer, scheduler)
        start_epoch = len(result.history)

    steps_per_epoch = num_batches(data, settings.batch_size, train=True)
    enabled = _progress_enabled(progress)
    for epoch in range(start_epoch, settings.epochs):
        started = time.perf_counter()
        if hooks.before_epoch is not None:
            hooks.before_epoch(epoch)
        model.train()
        generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        loss_sum = torch.zeros((), device=device)
        penalty_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        bar = tqdm(total=steps_per_epoch, desc=f"{desc} epoch {epoch + 1}/{settings.epochs}",
                   leave=False, disable=(not enabled) if enabled is not None else None,
                   file=sys.stderr, dynamic_ncols=True)
        for i, (x, y) in enumerate(batches(data, settings.batch_size, train=True, generator=generator,
                                           channels_last=settings.channels_last)):
            with autocast_context(device, settings.bf16):
                out = forward(x)
                loss = F.cross_entropy(out.float(), y)
            objective = loss
            if hooks.penalty is not None and hooks.penalty_grad is None:
                penalty = hooks.penalty()
                objective = loss + penalty
                penalty_sum += penalty.detach()
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if hooks.penalty_grad is not None:
                hooks.penalty_grad()
            optimizer.step()
            if hooks.after_step is not None:
                hooks.after_step()
            result.steps += 1
            if hooks.on_step is not None:
                hooks.on_step(result.steps)
            loss_sum += loss.detach() * y.numel()
            correct += (out.detach().argmax(1) == y).sum()
            seen += y.numel()
            bar.update(1)
            if (i + 1) % 25 == 0 or i + 1 == steps_per_epoch:
                postfix = {"loss": f"{float(loss_sum) / seen:.3f}", "acc": f"{float(correct) / seen:.3f}"}
                if sparsity is not None:
                    postfix["sparsity"] = f"{sparsity():.3f}"
                bar.set_postfix(postfix, refresh=False)
        bar.close()
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        test_loss, test_acc = evaluate(model, data, bf16=settings.bf16,
                                       channels_last=settings.channels_last)
        train_loss = float(loss_sum) / max(seen, 1)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"{desc}: the training loss diverged ({train_loss}) in epoch {epoch + 1} (lr={settings.lr:g}, "
                f"weight_decay={settings.weight_decay:g}). The steps are too large for this problem: try a smaller "
                f"lr (e.g. {settings.lr / 10:g}), a smaller lam or mask_lr_scale, or a smaller weight_decay.")
        result.history.append(EpochMetrics(
            epoch=epoch + 1, lr=lr, train_loss=train_loss,
            train_penalty=_epoch_penalty(hooks, penalty_sum, i + 1), train_accuracy=float(correct) / max(seen, 1),
            test_loss=test_loss, test_accuracy=test_acc,
            sparsity=sparsity() if sparsity is not None else 0.0,
            seconds=time.perf_counter() - started))
        if checkpoint is not None:
            store.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "steps": result.steps,
                        "history": [asdict(e) for e in result.history]}, checkpoint)
    return result
