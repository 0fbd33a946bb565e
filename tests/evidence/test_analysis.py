"""Tables over runs: method labels, means over seeds, matched-sparsity comparisons, the mask
statistics behind the threshold study, and which runs of a sweep are missing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concave_lottery.errors import ParameterError
from concave_lottery.evidence import analysis
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.digests import migrate
from concave_lottery.runs.results import load_runs, run_directory, write_json
from concave_lottery.runs.sweep import tasks_from_tables


def _points(rows):
    """A tickets() table from (method, regularizer, seed, round, sparsity, accuracy) tuples."""
    df = pd.DataFrame(rows, columns=["method", "regularizer", "seed", "round", "sparsity", "test_accuracy"])
    df["best_test_accuracy"] = df["test_accuracy"]
    return analysis.tickets(df)


def test_method_labels():
    assert analysis.method_label({"method": "soft", "regularizer": "l1"}) == "soft-l1"
    assert analysis.method_label({"method": "soft", "regularizer": "log"}) == "soft-log"
    assert analysis.method_label({"method": "hard", "regularizer": "log"}) == "hard-log"
    assert analysis.method_label({"method": "imp", "regularizer": "log"}) == "imp"


def test_a_sigmoid_run_with_another_mask_step_is_another_curve():
    base = {"method": "sigmoid", "regularizer": "log", "preset": "resnet20-cifar10-subset"}
    assert analysis.method_label({**base, "mask_lr_scale": 100.0}) == "sigmoid"  # the preset's step
    assert analysis.method_label({**base, "mask_lr_scale": 1.0}) == "sigmoid-lr1"
    assert analysis.method_label({**base, "preset": "lenet300-mnist", "mask_lr_scale": 1000.0}) == "sigmoid"
    assert analysis.method_label({"method": "sigmoid", "regularizer": "log"}) == "sigmoid"  # no step known
    df = pd.DataFrame([{**base, "mask_lr_scale": s, "seed": 0, "round": 1, "sparsity": sp, "test_accuracy": 0.5,
                        "best_test_accuracy": 0.5} for s, sp in ((1.0, 0.5), (100.0, 0.9))])
    points = analysis.tickets(df)
    assert points["method_label"].tolist() == ["sigmoid-lr1", "sigmoid"]
    assert analysis.summarize_rounds(points)["method_label"].tolist() == ["sigmoid", "sigmoid-lr1"]


def test_summary_mean_std_and_dense_reference():
    pts = _points([
        ("imp", "log", 0, 0, 0.0, 0.98), ("imp", "log", 1, 0, 0.0, 0.96),
        ("imp", "log", 0, 1, 0.2, 0.97), ("imp", "log", 1, 1, 0.2, 0.95),
        ("soft", "l1", 0, 1, 0.5, 0.90), ("soft", "l1", 1, 1, 0.7, 0.94),
    ])
    table = analysis.summarize_rounds(pts)
    assert list(table["method_label"]) == ["soft-l1", "imp", "imp"]  # METHOD_ORDER, then round
    soft = table.iloc[0]
    assert soft["n_seeds"] == 2
    assert soft["sparsity_mean"] == pytest.approx(0.6)
    assert soft["test_accuracy_mean"] == pytest.approx(0.92)
    assert soft["test_accuracy_std"] == pytest.approx(pd.Series([0.90, 0.94]).std())
    assert soft["remaining_mean"] == pytest.approx(0.4)
    dense = analysis.dense_reference(pts)
    assert dense["mean"] == pytest.approx(0.97) and dense["n"] == 2
    assert math.isnan(analysis.dense_reference(_points([("soft", "l1", 0, 1, 0.5, 0.9)]))["mean"])


def test_near_dense_spread_is_the_range_over_nearly_unpruned_tickets():
    pts = _points([("imp", "l1", 0, 0, 0.0, 0.52), ("imp", "l1", 0, 1, 0.2, 0.80),
                   ("soft", "log", 0, 1, 0.0001, 0.55), ("soft", "log", 0, 2, 0.002, 0.59),
                   ("soft", "l1", 0, 3, 0.98, 0.30)])
    spread = analysis.near_dense_spread(pts)
    assert spread["n"] == 3 and spread["min"] == pytest.approx(0.52) and spread["max"] == pytest.approx(0.59)
    assert spread["range"] == pytest.approx(0.07)
    assert analysis.near_dense_spread(pts, max_sparsity=0.2)["max"] == pytest.approx(0.80)
    lone = analysis.near_dense_spread(pts, max_sparsity=0.0)
    assert lone["n"] == 1 and math.isnan(lone["range"])


def test_empty_inputs_give_empty_tables():
    empty = analysis.tickets(pd.DataFrame())
    assert empty.empty and analysis.summarize_rounds(empty).empty
    assert analysis.default_targets(empty) == []
    assert analysis.dense_reference(empty)["n"] == 0
    assert analysis.near_dense_spread(empty)["n"] == 0


def test_interpolation_is_linear_in_log_remaining_and_never_extrapolates():
    pts = _points([("imp", "log", 0, 0, 0.0, 1.0), ("imp", "log", 0, 1, 0.75, 0.5)])
    # remaining 1 -> 0.25: log-remaining midpoint is remaining 0.5, i.e. sparsity 0.5
    at = analysis.accuracy_at_sparsity(pts, [0.5, 0.9], max_gap=2.0)
    assert list(at["target"]) == [0.5]
    assert at["accuracy"].iloc[0] == pytest.approx(0.75)
    # a 5% margin in remaining weights: 76% sparsity stands for 75%
    near = analysis.accuracy_at_sparsity(pts, [0.76])
    assert near["accuracy"].iloc[0] == pytest.approx(0.5)


def test_interpolation_refuses_a_jump_wider_than_max_gap():
    # one round from 2.7% to 98.1% sparsity (VGG-11's l1 run): nothing was measured in between
    pts = _points([("soft", "l1", 0, 1, 0.027, 0.60), ("soft", "l1", 0, 2, 0.981, 0.62),
                   ("imp", "log", 0, 1, 0.2, 0.64), ("imp", "log", 0, 2, 0.36, 0.63)])
    at = analysis.accuracy_at_sparsity(pts, [0.2, 0.36, 0.5])
    assert set(at["method"]) == {"imp"} and list(at["target"]) == [0.2, 0.36]
    # within the tolerance of a recorded point, that point stands for the target, even beside a jump
    near = analysis.accuracy_at_sparsity(pts, [0.029])
    assert near.set_index("method")["accuracy"]["soft-l1"] == pytest.approx(0.60)
    # the remaining weights halve (50% -> 75%, the default ln 2): still interpolated
    halving = _points([("hard", "l1", 0, 1, 0.5, 0.8), ("hard", "l1", 0, 2, 0.75, 0.6)])
    assert analysis.accuracy_at_sparsity(halving, [1 - 0.125 ** 0.5])["accuracy"].iloc[0] == pytest.approx(0.7)
    with pytest.raises(ParameterError, match="max_gap"):
        analysis.accuracy_at_sparsity(pts, [0.5], max_gap=-1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.99), st.floats(0.0, 1.0)), min_size=1, max_size=6),
       st.lists(st.floats(0.0, 0.995), min_size=1, max_size=8))
def test_interpolated_accuracy_comes_only_from_nearby_points(curve, targets):
    pts = _points([("soft", "log", 0, i + 1, s, a) for i, (s, a) in enumerate(curve)])
    x = -np.log(1 - np.array(sorted(s for s, _ in curve)))
    accs = [a for _, a in curve]
    for row in analysis.accuracy_at_sparsity(pts, targets).itertuples():
        xt = -math.log(1 - row.target)
        assert min(accs) - 1e-9 <= row.accuracy <= max(accs) + 1e-9
        near = np.abs(x - xt).min() <= 0.05 + 1e-9
        below, above = x[x <= xt], x[x >= xt]
        bracketed = len(below) and len(above) and above.min() - below.max() <= analysis.MAX_INTERPOLATION_GAP + 1e-9
        assert near or bracketed, (row.target, x)


def test_compare_methods_needs_the_gap_to_exceed_the_seed_spread():
    rows = []
    for seed, (a, b) in enumerate([(0.95, 0.90), (0.97, 0.91)]):  # clear gap, small spread
        rows += [("imp", "log", seed, 0, 0.0, 0.99), ("imp", "log", seed, 1, 0.5, a),
                 ("hard", "log", seed, 1, 0.5, b)]
    pts = _points(rows)
    verdict = analysis.compare_methods(analysis.accuracy_at_sparsity(pts, [0.5])).iloc[0]
    assert verdict["winner"] == "imp" and verdict["verdict"] == "imp"
    assert verdict["gap"] == pytest.approx(0.055)

    noisy = _points([("imp", "log", 0, 1, 0.5, 0.95), ("imp", "log", 1, 1, 0.5, 0.85),
                     ("hard", "log", 0, 1, 0.5, 0.90), ("hard", "log", 1, 1, 0.5, 0.88)])
    assert analysis.compare_methods(analysis.accuracy_at_sparsity(noisy, [0.5])).iloc[0]["verdict"] == "inconclusive"

    single = _points([("imp", "log", 0, 1, 0.5, 0.95), ("hard", "log", 0, 1, 0.5, 0.90)])
    one = analysis.compare_methods(analysis.accuracy_at_sparsity(single, [0.5])).iloc[0]
    assert one["verdict"] == "inconclusive"  # one seed and no near-dense spread: no floor measured
    # one seed, but a measured near-dense floor: 5 pp clears 1 pp, not 6 pp
    assert analysis.compare_methods(analysis.accuracy_at_sparsity(single, [0.5]), near_dense=0.01).iloc[0][
        "verdict"] == "imp"
    assert analysis.compare_methods(analysis.accuracy_at_sparsity(single, [0.5]), near_dense=0.06).iloc[0][
        "verdict"] == "inconclusive"


def test_lenet_like_gaps_below_the_near_dense_spread_are_no_wins():
    """LeNet-like: two seeds, 0.06-0.08 pp gaps over seed spreads of 0.04-0.05 pp, while the nearly
    dense tickets span 0.15 pp: the old rule called these wins, the noise floor does not."""
    rows = []
    for seed, (a, b) in enumerate([(0.9810, 0.9806), (0.9814, 0.9806)]):
        rows += [("imp", "log", seed, 0, 0.0, 0.9797 + 0.0015 * seed), ("imp", "log", seed, 1, 0.62, b),
                 ("soft", "log", seed, 1, 0.62, a)]
    pts = _points(rows)
    floor = analysis.near_dense_spread(pts)["range"]
    assert floor == pytest.approx(0.0015)
    row = analysis.compare_methods(analysis.accuracy_at_sparsity(pts, [0.62]), near_dense=floor).iloc[0]
    assert row["winner"] == "soft-log" and row["gap"] == pytest.approx(0.0006)
    assert row["verdict"] == "inconclusive" and row["floor"] == pytest.approx(0.0015)
    assert analysis.compare_methods(analysis.accuracy_at_sparsity(pts, [0.62])).iloc[0]["verdict"] == "soft-log"

    alone = _points([("imp", "log", 0, 1, 0.5, 0.95)])
    assert analysis.compare_methods(analysis.accuracy_at_sparsity(alone, [0.5])).iloc[0]["verdict"] == "only imp"


def test_default_targets_merge_close_sparsities():
    pts = _points([("imp", "log", 0, 1, 0.2, 0.9), ("hard", "log", 0, 1, 0.2, 0.9),
                   ("soft", "l1", 0, 1, 0.205, 0.9), ("soft", "l1", 0, 2, 0.6, 0.9)])
    assert analysis.default_targets(pts) == pytest.approx([0.2, 0.6])


def _fake_run(root: Path, overrides: dict, rounds: list[dict]) -> Path:
    config = resolve_config("lenet300-mnist", overrides)
    run_dir = run_directory(config, root)
    write_json(run_dir / "config.json", config.to_dict())
    result = {"config": config.to_dict(), "rounds": rounds,
              "provenance": {"device": "cpu", "seconds": 1.0, "git_commit": "x"}}
    write_json(run_dir / "result.json", result)
    for r in rounds:
        write_json(run_dir / f"round-{r['round']}" / "record.json", r)
        write_json(run_dir / f"round-{r['round']}" / "search" / "metrics.json",
                   {"epochs": [{"epoch": 1, "test_accuracy": 0.9, "sparsity": r["sparsity"]}], "steps": 10})
    migrate(run_dir)  # as a run of this library writes it: with the digests of its files
    return run_dir


def _round(t, sparsity, below):
    return {"round": t, "sparsity": sparsity, "remaining_weights": 10, "test_accuracy": 0.97,
            "best_test_accuracy": 0.98, "search_test_accuracy": 0.96, "seconds": 2.0,
            "mask_before_pruning": {"quantiles": {"q10": 0.0, "q50": 0.1, "q90": 0.8},
                                    "fraction_below": {"0.001": below[0], "0.01": below[1], "0.1": below[2]}}}


def test_mask_statistics_and_sparsity_at_alpha(tmp_path):
    run = _fake_run(tmp_path, {"method": "soft", "regularizer": "l1", "rounds": 2},
                    [_round(1, 0.5, (0.4, 0.5, 0.7)), _round(2, 0.75, (0.3, 0.5, 0.6))])
    stats = analysis.mask_distribution_table([run / "result.json"])
    assert list(stats["round"]) == [1, 2] and list(stats["sparsity_before"]) == [0.0, 0.5]
    assert stats["q50"].iloc[0] == 0.1 and stats["method_label"].iloc[0] == "soft-l1"
    assert [a for a, _ in analysis.alpha_columns(stats)] == [0.001, 0.01, 0.1]
    long = analysis.sparsity_at_alpha(stats)
    r2 = long[(long["round"] == 2)].set_index("alpha")["sparsity_at_alpha"]
    assert r2[0.01] == pytest.approx(0.75)  # the threshold the run used reproduces its sparsity
    assert r2[0.1] == pytest.approx(0.5 + 0.5 * 0.6)
    frame = analysis.calibration_frame([run / "result.json"])
    assert frame["effective_mask_lr"].iloc[0] == pytest.approx(0.1 * 1000.0)
    assert frame["best_test_accuracy"].iloc[0] == 0.98
    metrics = analysis.epoch_metrics(run, "search")
    assert list(metrics["round"]) == [1, 2]


def test_run_status_lists_missing_and_partial_runs(tmp_path):
    tables = [{"preset": "lenet300-mnist", "method": "soft", "regularizer": "l1", "rounds": 2, "seed": [0, 1, 2]}]
    tasks = tasks_from_tables(tables, str(tmp_path))
    _fake_run(tmp_path, {"method": "soft", "regularizer": "l1", "rounds": 2, "seed": 0},
              [_round(1, 0.5, (0.4, 0.5, 0.7)), _round(2, 0.75, (0.3, 0.5, 0.6))])
    partial = tasks[1].run_dir
    write_json(partial / "round-1" / "record.json", _round(1, 0.5, (0.4, 0.5, 0.7)))
    status = analysis.run_status(tasks)
    assert list(status["status"]) == ["finished", "in progress", "not started"]
    assert list(status["rounds_done"]) == [2, 1, 0] and set(status["rounds_total"]) == {2}
    finished = analysis.finished_results(status)
    assert len(finished) == 1 and json.loads(Path(finished[0]).read_text())["rounds"][1]["sparsity"] == 0.75
    assert len(load_runs(finished)) == 2


def test_spec_tables_replace_seeds_and_apply_overrides(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[[grid]]\npreset = "lenet300-mnist"\nmethod = "imp"\nrounds = 8\nseed = [0, 1]\n')
    tables = analysis.spec_tables(spec, seeds=[0, 1, 2], overrides={"epochs": 1, "rounds": 2})
    assert tables == [{"preset": "lenet300-mnist", "method": "imp", "rounds": 2, "seed": [0, 1, 2], "epochs": 1}]
    assert analysis.spec_tables(spec)[0]["seed"] == [0, 1]
    tasks = tasks_from_tables(tables, str(tmp_path))
    assert analysis.run_status(tasks)["rounds_total"].tolist() == [3, 3, 3]  # IMP: levels 0..2


def test_spec_tables_read_a_relative_spec_from_the_root_given_or_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "s.toml").write_text('[[grid]]\npreset = "lenet300-mnist"\nseed = [4]\n')
    assert analysis.spec_tables("sweeps/s.toml", root=tmp_path)[0]["seed"] == [4]
    monkeypatch.chdir(tmp_path / "sweeps")
    with pytest.raises(ParameterError, match="sweeps/s.toml"):  # no other place is searched
        analysis.spec_tables("sweeps/s.toml")
    assert analysis.spec_tables("s.toml") == [{"preset": "lenet300-mnist", "seed": [4]}]


def test_pick_setting_and_penalty_drift():
    frame = pd.DataFrame({"method_label": ["soft-l1"] * 3, "mask_lr_scale": [10.0, 100.0, 1000.0],
                          "sparsity": [0.1, 0.5, 0.9], "test_accuracy": [0.980, 0.978, 0.95]})
    pick = analysis.pick_setting(frame, "mask_lr_scale", tolerance=0.005).iloc[0]
    assert pick["mask_lr_scale"] == 100.0 and pick["best_accuracy"] == 0.98
    drift = analysis.penalty_drift(lam=3e-6, derivative=1.0, lr=0.1, mask_lr_scale=1000.0, momentum=0.0, steps=100)
    assert drift == pytest.approx(100 * 0.1 * 1000 * 3e-6)
    assert analysis.penalty_drift(lam=3e-6, derivative=1.0, lr=0.1, mask_lr_scale=100.0, momentum=0.9,
                                  steps=100) == pytest.approx(drift)


def test_the_lottery_figures_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from concave_lottery.evidence import plotting

    plotting.set_style()
    pts = _points([("imp", "log", s, t, 1 - 0.8 ** t, 0.98 - 0.01 * t + 0.002 * s) for s in (0, 1) for t in range(4)]
                  + [("soft", "l1", s, t, 1 - 0.4 ** t, 0.97) for s in (0, 1) for t in (1, 2)])
    fig = plotting.ticket_accuracy_vs_remaining(analysis.summarize_rounds(pts), dense=analysis.dense_reference(pts))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlim()[0] > ax.get_xlim()[1]  # dense on the left
    assert any("dense" in t.get_text() for t in ax.get_legend().get_texts())
    long = pd.DataFrame({"alpha": [0.001, 0.01, 0.1] * 2, "fraction_below": [0.1, 0.2, 0.5, 0.3, 0.4, 0.6],
                         "method_label": ["soft-l1"] * 3 + ["soft-log"] * 3})
    fig2 = plotting.mask_below_alpha(long, hue="method_label")
    assert fig2.axes[0].get_xscale() == "log"
    plt.close("all")


def test_no_runs_at_all():
    empty = analysis.tickets(pd.DataFrame())
    assert analysis.accuracy_at_sparsity(empty, []).empty
    assert analysis.accuracy_at_sparsity(empty, [0.5]).empty
    assert analysis.mask_distribution_table([]).empty and analysis.calibration_frame([]).empty
