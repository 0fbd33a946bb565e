"""Run specifications: every hyperparameter of one lottery search, and the named presets.

A :class:`RunConfig` holds everything that determines a run's result. Presets hold the paper's
protocols (Sec. V-D) and ``lenet300-mnist`` (open_lth's defaults for LeNet-300-100); any field can
be overridden with ``key=value`` (:func:`resolve_config`), and every value is validated with an
error that names the parameter, the value and what is allowed.

Defaults the paper leaves open (contributor guide §3, "Method decisions") are documented fields:
``mask_lr_scale`` (the mask's learning rate as a multiple of θ's), ``mask_weight_decay`` and ``alpha``.
The chapter "What the paper leaves open" calibrates them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ParameterError, unknown_name
from .precision import PRECISIONS

#: The paper's λ per regularizer (Sec. V-D): ℓ1 3e-6, log 1e-6 (with ε = 0.1). Others: log's value.
PAPER_LAMBDA = {"l1": 3e-6, "log": 1e-6}
#: Fields added after runs were recorded: left out of a run's identity (and hash) at these defaults.
OMITTED_AT_DEFAULT: dict[str, Any] = {"classes": 0, "precision": "fp32"}
#: Fields of older config files that newer fields replaced: ``bf16`` (a bool, CUDA only) is now ``precision``.
LEGACY_FIELDS = ("bf16",)
#: λ of the sigmoid baseline's penalty λΣσ(βs) when none is given (the ℓ1 value above).
SIGMOID_DEFAULT_LAMBDA = 3e-6
#: Regularizer parameter names → the RunConfig fields that hold them (errors name the field).
_REGULARIZER_FIELDS = {"gamma": "mcp_gamma", "a": "scad_a"}


@dataclass(frozen=True)
class RunConfig:
    """Every hyperparameter of one lottery search (one ``lottery run``)."""

    preset: str = field(default="custom", metadata={"help": "name of the preset this run started from"})
    model: str = field(default="lenet300", metadata={"help": "lenet300, logreg, resnet20, resnet56, wrn20, vgg11"})
    dataset: str = field(default="mnist", metadata={"help": "mnist, cifar10, cifar100, cifar10-subset, tinyimagenet"})
    method: str = field(default="soft", metadata={"help": "soft (Algorithm 1), imp, sigmoid, hard"})
    regularizer: str = field(default="log", metadata={"help": "r(m) of Assumption 1: l1, log, lq, mcp, scad"})
    lam: float | None = field(default=None, metadata={
        "help": "λ of eq. (2); default: the paper's value for the regularizer (l1 3e-6, log 1e-6)"})
    eps: float = field(default=0.1, metadata={"help": "ε of the log regularizer (paper: 0.1)"})
    q: float = field(default=0.5, metadata={"help": "exponent of the ℓq regularizer, 0 < q < 1"})
    mcp_gamma: float = field(default=2.0, metadata={"help": "γ of the MCP regularizer, > 0"})
    scad_a: float = field(default=3.7, metadata={"help": "a of the SCAD regularizer, > 2"})
    alpha: float = field(default=0.01, metadata={"help": "pruning threshold on m (Alg. 1 step 4), in (0, 1)"})
    prune_fraction: float = field(default=0.2, metadata={
        "help": "fraction of surviving weights pruned per round by imp and hard, in (0, 1)"})
    beta_final: float = field(default=200.0, metadata={"help": "β_T of the sigmoid baseline"})
    rounds: int = field(default=3, metadata={
        "help": "rounds T of Algorithm 1 (for imp: pruning levels after the dense level 0; 0: dense only)"})
    epochs: int = field(default=40, metadata={"help": "training epochs per round"})
    milestones: tuple[int, ...] = field(default=(), metadata={"help": "epochs where lr is divided by 10"})
    lr: float = field(default=0.1, metadata={"help": "SGD learning rate of θ"})
    momentum: float = field(default=0.0, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay on θ"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size"})
    mask_lr_scale: float = field(default=100.0, metadata={
        "help": "learning rate of the mask as a multiple of θ's (the paper leaves it open)"})
    mask_weight_decay: float = field(default=0.0, metadata={"help": "weight decay on the mask"})
    mask_init: float = field(default=0.5, metadata={"help": "m_0 of Algorithm 1 (paper: 1/2)"})
    rewind_step: int = field(default=0, metadata={
        "help": "rewind θ to θ_k after k optimizer steps of the first training (0: θ_0)"})
    train_tickets: str = field(default="all", metadata={
        "help": "train the ticket in isolation after every round (all), only after the last (last), or never "
                "(none: a search-only run, as the probes of lottery calibrate)"})
    train_subset: int = field(default=0, metadata={"help": "use only this many training images (0: all)"})
    test_subset: int = field(default=0, metadata={"help": "use only this many test images (0: all)"})
    classes: int = field(default=0, metadata={
        "help": "use only the images of the first k classes (0: all), e.g. 10 of Tiny ImageNet's 200"})
    seed: int = field(default=0, metadata={"help": "seed of θ_0, batch order and augmentation"})
    precision: str = field(default="fp32", metadata={
        "help": "fp32, bf16 (autocast on CPU or CUDA; mask, penalty, projection, optimizer stay fp32) or auto "
                "(bf16 only where the hardware has it natively, and channels_last for conv nets); "
                "see concave_lottery.runs.precision"})
    channels_last: bool = field(default=False, metadata={"help": "channels_last memory format"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the model"})

    # ---------------------------------------------------------------- derived
    @property
    def resolved_lam(self) -> float:
        if self.lam is not None:
            return self.lam
        if self.method == "sigmoid":
            return SIGMOID_DEFAULT_LAMBDA
        return PAPER_LAMBDA.get(self.regularizer, PAPER_LAMBDA["log"])

    def resolved(self, device: Any = None) -> RunConfig:
        """The same config with every default made explicit: ``lam`` filled in, and ``precision=auto``
        decided for ``device`` (default: CUDA when available, else the CPU) as ``fp32`` or ``bf16``, with
        channels_last for a conv net (:mod:`concave_lottery.runs.precision`). ``auto`` is resolved here,
        before any identity is computed or recorded, so a bf16 run never shares a folder with an fp32 run."""
        from .precision import auto_channels_last, resolve_precision

        changes: dict[str, Any] = {"lam": self.resolved_lam}
        if self.precision == "auto":
            changes["precision"] = resolve_precision("auto", device)
            changes["channels_last"] = self.channels_last or auto_channels_last(self.model)
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """A config from a stored ``config.json``; fields added to the library since it was written take
        their defaults, so a run recorded by an older version is still found and reused."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - set(LEGACY_FIELDS)
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        values = dict(data)
        if values.pop("bf16", False) and "precision" not in values:  # the legacy switch meant bf16 autocast
            values["precision"] = "bf16"
        if "milestones" in values:
            values["milestones"] = tuple(values["milestones"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result (everything but speed switches and the preset name).

        ``precision`` belongs to it (bf16 changes the numerics), left out at ``fp32`` so that the runs
        recorded before it existed keep their folder names; ``auto`` is resolved first (:meth:`resolved`)."""
        d = self.resolved().to_dict()
        for key in ("preset", "channels_last", "compile"):
            d.pop(key)
        for key, default in OMITTED_AT_DEFAULT.items():  # newer fields: older runs keep their names
            if d[key] == default:
                d.pop(key)
        return d

    def short_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    def run_name(self) -> str:
        """Readable run directory name, e.g. ``soft-log-lam1e-06-seed0-1a2b3c4d``."""
        c = self.resolved()
        if c.method == "imp":
            head = f"imp-p{c.prune_fraction:g}"
        elif c.method == "sigmoid":
            head = f"sigmoid-lam{c.lam:g}"
        else:
            head = f"{c.method}-{c.regularizer}-lam{c.lam:g}"
        if c.precision == "bf16":  # a bf16 run is another run; fp32 names are those of every recorded run
            head += "-bf16"
        return f"{head}-seed{c.seed}-{self.short_hash()}"

    def trains_ticket(self, t: int) -> bool:
        """Whether round ``t`` of Algorithm 1 trains its ticket: every round (``train_tickets="all"``), the
        last one (``"last"``), or none (``"none"``: search only)."""
        return self.train_tickets == "all" or (self.train_tickets == "last" and t == self.rounds)

    def build_regularizer(self, name: str | None = None) -> Any:
        """The regularizer r of eq. (2) called ``name`` (default: this config's), built from this config's
        ε, q, γ and a; its constructor checks the range of its parameter (:mod:`concave_lottery.method.regularizers`).
        An error names the config field the user typed (``mcp_gamma``, not the regularizer's ``gamma``)."""
        from ..method.regularizers import get_regularizer

        try:
            return get_regularizer(self.regularizer if name is None else name, eps=self.eps, q=self.q,
                                   gamma=self.mcp_gamma, a=self.scad_a)
        except ParameterError as error:
            field_name = _REGULARIZER_FIELDS.get(error.name, error.name)
            allowed = error.allowed.replace(f"{error.name} must", f"{field_name} must", 1)
            raise ParameterError(field_name, error.value, allowed) from None

    def _build_method(self, name: str | None = None) -> Any:
        """The search method called ``name`` (default: this config's), built by
        :func:`concave_lottery.method.search.make_method`. Validation builds every regularizer and every
        method, so a parameter the chosen one does not read is still checked (it enters the run's hash)."""
        from ..method.regularizers import REGULARIZERS
        from ..method.search import METHODS, make_method

        if self.regularizer not in REGULARIZERS:
            raise unknown_name("regularizer", self.regularizer, REGULARIZERS)
        if self.method not in METHODS:
            raise unknown_name("method", self.method, METHODS)
        for other in REGULARIZERS:
            self.build_regularizer(other)
        regularizer = self.build_regularizer()
        for other in METHODS:
            make_method(other, regularizer=regularizer, lam=self.resolved_lam, alpha=self.alpha,
                        prune_fraction=self.prune_fraction, beta_final=self.beta_final)
        return make_method(self.method, regularizer=regularizer, lam=self.resolved_lam, alpha=self.alpha,
                           prune_fraction=self.prune_fraction, beta_final=self.beta_final)

    def validate(self) -> RunConfig:
        """Raise :class:`ParameterError` for the first value that is not allowed."""
        from ..data import DATASETS
        from ..models import MODELS

        if self.model not in MODELS:
            raise unknown_name("model", self.model, MODELS)
        if self.dataset not in DATASETS or self.dataset == "mnist01":
            raise unknown_name("dataset", self.dataset, [d for d in DATASETS if d != "mnist01"])
        for f in fields(self):  # every float the user gives is a finite number (lam=inf is refused)
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ParameterError(f.name, value, f"{f.name} must be a finite number")
        self._build_method()  # the regularizers and methods check their own ranges (each check lives once)
        checks: list[tuple[str, bool, str]] = [
            ("rounds", self.rounds >= (0 if self.method == "imp" else 1),
             "rounds must be an integer >= 1 (for imp, >= 0: rounds=0 trains the dense network only)"),
            ("epochs", self.epochs >= 1, "epochs must be an integer >= 1"),
            ("milestones", all(0 < m for m in self.milestones), "milestones must be positive epochs"),
            ("lr", self.lr > 0, "the learning rate must be > 0"),
            ("momentum", 0 <= self.momentum < 1, "momentum must lie in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, "weight decay must be >= 0"),
            ("batch_size", self.batch_size >= 1, "the batch size must be an integer >= 1"),
            ("mask_lr_scale", self.mask_lr_scale > 0, "the mask learning-rate scale must be > 0"),
            ("mask_weight_decay", self.mask_weight_decay >= 0, "mask weight decay must be >= 0"),
            ("mask_init", 0 < self.mask_init <= 1, "m_0 must lie in (0, 1]"),
            ("rewind_step", self.rewind_step >= 0, "rewind_step must be an integer >= 0"),
            ("train_tickets", self.train_tickets in ("all", "last", "none")
             and (self.train_tickets != "none" or self.method != "imp"),
             "train_tickets must be all, last or none (none: search only; not for imp, whose search is the "
             "ticket)"),
            ("train_subset", self.train_subset >= 0, "train_subset must be >= 0 (0: all)"),
            ("test_subset", self.test_subset >= 0, "test_subset must be >= 0 (0: all)"),
            ("classes", self.classes >= 0, "classes must be an integer >= 0 (0: all classes)"),
            ("seed", self.seed >= 0, "the seed must be an integer >= 0"),
            ("precision", self.precision in PRECISIONS, "precision must be fp32, bf16 or auto"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ParameterError(name, getattr(self, name), allowed)
        self._check_subsets()
        return self

    def _check_subsets(self) -> None:
        """``train_subset`` and ``test_subset`` at most the images the dataset has (its record in
        :data:`concave_lottery.data.registry.DATASET_RECORDS`), so the error names the field typed."""
        from ..data.registry import DATASET_RECORDS

        record = DATASET_RECORDS.get(self.dataset)
        if record is None:
            return
        whole = self.classes == 0 or self.classes >= record.classes
        bounds = [("train_subset", self.train_subset, record.train if whole else
                   record.per_class * self.classes if record.per_class else None, "training")]
        if whole:
            bounds.append(("test_subset", self.test_subset, record.test, "test"))
        for name, value, total, split in bounds:
            if total is not None and value > total:
                classes = "" if whole else f" in its first {self.classes} classes"
                raise ParameterError(name, value, f"{name} must be at most {total:,}, the {split} images of "
                                     f"{self.dataset}{classes} (0: all)")


# ------------------------------------------------------------------------------------ presets


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    config: RunConfig


def _paper(model: str, dataset: str, epochs: int, milestones: tuple[int, int], note: str = "") -> Preset:
    cfg = RunConfig(preset=f"{model}-{dataset}", model=model, dataset=dataset, epochs=epochs,
                    milestones=milestones, lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=128,
                    rounds=3)
    text = (f"{model} on {dataset}: the paper's protocol (Sec. V-D): SGD lr 0.1, momentum 0.9, "
            f"wd 1e-4, batch 128, {epochs} epochs per round, lr/10 at {milestones[0]} and {milestones[1]}, "
            f"3 rounds.{note}")
    return Preset(cfg.preset, text, cfg)


def _presets() -> dict[str, Preset]:
    presets = [
        Preset("lenet300-mnist",
               "LeNet-300-100 on MNIST with open_lth's defaults: SGD lr 0.1 (no momentum, no weight "
               "decay), batch 128, 40 epochs per round, 3 rounds; IMP prunes 20% per level. Without "
               "momentum the mask needs a 10x larger step than in the momentum-0.9 presets: "
               "mask_lr_scale 1000.",
               RunConfig(preset="lenet300-mnist", model="lenet300", dataset="mnist", epochs=40, lr=0.1,
                         momentum=0.0, weight_decay=0.0, batch_size=128, rounds=3, prune_fraction=0.2,
                         mask_lr_scale=1000.0)),
    ]
    for dataset in ("cifar10", "cifar100", "tinyimagenet", "cifar10-subset"):
        note = " Real but partial CIFAR-10 (5,170 training images): reduced scale." \
            if dataset == "cifar10-subset" else ""
        presets.append(_paper("resnet20", dataset, 85, (56, 71), note))
        presets.append(_paper("vgg11", dataset, 120, (60, 90), note))
        presets.append(_paper("wrn20", dataset, 120, (60, 90), note))
    for dataset in ("cifar10", "cifar10-subset"):
        note = " The paper does not state ResNet-56's schedule (Table II); ResNet-20's is used."
        if dataset == "cifar10-subset":
            note += " Real but partial CIFAR-10 (5,170 training images): reduced scale."
        presets.append(_paper("resnet56", dataset, 85, (56, 71), note))
    return {p.name: p for p in presets}


PRESETS: dict[str, Preset] = _presets()


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise unknown_name("preset", name, PRESETS)
    return PRESETS[name]


# ------------------------------------------------------------------------------------ labels


def method_label(config: Mapping[str, Any]) -> str:
    """``soft-l1``/``soft-log`` for Algorithm 1 and ``hard-l1``/``hard-log`` for its fixed-fraction
    variant (by regularizer), else the method name (``imp``, ``sigmoid``). A sigmoid run whose mask
    step differs from its preset's is another curve: ``sigmoid-lr1`` for ``mask_lr_scale`` 1 (the
    mask on θ's learning rate, as continuous sparsification trains it)."""
    method = str(config["method"])
    if method in ("soft", "hard"):
        return f"{method}-{config['regularizer']}"
    if method == "sigmoid":
        scale, default = config.get("mask_lr_scale"), _preset_mask_lr_scale(config.get("preset"))
        if scale is not None and default is not None and float(scale) != default:
            return f"sigmoid-lr{float(scale):g}"
    return method


def _preset_mask_lr_scale(preset: Any) -> float | None:
    return PRESETS[preset].config.mask_lr_scale if preset in PRESETS else None


# ------------------------------------------------------------------------------------ overrides


def _parse_value(name: str, raw: str, current: Any, annotation: str) -> Any:
    text = raw.strip()
    try:
        if "tuple" in annotation:
            if text.lower() in ("none", "[]"):  # milestones=none: a constant learning rate
                return ()
            return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
        if annotation.startswith("bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation.startswith("int"):
            value = float(text)
            if not value.is_integer():
                raise ValueError(text)
            return int(value)
        if "float" in annotation:
            if annotation.endswith("None") and text.lower() in ("none", "default", ""):
                return None
            return float(text)
        return text
    except ValueError:
        kind = annotation.replace(" | None", "").replace("tuple[int, ...]", "comma-separated integers")
        raise ParameterError(name, raw, f"{name} must be of type {kind}") from None


def apply_overrides(config: RunConfig, overrides: Mapping[str, object]) -> RunConfig:
    """``config`` with the given fields replaced; string values are parsed by field type."""
    types = {f.name: str(f.type) for f in fields(RunConfig)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "bf16":  # the legacy switch (before precision existed): bf16=true is precision=bf16
            on = _parse_value(key, value, False, "bool") if isinstance(value, str) else bool(value)
            key, value = "precision", "bf16" if on else "fp32"
        if key not in types:
            raise unknown_name("key", key, types)
        if isinstance(value, str):
            value = _parse_value(key, value, getattr(config, key), types[key])
        elif key == "milestones":
            value = tuple(int(v) for v in value)  # type: ignore[union-attr]
        changes[key] = value
    return dataclasses.replace(config, **changes)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["lam=1e-6", "eps=0.1"]`` → ``{"lam": "1e-6", "eps": "0.1"}``; a repeated key and an empty
    value are errors."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError("override", item, "an override must be written key=value, e.g. lam=1e-6")
        key, value = item.split("=", 1)
        key = key.strip()
        if not value.strip():
            example = "milestones=none for none, " if key == "milestones" else ""
            raise ParameterError(key, value, f"{key} must have a value after '=', e.g. {key}=... "
                                 f"({example}leave the override out to keep the preset's value)")
        if key in out:
            raise ParameterError(key, value, f"{key} must be given once ({key}={out[key]} and "
                                 f"{key}={value} were both given)")
        out[key] = value
    return out


def resolve_config(preset: str, overrides: Mapping[str, object] | None = None, device: Any = None) -> RunConfig:
    """The validated, fully resolved config of ``preset`` with ``overrides`` applied (``precision=auto``
    decided for ``device``: see :meth:`RunConfig.resolved`)."""
    config = apply_overrides(get_preset(preset).config, dict(overrides or {}))
    return config.validate().resolved(device)


def config_help() -> list[tuple[str, str, str]]:
    """(name, default, help) of every field, for ``lottery presets --keys``."""
    return [(f.name, repr(f.default), f.metadata.get("help", "")) for f in fields(RunConfig)]


# ------------------------------------------------------------------------------------ reduced scale



def steps_per_epoch(num_train: int, batch_size: int = 128) -> int:
    """SGD steps in one epoch over ``num_train`` images (the last, smaller batch included)."""
    return -(-int(num_train) // int(batch_size))


def epoch_matched_lambda(lam: float, *, num_train: int, paper_dataset: str, batch_size: int = 128) -> float:
    """λ for a reduced-scale run whose penalty pulls the mask as far per *epoch* as the paper's λ does.

    With mask step η_m = lr · mask_lr_scale and momentum μ, the penalty alone moves an entry by
    η_m λ r'(m) / (1 − μ) per step (see :func:`concave_lottery.analysis.penalty_drift`). A dataset of
    ``num_train`` images has S = ⌈N/B⌉ steps per epoch instead of the paper's S_paper (391 for CIFAR,
    782 for Tiny ImageNet at B = 128), so the same pull per epoch needs

        λ_reduced = λ_paper · S_paper / S.

    The learning-rate schedule is in epochs, so this keeps the penalty's pace relative to the
    schedule; the drift per *step* is larger by S_paper / S, which a reduced-scale chapter states.
    """
    from ..data.registry import PAPER_TRAIN_SIZES  # the datasets' record (imports torch: only here)

    if paper_dataset not in PAPER_TRAIN_SIZES:
        raise unknown_name("paper_dataset", paper_dataset, PAPER_TRAIN_SIZES)
    if num_train < 1:
        raise ParameterError("num_train", num_train, "num_train must be an integer >= 1")
    paper_steps = steps_per_epoch(PAPER_TRAIN_SIZES[paper_dataset], batch_size)
    return lam * paper_steps / steps_per_epoch(num_train, batch_size)
