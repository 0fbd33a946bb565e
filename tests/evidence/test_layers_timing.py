"""Evidence layers (which runs of a spec a chapter shows, at what scale) and Table III timing."""

from __future__ import annotations

import pandas as pd
import pytest

from concave_lottery.errors import ParameterError
from concave_lottery.evidence import analysis, tiers, timing
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.digests import Digests, migrate
from concave_lottery.runs.results import run_directory, write_json

SPEC = """
out = "results"
[[grid]]
preset = "resnet20-cifar10-subset"
method = "soft"
regularizer = ["l1", "log"]
epochs = 8
milestones = [5, 7]
seed = 0

[[grid]]
preset = "resnet20-cifar10-subset"
method = "imp"
rounds = 2
epochs = 8
milestones = [5, 7]
seed = 0

[[grid]]
preset = "resnet20-tinyimagenet"
method = "imp"
classes = 10
rounds = 1
seed = 0
"""


def _record(t, sparsity, acc, search=0.0, ticket=80.0):
    return {"round": t, "sparsity": sparsity, "parameter_sparsity": sparsity * 0.99, "remaining_weights": 1,
            "test_accuracy": acc, "best_test_accuracy": acc + 0.01, "search_seconds": search,
            "ticket_seconds": ticket, "seconds": search + ticket}


def _write(root, overrides, rounds, preset="resnet20-cifar10-subset"):
    config = resolve_config(preset, overrides)
    run_dir = run_directory(config, root)
    write_json(run_dir / "config.json", config.to_dict())
    write_json(run_dir / "result.json", {"config": config.to_dict(), "rounds": rounds,
                                         "provenance": {"device": "Test CPU", "seconds": 1.0, "git_commit": "abc"}})
    migrate(run_dir)  # as a run of this library writes it: with the digests of its files
    return run_dir


@pytest.fixture
def recorded(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    root = tmp_path / "results"
    common = {"epochs": 8, "milestones": "5,7", "seed": 0}
    _write(root, {**common, "method": "soft", "regularizer": "l1"},
           [_record(1, 0.8, 0.60, search=160.0, ticket=80.0), _record(2, 0.9, 0.55, search=160.0, ticket=96.0)])
    _write(root, {**common, "method": "imp", "rounds": 2},
           [_record(0, 0.0, 0.62), _record(1, 0.2, 0.61), _record(2, 0.36, 0.60)])
    return spec, root


def test_gather_selects_reads_and_labels(recorded):
    spec, root = recorded
    layer = tiers.gather("recorded", str(spec), str(root), datasets=["cifar10-subset"])
    assert len(layer.tasks) == 3 and layer.n_finished == 2
    assert list(layer.missing["method"]) == ["soft-log"]
    assert set(layer.points["dataset_label"]) == {"cifar10-subset"} and set(layer.points["layer"]) == {"recorded"}
    assert "2 finished, 1 missing" in layer.describe()
    only_imp = tiers.gather("recorded", str(spec), str(root), methods=["imp"])
    assert [t.config.dataset for t in only_imp.tasks] == ["cifar10-subset", "tinyimagenet"]
    assert tiers.dataset_label(only_imp.tasks[1].config.to_dict()) == "tinyimagenet (10 classes)"
    assert tiers.train_images(only_imp.tasks[1].config.to_dict()) == 5000
    with pytest.raises(ParameterError, match="layer"):
        tiers.gather("guessed", str(spec), str(root))


def test_gather_reads_several_specs_and_names_each_runs_spec(recorded, tmp_path):
    spec, root = recorded
    tiny = tmp_path / "tiny.toml"
    tiny.write_text('out = "results"\n[[grid]]\npreset = "resnet20-tinyimagenet"\nmethod = "soft"\n'
                    'regularizer = "log"\nclasses = 10\nseed = 0\n'
                    # a run that the first spec lists too is gathered once, under the first spec
                    '[[grid]]\npreset = "resnet20-tinyimagenet"\nmethod = "imp"\nclasses = 10\n'
                    'rounds = 1\nseed = 0\n')
    _write(root, {"method": "soft", "regularizer": "log", "classes": 10, "seed": 0},
           [_record(1, 0.5, 0.30)], preset="resnet20-tinyimagenet")
    layer = tiers.gather("recorded", [str(spec), str(tiny)], str(root))
    assert layer.specs == [str(spec), str(tiny)] and layer.spec == f"{spec}, {tiny}"
    assert len(layer.tasks) == 5 and layer.n_finished == 3
    assert layer.status["spec"].tolist() == [str(spec)] * 4 + [str(tiny)]
    by_dataset = dict(layer.by_dataset())
    assert layer.specs_of(by_dataset["tinyimagenet (10 classes)"]) == str(tiny)
    assert layer.specs_of(by_dataset["cifar10-subset"]) == str(spec)
    # missing: cifar10-subset soft-log and Tiny ImageNet IMP, both in the first spec
    assert layer.missing_commands() == [f"lottery sweep {spec}"]
    with pytest.raises(ParameterError, match="spec"):
        tiers.gather("recorded", [], str(root))


def test_by_model_and_dataset_gives_one_group_per_figure(recorded, tmp_path):
    spec, root = recorded
    vgg = tmp_path / "vgg.toml"
    vgg.write_text('out = "results"\n[[grid]]\npreset = "vgg11-cifar10-subset"\nmethod = "soft"\n'
                   'regularizer = "l1"\nseed = 0\n')
    _write(root, {"method": "soft", "regularizer": "l1", "seed": 0}, [_record(1, 0.7, 0.40)],
           preset="vgg11-cifar10-subset")
    layer = tiers.gather("recorded", [str(spec), str(vgg)], str(root))
    groups = dict(layer.by_model_and_dataset())
    assert set(groups) == {("resnet20", "cifar10-subset"), ("vgg11", "cifar10-subset")}
    assert set(groups[("vgg11", "cifar10-subset")]["method_label"]) == {"soft-l1"}
    assert layer.specs_of(groups[("vgg11", "cifar10-subset")]) == str(vgg)
    # by dataset alone, the two models share one group
    assert len(dict(layer.by_dataset())["cifar10-subset"]) == sum(len(g) for g in groups.values())
    only_vgg = tiers.gather("recorded", [str(spec), str(vgg)], str(root), models=["vgg11"])
    assert [key for key, _ in only_vgg.by_model_and_dataset()] == [("vgg11", "cifar10-subset")]


def test_scale_of_names_protocol_lambda_and_hardware(recorded):
    spec, root = recorded
    layer = tiers.gather("recorded", str(spec), str(root), datasets=["cifar10-subset"])
    text = tiers.scale_of(layer.points)
    assert "5,170 training images" in text and "8 epochs per round" in text and "lr/10 at [5, 7]" in text
    assert "soft-l1 λ=3e-06" in text and "hardware: Test CPU" in text
    assert "seeds [0];" in text
    assert tiers.scale_of(layer.points.iloc[0:0]) == "no finished runs"
    points = layer.points
    more_seeds = pd.concat([points, points[points["method_label"] == "soft-l1"].assign(seed=1)])
    assert "seeds soft-l1 [0, 1], imp [0];" in tiers.scale_of(more_seeds)  # per method when they differ


def test_phase_times_and_the_paper_protocol_estimate(recorded):
    spec, root = recorded
    layer = tiers.gather("recorded", str(spec), str(root), datasets=["cifar10-subset"])
    times = timing.phase_times(layer.runs)
    assert len(times) == 1  # IMP has no search phase
    row = times.iloc[0]
    assert row["find_minutes"] == pytest.approx(320 / 60) and row["train_minutes"] == pytest.approx(96 / 60)
    assert row["search_s_per_epoch"] == pytest.approx(20.0) and row["ticket_s_per_epoch"] == pytest.approx(12.0)
    assert row["search_s_per_epoch_per_kimg"] == pytest.approx(20.0 * 1000 / 5170)
    est = timing.paper_protocol_estimate(times).iloc[0]
    # the paper's ResNet-20 protocol: 50,000 images, 85 epochs per round, 3 rounds
    assert est["paper_epochs"] == 85 and est["paper_train_images"] == 50_000
    assert est["est_find_minutes"] == pytest.approx(20.0 / 5170 * 50_000 * 85 * 3 / 60)
    assert est["est_train_minutes"] == pytest.approx(12.0 / 5170 * 50_000 * 85 / 60)
    assert timing.phase_times(layer.runs.iloc[0:0]).empty


def test_phase_times_name_no_regularizer_for_the_sigmoid_runs(tmp_path):
    """A sigmoid run's config carries the default ``regularizer = "log"``, which it never used."""
    root = tmp_path / "results"
    common = {"epochs": 8, "milestones": "5,7", "seed": 0}
    _write(root, {**common, "method": "sigmoid"}, [_record(1, 0.5, 0.6, search=160.0)])
    _write(root, {**common, "method": "hard", "regularizer": "l1"}, [_record(1, 0.5, 0.6, search=160.0)])
    from concave_lottery.runs.results import load_runs

    times = timing.phase_times(load_runs(root)).set_index("method")
    assert pd.isna(times.loc["sigmoid", "regularizer"]) and times.loc["hard", "regularizer"] == "l1"


def test_pruning_rows_are_differences_to_the_dense_baseline(recorded):
    spec, root = recorded
    points = tiers.gather("recorded", str(spec), str(root), datasets=["cifar10-subset"]).points
    dense = analysis.dense_reference(points)
    rows = analysis.pruning_rows(points, dense)
    assert list(rows["round"]) == [1, 2] and set(rows["method"]) == {"soft-l1"}
    assert rows["baseline_accuracy"].iloc[0] == pytest.approx(62.0)
    assert rows["unpruned_percent"].tolist() == pytest.approx([20.0, 10.0])
    assert rows["accuracy_difference"].tolist() == pytest.approx([-2.0, -7.0])
    assert rows["unpruned_all_percent"].iloc[0] == pytest.approx(100 * (1 - 0.8 * 0.99))


def test_steady_epoch_seconds_leave_out_each_rounds_first_epoch(tmp_path):
    for t, seconds in ((1, [9.0, 2.0, 2.2]), (2, [8.0, 2.4, 2.0])):
        write_json(tmp_path / f"round-{t}" / "search" / "metrics.json",
                   {"epochs": [{"epoch": e + 1, "test_accuracy": 0.5, "seconds": s} for e, s in enumerate(seconds)],
                    "steps": 3})
    Digests(tmp_path).adopt(notice=False)  # as a run writes them: with their digests
    assert timing.steady_epoch_seconds(tmp_path, "search") == pytest.approx(2.1)
    import math

    assert math.isnan(timing.steady_epoch_seconds(tmp_path, "ticket"))
