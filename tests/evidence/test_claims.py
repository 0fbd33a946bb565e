"""The paper's claims checked at matched sparsity: verdicts follow the gaps and the seed spread."""

from __future__ import annotations

import pandas as pd
import pytest

from concave_lottery.evidence import analysis, claims


def _points(rows):
    """tickets() from (method, regularizer, seed, round, sparsity, accuracy) tuples."""
    df = pd.DataFrame(rows, columns=["method", "regularizer", "seed", "round", "sparsity", "test_accuracy"])
    df["best_test_accuracy"] = df["test_accuracy"]
    return analysis.tickets(df)


def _imp(seeds=(0, 1), acc=lambda t, s: 0.90 - 0.02 * t + 0.001 * s):
    return [("imp", "log", s, t, 1 - 0.8 ** t, acc(t, s)) for s in seeds for t in range(5)]


def _soft(reg, sparsities, acc, seeds=(0, 1)):
    return [("soft", reg, s, t, sp, acc(t, s)) for s in seeds for t, sp in enumerate(sparsities, start=1)]


def test_matched_gaps_interpolate_the_other_curve():
    pts = _points(_imp() + _soft("l1", [0.36], lambda t, s: 0.88 + 0.001 * s))
    gaps = claims.matched_gaps(pts, "soft-l1", "imp")
    assert list(gaps["sparsity"]) == pytest.approx([0.36])
    assert gaps["b_mean"].iloc[0] == pytest.approx(0.86 + 0.0005)  # IMP level 2 is at exactly 36%
    assert gaps["gap"].iloc[0] == pytest.approx(0.02)
    assert gaps["n_a"].iloc[0] == 2 and gaps["spread"].iloc[0] == pytest.approx(0.001, abs=1e-9)


def test_a_round_of_each_method_at_the_same_sparsity_is_compared_once():
    # soft-l1's rounds at 36.1% and 48.8%: IMP's levels 2 (36%) and 3 (48.8%) lie within 1% of the remaining
    # weights, so each pair is one comparison, at soft-l1's sparsity; IMP's 20% and 59% have no soft-l1 next to them
    pts = _points(_imp() + _soft("l1", [0.361, 0.488], lambda t, s: 0.88 + 0.001 * s))
    gaps = claims.matched_gaps(pts, "soft-l1", "imp")
    assert list(gaps["sparsity"]) == pytest.approx([0.361, 0.488])
    assert list(gaps["a_round"]) == [1, 2] and list(gaps["b_round"]) == [2, 3]


def test_comparable_and_better_with_two_seeds():
    # soft-log: 2 pp above IMP at IMP's own sparsities (levels 3 and 4: 48.8% and 59.0%); soft-l1 5 pp below
    pts = _points(_imp() + _soft("log", [0.488, 0.5904], lambda t, s: 0.90 - 0.02 * (t + 2) + 0.02 + 0.001 * s)
                  + _soft("l1", [0.488, 0.5904], lambda t, s: 0.90 - 0.02 * (t + 2) - 0.05 + 0.001 * s))
    table = claims.lottery_claims(pts).set_index(["claim", "a"])
    assert table.loc[("comparable", "soft-log"), "verdict"] == "holds"
    assert table.loc[("higher-sparsity", "soft-log"), "verdict"] == "holds"
    assert table.loc[("comparable", "soft-l1"), "verdict"] == "fails"  # 5 pp below IMP
    assert table.loc[("higher-sparsity", "soft-l1"), "verdict"] == "fails"
    assert table.loc[("log-vs-l1", "soft-log"), "verdict"] == "holds"


def test_a_gap_within_the_seed_spread_is_inconclusive():
    noisy = lambda t, s: 0.82 + (0.04 if s else -0.02)  # noqa: E731  mean +1 pp, spread ~4 pp
    pts = _points(_imp() + _soft("log", [0.5904], noisy))
    row = claims.check_better_at_highest(pts, "soft-log")
    assert row["verdict"] == "inconclusive" and float(row["noise floor"].removesuffix(" pp")) > 4


def test_one_seed_gives_a_reading_not_a_verdict():
    # one seed and one dense ticket: no noise floor is measured, so no gap can clear it
    pts = _points(_imp(seeds=(0,)) + _soft("log", [0.36], lambda t, s: 0.80, seeds=(0,)))
    row = claims.check_comparable(pts, "soft-log")
    assert row["verdict"] == "inconclusive" and row["reading"] == "fails"
    assert "36.0%" in row["evidence"]


def test_beyond_the_other_curve_only_dominance_counts():
    pts = _points(_imp(seeds=(0, 1)) + _soft("l1", [0.95], lambda t, s: 0.85, seeds=(0, 1)))
    row = claims.check_better_at_highest(pts, "soft-l1")
    assert row["verdict"] == "holds" and "soft-l1 is sparser and as accurate" in row["evidence"]
    worse = _points(_imp(seeds=(0, 1)) + _soft("l1", [0.95], lambda t, s: 0.50, seeds=(0, 1)))
    assert claims.check_better_at_highest(worse, "soft-l1")["verdict"] == "not testable"
    assert claims.check_comparable(worse, "soft-l1")["verdict"] == "not testable"


def test_ablation_claims_compare_soft_with_hard_and_sigmoid():
    rows = _soft("log", [0.2, 0.5], lambda t, s: 0.90 - 0.01 * t + 0.001 * s)
    rows += [("hard", "log", s, t, sp, 0.85 - 0.01 * t + 0.001 * s) for s in (0, 1)
             for t, sp in enumerate([0.2, 0.36, 0.49], start=1)]
    rows += [("sigmoid", "log", s, 1, 0.3, 0.95 + 0.001 * s) for s in (0, 1)]
    table = claims.ablation_claims(_points(rows)).set_index(["claim", "a"])
    assert table.loc[("threshold", "soft-log"), "verdict"] == "holds"
    assert table.loc[("concave-vs-sigmoid", "soft-log"), "verdict"] == "fails"
    assert set(table.reset_index()["b"]) == {"hard-log", "sigmoid"}


def test_each_sigmoid_variant_is_compared_with_both_regularizers():
    rows = _soft("l1", [0.5, 0.8], lambda t, s: 0.90 - 0.01 * t + 0.001 * s)
    rows += _soft("log", [0.4, 0.7], lambda t, s: 0.90 - 0.01 * t + 0.001 * s)
    rows += [("sigmoid", "log", s, t, sp, 0.80 + 0.001 * s) for s in (0, 1) for t, sp in ((1, 0.6), (2, 0.9))]
    points = _points(rows)
    variant = points["method"] == "sigmoid"
    points.loc[variant & (points["round"] == 1), "method_label"] = "sigmoid-lr1"
    table = claims.ablation_claims(points)
    assert sorted(zip(table["a"], table["b"], strict=True)) == [("soft-l1", "sigmoid"), ("soft-l1", "sigmoid-lr1"),
                                                   ("soft-log", "sigmoid"), ("soft-log", "sigmoid-lr1")]
    assert set(table["claim"]) == {"concave-vs-sigmoid"}


def test_no_points_no_claims():
    empty = analysis.tickets(pd.DataFrame())
    assert set(claims.lottery_claims(empty)["verdict"]) == {"not testable"}
    assert claims.ablation_claims(empty).empty


def test_a_sparser_and_more_accurate_other_method_refutes_the_claim():
    rows = _soft("log", [0.02], lambda t, s: 0.33 + 0.001 * s)
    rows += [("hard", "log", s, t, sp, 0.40 + 0.01 * t) for s in (0, 1) for t, sp in ((1, 0.2), (2, 0.36))]
    row = claims.ablation_claims(_points(rows)).iloc[0]
    assert row["verdict"] == "fails" and "hard-log is sparser and as accurate" in row["evidence"]
    rows = _soft("l1", [0.127], lambda t, s: 0.40) + [("sigmoid", "log", s, 1, 0.91, 0.28) for s in (0, 1)]
    assert claims.ablation_claims(_points(rows)).iloc[0]["verdict"] == "not testable"


def test_higher_sparsity_needs_a_sparse_ticket():
    # soft-log pruned 0.2%: 6 pp above IMP there, but that says nothing about higher sparsity
    pts = _points(_imp() + _soft("log", [0.0005, 0.002], lambda t, s: 0.96 + 0.001 * s))
    row = claims.check_better_at_highest(pts, "soft-log")
    assert row["verdict"] == "not testable" and "prunes 0.2% of the weights" in row["evidence"]
    # the nearly dense tickets (IMP level 0 and soft-log's) span 6 pp: that is the noise floor here
    assert claims.check_better_at_highest(pts, "soft-log", min_sparsity=0.0)["verdict"] == "inconclusive"
    assert claims.check_better_at_highest(pts, "soft-log", min_sparsity=0.0, near_dense=0.0)["verdict"] == "holds"
    assert claims.check_comparable(pts, "soft-log", near_dense=0.0)["verdict"] == "holds"


def test_layer_claims_labels_every_layer_model_and_dataset():
    from types import SimpleNamespace

    pts = _points(_imp() + _soft("log", [0.488, 0.5904], lambda t, s: 0.9)).assign(model="resnet20",
                                                                                 dataset_label="cifar10-subset")
    groups = list(pts.groupby(["model", "dataset_label"], sort=False))
    layer = SimpleNamespace(name="recorded", by_model_and_dataset=lambda: groups)
    table = claims.layer_claims([layer])
    assert list(table.columns[:3]) == ["layer", "model", "dataset"]
    assert len(table) == len(claims.LOTTERY_CLAIMS) and set(table["layer"]) == {"recorded"}
    assert claims.layer_claims([]).empty
