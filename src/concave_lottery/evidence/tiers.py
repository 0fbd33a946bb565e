"""The layers of evidence a lottery chapter shows, and which one every number comes from.

The paper's headline experiments (Figs. 5-9, Tables II-III) need full CIFAR and a GPU. A chapter
therefore shows up to three layers, always labelled:

1. ``live``: runs computed while the book builds (CPU, minutes), the same pipeline on real data at a
   reduced scale (a sweep spec such as ``sweeps/live-cpu.toml``, results under ``_build/``, never
   committed);
2. ``recorded``: longer runs made ahead of time with ``lottery sweep`` and committed under
   ``results/`` (each with its config and provenance: commit, hardware, wall time), replayed;
   ``converged`` is a recorded layer trained with the paper's epochs per phase, shown first once its
   seeds are recorded (:mod:`concave_lottery.evidence.converged`);
3. ``paper``: the paper's own numbers (:mod:`concave_lottery.paper_results`), quoted and cited.

:func:`gather` turns a sweep spec into one :class:`Layer`: the spec's runs that match a chapter's
model, datasets and methods, whether each is finished, and (for the live layer, or when asked) the
missing ones trained first. :func:`scale_of` writes a layer's protocol in one line, to print
beside every figure drawn from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..data.registry import DATASET_RECORDS
from ..errors import ParameterError
from ..runs.results import load_runs
from ..runs.sweep import LocalExecutor, RunTask, SerialExecutor, TaskOutcome, run_sweep, tasks_from_tables
from . import analysis

LAYER_NAMES = ("live", "recorded", "converged")

#: Training images of each dataset (full splits), for a run's scale: the data registry's records.
TRAIN_IMAGES: dict[str, int] = {name: record.train for name, record in DATASET_RECORDS.items()}
#: Tiny ImageNet has 500 training images per class.
TINYIMAGENET_PER_CLASS = DATASET_RECORDS["tinyimagenet"].per_class


@dataclass
class Layer:
    """The runs of one layer that a chapter selected: ``status`` (one row per run, see
    :func:`concave_lottery.analysis.run_status`), the loaded ``runs`` (one row per run and round) and
    the ticket ``points`` (:func:`concave_lottery.analysis.tickets`, with a ``dataset_label``)."""

    name: str
    specs: list[str]
    root: str
    tasks: list[RunTask]
    status: pd.DataFrame
    runs: pd.DataFrame
    points: pd.DataFrame
    outcomes: list[TaskOutcome] = field(default_factory=list)

    @property
    def spec(self) -> str:
        """The layer's sweep spec(s), comma-separated."""
        return ", ".join(self.specs)

    def specs_of(self, points: pd.DataFrame) -> str:
        """The spec(s) that the runs behind ``points`` (a part of :attr:`points`) come from."""
        used = set(points["spec"]) if "spec" in points else set(self.specs)
        return ", ".join(s for s in self.specs if s in used)

    def missing_commands(self) -> list[str]:
        """``lottery sweep SPEC`` for every spec with a run that is not finished."""
        specs = set(self.missing["spec"])
        return [f"lottery sweep {s}" for s in self.specs if s in specs]

    @property
    def n_finished(self) -> int:
        return int((self.status["status"] == "finished").sum()) if len(self.status) else 0

    @property
    def missing(self) -> pd.DataFrame:
        return self.status[self.status["status"] != "finished"] if len(self.status) else self.status

    @property
    def source(self) -> str:
        """Where this layer's numbers come from, for a figure's caption."""
        return "computed while this page was built" if self.name == "live" else "recorded runs, replayed"

    def by_dataset(self) -> list[tuple[str, pd.DataFrame]]:
        """The ticket points grouped by ``dataset_label``, in the order they appear (none: empty)."""
        return list(self.points.groupby("dataset_label", sort=False)) if len(self.points) else []

    def by_model_and_dataset(self) -> list[tuple[tuple[str, str], pd.DataFrame]]:
        """The ticket points grouped by ``(model, dataset_label)``, in the order they appear (none: empty):
        one figure of the paper's Figs. 5-7 per group."""
        return list(self.points.groupby(["model", "dataset_label"], sort=False)) if len(self.points) else []

    def describe(self) -> str:
        """One line: how many runs, how many finished, where they live."""
        return (f"{self.name} layer: {len(self.tasks)} runs of {self.spec} under {self.root}/, "
                f"{self.n_finished} finished, {len(self.tasks) - self.n_finished} missing")


def train_images(config: dict[str, Any]) -> int:
    """How many training images a run used (its ``train_subset``, else its dataset cut to ``classes``)."""
    if config.get("train_subset"):
        return int(config["train_subset"])
    dataset = config["dataset"]
    if dataset == "tinyimagenet" and config.get("classes"):
        return TINYIMAGENET_PER_CLASS * int(config["classes"])
    return TRAIN_IMAGES[dataset]


def dataset_label(config: dict[str, Any]) -> str:
    """``cifar10-subset``, or ``tinyimagenet (10 classes)`` for a run cut to its first classes."""
    label = str(config["dataset"])
    classes = config.get("classes")
    if classes and not pd.isna(classes):  # NaN: a result file older than ``classes``, beside newer ones
        label += f" ({int(config['classes'])} classes)"
    return label


def _matches(task: RunTask, models: Sequence[str] | None, datasets: Sequence[str] | None,
             methods: Sequence[str] | None) -> bool:
    config = task.config
    label = analysis.method_label(config.to_dict())
    return ((models is None or config.model in models)
            and (datasets is None or config.dataset in datasets)
            and (methods is None or label in methods or config.method in methods))


def select(tasks: Sequence[RunTask], *, models: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
           methods: Sequence[str] | None = None) -> list[RunTask]:
    """The tasks whose model, dataset and method label (``soft-l1``, ``imp``, ...; or method name) are
    among the given ones (``None``: any)."""
    return [t for t in tasks if _matches(t, models, datasets, methods)]


def gather(name: str, spec: str | Sequence[str], root: str, *, models: Sequence[str] | None = None,
           datasets: Sequence[str] | None = None, methods: Sequence[str] | None = None,
           seeds: Sequence[int] | None = None, overrides: dict[str, Any] | None = None,
           compute: bool = False, workers: int = 1, device: str = "auto") -> Layer:
    """The runs of ``spec`` (one sweep spec or several) that match ``models``/``datasets``/``methods``,
    under the results root ``root``; with ``compute`` the missing ones are trained first (``workers``
    processes at once, :class:`~concave_lottery.sweep.LocalExecutor`). A run that fails raises with its
    error. The ``status`` and ``points`` tables name the spec of every run (column ``spec``)."""
    if name not in LAYER_NAMES:
        raise ParameterError("layer", name, f"the layer must be one of {', '.join(LAYER_NAMES)}")
    specs = [spec] if isinstance(spec, str) else [str(s) for s in spec]
    if not specs:
        raise ParameterError("spec", spec, "give at least one sweep spec")
    tasks, spec_of_run = [], {}
    for one in specs:
        tables = analysis.spec_tables(one, seeds=seeds, overrides=overrides)
        for task in select(tasks_from_tables(tables, root, device), models=models, datasets=datasets,
                           methods=methods):
            if str(task.run_dir) not in spec_of_run:
                spec_of_run[str(task.run_dir)] = one
                tasks.append(task)
    outcomes: list[TaskOutcome] = []
    if compute and tasks:
        executor = LocalExecutor(workers) if workers > 1 else SerialExecutor()
        outcomes = run_sweep(tasks, executor, progress=False)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            first = failed[0]
            raise RuntimeError(f"{len(failed)} run(s) failed; the first: {first.task.label()} of "
                               f"{spec_of_run[str(first.task.run_dir)]}\n{first.error}")
    status = analysis.run_status(tasks)
    status["spec"] = [spec_of_run[str(t.run_dir)] for t in tasks]
    finished = analysis.finished_results(status)
    runs = load_runs(finished) if finished else pd.DataFrame()
    points = analysis.tickets(runs)
    if len(points):
        points["dataset_label"] = [dataset_label(r) for r in points.to_dict("records")]
        points["layer"] = name
        points["spec"] = [spec_of_run[d] for d in points["run_dir"]]
    return Layer(name, specs, root, tasks, status, runs, points, outcomes)


def scale_of(points: pd.DataFrame) -> str:
    """The protocol of the runs behind ``points`` in one line per distinct protocol: model, dataset,
    training images, epochs per round, rounds, λ per method, seeds, hardware."""
    if points.empty:
        return "no finished runs"
    lines = []
    keys = ["model", "dataset_label", "epochs", "milestones"]
    for (model, dataset, epochs, milestones), sub in points.groupby(keys, sort=False):
        first = sub.iloc[0].to_dict()
        lams, seeds = [], {}
        for label, s in sub.groupby("method_label", sort=False):
            lam = s["lam"].iloc[0]
            lams.append(label if label == "imp" else f"{label} λ={lam:.3g}")
            seeds[label] = sorted(s["seed"].unique().tolist())
        rounds = sorted(sub.groupby("method_label")["round"].max().unique().tolist())
        if len({tuple(v) for v in seeds.values()}) == 1:
            seed_text = f"seeds {next(iter(seeds.values()))}"
        else:
            seed_text = "seeds " + ", ".join(f"{label} {v}" for label, v in seeds.items())
        hardware = ", ".join(sorted(set(map(str, sub["prov_device"]))))
        schedule = f"lr/10 at {list(milestones)}" if len(milestones) else "constant lr"
        lines.append(f"{model} on {dataset} ({train_images(first):,} training images), {epochs} "
                     f"epoch{'s' if epochs != 1 else ''} per "
                     f"round ({schedule}), up to {max(rounds)} rounds/levels; {'; '.join(lams)}; {seed_text}; "
                     f"hardware: {hardware}")
    return "\n".join(lines)
