"""evidence.tables: headers and numbers for people, wide tables cut to what a reader needs."""

from __future__ import annotations

import math
import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from concave_lottery.evidence import tables


def test_headers_have_no_snake_case():
    assert tables.header("test_accuracy") == "ticket accuracy"
    assert tables.header("search_s_per_epoch_per_kimg") == "search s / epoch / 1,000 images"
    assert tables.header("some_new_column") == "some new column"
    assert all("_" not in v for v in tables.HEADERS.values())


def test_readable_renames_headers_and_keeps_every_value():
    frame = pd.DataFrame({"method_label": ["imp", "soft-log"], "round": [1, 2], "test_accuracy": [0.9, 0.8]})
    wide = frame.set_index(["method_label", "round"])
    got = tables.readable(wide)
    assert list(got.index.names) == ["method", "round"] and list(got.columns) == ["ticket accuracy"]
    assert got.to_numpy().tolist() == wide.to_numpy().tolist() and got.index.tolist() == wide.index.tolist()
    pivot = pd.DataFrame({("l1", 0.5): [1.0], ("log", 0.05): [2.0]},
                         index=pd.Index([100.0], name="mask_lr_scale"))
    pivot.columns.names = ["regularizer_name", "m"]
    got = tables.readable(pivot)
    assert got.index.name == "mask step (× θ's)" and list(got.columns.names) == ["regularizer name", "m"]
    assert list(got.columns) == [("l1", 0.5), ("log", 0.05)]  # number labels stay numbers
    series = tables.readable(wide["test_accuracy"])
    assert series.name == "ticket accuracy" and list(series.index.names) == ["method", "round"]
    assert tables.readable(pd.Series([1.0])).name is None
    assert "effective mask step" == tables.header("effective_mask_lr")


def test_cells_read_like_a_person_wrote_them():
    assert tables.cell(3000.0) == "3,000"
    assert tables.cell(3000) == "3,000"
    assert tables.cell(0.12345) == "0.12"
    assert tables.cell(2.5e-6) == "2.5e-06"
    assert tables.cell(math.nan) == "—"
    assert tables.cell(None) == "—"
    assert tables.cell(True) == "yes" and tables.cell(False) == "no"
    assert tables.cell("soft-log") == "soft-log"


def test_percent_and_plus_minus():
    assert tables.percent(0.5234) == "52.3%"
    assert tables.percent(math.nan) == "—"
    assert tables.pm(0.5234, 0.0123) == "52.3 ± 1.2"
    assert tables.pm(0.5234, math.nan) == "52.3"
    assert tables.pm(0.5234, 0.0123, 2) == "52.34 ± 1.23"
    assert tables.pm(math.nan, 0.1) == "—"


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_percent_round_trips_to_one_decimal(x):
    text = tables.percent(x)
    assert re.fullmatch(r"\d{1,3}\.\d%", text)
    assert abs(float(text[:-1]) - 100 * x) <= 0.05 + 1e-9


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_cell_prints_nan_or_inf(x):
    text = tables.cell(x).lower()
    assert "nan" not in text and "inf" not in text


def _frame():
    return pd.DataFrame({
        "model": ["resnet20", "vgg11"], "method_label": ["soft-log", "imp"], "sparsity": [0.5, 0.97],
        "test_accuracy": [0.523, math.nan], "train_images": [5170.0, 2048.0], "run_dir": ["a", "b"],
        "verdict": ["holds", "inconclusive"],
    })


def test_fit_table_shows_the_chosen_columns_and_keeps_the_rest_behind_a_dropdown():
    t = tables.fit_table(_frame(), ["model", "method_label", "sparsity", "verdict", "not-there"],
                         percent_columns=["sparsity", "test_accuracy"])
    assert list(t.shown.columns) == ["model", "method", "sparsity", "verdict"]
    assert t.shown["sparsity"].tolist() == ["50.0%", "97.0%"]
    assert list(t.full.columns) == ["model", "method", "sparsity", "ticket accuracy", "training images", "run",
                                    "verdict"]
    assert t.full["ticket accuracy"].tolist() == ["52.3%", "—"]
    assert t.full["training images"].tolist() == ["5,170", "2,048"]
    html = t._repr_html_()
    assert "<details" in html and "All 7 columns" in html and 'class="lottery-scroll"' in html
    assert "nan" not in html.lower() and "_" not in re.sub(r"<[^>]+>", "", html)


def test_fit_table_without_a_cut_has_no_dropdown():
    t = tables.fit_table(_frame()[["model", "verdict"]], ["model", "verdict"])
    assert t.full is None and "<details" not in t._repr_html_()
    assert tables.fit_table(_frame()).full is None


def test_fit_table_renames_and_escapes():
    df = pd.DataFrame({"x": ["<b>"], "y": [1.5]})
    t = tables.fit_table(df, ["x"], rename={"x": "name & kind"})
    html = t._repr_html_()
    assert "name &amp; kind" in html and "&lt;b&gt;" in html and "<b>" not in html


def test_count_noun_agrees():
    assert tables.count_noun(0, "value") == "no value"
    assert tables.count_noun(1, "value") == "1 value"
    assert tables.count_noun(3, "value") == "3 values"
    assert tables.count_noun(2, "run", "runs") == "2 runs"
