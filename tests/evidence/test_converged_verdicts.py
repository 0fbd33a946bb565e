"""The converged verdicts in words (:func:`concave_lottery.evidence.converged.verdict_text`), the matched
sparsities that decide each claim (:func:`concave_lottery.evidence.claims.decisive_gaps`), and Fig. 8 at the
converged scale (:func:`concave_lottery.evidence.converged.threshold_claims`), on synthetic tickets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import CONVERGED_SPEC
from hypothesis import given, settings
from hypothesis import strategies as st

from concave_lottery.evidence import analysis, claims, converged, tiers, verdicts
from concave_lottery.evidence.verdicts import FAILS, HOLDS, INCONCLUSIVE, NOT_TESTABLE

FIG8_SPEC = "sweeps/resnet20-cifar10-subset-converged-fig8.toml"
SCALE = "ResNet-20 on cifar10-subset, 85 epochs a phase, 3 seeds"


def _tickets(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["method", "regularizer", "seed", "round", "sparsity", "test_accuracy"])
    df["best_test_accuracy"] = df["search_test_accuracy"] = df["test_accuracy"]
    df["model"], df["dataset_label"] = "resnet20", "cifar10-subset"
    return analysis.tickets(df)


def _lottery(offsets: dict[int, list[float]]) -> pd.DataFrame:
    """IMP at 20% a level (levels 0-4) on 3 seeds, soft-ℓ1 and soft-log on IMP's levels 1, 2 and 4 with IMP's
    accuracy plus ``offsets[seed][i]`` at the i-th of them: every soft ticket pairs with IMP on every seed."""
    rows = []
    for seed, offset in offsets.items():
        imp = [(t, 1 - 0.8 ** t, 0.77 - 0.002 * t + 0.003 * seed) for t in range(5)]
        rows += [("imp", "l1", seed, t, sp, acc) for t, sp, acc in imp]
        for reg in ("l1", "log"):
            rows += [("soft", reg, seed, r, imp[t][1], imp[t][2] + offset[r - 1]) for r, t in ((1, 1), (2, 2), (3, 4))]
    return _tickets(rows)


def _table(points: pd.DataFrame) -> pd.DataFrame:
    return converged.claims_table(points, ["soft-l1", "soft-log", "imp"], {"soft-l1": 3, "soft-log": 3, "imp": 3})


def test_imp_ahead_beyond_a_point_on_every_seed_says_plainly_that_the_paper_fails():
    points = _lottery({0: [-0.030, -0.031, -0.035], 1: [-0.028, -0.033, -0.030], 2: [-0.032, -0.029, -0.034]})
    table = _table(points)
    text = converged.verdict_text(table, points, scale=SCALE)
    l1 = next(line for line in text.splitlines() if line.startswith("- **soft-ℓ1 comparable"))
    assert l1.startswith("- **soft-ℓ1 comparable to IMP at matching sparsity: fails.**")
    # soft rounds at 20%, 36% and 59.0%, and IMP's level 3 (48.8%) read on both curves: 4 places
    assert "At all 4 matched sparsities judged, IMP is ahead of soft-ℓ1 by more than 1 pp with 95% confidence" in l1
    assert l1.endswith(f"**The paper's claim does not hold on this layer ({SCALE}).**")
    assert "less sure than one interval" not in l1  # all 4 places fail: nothing rests on a few of many
    # the sparsest soft ticket (59.0%) is IMP's level 4: one place, IMP ahead there
    high = next(line for line in text.splitlines() if line.startswith("- **soft-ℓ1 better than IMP"))
    assert "**soft-ℓ1 better than IMP at its highest sparsity: fails.** At the one matched sparsity judged" in high
    assert "at 59.0% sparse" in high and "IMP is ahead of soft-ℓ1 with 95% confidence" in high
    # log and ℓ1 have the same offsets: a zero gap on every seed, a claim that holds
    assert "- **log at least as good as ℓ1: holds.**" in text
    assert f"The paper's claim holds on this layer ({SCALE})." in text


def test_a_fail_that_rests_on_one_of_several_places_says_it_is_less_sure():
    # soft-ℓ1 2-4 pp behind IMP at its last round only; within ±0.3 pp elsewhere
    points = _lottery({0: [0.001, -0.002, -0.030], 1: [-0.003, 0.002, -0.036], 2: [0.002, -0.001, -0.033]})
    table = _table(points)
    row = table.set_index(["claim", "a"]).loc[("comparable", "soft-l1")]
    assert row["verdict"] == FAILS
    text = converged.verdict_text(table, points, scale=SCALE)
    l1 = next(line for line in text.splitlines() if line.startswith("- **soft-ℓ1 comparable"))
    # behind beyond 1 pp at 59.0% and at IMP's level 3 (48.8%), read halfway down soft-ℓ1's last jump
    assert ("At 2 of the 4 matched sparsities judged, IMP is ahead of soft-ℓ1 by more than 1 pp with 95% confidence"
            in l1 and "at 48.8% sparse, " in l1 and "at 59.0% sparse; " in l1)
    assert "; at 2 of the 4 matched sparsities judged, soft-ℓ1 is within 1 pp of IMP or ahead" in l1  # 20%, 36%
    # 1 - (39/40)^4 = 9.6% for 4 independent places
    assert ("it would fall wholly past it 1 time in 40. With 4 places looked at, at least one does more often: "
            "about 10% of the time were the places independent" in l1
            and "So a verdict resting on 2 of them is less sure than one interval." in l1)
    assert "does not hold on this layer" in l1


def test_no_interval_deciding_gives_the_intervals_and_no_conclusion():
    # gaps that swing by several points between seeds: every interval is wide
    points = _lottery({0: [0.03, 0.03, 0.03], 1: [-0.04, -0.04, -0.04], 2: [0.005, 0.005, 0.005]})
    table = _table(points)
    text = converged.verdict_text(table, points)
    l1 = next(line for line in text.splitlines() if line.startswith("- **soft-ℓ1 comparable"))
    assert l1.startswith("- **soft-ℓ1 comparable to IMP at matching sparsity: inconclusive.** At the 4 matched "
                         "sparsities judged, no interval decides")
    assert "every interval reaches both sides of −1 pp" in l1 and "claim" not in l1.split("**", 2)[2]
    high = next(line for line in text.splitlines() if line.startswith("- **soft-ℓ1 better than IMP"))
    assert ("At the matched sparsity judged, no interval decides: the paired gap soft-ℓ1 − IMP is -0.2 pp [" in high
            and "(95%, 3 seeds) at 59.0% sparse, and its interval reaches both sides of 0." in high)


def test_claims_that_wait_for_seeds_are_left_out_and_nothing_judged_says_nothing():
    points = _lottery({0: [0, 0, 0], 1: [0, 0, 0], 2: [0, 0, 0]})
    waiting = converged.claims_table(points, ["soft-l1", "soft-log", "imp"], {"soft-l1": 3, "soft-log": 3, "imp": 2})
    text = converged.verdict_text(waiting, points)
    assert "IMP" not in text and text.startswith("- **log at least as good as ℓ1: holds.**")
    none = converged.claims_table(points, ["soft-l1", "soft-log", "imp"], {"soft-l1": 2, "soft-log": 2, "imp": 2})
    assert converged.verdict_text(none, points) == ""


gaps = st.lists(st.floats(-0.05, 0.05), min_size=3, max_size=3)


@settings(deadline=None, max_examples=30)
@given(st.fixed_dictionaries({0: gaps, 1: gaps, 2: gaps}))
def test_the_decisive_places_combine_into_the_verdict_of_the_claims_table(offsets):
    points = _lottery(offsets)
    for row in _table(points).to_dict("records"):
        decisive = claims.decisive_gaps(points, row["claim"], row["a"], row["b"])
        assert (decisive["pairs"] >= claims.INTERVAL_SEEDS).all()
        if row["claim"] == "higher-sparsity":
            assert len(decisive) == 1 and decisive["sparsity"].iloc[0] == pytest.approx(1 - 0.8 ** 4)
        assert verdicts.combine(list(decisive["verdict"])) == row["verdict"]


def test_the_chance_that_one_of_several_intervals_falls_past_the_edge():
    one = verdicts.chance_past_edge(1)
    assert one == pytest.approx(1 / 40, abs=0.004)  # a 95% interval lies wholly below the true gap 1 time in 40
    assert verdicts.chance_past_edge(9) == pytest.approx(1 - (39 / 40) ** 9, abs=0.012)  # independent places
    shared = verdicts.chance_past_edge(9, correlation=0.8)
    assert one < shared < verdicts.chance_past_edge(9)  # places that share their seeds add less
    assert verdicts.chance_past_edge(9, correlation=1.0) == pytest.approx(one, abs=0.004)  # one place, 9 times
    assert verdicts.chance_past_edge(9, seeds=8) == pytest.approx(1 - (39 / 40) ** 9, abs=0.012)  # any seeds


@pytest.mark.parametrize("bad", [{"places": 0}, {"places": 2, "seeds": 1}, {"places": 2, "correlation": 1.5},
                                 {"places": 2, "level": 1.0}, {"places": 2, "trials": 0}])
def test_chance_past_edge_refuses_what_it_cannot_compute(bad):
    from concave_lottery.errors import ParameterError

    with pytest.raises(ParameterError, match=f"{next(reversed(bad))}="):
        verdicts.chance_past_edge(**bad)


def test_decisive_gaps_of_an_unknown_claim_is_refused():
    with pytest.raises(ValueError, match="claim must be one of"):
        claims.decisive_gaps(_lottery({0: [0, 0, 0]}), "fastest", "soft-l1", "imp")


def _layer(spec: str, root: Path, points: pd.DataFrame, seeds: int, methods: list[str] | None = None) -> tiers.Layer:
    layer = tiers.gather("converged", spec, str(root), methods=methods)
    status = layer.status.copy()
    done = status["seed"] < seeds
    status.loc[done, "status"] = "finished"
    status.loc[done, "rounds_done"] = status.loc[done, "rounds_total"]
    return tiers.Layer("converged", layer.specs, layer.root, layer.tasks, status, pd.DataFrame(), points)


def _fig8_points(hard_offset: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Thresholded tickets near the converged soft runs' (3 rounds, 3 seeds), and hard ones at p = 0.7
    (70%, 91%, 97.3%) whose accuracy is the thresholded curve's there plus ``hard_offset`` and a seed's wobble."""
    soft, hard = [], []
    for seed in range(3):
        for reg in ("l1", "log"):
            curve = [(1, 0.70, 0.78), (2, 0.91, 0.77), (3, 0.973, 0.75)]
            soft += [("soft", reg, seed, r, sp + 0.001 * seed, acc + 0.002 * seed) for r, sp, acc in curve]
            hard += [("hard", reg, seed, r, sp, acc + 0.002 * seed + hard_offset + 0.001 * (-1) ** seed)
                     for r, sp, acc in curve]
    return _tickets(soft), _tickets(hard)


def test_fig8_waits_for_three_hard_seeds_then_is_judged_by_its_intervals(repo_root, tmp_path):
    soft, hard = _fig8_points(-0.02)
    thresholded = _layer(str(repo_root / CONVERGED_SPEC), tmp_path, soft, 3, ["soft-l1", "soft-log"])
    waiting = converged.threshold_claims(_layer(str(repo_root / FIG8_SPEC), tmp_path, hard[hard["seed"] < 2], 2),
                                         thresholded)
    assert list(waiting["b"]) == ["hard-l1", "hard-log"] and (waiting["verdict"] == NOT_TESTABLE).all()
    assert waiting["evidence"].iloc[0] == "hard-l1 has 2 of 3 finished seeds: no converged verdict yet"
    assert converged.verdict_text(waiting, soft) == ""

    plan = _layer(str(repo_root / FIG8_SPEC), tmp_path, hard, 3)
    judged = converged.threshold_claims(plan, thresholded)
    assert list(judged["verdict"]) == [HOLDS, HOLDS]  # 2 pp ahead on every seed, at every place
    assert judged["evidence"].str.count("95%, 3 seeds").tolist() == [3, 3]
    text = converged.verdict_text(judged, pd.concat([soft, hard]), scale=converged.scale_of(plan))
    assert text.startswith("- **soft-ℓ1 threshold α better than a fixed fraction: holds.** At all 3 matched "
                           "sparsities judged, soft-ℓ1 is ahead of hard-ℓ1 with 95% confidence")
    assert f"The paper's claim holds on this layer ({SCALE})." in text

    behind = converged.threshold_claims(_layer(str(repo_root / FIG8_SPEC), tmp_path, _fig8_points(0.02)[1], 3),
                                        thresholded)
    assert list(behind["verdict"]) == [FAILS, FAILS]
    tie = converged.threshold_claims(_layer(str(repo_root / FIG8_SPEC), tmp_path, _fig8_points(0.0)[1], 3),
                                     thresholded)
    assert list(tie["verdict"]) == [INCONCLUSIVE, INCONCLUSIVE]  # a few hundredths of a point: no side
    # soft-ℓ1 seed 2's last ticket (97.5%) lies past hard-ℓ1's (97.3%): 2 seeds pair there, listed, not judged
    assert "2 seeds paired: not judged" in tie["evidence"].iloc[0]
    said = converged.verdict_text(tie, pd.concat([soft, _fig8_points(0.0)[1]]))
    assert "At the 3 matched sparsities judged, no interval decides" in said and "claim" not in said.split("**", 2)[2]


def test_the_committed_fig8_plan_waits_for_its_runs(repo_root):
    thresholded = tiers.gather("converged", CONVERGED_SPEC, str(repo_root / "results"), models=["resnet20"],
                               datasets=["cifar10-subset"], methods=["soft-l1", "soft-log"])
    plan = tiers.gather("converged", FIG8_SPEC, str(repo_root / "results"))
    table = converged.threshold_claims(plan, thresholded)
    finished = converged.finished_seeds(converged.status_table(plan))
    for row in table.to_dict("records"):
        if finished.get(row["b"], 0) < claims.INTERVAL_SEEDS:
            assert row["verdict"] == NOT_TESTABLE and row["evidence"].endswith(converged.WAITING)


def test_the_scorecard_takes_the_converged_fig8_verdict_once_judged(repo_root, tmp_path, monkeypatch):
    """Fig. 8's scorecard row: the short-round row, saying what the converged hard pair waits for, until 3 hard
    seeds are finished; then the converged row, its why ending with what the short-round layer read."""
    from types import SimpleNamespace

    from concave_lottery.evidence import scorecard

    monkeypatch.setattr(scorecard, "theory_rows", lambda **_: [])
    soft, hard = _fig8_points(-0.02)
    soft = soft.assign(dataset="cifar10-subset", epochs=85, train_subset=5170, classes=0)
    hard = hard.assign(dataset="cifar10-subset", epochs=85, train_subset=5170, classes=0)
    thresholded = _layer(str(repo_root / CONVERGED_SPEC), tmp_path, soft, 3, ["soft-l1", "soft-log"])
    short = pd.concat([soft, hard]).assign(epochs=8)
    recorded = SimpleNamespace(name="recorded", by_model_and_dataset=lambda: list(
        short.groupby(["model", "dataset_label"], sort=False)))

    def card(seeds: int):
        conv = converged.build(thresholded, ["soft-l1", "soft-log"])
        conv.fig8 = _layer(str(repo_root / FIG8_SPEC), tmp_path, hard[hard["seed"] < seeds], seeds)
        return scorecard.scorecard(ablation_layers=[recorded], converged_layers=[conv]).set_index("id")

    waiting = card(2).loc["threshold"]
    assert waiting["evidence"] == "recorded" and "8 epochs per round" in waiting["scale"]
    assert waiting["why"].endswith(f"the converged layer (4 of 6 runs of `{repo_root / FIG8_SPEC}` finished) does "
                                   "not judge it yet: hard-l1 has 2 of 3 finished seeds; hard-log has 2 of 3 "
                                   "finished seeds")
    judged = card(3)
    row = judged.loc["threshold"]
    assert row["evidence"] == "converged" and row["verdict"] == "confirmed"
    assert row["scale"].startswith(f"{SCALE}; 6 of 6 runs of")
    assert "95% t-interval" in row["why"] and "; the recorded layer (" in row["why"]
    assert len(judged.loc[["threshold"]]) == 1  # replaced, not added
