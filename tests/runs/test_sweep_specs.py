"""The committed sweep specs: every run validates, and every reduced-scale λ is the epoch-matched one.

The reduced-scale specs (``sweeps/live-cpu.toml``, ``sweeps/resnet20-cifar10-subset.toml``, ...) write
λ as a number; the comment beside it says how it was derived. This test recomputes it with
:func:`concave_lottery.runs.config.epoch_matched_lambda` so a spec and its derivation cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from concave_lottery.data.registry import PAPER_DATASET, PAPER_TRAIN_SIZES
from concave_lottery.evidence.tiers import train_images
from concave_lottery.runs.config import PAPER_LAMBDA, epoch_matched_lambda
from concave_lottery.runs.sweep import load_spec, select_tasks

SPECS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.toml"))


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_spec_loads_and_every_run_validates(spec):
    tasks = load_spec(spec).tasks
    assert tasks, f"{spec.name} has no runs"
    assert len({t.run_dir for t in tasks}) == len(tasks)


def _paper_lambda(config) -> float:
    return PAPER_LAMBDA["l1"] if config.method == "sigmoid" else PAPER_LAMBDA[config.regularizer]


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_reduced_scale_lambda_is_epoch_matched(spec):
    """Every penalised run on a dataset that stands for one of the paper's has the paper's λ, scaled to the
    same pull per epoch where the run has fewer images or another batch size (a λ the spec sets, or the
    preset's)."""
    checked = 0
    tasks = load_spec(spec).tasks
    for task in tasks:
        config = task.config
        if config.method == "imp" or config.dataset not in PAPER_DATASET:
            continue
        paper = PAPER_DATASET[config.dataset]
        n = train_images(config.to_dict())
        expected = _paper_lambda(config)
        if n != PAPER_TRAIN_SIZES[paper] or config.batch_size != 128:
            expected = epoch_matched_lambda(expected, num_train=n, paper_dataset=paper, batch_size=config.batch_size)
        assert config.lam == pytest.approx(expected, rel=5e-3), f"{task.label()}: λ {config.lam} != {expected:.3g}"
        checked += 1
    penalized = [t for t in tasks if t.config.method != "imp"]  # a dense-only spec (IMP level 0) has no λ
    if spec.name.startswith(("live", "resnet", "vgg", "wrn", "paper")) and penalized:
        assert checked, f"{spec.name}: no λ was checked"


def test_epoch_matched_lambda_scales_with_steps_per_epoch():
    assert epoch_matched_lambda(3e-6, num_train=50_000, paper_dataset="cifar10") == pytest.approx(3e-6)
    assert epoch_matched_lambda(1e-6, num_train=5170, paper_dataset="cifar10") == pytest.approx(1e-6 * 391 / 41)
    assert epoch_matched_lambda(1e-6, num_train=2000, paper_dataset="tinyimagenet") == pytest.approx(1e-6 * 782 / 16)
    from concave_lottery.errors import ParameterError

    with pytest.raises(ParameterError, match="paper_dataset"):
        epoch_matched_lambda(1e-6, num_train=10, paper_dataset="mnist")


#: The lanes of each campaign a 2-core CPU trains side by side (``scripts/cpu_lanes.sh``): its spec and lane files.
LANES = {"sweeps/resnet20-cifar10-subset-converged.toml": ["converged-a.txt", "converged-b.txt"],
         "sweeps/resnet20-cifar10-subset-converged-fig8.toml": ["converged-fig8-a.txt", "converged-fig8-b.txt"]}


@pytest.mark.parametrize("spec", sorted(LANES))
def test_the_lanes_of_a_campaign_train_each_of_its_runs_once(spec):
    root = Path(__file__).resolve().parents[2]
    tasks = load_spec(root / spec).tasks
    lanes = [select_tasks(tasks, f"@{root / 'sweeps' / 'lanes' / lane}") for lane in LANES[spec]]
    names = [t.run_dir.name for lane in lanes for t in lane]
    assert sorted(names) == sorted(t.run_dir.name for t in tasks)  # every run, none twice, none missing


def test_every_lane_file_belongs_to_a_campaign():
    root = Path(__file__).resolve().parents[2]
    files = sorted(p.name for p in (root / "sweeps" / "lanes").glob("*.txt"))
    assert files == sorted(f for lanes in LANES.values() for f in lanes)
