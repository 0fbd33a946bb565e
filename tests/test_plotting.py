"""The book's figure style and recurring figures draw without error and keep colours fixed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from concave_lottery.evidence import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    plotting.set_style()
    yield
    plt.close("all")


def test_colours_are_fixed_per_family():
    log = plotting.REGULARIZER_COLORS["log"]
    assert plotting.color_for("log(eps=0.1)") == plotting.color_for("log") == log
    assert plotting.color_for("l1") != plotting.color_for("log")
    assert plotting.color_for("imp") == plotting.METHOD_COLORS["imp"]
    assert len(plotting.color_for("something else", 3)) == 3


def test_method_colours_are_far_apart():
    """Every pair of methods that share a figure is easy to tell apart (RGB distance > 0.25)."""
    colours = list(plotting.METHOD_COLORS.items())
    for i, (a, ca) in enumerate(colours):
        for b, cb in colours[i + 1:]:
            distance = sum((x - y) ** 2 for x, y in zip(ca, cb, strict=True)) ** 0.5
            assert distance > 0.25, f"{a} and {b} look alike ({distance:.2f})"


def test_plot_regularizers():
    m = np.linspace(0, 1, 11)
    fig = plotting.plot_regularizers({"l1": (m, m, np.ones_like(m)), "log(eps=0.1)": (m, np.sqrt(m), m)})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3  # two curves and the chord


def test_plot_trajectories_layout():
    df = pd.DataFrame({"step": [0, 1, 0, 1], "coordinate": [0, 0, 1, 1], "value": [1.0, 0.5, 0.2, 0.0],
                       "in_support": [True, True, False, False], "method": "m"})
    assert len(plotting.plot_trajectories([df, df], ["a", "b"]).axes) == 2
    assert len(plotting.plot_trajectories([df, df, df], ["a", "b", "c"]).axes) == 3


def test_bound_check_marks_violations():
    df = pd.DataFrame({"bound_thm1": [1.0, 0.1], "error": [0.5, 0.2], "regularizer": ["l1", "log"],
                       "thm1_holds": [True, False]})
    fig = plotting.plot_bound_check(df)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "violation" in labels


def test_recurring_lottery_figures():
    df = pd.DataFrame({"sparsity": [0.2, 0.5, 0.2, 0.5], "accuracy": [0.9, 0.88, 0.91, 0.85],
                       "method": ["imp", "imp", "soft-log", "soft-log"], "lam": [1e-6, 1e-5, 1e-6, 1e-5],
                       "regularizer": ["l1", "l1", "log", "log"]})
    assert plotting.accuracy_vs_sparsity(df, errorbar=None).axes
    assert len(plotting.lambda_sweep(df, y=["accuracy", "sparsity"], errorbar=None).axes) == 2


def test_styled_table_formats_floats_and_index():
    df = pd.DataFrame({"x": [0.123456, 2.0], "n": [1, 2]}, index=pd.Index([0.25, 16.0], name="f"))
    html = plotting.styled_table(df).to_html()
    assert "0.123" in html and "0.123456" not in html and ">16<" in html and ">0.25<" in html
