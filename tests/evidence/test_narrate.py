"""The sentences the chapters print (concave_lottery.evidence.narrate), fed recorded-like frames."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from concave_lottery.evidence import narrate


def calib_rows(**over):
    """Round-1 calibration rows like analysis.calibration_frame gives (one seed per setting)."""
    base = {"method_label": "soft-l1", "round": 1, "epochs": 10, "mask_lr_scale": 1000.0, "mask_weight_decay": 0.0,
            "momentum": 0.0, "lr": 0.1, "sparsity": 0.5, "test_accuracy": 0.98, "search_test_accuracy": 0.97,
            "q10": 0.1, "q50": 0.5, "q90": 0.9}
    base.update(over)
    base["effective_mask_lr"] = base["lr"] * base["mask_lr_scale"] / (1 - base["momentum"])
    return base


@pytest.fixture
def step_runs():
    return pd.DataFrame([
        calib_rows(mask_lr_scale=1.0, sparsity=0.0, test_accuracy=0.981),
        calib_rows(mask_lr_scale=100.0, sparsity=0.30, test_accuracy=0.980),
        calib_rows(mask_lr_scale=1000.0, sparsity=0.60, test_accuracy=0.978),
        calib_rows(mask_lr_scale=3000.0, sparsity=0.90, test_accuracy=0.95),
    ])


def test_pct_and_pm():
    assert narrate.pct(0.1234) == "12.3%"
    assert narrate.pct(0.1234, 2) == "12.34%"
    assert narrate.pct(None) == "n/a" and narrate.pct(math.nan) == "n/a"
    assert narrate.pm(0.5, 0.01) == "50.00 ± 1.00"
    assert narrate.pm(0.5, math.nan) == "50.00"  # one seed: no spread to show


def test_selected_and_round_one(step_runs):
    frame = pd.concat([step_runs, step_runs.assign(round=2)], ignore_index=True)
    assert len(narrate.selected(frame, mask_lr_scale=1000.0)) == 2
    assert len(narrate.round_one(frame, mask_lr_scale=1000.0)) == 1
    assert narrate.round_one(frame.iloc[0:0]).empty


def test_step_verdict_picks_sparsest_within_tolerance(step_runs):
    text = narrate.step_verdict(step_runs, preset_scale=1000.0, tolerance=0.005)
    # 1000 is within 0.5 pp of the best (98.1%) and sparser than 1 and 100; 3000 is 3.1 pp worse
    assert "scale **1000** (60.0% sparse, 97.80%)" in text
    assert "from 0.0% (scale 1) to 90.0% (scale 3000)" in text
    assert "the preset's 1000 gives 60.0% at 97.80%." in text
    assert "not recorded yet" in narrate.step_verdict(step_runs, preset_scale=10.0, tolerance=0.005)
    assert "waits for them" in narrate.step_verdict(step_runs.iloc[0:0], 1000.0, 0.005)
    table = narrate.knob_table(step_runs, "mask_lr_scale").to_html()
    assert "mask step (× θ's)" in table and ">method<" in table and ">q50<" in table
    assert "mask_lr_scale" not in table and "method_label" not in table and "60.0%" in table


def test_wd_verdict_and_summary(step_runs):
    wd = pd.DataFrame([calib_rows(mask_weight_decay=0.0, sparsity=0.60, test_accuracy=0.978, q50=0.4),
                       calib_rows(mask_weight_decay=1e-3, sparsity=0.80, test_accuracy=0.977, q50=0.2)])
    text = narrate.wd_verdict(wd)
    assert text == ("- soft-l1, mask weight decay 0.001: sparsity 80.0% (vs 60.0% without), ticket 97.70% "
                    "(vs 97.80%), median mask 0.200 (vs 0.400).")
    summary = narrate.wd_summary(wd, step_runs, tolerance=0.005)
    assert "soft-l1 with 0.001: sparsity +20.0 pp, ticket -0.10 pp" in summary
    assert "**soft-l1 with 0.001** would qualify" in summary  # 97.7 >= 98.1 - 0.5
    strict = narrate.wd_summary(wd, step_runs, tolerance=0.001)
    assert strict.endswith("no mask weight decay qualifies: the default 0 holds.")
    assert "Too few" in narrate.wd_verdict(wd.iloc[:1])


def test_momentum_verdict_pairs_equal_effective_steps():
    mom = pd.DataFrame([calib_rows(momentum=0.0, mask_lr_scale=1000.0, sparsity=0.6),
                        calib_rows(momentum=0.9, mask_lr_scale=100.0, sparsity=0.7, test_accuracy=0.975)])
    text = narrate.momentum_verdict(mom)
    assert text == ("- soft-l1, effective mask lr 100: momentum 0.9 (scale 100) prunes 70.0%, momentum 0 "
                    "(scale 1000) 60.0%; tickets 97.50% and 98.00%.")
    unpaired = mom.assign(mask_lr_scale=[1000.0, 10.0])
    unpaired["effective_mask_lr"] = unpaired["lr"] * unpaired["mask_lr_scale"] / (1 - unpaired["momentum"])
    assert "No pair" in narrate.momentum_verdict(unpaired)
    assert "Too few" in narrate.momentum_verdict(mom.iloc[:1])
    shown = narrate.momentum_table(mom).to_html()
    assert "effective mask step" in shown and "mask step (× θ's)" in shown and "ticket" in shown
    assert "effective_mask_lr" not in shown and "mask_lr_scale" not in shown
    assert "70.0%" in shown and "97.50%" in shown  # the numbers as before


def alpha_rows(spreads, rounds=(1,)):
    rows = []
    for rnd in rounds:
        for label, (lo, hi) in spreads.items():
            for alpha, value in ((0.001, lo), (0.01, (lo + hi) / 2), (0.1, hi)):
                rows.append({"method_label": label, "round": rnd, "alpha": alpha, "sparsity_at_alpha": value,
                             "epochs": 40, "mask_lr_scale": 1000.0, "seed": 0})
    return pd.DataFrame(rows)


def test_alpha_verdict_and_summary_say_whether_alpha_matters():
    knob = alpha_rows({"soft-l1": (0.2, 0.5), "soft-log": (0.1, 0.3)}, rounds=(1, 2))
    text = narrate.alpha_verdict(knob, pd.DataFrame(), 1000.0)
    assert text.startswith("In the full lottery runs:")
    assert "- soft-l1, round 1: alpha 0.001 → 20.0%, 0.01 → 35.0%, 0.1 → 50.0% (a spread of 30.0 pp" in text
    summary = narrate.alpha_summary(knob, pd.DataFrame(), 0.01)
    assert "30 pp (soft-l1), 20 pp (soft-log) in round 1" in summary
    assert "have **not** split" in summary and "(no less in later rounds)" in summary
    split = alpha_rows({"soft-l1": (0.50, 0.52)})
    assert narrate.alpha_summary(split, pd.DataFrame(), 0.01).endswith(
        "after 40 epochs the masks have separated, and alpha hardly matters.")
    calib_only = narrate.alpha_verdict(pd.DataFrame(), split, 1000.0)
    assert calib_only.startswith("In the calibration runs at the preset's step:")
    assert "waits for the runs" in narrate.alpha_verdict(pd.DataFrame(), pd.DataFrame(), 1000.0)
    wide = narrate.alpha_table(knob)
    assert list(wide.columns) == ["alpha=0.001", "alpha=0.01", "alpha=0.1"]
    assert wide.loc[("soft-l1", 1), "alpha=0.1"] == "50.0%"  # one seed: no ±
    assert list(wide.index.names) == ["method", "round"]  # headers for people


def test_paper_lambda_reach_quotes_table_ii_and_places_ours():
    lottery = pd.DataFrame([{"method_label": "soft-log", "round": r, "sparsity": s, "test_accuracy": 0.98, "seed": 0}
                            for r, s in ((1, 0.3), (2, 0.6), (3, 0.78))])
    paper_line, table, sentence = narrate.paper_lambda_reach(lottery, "sweeps/x.toml")
    assert paper_line.startswith("Paper, Table II (")
    assert table.data[["round", "seeds"]].values.tolist() == [[1, 1], [2, 1], [3, 1]]  # one row per round
    assert table.data["sparsity"].tolist() == [0.3, 0.6, 0.78] and "78.0%" in table.to_html()
    assert "soft-log reaches 78.0% after round 3 (inside the paper's range)" in sentence
    _, none, waits = narrate.paper_lambda_reach(lottery.iloc[0:0], "sweeps/x.toml")
    assert none is None and "`lottery sweep sweeps/x.toml`" in waits


def test_calibration_conclusions(step_runs):
    base = SimpleNamespace(mask_lr_scale=1000.0, momentum=0.0, lr=0.1, alpha=0.01)
    text = narrate.calibration_conclusions(base, step_runs, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), 0.005)
    assert "The recorded runs support it" in text
    other = narrate.calibration_conclusions(SimpleNamespace(**{**vars(base), "mask_lr_scale": 100.0}), step_runs,
                                            pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), 0.005)
    assert "**The recorded runs favour another value** (soft-l1: 1000)" in other
    assert "No mask distribution is recorded yet." in text


def test_penalty_drift_table_and_sentence():
    from concave_lottery.method.regularizers import get_regularizer

    regs = {"l1": get_regularizer("l1"), "log": get_regularizer("log", eps=0.1)}
    drift = narrate.penalty_drift_table(regs, {"l1": 1e-5, "log": 1e-5}, lr=0.1, momentum=0.0, steps=100,
                                        scales=(1.0, 10.0))
    # l1: r'(m) = 1, so the drift is steps · lr · scale · λ
    assert drift.loc[10.0, ("l1", 0.5)] == pytest.approx(100 * 0.1 * 10 * 1e-5)
    assert drift.loc[10.0, ("log", 0.05)] > drift.loc[10.0, ("log", 0.5)]  # concave: steeper near 0
    assert "at the preset's scale 10 by 0.001" in narrate.drift_sentence(drift, 10.0)


# ---------------------------------------------------------------------------------- lottery chapters


def _winners(rows):
    cols = ["sparsity", "winner", "runner_up", "gap", "spread", "floor", "verdict", "imp_mean", "soft-log_mean"]
    return pd.DataFrame(rows, columns=cols)


def test_describe_winners_names_a_winner_only_beyond_the_floor():
    verdicts = _winners([
        (0.62, "soft-log", "imp", 0.0006, 0.0004, 0.0015, "inconclusive", 0.9806, 0.9812),
        (0.77, "soft-log", "imp", 0.0040, 0.0010, 0.0015, "soft-log", 0.9770, 0.9810),
        (0.59, "soft-log", "imp", 0.0006, math.nan, math.nan, "inconclusive", 0.9806, 0.9812),
        (0.95, "imp", None, math.nan, math.nan, math.nan, "only imp", 0.9810, math.nan),
    ])
    points = pd.DataFrame({"method_label": ["soft-log", "imp"], "round": [1, 3], "sparsity": [0.77, 0.95],
                           "test_accuracy": [0.981, 0.9810]})
    text = narrate.describe_winners(verdicts, points, {"mean": 0.9804}, "test_accuracy")
    assert text.startswith("Clear wins (gap larger than the noise floor): soft-log at 77.0%.")
    assert ("at 62.0% sparsity: **no clear winner**; soft-log leads imp by 0.06 pp, within the noise floor "
            "of 0.15 pp.") in text
    assert "at 77.0% sparsity: **soft-log** wins, 0.40 pp ahead of imp (noise floor 0.15 pp)." in text
    assert "at 59.0% sparsity: soft-log leads imp by 0.06 pp, but no noise floor is measured" in text
    assert "only imp reaches it (98.10%)" in text
    assert "is imp round 3: 95.0% of the weights removed, 98.10%." in text
    assert narrate.describe_winners(verdicts.iloc[0:0], points, {"mean": 0.98}) == \
        "No two recorded methods reach a common sparsity yet."


def _claim_rows(verdict, reading, note=""):
    return pd.DataFrame([{"layer": "recorded", "model": "vgg11", "dataset": "cifar10-subset", "claim": "comparable",
                          "a": "soft-l1", "b": "imp", "verdict": verdict, "reading": reading, "note": note}])


def test_summarize_claims_shows_the_reading_and_the_untrained_note():
    text = narrate.summarize_claims(_claim_rows("inconclusive", "holds", "untrained: dense 55.0% after 4 of the "
                                                "paper's 120 epochs per round on 5,170 of 50,000 training images"))
    assert text.startswith("- recorded, vgg11 on cifar10-subset: soft-l1 comparable to IMP at matching sparsity: "
                           "**inconclusive** (reading: holds).")
    assert "*untrained: dense 55.0% after 4 of the paper's 120 epochs" in text and "at most inconclusive" in text
    trained = narrate.summarize_claims(_claim_rows("holds", "holds"))
    assert "**holds**." in trained and "(reading" not in trained and "untrained" not in trained
    assert narrate.summarize_claims(pd.DataFrame()).startswith("No claim can be checked yet")


def test_ablation_lines():
    rows = _claim_rows("fails", "fails").drop(columns="model").assign(claim="threshold", b="hard-l1")
    assert narrate.ablation_lines(rows) == ("- recorded, cifar10-subset: soft-l1 over hard-l1 (threshold): "
                                            "**fails**")
    assert narrate.ablation_lines(pd.DataFrame()).startswith("No claim can be checked yet")


def test_table_ii_verdict_flags_a_chance_level_baseline():
    ours = pd.DataFrame({"layer": ["recorded"] * 2, "method": ["soft-l1"] * 2, "unpruned_percent": [80.0, 40.0],
                         "accuracy_difference": [-0.5, -2.0], "baseline_accuracy": [45.0, 45.0]})
    text = narrate.table_ii_verdict(ours, 10.0)
    assert text == ("- recorded, soft-l1: at 40.00% of the prunable weights unpruned the ticket is -2.00 pp from "
                    "our dense baseline (45.00%); the closest to the baseline is -0.50 pp at 80.00% unpruned.")
    assert "**The baseline is at chance level** (10%" in narrate.table_ii_verdict(
        ours.assign(baseline_accuracy=12.0), 10.0)
    assert narrate.table_ii_verdict(ours.iloc[0:0], 10.0) == "No row of ours yet."


# ---------------------------------------------------------------------------------- Sec. IV-C and the rest


def _at_level(log, l1, a=(0.05, 0.04)):
    cols = ["acc >= 0.99", "acc >= 0.98"]
    return pd.DataFrame([list(a), list(l1), list(log)], index=["theta-l1", "mask-l1", "mask-log"], columns=cols)


def _summary(sd=0.02):
    return pd.DataFrame({"approach": ["mask-l1", "mask-log", "theta-l1"], "lam": [0.1, 0.1, 0.1],
                         "sparsity_sd": [sd, sd, sd]})


def test_mask_head_to_head_counts_runs():
    per_run = pd.DataFrame({0.01: [0.50, 0.52, 0.60, 0.61], 0.02: [0.55, 0.55, 0.60, 0.60]},
                           index=pd.MultiIndex.from_tuples([("mask-l1", 0), ("mask-l1", 1), ("mask-log", 0),
                                                            ("mask-log", 1)]))
    table = narrate.mask_head_to_head(per_run, 400, [0.01, 0.02])
    assert list(table.columns) == ["drop 0.01", "drop 0.02"]
    assert table.loc["log sparser (runs)", "drop 0.01"] == 2
    assert table.loc["median log - l1 (pixels)", "drop 0.02"] == pytest.approx(0.05 * 400)


def test_logistic_verdict_needs_mean_and_runs_to_agree():
    h2h = pd.DataFrame({"drop 0.01": [80, 5, 15], "drop 0.02": [70, 10, 20]},
                       index=["log sparser (runs)", "tie (runs)", "l1 sparser (runs)"])
    agree = narrate.logistic_verdict(_at_level((0.90, 0.92), (0.88, 0.90)), h2h, _summary(), d=400, n_runs=100,
                                     drops=[0.01, 0.02])
    assert "**Verdict: at equal accuracy the log mask is the sparser one**" in agree
    assert "they remove at least 88.0% of the pixels, (a) at most 5.0%" in agree
    assert "Run by run, log is the sparser mask in 80, 70 runs and l1 in 15, 20 runs" in agree
    split = narrate.logistic_verdict(_at_level((0.90, 0.89), (0.88, 0.90)), h2h, _summary(), d=400, n_runs=100,
                                     drops=[0.01, 0.02])
    assert "**Verdict: neither mask is consistently sparser" in split
    assert "median standard deviation 8.0 pixels" in split
    assert "log minus l1 is +8.0, -4.0 pixels" in split


def test_logistic_table():
    summary = pd.DataFrame({"approach": ["theta-l1", "mask-l1"], "lam": [0.1, 0.1], "accuracy": [0.99, 0.98],
                            "accuracy_sd": [0.01, 0.02], "sparsity": [0.2, 0.9], "sparsity_sd": [0.0, 0.01],
                            "exact_sparsity": [0.1, 0.9]})
    table = narrate.logistic_table(summary)
    assert table.loc["0.1", "accuracy mask-l1"] == "0.980 ± 0.020"
    assert table.loc["0.1", "exact zeros theta-l1"] == "0.100"


def _layer(points, name="recorded"):
    groups = list(points.groupby(["model", "dataset_label"], sort=False)) if len(points) else []
    return SimpleNamespace(name=name, points=points, by_model_and_dataset=lambda: groups)


def test_near_dense_lines():
    points = pd.DataFrame({"model": "vgg11", "dataset_label": "cifar10-subset", "method": "imp",
                           "method_label": "imp", "round": 0, "seed": [0, 1], "sparsity": [0.0, 0.0],
                           "test_accuracy": [0.516, 0.590]})
    assert narrate.near_dense_lines([_layer(points)]) == (
        "- recorded, vgg11 on cifar10-subset: 2 nearly dense tickets, 51.6-59.0% (range 7.4 pp).")
    assert narrate.near_dense_lines([_layer(points)], by_model=False).startswith(
        "- recorded: dense baseline 55.30% (mean of 2 seed(s)); 2 nearly dense networks between 51.60% and 59.00%")
    assert narrate.near_dense_lines([_layer(points.iloc[:1])]) == "No layer has two nearly dense tickets to compare."


def test_lenet_caption_missing_note_and_timing_lines():
    points = pd.DataFrame({"seed": [0, 1]})
    text = narrate.lenet_figure_caption(points, {"mean": 0.9804, "n": 2}, accuracy="test_accuracy", n_done=10,
                                        overrides={})
    assert text == ("The figure shows the **test accuracy** of the tickets (final epoch) of the 10 finished run(s), "
                    "the full protocol on the full MNIST, seeds [0, 1]; dense reference: 98.04% over 2 IMP run(s).")
    status = pd.DataFrame({"run": ["a", "b"], "status": ["finished", "partial"], "rounds_done": [3, 1],
                           "rounds_total": [3, 3]})
    note = narrate.missing_runs_note(status, "sweeps/x.toml", "results")
    assert note.startswith("**Missing: 1 of 2 runs are not finished**") and "- `b` (partial, 1 of 3 rounds" in note
    assert narrate.missing_runs_note(status.iloc[:1], "s", "r") == "All 1 runs of the spec are recorded."
    by = pd.DataFrame([{"model": "resnet20", "hardware": "cpu", "layer": "recorded", "search_s_per_epoch_per_kimg": 2.5,
                        "est_find_minutes": 600.0, "paper_find_minutes": 91, "est / paper (find)": 6.6}])
    assert narrate.timing_lines(by) == (
        "- resnet20 on cpu (recorded): 2.50 s per search epoch per 1,000 images; the paper's protocol would take "
        "about 10.0 h to find the ticket (extrapolated; the paper: 91 min on its GPUs, 7 times faster).")


def test_lottery_figure_caption_names_the_paper_protocol():
    points = pd.DataFrame({"model": "vgg11", "dataset_label": "cifar10-subset", "dataset": "cifar10-subset",
                           "epochs": 4, "milestones": [(2, 3)], "method_label": "imp", "lam": 0.0, "seed": 0,
                           "round": 0, "prov_device": "cpu", "train_subset": 0, "classes": 0})
    layer = SimpleNamespace(name="recorded", source="recorded runs, replayed",
                            specs_of=lambda p: "sweeps/vgg11-cifar10-subset.toml")
    text = narrate.lottery_figure_caption(layer, points, "vgg11", "cifar10-subset")
    assert text.startswith("**Recorded layer, vgg11 on cifar10-subset** (the paper's Fig. 7). Scale: vgg11 on")
    assert text.endswith("The paper's figure uses the full datasets, 120 epochs per round and 3 seeds.")


def test_the_caption_says_why_a_curve_has_a_gap_in_its_line():
    summary = pd.DataFrame({"method_label": ["imp", "imp", "soft-l1", "soft-l1", "soft-l1"], "round": [0, 1, 1, 2, 3],
                            "sparsity_mean": [0.0, 0.2, 0.932, 0.971, 0.982]})
    assert narrate.jumps_sentence(summary) == (
        "No line is drawn across a jump of more than a halving of the remaining weights between two tickets: "
        "soft-ℓ1 from 93.2% to 97.1% sparse (2.3x fewer weights). Nothing was measured in between, and no claim "
        "reads a curve there (`analysis.MAX_INTERPOLATION_GAP`).")
    joined = pd.DataFrame({"method_label": "imp", "round": [0, 1, 2], "sparsity_mean": [0.0, 0.2, 0.36]})
    assert narrate.jumps_sentence(joined) == ""


def test_theory_sentences():
    df = pd.DataFrame({"premises": [True, True, False], "thm1_holds": [True, True, False],
                       "thm2_printed_holds": [True, False, False], "thm2_proof_holds": [True, True, True],
                       "assumption6": [True, True, False], "optimality9": [True, True, True],
                       "error": [0.1, 0.2, 0.3], "bound_thm1": [1.0, 1.0, 1.0]})
    text = narrate.theorem_checks(df).splitlines()
    assert text[0] == "Theorem 1 (8) fails in 1 of 3 problems, 0 of the 2 whose premises held."
    assert text[1] == "Theorem 2 as printed (14) fails in 2, as the proof shows in 0."
    h2h = pd.DataFrame({"wins": [1, 8, 9], "n": [10, 10, 10], "median error log": [1.0, 0.5, 0.5],
                        "median error l1": [1.0, 1.0, 1.0]}, index=[0.5, 1.0, 2.0])
    assert narrate.head_to_head_sentence(h2h) == ("Where (6) holds, log is closer to the planted mask in 17 of 20 "
                                                  "paired problems; its median error is 0.50 times that of l1.")
    dfl = pd.DataFrame({"lemma1_applies": [True, False], "regularizer": ["log", "l1"], "equals_planted": [True, False],
                        "lemma1_holds": [True, True]})
    assert narrate.lemma_check(dfl).endswith("in 1 problems {'log': 1}; m* = m~ in all of them: True; violations: 0.")
    assert narrate.alpha_intro(pd.DataFrame(), "s", "r", 0.01).startswith("No full lottery run")


def test_round_rows_protocol_line_and_hours():
    from concave_lottery.evidence import analysis

    pts = pd.DataFrame({"model": "resnet20", "dataset_label": "cifar10-subset", "method_label": "imp", "method": "imp",
                        "round": [0, 0], "seed": [0, 1], "sparsity": [0.0, 0.0], "test_accuracy": [0.50, 0.52],
                        "best_test_accuracy": [0.51, 0.53], "search_test_accuracy": [float("nan")] * 2})
    layer = _layer(pts)
    layer.by_dataset = lambda: list(pts.groupby("dataset_label", sort=False))
    (row,) = narrate.round_rows([layer])
    assert row["model"] == "resnet20" and row["ticket acc % (final)"] == "51.00 ± 1.41" and row["search acc %"] == ""
    (plain,) = narrate.round_rows([layer], by_model=False, spread=False)
    assert "model" not in plain and plain["ticket acc % (final)"] == 51.0
    runs = pd.DataFrame({"run_dir": ["a", "b", "b"], "prov_device": ["cpu", "cpu", "cpu"],
                         "prov_seconds": [3600.0, 7200.0, 7200.0], "prov_git_commit": ["abcdef1234567890"] * 3,
                         "epochs": 40, "lr": 0.1, "momentum": 0.0, "batch_size": 128, "train_subset": 0,
                         "test_subset": 0})
    hours = analysis.hours_by_device(runs, median=True)
    assert hours.loc["cpu"].tolist() == [2, 3.0, 1.5]
    assert narrate.protocol_line(runs) == ("protocol of the recorded runs: 40 epochs per round, lr 0.1, momentum 0.0, "
                                           "batch 128, train_subset all, test_subset all; library commits abcdef123456")


def test_rounds_and_winners_tables():
    summary = pd.DataFrame({"method_label": ["imp"], "round": [1], "n_seeds": [2], "sparsity_mean": [0.2],
                            "sparsity_std": [0.0], "remaining_mean": [0.8], "test_accuracy_mean": [0.98],
                            "test_accuracy_std": [0.001], "best_test_accuracy_mean": [0.981],
                            "best_test_accuracy_std": [float("nan")]})
    points = pd.DataFrame({"search_test_accuracy": [float("nan")]})
    table = narrate.rounds_table(summary, points)
    assert table.iloc[0].to_dict() == {"method": "imp", "round": 1, "seeds": 2, "sparsity %": "20.00 ± 0.00",
                                       "remaining %": "80.00", "ticket acc % (final)": "98.00 ± 0.10",
                                       "ticket acc % (best)": "98.10"}
    verdicts = _winners([(0.62, "soft-log", "imp", 0.0006, 0.0004, 0.0015, "inconclusive", 0.9806, 0.9812)])
    verdicts["imp_std"], verdicts["soft-log_std"] = 0.0002, float("nan")
    shown = narrate.winners_table(verdicts, ["imp", "soft-log"])
    assert shown.iloc[0].to_dict() == {"sparsity %": "62.0", "imp": "98.06 ± 0.02", "soft-log": "98.12",
                                       "winner": "soft-log", "gap (pp)": "0.06", "seed spread (pp)": "0.04",
                                       "noise floor (pp)": "0.15", "verdict": "inconclusive"}


def test_library_defaults_name_each_choice_for_a_reader_beside_its_field():
    from concave_lottery.runs.config import RunConfig, get_preset

    table = narrate.library_defaults(["lenet300-mnist"])
    assert list(table.index) == ["mask step (× θ's)", "mask weight decay", "α", "momentum"]
    assert list(table["RunConfig field"]) == narrate.KNOBS
    assert table.loc["mask step (× θ's)", "RunConfig default"] == RunConfig().mask_lr_scale
    assert table.loc["α", "lenet300-mnist"] == get_preset("lenet300-mnist").config.alpha
