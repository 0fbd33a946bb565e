"""The trained ticket of a recorded run: its weights, kept with the run, read back and checked.

Algorithm 1, step 5 (and every IMP level) trains the binary-masked network ``a ⊙ θ`` from the rewound
weights; the ticket's test accuracy, the point plotted at that sparsity (Figs 5-9), is the one of
those *final* weights. A run keeps them in ``round-<t>/ticket/weights.pt``
(:attr:`~concave_lottery.runs.paths.RoundDir.ticket_weights`): every parameter and buffer of the
network by its plain name (``"fc1.weight"``, BatchNorm's running statistics included), each prunable
weight already multiplied by its survivors ``a`` (so a pruned weight is exactly 0 in the file), floating
tensors in fp32. About 1 MB for ResNet-20, 1 MB for LeNet-300-100.

The mask the ticket was trained under (:func:`ticket_mask`): round ``t``'s ``masks.pt`` for Algorithm 1
(and its hard and sigmoid variants); for IMP, level ``L``'s ticket is trained under level ``L-1``'s
pruning (level 0 is dense), because a level's ``masks.pt`` holds the mask *after* its pruning.

Runs recorded before the weights were kept have none: :func:`load_ticket` then says so and how to
record them (:class:`NoTicketWeights`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CorruptFile, ParameterError, UserError
from ..method import masks as masklib
from ..method.rewinding import theta_state
from ..models import get_model
from .config import RunConfig
from .digests import Digests
from .paths import RunDir
from .results import check_finished_run, load_result

#: (input channels, image side) of each dataset's images, to build a run's network without its data.
INPUT_SHAPES: dict[str, tuple[int, int]] = {
    "mnist": (1, 28), "mnist01": (1, 20), "cifar10": (3, 32), "cifar100": (3, 32), "cifar10-subset": (3, 32),
    "tinyimagenet": (3, 64)}
#: The change that began keeping the ticket weights (named by errors about older runs).
KEPT_SINCE = "issue 18, December 2026"


class NoTicketWeights(UserError):
    """A recorded run (or round) without trained ticket weights: recorded before they were kept, or a round
    whose ticket was not trained (``train_tickets="last"``)."""


@torch.no_grad()
def ticket_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The ticket in ``model`` (masks attached) as a plain fp32 state: θ by plain name with every prunable
    weight multiplied by its survivors ``a`` (a pruned weight is exactly 0), contiguous, on the CPU."""
    state = theta_state(model)
    for name, mask in masklib.get_masks(model).items():
        state[name] = state[name] * mask.alive.detach().cpu().to(state[name].dtype)
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def model_classes(config: RunConfig) -> int:
    from ..data.registry import DATASET_RECORDS

    if config.classes:
        return config.classes
    if config.dataset == "mnist01":
        return 2
    return DATASET_RECORDS[config.dataset].classes


def build_model(config: RunConfig) -> nn.Module:
    """A fresh (unmasked) network of ``config``'s architecture, on the CPU, without loading the data."""
    channels, size = INPUT_SHAPES[config.dataset]
    torch.manual_seed(config.seed)
    return get_model(config.model, num_classes=model_classes(config), in_channels=channels, image_size=size)


def check_ticket_state(state: Any, model: nn.Module, path: Path, advice: str) -> dict[str, torch.Tensor]:
    """``state`` is a ticket of ``model``: the same names and shapes, floating tensors in fp32."""
    expected = {k: (tuple(v.shape), v.is_floating_point()) for k, v in theta_state(model).items()}
    problem = None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        problem = "it is not a dictionary of tensors"
    elif set(state) != set(expected):
        diff = sorted(set(state) ^ set(expected))
        problem = f"its names are not the model's (differs in {diff[:4]})"
    else:
        for name, (shape, floating) in expected.items():
            tensor = state[name]
            if tuple(tensor.shape) != shape:
                problem = f"{name} is {tuple(tensor.shape)}, the model's {shape}"
            elif floating and tensor.dtype != torch.float32:
                problem = f"{name} is {tensor.dtype}, not torch.float32"
            if problem:
                break
    if problem:
        raise CorruptFile(f"{path} is not a ticket of this model ({problem}), so it is not used: {advice}.")
    return state


@dataclass
class Ticket:
    """One round's trained ticket of a recorded run, read through the run's digests."""

    run: RunDir
    config: RunConfig
    result: dict[str, Any]
    round: int
    #: The trained weights (plain names, pruned weights exactly 0, fp32).
    state: dict[str, torch.Tensor]
    #: ``{weight name: bool survivors}`` the ticket was trained under.
    mask: dict[str, torch.Tensor]

    @property
    def record(self) -> dict[str, Any]:
        return next(r for r in self.result["rounds"] if r["round"] == self.round)

    @property
    def sparsity(self) -> float:
        return float(self.record["sparsity"])

    def model(self) -> nn.Module:
        """A plain network (no masks) holding the ticket's weights, in eval mode."""
        model = build_model(self.config)
        model.load_state_dict(self.state)
        return model.eval()


def rerun_command(config: RunConfig) -> str:
    """The ``lottery run`` command that records ``config`` again (into ``NEW_RESULTS_ROOT``)."""
    base = RunConfig() if config.preset not in _presets() else _presets()[config.preset].config
    changed = [f"{k}={_cli_value(v)}" for k, v in config.to_dict().items()
               if k != "preset" and getattr(base, k, None) != getattr(config, k)]
    preset = config.preset if config.preset in _presets() else "lenet300-mnist"
    return f"lottery run {preset} {' '.join(changed)} --out NEW_RESULTS_ROOT".replace("  ", " ")


def _presets() -> dict[str, Any]:
    from .config import PRESETS

    return PRESETS


def _cli_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def ticket_rounds(result: Mapping[str, Any]) -> list[int]:
    """The rounds (IMP levels) of a result whose ticket was trained (a recorded test accuracy)."""
    return [int(r["round"]) for r in result["rounds"] if r.get("test_accuracy") is not None]


def ticket_mask(run: RunDir, config: RunConfig, t: int, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """``{weight name: bool survivors}`` round ``t``'s ticket was trained under (see the module docstring)."""
    digests = Digests(run)
    model = build_model(config) if model is None else model
    names = {f"{n}.weight" if n else "weight": m for n, m in masklib.prunable_layers(model).items()}
    if config.method == "imp" and t == 0:  # level 0 is dense
        return {k: torch.ones_like(m.weight, dtype=torch.bool) for k, m in names.items()}
    source = t - 1 if config.method == "imp" else t
    path = run.round(source).masks
    if not path.exists():
        raise NoTicketWeights(f"{path} is not here (the mask states of the large models are kept out of git), so "
                              f"the ticket of round {t} cannot be checked or exported from {run.path}.")
    state = digests.load_torch(path)
    if not isinstance(state, dict) or set(state) != set(names):
        raise CorruptFile(f"{path} is not a mask state of this model (its layers are not the model's), so it is "
                          f"not used: {run.unit_of(path)}.")
    mask = {}
    for name, module in names.items():
        alive = state[name].get("alive") if isinstance(state[name], dict) else None
        if not isinstance(alive, torch.Tensor) or alive.dtype != torch.bool or alive.shape != module.weight.shape:
            raise CorruptFile(f"{path} is not a mask state of this model ({name}: no boolean 'alive' of shape "
                              f"{tuple(module.weight.shape)}), so it is not used: {run.unit_of(path)}.")
        mask[name] = alive
    return mask


def load_ticket(run_dir: Path | str, round: int | None = None, *, verify: bool = True) -> Ticket:
    """Round ``round``'s (default: the last trained) ticket of the finished run in ``run_dir``.

    Every file is verified against its digest first (``verify``: the whole run folder, as
    :func:`~concave_lottery.runs.results.check_finished_run`), then the weights' structure against the
    run's network. A run recorded before the weights were kept is a :class:`NoTicketWeights` error that
    says how to record the run again with them.
    """
    run = RunDir(run_dir)
    if not run.result.exists():
        raise ParameterError("RUN_DIR", str(run.path), "it must be a finished run folder (with result.json)")
    if verify:
        check_finished_run(run.path)
    result = load_result(run.result)
    config = RunConfig.from_dict(Digests(run).read_json(run.config))
    trained = ticket_rounds(result)
    if round is None:
        if not trained:
            raise NoTicketWeights(f"{run.path} records no trained ticket.")
        round = trained[-1]
    if round not in trained:
        raise ParameterError("round", round, f"the run's rounds with a trained ticket are {trained}")
    path = run.round(round).ticket_weights
    if not path.exists():
        raise NoTicketWeights(
            f"{run.path} has no ticket weights for round {round} ({path} is absent): it was recorded before runs "
            f"kept their trained ticket weights ({KEPT_SINCE}). Its masks and accuracies stay valid; to have the "
            f"weights, record the run again into another results root, e.g. `{rerun_command(config)}` "
            f"(the same config, so the same name and, on the same CPU, the same numbers).")
    model = build_model(config)
    state = check_ticket_state(Digests(run).load_torch(path), model, path, run.unit_of(path))
    return Ticket(run, config, result, round, state, ticket_mask(run, config, round, model))
