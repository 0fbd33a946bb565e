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

import shutil
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageData, load_dataset
from ..errors import CorruptFile, ParameterError
from ..method import masks as masklib
from ..method.regularizers import get_regularizer
from ..method.rewinding import load_theta_, theta_state
from ..method.search import SearchMethod, make_method
from ..models import get_model
from .config import RunConfig
from .digests import Digests
from .lock import RunLock
from .paths import RoundDir, RunDir
from .results import RESULT_FILE, check_finished_run, git_commit, load_result, now, provenance, run_directory, same_run
from .tickets import KEPT_SINCE, build_model, check_ticket_state, ticket_state
from .training import CheckpointStore, Hooks, TrainResult, TrainSettings, train

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


_RECORD_KEYS = ("round", "sparsity", "remaining_weights", "test_accuracy", "seconds")
_SEARCH_KEYS = ("search_test_accuracy", "search_best_test_accuracy", "search_seconds", "pruned_this_round")


class _DigestedCheckpoints(CheckpointStore):
    """The checkpoints of :func:`~concave_lottery.runs.training.train` through the run's digests."""

    def __init__(self, digests: Digests) -> None:
        self.digests = digests

    def load(self, path: Path, map_location: torch.device) -> Any:
        return self.digests.load_torch(path, map_location=map_location, weights_only=False)

    def save(self, obj: object, path: Path) -> None:
        self.digests.save_torch(obj, path)


class LotteryRun:
    """One lottery search in its run directory; :meth:`run` is resumable and idempotent."""

    def __init__(self, config: RunConfig, run_dir: Path, *, device: str | torch.device = "auto",
                 progress: bool | None = None, data: ImageData | None = None) -> None:
        self.device = resolve_device(device)
        self.config = config.validate().resolved(self.device)
        self.paths = RunDir(run_dir)
        self.run_dir = self.paths.path
        self.digests = Digests(self.paths)
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

    def _load_theta(self, path: Path) -> dict[str, torch.Tensor]:
        """θ_0 or θ_k, verified: its digest, then its names, shapes and dtypes against the model."""
        state = self.digests.load_torch(path)
        expected = {k: (tuple(v.shape), v.dtype) for k, v in theta_state(self._fresh_model()).items()}
        found = ({k: (tuple(v.shape), v.dtype) for k, v in state.items() if isinstance(v, torch.Tensor)}
                 if isinstance(state, dict) else {})
        if found != expected:
            diff = sorted(set(expected) ^ set(found)) or sorted(k for k in expected if expected[k] != found[k])
            raise CorruptFile(f"{path} does not hold this model's weights (differs in {diff[:4]}), so it is not "
                              f"used: {self.paths.unit_of(path)}.")
        return state

    def _theta0(self) -> dict[str, torch.Tensor]:
        path = self.paths.theta0
        if not path.exists():
            self.digests.save_torch(theta_state(self._fresh_model()), path)
        return self._load_theta(path)

    def _rewind_state(self) -> dict[str, torch.Tensor]:
        if self.config.rewind_step == 0:
            return self._theta0()
        path = self.paths.theta_rewind
        if not path.exists():
            raise CorruptFile(f"{path} is missing: θ_k is captured during the first training phase, so "
                              f"{self.paths.unit_of(self.paths.theta0)}.")
        return self._load_theta(path)

    def _capture_hook(self, model: nn.Module) -> Hooks:
        k, path = self.config.rewind_step, self.paths.theta_rewind
        if k == 0 or path.exists():
            return Hooks()

        def on_step(step: int) -> None:
            if step == k:
                self.digests.save_torch(theta_state(model), path)

        return Hooks(on_step=on_step)

    def _load_masks(self, path: Path, kind: masklib.MaskKind) -> dict[str, dict[str, torch.Tensor]]:
        """A round's mask state, verified: its digest, then its layers, shapes and dtypes against the model."""
        state = self.digests.load_torch(path)
        model = self._fresh_model()
        masklib.attach_masks(model, kind)
        problem = None
        if not isinstance(state, dict) or set(state) != set(masklib.get_masks(model)):
            problem = "its layers are not the model's"
        else:
            for name, mask in masklib.get_masks(model).items():
                entry = state[name]
                alive = entry.get("alive") if isinstance(entry, dict) else None
                if not isinstance(alive, torch.Tensor) or alive.dtype != torch.bool or alive.shape != mask.alive.shape:
                    problem = f"{name}: no boolean 'alive' of shape {tuple(mask.alive.shape)}"
                    break
                score = entry.get("score")
                if score is not None and (not isinstance(score, torch.Tensor) or score.shape != mask.alive.shape
                                          or not score.is_floating_point()):
                    problem = f"{name}: its 'score' is not a float tensor of shape {tuple(mask.alive.shape)}"
                    break
        if problem:
            raise CorruptFile(f"{path} is not a mask state of this model ({problem}), so it is not used: "
                              f"{self.paths.unit_of(path)}.")
        return state

    def _load_json(self, path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
        data = self.digests.read_json(path)
        missing = [k for k in keys if not isinstance(data, dict) or k not in data]
        if missing:
            raise CorruptFile(f"{path} lacks {', '.join(missing)}: it is not what this run wrote, so it is not "
                              f"used: {self.paths.unit_of(path)}.")
        return data

    def _phase(self, rnd: RoundDir, phase: str, kind: masklib.MaskKind,
               mask_state: dict[str, dict[str, torch.Tensor]] | None, theta: dict[str, torch.Tensor],
               search: bool) -> tuple[nn.Module, TrainResult]:
        """Train one phase (``search`` or ``ticket``) of round ``rnd`` from ``theta`` with the given mask state."""
        paths = rnd.phase(phase)
        paths.path.mkdir(parents=True, exist_ok=True)
        model = self._fresh_model()
        masklib.attach_masks(model, kind, init=self.config.mask_init)
        load_theta_(model, theta)
        if mask_state is not None:
            masklib.load_mask_state(model, mask_state, scores=(kind != "binary"))
        hooks = self._capture_hook(model) if rnd.index in (0, 1) else Hooks()
        sparsity = None
        if search and kind != "binary":
            for name, hook in self.method.search_hooks(model, self.config.epochs).items():
                setattr(hooks, name, hook)
            threshold = self.method.pruning_threshold()
            threshold = self.config.alpha if threshold is None else threshold
            masks = list(masklib.get_masks(model).values())
            total = sum(m.alive.numel() for m in masks)

            def sparsity() -> float:
                with torch.no_grad():
                    return float(sum(int((m.mask() < threshold).sum()) for m in masks)) / total
        elif kind == "binary":
            report_value = masklib.sparsity_report(model).sparsity

            def sparsity() -> float:
                return report_value
        desc = f"{self.run_dir.name} {rnd.path.name} {phase}"
        result = train(model, self.data, train_settings(self.config, search=search),
                       seed=self._phase_seed(rnd.index, phase), hooks=hooks, checkpoint=paths.checkpoint, desc=desc,
                       progress=self.progress, sparsity=sparsity, store=_DigestedCheckpoints(self.digests))
        self.digests.write_json(paths.metrics, {"epochs": [asdict(e) for e in result.history], "steps": result.steps})
        return model, result

    def _phase_seed(self, t: int, phase: str) -> int:
        """The seed of round ``t``'s phase (batch order and augmentation, with :func:`epoch_seed`)."""
        return self.config.seed * 10_007 + int(t) * 101 + (0 if phase == "search" else 53)

    # --------------------------------------------------------------------- checks before training
    def check_rewind_step(self) -> None:
        """θ_k is captured during the first training phase (round 1's search, IMP's level 0): ``rewind_step``
        must not exceed its steps."""
        k = self.config.rewind_step
        if k == 0:
            return
        from ..data import num_batches

        steps = num_batches(self.data, self.config.batch_size, train=True) * self.config.epochs
        if k > steps:
            raise ParameterError("rewind_step", k, f"θ_k is captured during the first training phase, which has "
                                 f"{steps} steps here ({self.config.epochs} epochs of "
                                 f"{steps // self.config.epochs}); rewind_step must be at most {steps}")

    # --------------------------------------------------------------------- the loop
    def run(self) -> dict[str, Any]:
        """Run (or resume, or just return) the lottery search; returns the result dictionary."""
        if self.paths.result.exists():
            return self._finished()
        self.data  # noqa: B018  a dataset or subset that cannot be had is refused before any folder is made
        self.check_rewind_step()
        created = _missing_ancestors(self.run_dir)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with RunLock(self.run_dir):
                if self.paths.result.exists():  # finished by another process meanwhile
                    return self._finished()
                return self._run_locked()
        except BaseException:
            _remove_if_empty(created)
            raise

    def _finished(self) -> dict[str, Any]:
        check_finished_run(self.run_dir)
        return load_result(self.paths.result)

    def _run_locked(self) -> dict[str, Any]:
        paths, digests = self.paths, self.digests
        if not digests.exists() and paths.files():
            digests.adopt()  # a run begun by a version from before digests: resume it
        if paths.config.exists():
            if not same_run(digests.read_json(paths.config), self.config):
                raise ParameterError("out", str(self.run_dir),
                                     "this run directory holds a run with a different config; choose another --out")
        else:
            digests.write_json(paths.config, self.config.to_dict())
        if not paths.started.exists():
            digests.write_json(paths.started, {"started": now().isoformat(timespec="seconds"),
                                               "git_commit": git_commit()})
        start = self._load_json(paths.started, ("started",))
        rounds = self._run_imp() if self.method.search_is_ticket else self._run_rounds()
        # Wall time of the training itself, summed over rounds (a resumed run counts each phase once).
        seconds = sum(r["seconds"] for r in rounds)
        record = provenance(self.device, datetime.fromisoformat(start["started"]), seconds,
                            precision=self.config.precision, channels_last=self.config.channels_last)
        if start.get("git_commit", record["git_commit"]) != record["git_commit"]:
            record["started_commit"] = start["git_commit"]  # resumed under another commit: name both
        result = {"config": self.config.to_dict(), "rounds": rounds, "provenance": record}
        digests.write_json(paths.result, result)
        return result

    def _record(self, rnd: RoundDir, record: dict[str, Any]) -> dict[str, Any]:
        """Write the round's record; the round is then complete and its checkpoints go."""
        self.digests.write_json(rnd.record, record)
        self.digests.delete(rnd.search.checkpoint, rnd.ticket.checkpoint)
        return record

    def _save_ticket(self, rnd: RoundDir, model: nn.Module) -> None:
        """Keep the trained ticket (masked, fp32: :mod:`~concave_lottery.runs.tickets`) before the round's record."""
        self.digests.save_torch(ticket_state(model), rnd.ticket_weights)

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

    def _finished_round(self, rnd: RoundDir, kind: masklib.MaskKind
                        ) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]] | None:
        """(record, mask state after pruning) of a round that completed earlier, else ``None``."""
        if not rnd.record.exists():
            return None
        record = self._load_json(rnd.record, _RECORD_KEYS)
        if record["round"] != rnd.index:
            raise CorruptFile(f"{rnd.record} is the record of round {record['round']}, not {rnd.index}: "
                              f"{self.paths.unit_of(rnd.record)}.")
        return record, self._load_masks(rnd.masks, kind)

    def _run_rounds(self) -> list[dict[str, Any]]:
        """Algorithm 1 (and the hard and sigmoid variants)."""
        records: list[dict[str, Any]] = []
        mask_state: dict[str, dict[str, torch.Tensor]] | None = None
        kind = self.method.mask_kind
        for t in range(1, self.config.rounds + 1):
            rnd = self.paths.round(t)
            if (finished := self._finished_round(rnd, kind)) is not None:
                record, mask_state = finished
                records.append(record)
                continue
            if rnd.masks.exists():
                mask_state = self._load_masks(rnd.masks, kind)
                search_info = self._load_json(rnd.search_info, _SEARCH_KEYS)
            else:
                theta = self._theta0() if t == 1 else self._rewind_state()
                model, search = self._phase(rnd, "search", kind, mask_state, theta, search=True)
                stats = mask_statistics(model)
                removed = self.method.prune(model)
                mask_state = masklib.mask_state(model)
                search_info = {"search_test_accuracy": search.final_test_accuracy,
                               "search_best_test_accuracy": search.best_test_accuracy,
                               "search_seconds": search.seconds, "pruned_this_round": removed,
                               "mask_before_pruning": stats}
                # search.json before masks.pt: a round whose masks.pt exists has both.
                self.digests.write_json(rnd.search_info, search_info)
                self.digests.save_torch(mask_state, rnd.masks)
            ticket = None
            if self.config.trains_ticket(t):
                model, ticket = self._phase(rnd, "ticket", "binary", mask_state, self._rewind_state(), search=False)
                self._save_ticket(rnd, model)
            else:
                model = self._fresh_model()
                masklib.attach_masks(model, "binary")
                masklib.load_mask_state(model, mask_state, scores=False)
            records.append(self._record(rnd, self._ticket_record(t, model, ticket, search_info)))
        return records

    def _run_imp(self) -> list[dict[str, Any]]:
        """IMP with rewinding: level 0 dense, then prune ``prune_fraction`` by magnitude per level."""
        records: list[dict[str, Any]] = []
        mask_state: dict[str, dict[str, torch.Tensor]] | None = None
        for level in range(0, self.config.rounds + 1):
            rnd = self.paths.round(level)
            if (finished := self._finished_round(rnd, "binary")) is not None:
                record, mask_state = finished
                records.append(record)
                continue
            theta = self._theta0() if level == 0 else self._rewind_state()
            model, ticket = self._phase(rnd, "ticket", "binary", mask_state, theta, search=False)
            self._save_ticket(rnd, model)  # before this level's pruning: the ticket trained under the last mask
            record = self._ticket_record(level, model, ticket, {"search_seconds": 0.0})
            removed = self.method.prune(model) if level < self.config.rounds else 0
            record["pruned_after_level"] = removed
            mask_state = masklib.mask_state(model)
            self.digests.save_torch(mask_state, rnd.masks)
            records.append(self._record(rnd, record))
        return records


def _prune_last_imp_level(run: RunDir, config: RunConfig) -> tuple[dict[str, dict[str, torch.Tensor]], int]:
    """The pruning of level ``L = config.rounds`` of the finished IMP run in ``run``, which the run left
    unpruned because it was its last: exactly what :meth:`LotteryRun._run_imp` does after every other level.

    :class:`~concave_lottery.method.search.MagnitudePruning` removes ``round(p · survivors)`` survivors
    with the smallest |θ|; the level's ticket weights hold θ ⊙ a in fp32, equal to θ on every survivor,
    and only survivors are ranked, so the pruning is the one a longer run makes. Returns the mask state
    after it (the level's ``masks.pt`` in a longer run) and the count removed (its ``pruned_after_level``)."""
    digests = Digests(run)
    rnd = run.round(config.rounds)
    model = build_model(config)
    masklib.attach_masks(model, "binary")
    state = digests.load_torch(rnd.masks)
    try:
        masklib.load_mask_state(model, state, scores=False)
    except (TypeError, KeyError, ValueError, RuntimeError, AttributeError) as exc:
        raise CorruptFile(f"{rnd.masks} is not a mask state of this model ({exc}): {run.unit_of(rnd.masks)}.") from None
    advice = run.unit_of(rnd.ticket_weights)
    load_theta_(model, check_ticket_state(digests.load_torch(rnd.ticket_weights), model, rnd.ticket_weights, advice))
    removed = build_method(config).prune(model)
    return masklib.mask_state(model), removed


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for p in [path, *path.parents]:
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders a refused run created, when nothing was written into them."""
    for folder in folders:
        for leftover in (folder / ".lock",):
            if leftover.exists() and leftover.stat().st_size == 0 and len(list(folder.iterdir())) == 1:
                leftover.unlink()
        try:
            folder.rmdir()
        except OSError:
            return


def run_lottery(config: RunConfig, out: Path | str = "results", *, device: str | torch.device = "auto",
                progress: bool | None = None, data: ImageData | None = None) -> tuple[Path, dict[str, Any]]:
    """Run one lottery search into ``out/<preset>/<run name>/``; returns (result path, result)."""
    config = config.validate().resolved(resolve_device(device))  # precision=auto decided for this device
    run_dir = run_directory(config, out)
    result = LotteryRun(config, run_dir, device=device, progress=progress, data=data).run()
    return run_dir / RESULT_FILE, result


def extend_rounds(run_dir: Path | str, rounds: int, out: Path | str = "results") -> Path:
    """Copy the finished run in ``run_dir`` (Algorithm 1, its variants or IMP) to the run directory of the
    same config with ``rounds`` rounds (IMP: levels), without its ``result.json``: running that config
    (``lottery sweep``, :func:`run_lottery`) then reuses the copied rounds and trains only rounds old+1 .. ``rounds``.

    This is exact, not an approximation: round ``t`` of Algorithm 1 depends on rounds ``1..t-1``
    (mask state, θ_0 or θ_k, the round's own seed) and never on how many rounds follow, when every
    round's ticket is trained (``train_tickets="all"``); a run that trains only the last ticket is
    refused. IMP too: level ``L`` depends on levels ``0..L-1`` only, but a run leaves its last level
    unpruned, so the copy prunes that level as the longer run would have (:func:`_prune_last_imp_level`:
    the fraction ``p`` of the survivors with the smallest |θ| of the level's trained ticket, which the
    run keeps in ``ticket/weights.pt``). ``started.json`` of the copy names the run it was extended
    from. Returns the new run directory.
    """
    source = RunDir(run_dir)
    if not source.result.exists():
        raise ParameterError("run_dir", str(source.path), f"it must be a finished run directory (with {RESULT_FILE})")
    check_finished_run(source.path)  # every file as written: masks.pt of every round included
    config = RunConfig.from_dict(Digests(source).read_json(source.config))
    imp = config.method == "imp"
    if imp and not source.round(config.rounds).ticket_weights.exists():
        raise ParameterError("run_dir", str(source.path), f"its last level's trained ticket "
                             f"({source.round(config.rounds).ticket_weights}) is not here (runs recorded before "
                             f"{KEPT_SINCE} have none): a longer IMP run prunes it by magnitude to start the next "
                             "level, so this run cannot be extended; record the longer run instead")
    if config.train_tickets != "all":
        raise ParameterError("run_dir", str(source.path), "it must be a run with train_tickets='all' (its rounds "
                             "then do not depend on how many follow)")
    if rounds <= config.rounds:
        raise ParameterError("rounds", rounds, f"it must be more than the run's {config.rounds} rounds")
    last = source.round(config.rounds).masks
    if not last.exists():
        raise ParameterError("run_dir", str(source.path), f"its last round's mask state {last} is not here (kept "
                             "out of git for the large models): the longer run starts from it")
    if config.rewind_step and not source.theta_rewind.exists():
        raise ParameterError("run_dir", str(source.path), f"its θ_k ({source.theta_rewind}) is not here: the new "
                             "rounds rewind to it")
    pruned = _prune_last_imp_level(source, config) if imp else None
    longer = replace(config, rounds=rounds).validate()
    target = RunDir(run_directory(longer, out))
    if target.path.exists():
        raise ParameterError("out", str(target.path), "the longer run must not exist yet under this results root")
    ignore = shutil.ignore_patterns(RESULT_FILE, "*.tmp", ".lock", "checkpoint.pt")
    created = _missing_ancestors(target.path)
    try:
        shutil.copytree(source.path, target.path, ignore=ignore)
        digests = Digests(target)
        digests.delete(*[target.path / key for key in digests.entries() if not (target.path / key).exists()])
        digests.write_json(target.config, longer.to_dict())
        if pruned is not None:  # IMP: the copied last level, pruned as in the longer run
            last_level = target.round(config.rounds)
            digests.save_torch(pruned[0], last_level.masks)
            record = {**digests.read_json(last_level.record), "pruned_after_level": pruned[1]}
            digests.write_json(last_level.record, record)
        started = digests.read_json(target.started) if target.started.exists() else {}
        digests.write_json(target.started, {**started, "extended_from": source.name})
    except BaseException:
        shutil.rmtree(target.path, ignore_errors=True)
        _remove_if_empty(created[1:])
        raise
    return target.path
