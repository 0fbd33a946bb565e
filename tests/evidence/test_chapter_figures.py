"""The figure and table helpers the chapters call (moved out of the notebooks): each draws or builds
from recorded-like inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from concave_lottery.evidence import plotting  # noqa: E402
from concave_lottery.method.regularizers import (  # noqa: E402
    assumption1_table,
    check_assumption1,
    get_regularizer,
    shape_table,
)
from concave_lottery.section4 import theory, toy  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_regularizer_tables():
    regs = [get_regularizer("l1"), get_regularizer("log", eps=0.1)]
    m = torch.linspace(0, 1, 101, dtype=torch.float64)
    shape = shape_table(regs, m)
    assert shape.loc["l1", "r'(0)"] == pytest.approx(1.0) and shape.loc["l1", "max r(m) - m"] == pytest.approx(0.0)
    assert shape.iloc[1]["max r(m) - m"] > 0  # log is concave: above the diagonal
    checks = {r.label: check_assumption1(r, n=101) for r in regs} | {"m^2": check_assumption1(lambda x: x * x, n=101)}
    table = assumption1_table(checks)
    assert table["holds"].tolist() == [True, True, False] and not table.loc["m^2", "concave"]
    assert list(table.columns) == ["continuous", "r(0) = 0", "r(1) = 1", "nondecreasing", "concave",
                                   "values in [0, 1]", "holds"]  # the clauses as they read, no snake_case
    assert table.loc["m^2", "r(0) = 0"] and table.loc["l1", "values in [0, 1]"]


def test_toy_tables_and_zero_steps():
    problem = toy.make_toy_problem(n=32, d=4, k=2, seed=0)
    l1 = get_regularizer("l1")
    sg = toy.subgradient_weights(problem, 0.3, n_steps=30)
    mask = toy.projected_gradient_mask(problem, l1, 0.3, n_steps=30)
    final = toy.final_table(problem, sg, mask, mask)
    assert list(final.index) == [0, 1, 2, 3] and final.index.name == "i"
    assert not [c for c in final.columns if "_" in c], final.columns  # headers for readers
    summary = toy.convergence_summary(problem, {"sg": sg, "mask": mask})
    assert summary.loc["mask", "exact zeros at the end"] == int(toy.exact_zeros(mask)[-1])
    fig = plotting.exact_zeros_steps([("sg", sg, "-"), ("mask", mask, "--")], d=4, k=2)
    assert len(fig.axes[0].lines) == 3  # two step lines and the true count


def test_theory_summaries_and_figures():
    l1, log = get_regularizer("l1"), get_regularizer("log", eps=0.1)
    inst = theory.generate_instances(2, d=8, k=2, n_samples=32, seed=0)
    df = theory.check_theorems(inst, [l1, log], lam_factors=[0.5, 1.0], max_iter=500)
    summary = theory.theorem_summary(df)
    assert summary["problems"].sum() == len(df) and set(summary.columns) >= {"thm1_fails", "median_bound"}
    logs = df[df["regularizer"] == log.label]
    phi = theory.phi_summary(logs)
    assert (phi["largest_phi_over_2lamk_gamma"] >= 0).all()
    palette = {l1.label: "C0", log.label: "C1"}
    assert plotting.bound_ratio_boxplot(df, [0.5, 1.0], palette).axes
    assert len(plotting.phi_gain_boxplots(logs.assign(gain=logs["bound_thm1"] - logs["bound_thm2_proof"])).axes) == 2
    lemma = theory.lemma_summary(df)
    assert "lemma1_fails" in lemma.columns
    assert plotting.exact_recovery(df, [0.5, 1.0], palette, signal_scale=1.0).axes[0].get_legend() is not None


def test_time_bars_and_paired_curves():
    by = pd.DataFrame({"model": ["resnet20", "vgg11"], "est_find_minutes": [600.0, 900.0]})
    fig = plotting.find_time_bars(by, {"resnet20": 91, "vgg11": 119}, paper_hardware="2x GPU")
    assert len(fig.axes[0].patches) == 4
    summary = pd.DataFrame({"method_label": ["soft-l1", "hard-l1"], "sparsity_mean": [0.5, 0.5],
                            "test_accuracy_mean": [0.6, 0.55], "test_accuracy_std": [0.01, None]})
    fig = plotting.paired_curves(summary, [("soft-l1", "hard-l1", "soft-l1")], title="t")
    legend = fig.axes[0].get_legend()
    styles = {t.get_text(): h.get_linestyle() for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    # solid: threshold, dashed: fixed fraction, and the legend says which is which in words too
    assert styles == {"soft-l1": "-", "hard-l1 (dashed)": "--"}
    assert plotting.paired_curves(summary.iloc[0:0], [], title="t") is None


def test_head_to_head_by_lambda():
    l1, log = get_regularizer("l1"), get_regularizer("log", eps=0.1)
    df = theory.check_theorems(theory.generate_instances(2, d=8, k=2, n_samples=32, seed=1), [l1, log],
                               lam_factors=[1.0, 2.0], max_iter=500)
    h2h = theory.head_to_head_by_lambda(df, log.label, l1.label, names=("log", "l1"))
    assert list(h2h.index) == [1.0, 2.0]
    assert {"win_rate", "ties", "n", "median error l1", "median error log"} <= set(h2h.columns)


def test_eps_slider_carries_the_library_numbers():
    from concave_lottery.evidence import interactive

    data = interactive.eps_slider_data(0.3, n_eps=5, n_grid=101)
    assert len(data["frames"]) == 5 and len(data["m"]) == 101
    assert abs(data["frames"][-1]["m_star"] - 0.7) < 0.02  # large eps: the l1 minimiser 1 - lam
    assert data["frames"][0]["m_star"] > data["frames"][-1]["m_star"]  # small eps: less bias on kept masks
    page = interactive.eps_slider(0.3).data
    assert 'class="eps-slider"' in page and "__DATA__" not in page and '"lam": 0.3' in page


def test_lambda_slider_has_a_frame_per_lambda():
    from concave_lottery.evidence import interactive

    approaches = {"theta-l1": "(a)", "mask-l1": "(b)", "mask-log": "(c)"}
    summary = pd.DataFrame([{"lam": lam, "approach": a, "accuracy": 0.9, "sparsity": 0.1 * i}
                            for lam in (0.0, 0.1) for i, a in enumerate(approaches)])
    data = interactive.lambda_slider_data(summary, approaches)
    assert [f["lam"] for f in data["frames"]] == [0.0, 0.1]
    assert [b["sparsity"] for b in data["frames"][1]["bars"]] == [0.0, 0.1, 0.2]
    assert set(data["colors"]) == set(approaches)
    assert 'class="lam-slider"' in interactive.lambda_slider(summary, approaches, n_lams=2).data
    with pytest.raises(AssertionError, match="frames"):
        interactive.lambda_slider(summary, approaches, n_lams=3)
