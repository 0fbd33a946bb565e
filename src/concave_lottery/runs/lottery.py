"""The outer loop shared by every method: rounds, rewinding, pruning, ticket training, records.

Algorithm 1 (``method="soft"``), for ``t = 1, …, T``:

1. *Initialization*: ``θ = θ_0`` (or ``θ_k``), ``m = m_{t-1}`` (``m_0 = ½·1``; survivors keep
   their learned values, pruned entries stay 0).
2. *Optimization*: train (θ, m) on ``L(x; m ⊙ θ) + λ R(m)`` (eq. 2) with projection onto [0, 1].
3. *Pruning*: ``m_{t,i} = 0`` wherever ``m_{t,i} < α``.
4. *Ticket*: the binary mask (survivors = 1) on the rewound weights ``θ_0`` is trained in
   isolation with no penalty; its test accuracy is the point plotted at that sparsity (Figs 5-9).

``hard`` and ``sigmoid`` follow the same loop with their own mask and pruning rule. IMP trains the
binary-masked network from θ_0 at every level (level 0 is dense), records it as that level's
ticket, then prunes by magnitude.

Every phase is checkpointed per epoch and every round's outcome is written to the run directory
(:mod:`concave_lottery.results`), so a killed run resumes where it stopped and ends with the same
result, and a finished run is returned without training.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageData, load_dataset
from ..errors import ParameterError, UserError
from ..method import masks as masklib
from ..method.regularizers import get_regularizer
from ..method.rewinding import load_theta_, theta_state
from ..method.search import SearchMethod, make_method
from ..models import get_model
from .config import RunConfig
from .results import (
    CONFIG_FILE,
    RESULT_FILE,
    git_commit,
    load_result,
    now,
    provenance,
    read_json,
    run_directory,
    same_run,
    write_json,
)
from .training import Hooks, TrainResult, TrainSettings, load_checked, save_atomic, train

MASK_STATS_THRESHOLDS = (1e-3, 1e-2, 0.05, 0.1, 0.2, 0.5)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError("device", str(device), "no CUDA device is available here: use auto or cpu")
    if str(device) not in ("cpu",) and not str(device).startswith("cuda"):
        raise ParameterError("device", str(device), "device must be auto, cpu or cuda[:N]")
    return torch.device(device)


def build_method(config: RunConfig) -> SearchMethod:
    regularizer = get_regularizer(config.regularizer, eps=config.eps, q=config.q, gamma=config.mcp_gamma,
                                  a=config.scad_a)
    return make_method(config.method, regularizer=regularizer, lam=config.resolved_lam, alpha=config.alpha,
                       prune_fraction=config.prune_fraction, beta_final=config.beta_final)


def train_settings(config: RunConfig, *, search: bool) -> TrainSettings:
    return TrainSettings(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                         momentum=config.momentum, weight_decay=config.weight_decay,
                         milestones=config.milestones, mask_lr_scale=config.mask_lr_scale,
                         mask_weight_decay=config.mask_weight_decay if search else 0.0,
                         bf16=config.precision == "bf16", channels_last=config.channels_last,
                         compile=config.compile)


def load_data(config: RunConfig, device: torch.device, progress: bool | None = None,
              base: ImageData | None = None) -> ImageData:
    """The run's data on ``device``: ``base`` (an already loaded copy of the full dataset) or the
    dataset loaded by name, cut to its first ``classes`` classes and to ``train_subset``/``test_subset``
    images when asked."""
    data = base if base is not None else load_dataset(config.dataset, device="cpu",
                                                      progress=progress is not False)
    if data.name != config.dataset:
        raise ValueError(f"the data given are {data.name!r}, the config asks for {config.dataset!r}")
    if config.classes:
        data = data.first_classes(config.classes)
    if config.train_subset or config.test_subset:
        data = data.subset(config.train_subset or None, config.test_subset or None, seed=config.seed)
    return data.to(device)


def mask_statistics(model: nn.Module) -> dict[str, Any]:
    """Distribution of the surviving mask values before pruning (for the calibration chapter)."""
    values = torch.cat([(mask.mask()[mask.alive.bool()]).detach().flatten().float().cpu()
                        for mask in masklib.get_masks(model).values()])
    if values.numel() == 0:
        return {}
    q = torch.quantile(values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))
                              [:1_000_000]], torch.tensor([0.1, 0.5, 0.9]))
    return {"quantiles": {"q10": float(q[0]), "q50": float(q[1]), "q90": float(q[2])},
            "fraction_below": {f"{t:g}": float((values < t).float().mean()) for t in MASK_STATS_THRESHOLDS}}


class RunLock:
    """An exclusive lock on a run directory (``.lock`` holding the owner's pid), so that two processes
    (two sweeps, or a sweep and a ``lottery run``) never train the same run at once. A lock left by a
    process that no longer exists is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner != os.getpid() and _alive(owner):
                    raise UserError(f"{self.path.parent} is being run by process {owner}; wait for it to finish "
                                    f"(or stop it) and run again.") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise UserError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LotteryRun:
    """One lottery search in its run directory; :meth:`run` is resumable and idempotent."""

    def __init__(self, config: RunConfig, run_dir: Path, *, device: str | torch.device = "auto",
                 progress: bool | None = None, data: ImageData | None = None) -> None:
        self.device = resolve_device(device)
        self.config = config.validate().resolved(self.device)
        self.run_dir = Path(run_dir)
        self.progress = progress
        self._base_data = data
        self._data: ImageData | None = None
        self.method = build_method(self.config)

    # --------------------------------------------------------------------- helpers
    @property
    def data(self) -> ImageData:
        if self._data is None:
            self._data = load_data(self.config, self.device, self.progress, self._base_data)
        return self._data

    def _fresh_model(self) -> nn.Module:
        torch.manual_seed(self.config.seed)
        d = self.data
        return get_model(self.config.model, num_classes=d.num_classes, in_channels=d.in_channels,
                         image_size=d.image_size).to(self.device)

    def _theta0(self) -> dict[str, torch.Tensor]:
        path = self.run_dir / "theta0.pt"
        if not path.exists():
            save_atomic(theta_state(self._fresh_model()), path)
        return load_checked(path)

    def _rewind_state(self) -> dict[str, torch.Tensor]:
        if self.config.rewind_step == 0:
            return self._theta0()
        path = self.run_dir / "theta_rewind.pt"
        if not path.exists():
            raise RuntimeError(f"{path} is missing: θ_k is captured during the first training phase")
        return load_checked(path)

    def _capture_hook(self, model: nn.Module) -> Hooks:
        k, path = self.config.rewind_step, self.run_dir / "theta_rewind.pt"
        if k == 0 or path.exists():
            return Hooks()

        def on_step(step: int) -> None:
            if step == k:
                save_atomic(theta_state(model), path)

        return Hooks(on_step=on_step)

    def _phase(self, round_dir: Path, phase: str, kind: masklib.MaskKind,
               mask_state: dict[str, dict[str, torch.Tensor]] | None, theta: dict[str, torch.Tensor],
               search: bool) -> tuple[nn.Module, TrainResult]:
        """Train one phase (``search`` or ``ticket``) from ``theta`` with the given mask state."""
        phase_dir = round_dir / phase
        phase_dir.mkdir(parents=True, exist_ok=True)
        model = self._fresh_model()
        masklib.attach_masks(model, kind, init=self.config.mask_init)
        load_theta_(model, theta)
        if mask_state is not None:
            masklib.load_mask_state(model, mask_state, scores=(kind != "binary"))
        hooks = self._capture_hook(model) if (round_dir.name in ("round-0", "round-1")) else Hooks()
        sparsity = None
        if search and kind != "binary":
            method = self.method
            hooks.penalty = method.penalty(model)
            hooks.penalty_grad = method.penalty_grad(model)
            hooks.after_step = lambda: masklib.project_masks_(model)
            hooks.before_epoch = lambda e: method.before_epoch(model, e, self.config.epochs)
            threshold = getattr(method, "alpha", self.config.alpha)
            masks = list(masklib.get_masks(model).values())
            total = sum(m.alive.numel() for m in masks)

            def sparsity() -> float:
                with torch.no_grad():
                    return float(sum(int((m.mask() < threshold).sum()) for m in masks)) / total
        elif kind == "binary":
            report_value = masklib.sparsity_report(model).sparsity

            def sparsity() -> float:
                return report_value
        checkpoint = phase_dir / "checkpoint.pt"
        desc = f"{self.run_dir.name} {round_dir.name} {phase}"
        result = train(model, self.data, train_settings(self.config, search=search), seed=self._phase_seed(
            round_dir, phase), hooks=hooks, checkpoint=checkpoint, desc=desc, progress=self.progress,
            sparsity=sparsity)
        write_json(phase_dir / "metrics.json", {"epochs": [asdict(e) for e in result.history],
                                                "steps": result.steps})
        return model, result

    def _phase_seed(self, round_dir: Path, phase: str) -> int:
        t = int(round_dir.name.split("-")[1])
        return self.config.seed * 10_007 + t * 101 + (0 if phase == "search" else 53)

    # --------------------------------------------------------------------- the loop
    def run(self) -> dict[str, Any]:
        """Run (or resume, or just return) the lottery search; returns the result dictionary."""
        result_path = self.run_dir / RESULT_FILE
        if result_path.exists():
            return load_result(result_path)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            if result_path.exists():  # finished by another process while we waited for nothing
                return load_result(result_path)
            return self._run_locked(result_path)

    def _run_locked(self, result_path: Path) -> dict[str, Any]:
        config_path = self.run_dir / CONFIG_FILE
        if config_path.exists():
            if not same_run(read_json(config_path), self.config):
                raise ParameterError("out", str(self.run_dir),
                                     "this run directory holds a run with a different config; choose another --out")
        else:
            write_json(config_path, self.config.to_dict())
        started_path = self.run_dir / "started.json"
        if not started_path.exists():
            write_json(started_path, {"started": now().isoformat(timespec="seconds"), "git_commit": git_commit()})
        start = read_json(started_path)
        rounds = self._run_imp() if self.method.search_is_ticket else self._run_rounds()
        # Wall time of the training itself, summed over rounds (a resumed run counts each phase once).
        seconds = sum(r["seconds"] for r in rounds)
        record = provenance(self.device, datetime.fromisoformat(start["started"]), seconds,
                            precision=self.config.precision, channels_last=self.config.channels_last)
        if start.get("git_commit", record["git_commit"]) != record["git_commit"]:
            record["started_commit"] = start["git_commit"]  # resumed under another commit: name both
        result = {"config": self.config.to_dict(), "rounds": rounds, "provenance": record}
        write_json(result_path, result)
        return result

    def _record(self, round_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
        """Write the round's record; the round is then complete and its checkpoints go."""
        write_json(round_dir / "record.json", record)
        for checkpoint in round_dir.glob("*/checkpoint.pt"):
            checkpoint.unlink()
        return record

    def _ticket_record(self, t: int, model: nn.Module, ticket: TrainResult | None,
                       extra: dict[str, Any]) -> dict[str, Any]:
        report = masklib.sparsity_report(model)
        record: dict[str, Any] = {
            "round": t,
            "sparsity": report.sparsity,
            "remaining_weights": report.remaining,
            "remaining_fraction": 1.0 - report.sparsity,
            "parameter_sparsity": report.parameter_sparsity,
            "test_accuracy": ticket.final_test_accuracy if ticket else None,
            "best_test_accuracy": ticket.best_test_accuracy if ticket else None,
            "ticket_seconds": ticket.seconds if ticket else 0.0,
        }
        record.update(extra)
        record["seconds"] = record.get("search_seconds", 0.0) + record["ticket_seconds"]
        record["layers"] = {k: v["remaining"] for k, v in report.as_dict()["layers"].items()}
        return record

    @staticmethod
    def _finished_round(round_dir: Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]] | None:
        """(record, mask state after pruning) of a round that completed earlier, else ``None``."""
        if not (round_dir / "record.json").exists():
            return None
        return read_json(round_dir / "record.json"), load_checked(round_dir / "masks.pt")

    def _run_rounds(self) -> list[dict[str, Any]]:
        """Algorithm 1 (and the hard and sigmoid variants)."""
        records: list[dict[str, Any]] = []
        mask_state: dict[str, dict[str, torch.Tensor]] | None = None
        for t in range(1, self.config.rounds + 1):
            round_dir = self.run_dir / f"round-{t}"
            if (finished := self._finished_round(round_dir)) is not None:
                record, mask_state = finished
                records.append(record)
                continue
            masks_path = round_dir / "masks.pt"
            if masks_path.exists():
                mask_state = load_checked(masks_path)
                search_info = read_json(round_dir / "search.json")
            else:
                theta = self._theta0() if t == 1 else self._rewind_state()
                model, search = self._phase(round_dir, "search", self.method.mask_kind, mask_state, theta,
                                            search=True)
                stats = mask_statistics(model)
                removed = self.method.prune(model)
                mask_state = masklib.mask_state(model)
                search_info = {"search_test_accuracy": search.final_test_accuracy,
                               "search_best_test_accuracy": search.best_test_accuracy,
                               "search_seconds": search.seconds, "pruned_this_round": removed,
                               "mask_before_pruning": stats}
                write_json(round_dir / "search.json", search_info)
                save_atomic(mask_state, masks_path)
            ticket = None
            if self.config.train_tickets == "all" or t == self.config.rounds:
                model, ticket = self._phase(round_dir, "ticket", "binary", mask_state, self._rewind_state(),
                                            search=False)
            else:
                model = self._fresh_model()
                masklib.attach_masks(model, "binary")
                masklib.load_mask_state(model, mask_state, scores=False)
            records.append(self._record(round_dir, self._ticket_record(t, model, ticket, search_info)))
        return records

    def _run_imp(self) -> list[dict[str, Any]]:
        """IMP with rewinding: level 0 dense, then prune ``prune_fraction`` by magnitude per level."""
        records: list[dict[str, Any]] = []
        mask_state: dict[str, dict[str, torch.Tensor]] | None = None
        for level in range(0, self.config.rounds + 1):
            round_dir = self.run_dir / f"round-{level}"
            if (finished := self._finished_round(round_dir)) is not None:
                record, mask_state = finished
                records.append(record)
                continue
            theta = self._theta0() if level == 0 else self._rewind_state()
            model, ticket = self._phase(round_dir, "ticket", "binary", mask_state, theta, search=False)
            record = self._ticket_record(level, model, ticket, {"search_seconds": 0.0})
            removed = self.method.prune(model) if level < self.config.rounds else 0
            record["pruned_after_level"] = removed
            mask_state = masklib.mask_state(model)
            save_atomic(mask_state, round_dir / "masks.pt")
            records.append(self._record(round_dir, record))
        return records


def run_lottery(config: RunConfig, out: Path | str = "results", *, device: str | torch.device = "auto",
                progress: bool | None = None, data: ImageData | None = None) -> tuple[Path, dict[str, Any]]:
    """Run one lottery search into ``out/<preset>/<run name>/``; returns (result path, result)."""
    config = config.validate().resolved(resolve_device(device))  # precision=auto decided for this device
    run_dir = run_directory(config, out)
    result = LotteryRun(config, run_dir, device=device, progress=progress, data=data).run()
    return run_dir / RESULT_FILE, result


def extend_rounds(run_dir: Path | str, rounds: int, out: Path | str = "results") -> Path:
    """Copy the finished Algorithm 1 run in ``run_dir`` to the run directory of the same config with
    ``rounds`` rounds, without its ``result.json``: running that config (``lottery sweep``,
    :func:`run_lottery`) then reuses the copied rounds and trains only rounds old+1 .. ``rounds``.

    This is exact, not an approximation: round ``t`` of Algorithm 1 depends on rounds ``1..t-1``
    (mask state, θ_0 or θ_k, the round's own seed) and never on how many rounds follow, when every
    round's ticket is trained (``train_tickets="all"``). IMP is refused (its last level is left
    unpruned, so a longer run differs there), as is a run that trains only the last ticket.
    ``started.json`` of the copy names the run it was extended from. Returns the new run directory.
    """
    source = Path(run_dir)
    if not (source / RESULT_FILE).exists():
        raise ParameterError("run_dir", str(source), f"it must be a finished run directory (with {RESULT_FILE})")
    config = RunConfig.from_dict(read_json(source / CONFIG_FILE))
    if config.method == "imp":
        raise ParameterError("run_dir", str(source), "it must be an Algorithm 1 run (soft, hard or sigmoid); IMP "
                             "leaves its last level unpruned, so an IMP run cannot be extended")
    if config.train_tickets != "all":
        raise ParameterError("run_dir", str(source), "it must be a run with train_tickets='all' (its rounds then "
                             "do not depend on how many follow)")
    if rounds <= config.rounds:
        raise ParameterError("rounds", rounds, f"it must be more than the run's {config.rounds} rounds")
    longer = replace(config, rounds=rounds).validate()
    target = run_directory(longer, out)
    if target.exists():
        raise ParameterError("out", str(target), "the longer run must not exist yet under this results root")
    ignore = shutil.ignore_patterns(RESULT_FILE, "*.tmp", ".lock", "checkpoint.pt")
    shutil.copytree(source, target, ignore=ignore)
    write_json(target / CONFIG_FILE, longer.to_dict())
    started = read_json(target / "started.json") if (target / "started.json").exists() else {}
    write_json(target / "started.json", {**started, "extended_from": source.name})
    return target
