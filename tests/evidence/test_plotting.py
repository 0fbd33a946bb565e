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
    html = plotting.styled_table(pd.Series({"iterations": 3000, "gamma": 0.5}).to_frame("value")).to_html()
    assert "3,000" in html and "3000.0" not in html and "3e+03" not in html
    html = plotting.styled_table(pd.DataFrame({"r'(0)": [float("inf"), 1.0]})).to_html()
    assert "∞" in html and "inf" not in html


def test_styled_table_headers_have_no_snake_case():
    html = plotting.styled_table(pd.DataFrame({"win_rate": [1.0], "median_phi": [0.5]})).to_html()
    assert "win rate" in html and "win_rate" not in html
    html = plotting.styled_table(pd.DataFrame({"n": [1]}, index=pd.Index([0.5], name="lam_factor"))).to_html()
    assert "λ / λmin" in html and "lam_factor" not in html


def _summary(method, sparsities, accs, stds=None):
    n = len(sparsities)
    return pd.DataFrame({"method_label": method, "round": range(n), "n_seeds": 2, "sparsity_mean": sparsities,
                         "sparsity_std": 0.0, "test_accuracy_mean": accs,
                         "test_accuracy_std": stds if stds is not None else [0.001] * n})


def test_measured_segments_break_at_jumps_wider_than_a_halving():
    assert plotting.measured_segments([1.0, 0.8, 0.64, 0.51]) == [[0, 1, 2, 3]]
    assert plotting.measured_segments([1.0, 0.99, 0.03, 0.02]) == [[0, 1], [2, 3]]
    assert plotting.measured_segments([1.0, 0.4]) == [[0], [1]]
    assert plotting.measured_segments([]) == []


def test_the_unjoined_jumps_are_where_no_line_is_drawn():
    summary = pd.concat([_summary("imp", [0.0, 0.2, 0.36, 0.49], [0.60, 0.61, 0.60, 0.59]),
                         _summary("soft-l1", [0.932, 0.971, 0.982], [0.75, 0.75, 0.73]),
                         _summary("soft-log", [0.01, 0.97, 0.98], [0.60, 0.40, 0.38])], ignore_index=True)
    # soft-ℓ1: 6.8% -> 2.9% of the weights is 2.3x, more than a halving; 2.9% -> 1.8% is joined
    assert plotting.unjoined_jumps(summary) == [("soft-l1", 0.932, 0.971), ("soft-log", 0.01, 0.97)]
    assert plotting.unjoined_jumps(summary.iloc[0:0]) == []


def test_no_line_through_territory_never_measured():
    """ℓ1 jumping from 0% to 97% sparsity: its points are drawn, no line between them."""
    summary = pd.concat([_summary("imp", [0.0, 0.2, 0.36, 0.49], [0.60, 0.61, 0.60, 0.59]),
                         _summary("soft-l1", [0.01, 0.97, 0.98], [0.60, 0.40, 0.38])], ignore_index=True)
    fig = plotting.ticket_accuracy_vs_remaining(summary)
    ax = fig.axes[0]
    drawn = [line for line in ax.lines if line.get_linestyle() not in ("None", "none", "")]
    spans = [np.ptp(np.log(line.get_xdata())) for line in drawn if len(line.get_xdata()) > 1]
    assert spans and max(spans) <= np.log(2) + 1e-9
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["imp", "soft-l1"]


def test_stacked_rounds_are_labelled_not_joined():
    summary = _summary("soft-log", [0.001, 0.003, 0.01], [0.35, 0.37, 0.38])
    ax = plotting.ticket_accuracy_vs_remaining(summary).axes[0]
    assert not [line for line in ax.lines if len(line.get_xdata()) > 1 and line.get_linestyle() == "-"
                and np.ptp(line.get_xdata()) > 0]
    assert sorted(t.get_text() for t in ax.texts) == ["r0", "r1", "r2"]


def test_accuracy_axis_has_a_noise_floor_and_ticks_do_not_crowd():
    summary = pd.concat([_summary("imp", [0.0, 0.2], [0.981, 0.982]),
                         _summary("soft-log", [0.1, 0.3], [0.9812, 0.9815])], ignore_index=True)
    ax = plotting.ticket_accuracy_vs_remaining(summary).axes[0]
    lo, hi = ax.get_ylim()
    assert hi - lo >= 2 * plotting.MIN_HALF_SPAN_PP - 1e-9  # 0.1 pp differences do not fill the panel
    noisy = _summary("imp", [0.0, 0.2], [0.5, 0.52], stds=[0.03, 0.03])
    lo, hi = plotting.ticket_accuracy_vs_remaining(noisy).axes[0].get_ylim()
    assert hi - lo >= 6.0
    ticks = plotting.spaced_ticks(plotting.REMAINING_TICKS, 0.01, 1.0)
    gaps = np.diff(np.log(ticks))
    assert ticks[0] == 1.0 and np.all(-gaps >= 0.09 * np.log(100) - 1e-12)


def test_legends_tell_dashed_from_solid():
    summary = pd.concat([_summary("soft-l1", [0.2, 0.4], [0.6, 0.58]), _summary("hard-l1", [0.2, 0.4], [0.59, 0.57])],
                        ignore_index=True)
    fig = plotting.ticket_accuracy_vs_remaining(summary, styles={"hard-l1": "--"},
                                                colors={"hard-l1": plotting.color_for("soft-l1")})
    legend = fig.axes[0].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["soft-l1", "hard-l1 (dashed)"]
    assert [h.get_linestyle() for h in legend.legend_handles] == ["-", "--"]


def test_figures_without_variation_are_left_out():
    assert not plotting.shows_variation([1.0, 1.0, 1.0])
    assert not plotting.shows_variation([0.4, np.nan])
    assert plotting.shows_variation([1.0, 0.8])
    h2h = pd.DataFrame({"win_rate": [0.5, 1.0], "ties": [1, 0], "n": [4, 4]}, index=[0.5, 1.0])
    assert len(plotting.win_rate_bars(h2h, winner="log", title="t").axes[0].patches) == 4


def test_gap_intervals_draw_each_pairs_interval_and_the_two_thresholds():
    rows = pd.DataFrame({"sparsity": [0.93, 0.97], "gap_mean": [0.004, -0.012], "gap_low": [-0.001, -0.02],
                         "gap_high": [0.009, -0.004], "pairs": [3, 3]})
    fig = plotting.gap_intervals({("soft-log", "imp"): rows, ("soft-log", "soft-l1"): rows.iloc[:1]})
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    assert [len(c.lines[0].get_xdata()) for c in bars] == [2, 1]
    # the interval of the second point of the first pair runs from -2.0 to -0.4 pp
    segments = bars[0].lines[2][0].get_segments()
    assert np.allclose(sorted(segments[1][:, 1]), [-2.0, -0.4])
    levels = sorted(line.get_ydata()[0] for line in ax.lines if len(set(line.get_ydata())) == 1
                    and len(line.get_xdata()) == 2)
    assert np.allclose(levels[:2], [-1.0, 0.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["soft-log − imp (3 seeds)", "soft-log − soft-l1 (3 seeds)"]
    assert ax.get_xlim()[0] > ax.get_xlim()[1]  # dense side on the left
    # each bar says its matched sparsity, just above the top of its interval
    assert [t.get_text() for t in ax.texts] == ["93.0% sparse", "97.0% sparse", "93.0% sparse"]
    assert np.allclose([t.xy[1] for t in ax.texts], [0.9, -0.4, 0.9])
    plt.close(fig)
