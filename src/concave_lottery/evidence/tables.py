"""Tables for people: readable headers, numbers as a reader writes them, and wide tables that fit.

A chapter's table usually has more columns than a page can show. :func:`fit_table` shows the
columns a reader needs (``columns``) and puts the whole table behind a dropdown (an HTML
``<details>`` element, "All N columns"), both scrolling sideways inside their own box with the
first column pinned (CSS ``.lottery-table`` in ``book/_static/book.css``) if they are still too
wide. Headers go through :func:`header` (``test_accuracy`` → "ticket accuracy", no snake_case),
cells through :func:`cell` (``3000.0`` → "3,000", NaN → "—", booleans → "yes"/"no"), and the
columns named in ``percent`` hold fractions shown as percent with one decimal (``0.5234`` →
"52.3%"). :func:`pm` writes a mean and its spread, "52.3 ± 1.2".
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["HEADERS", "header", "readable", "cell", "percent", "pm", "format_frame", "fit_table", "FitTable",
           "count_noun"]

#: Headers with a wording of their own; any other name is written with spaces for underscores.
HEADERS: dict[str, str] = {
    "method_label": "method",
    "n_seeds": "seeds",
    "test_accuracy": "ticket accuracy",
    "best_test_accuracy": "ticket accuracy (best epoch)",
    "search_test_accuracy": "search accuracy",
    "baseline_accuracy": "baseline accuracy",
    "accuracy_difference": "accuracy − baseline",
    "unpruned_percent": "unpruned %",
    "train_images": "training images",
    "train_subset": "training images",
    "find_minutes": "minutes to find",
    "train_minutes": "minutes to train",
    "train_ticket_minutes": "minutes to train",
    "search_s_per_epoch": "search s / epoch",
    "ticket_s_per_epoch": "ticket s / epoch",
    "search_s_per_epoch_per_kimg": "search s / epoch / 1,000 images",
    "ticket_s_per_epoch_per_kimg": "ticket s / epoch / 1,000 images",
    "est_find_minutes": "est. minutes to find",
    "est_train_minutes": "est. minutes to train",
    "paper_find_minutes": "paper: minutes to find",
    "paper_train_minutes": "paper: minutes to train",
    "paper_epochs": "paper's epochs",
    "paper_train_images": "paper's training images",
    "run_dir": "run",
    "lam_factor": "λ / λmin",
    "rounds_done": "rounds done",
    "rounds_total": "rounds",
    "lam": "λ",
    "eps": "ε",
    "alpha": "α",
    "mask_lr_scale": "mask step (× θ's)",
    "effective_mask_lr": "effective mask step",
    "prov_device": "hardware",
    "a": "method",
    "b": "against",
}

#: Shown for a missing value (NaN, None).
MISSING = "—"


def header(name: Any) -> str:
    """A column name as a reader reads it: :data:`HEADERS`, else underscores as spaces."""
    text = str(name)
    if text in HEADERS:
        return HEADERS[text]
    return text.replace("_", " ")


def _header_or_label(name: Any) -> Any:
    """:func:`header` for a string label; anything else (a number such as λ / λmin, ``None``) as it is."""
    return header(name) if isinstance(name, str) else name


def readable(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """``frame`` with headers for people and every value unchanged: its column labels (each level's, for
    a MultiIndex), the names of its index and column levels, and a Series' name go through :func:`header`
    (``method_label`` → "method"); labels that are not strings (numbers) stay as they are."""
    def names(index: pd.Index) -> list[Any]:
        return [_header_or_label(n) for n in index.names]

    if isinstance(frame, pd.Series):
        return frame.rename(_header_or_label(frame.name)).rename_axis(index=names(frame.index))
    out = frame.rename(columns=_header_or_label)
    return out.rename_axis(index=names(out.index)).rename_axis(columns=names(out.columns))


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def cell(value: Any, digits: int = 2) -> str:
    """One value for a table: integers (and floats with an integer value) with thousands separators
    ("3,000", not "3000.000000"), other floats with ``digits`` decimals, very small or large ones in
    3 significant digits, booleans as "yes"/"no", NaN and None as "—"."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e6):
            return f"{v:.3g}"
        return f"{v:,.{digits}f}"
    return str(value)


def percent(fraction: Any, digits: int = 1) -> str:
    """A fraction as percent with ``digits`` decimals: ``0.5234`` → "52.3%"; NaN → "—"."""
    if _is_missing(fraction):
        return MISSING
    return f"{100 * float(fraction):.{digits}f}%"


def pm(mean: Any, std: Any = math.nan, digits: int = 1, *, scale: float = 100.0) -> str:
    """A mean and its spread in the same unit, "52.3 ± 1.2" (fractions times ``scale``: percent by
    default); without a spread (one seed: NaN) the mean alone; a missing mean gives "—"."""
    if _is_missing(mean):
        return MISSING
    text = f"{scale * float(mean):.{digits}f}"
    return text if _is_missing(std) else f"{text} ± {scale * float(std):.{digits}f}"


def count_noun(n: int, singular: str, plural: str | None = None) -> str:
    """A count with its noun in agreement: "no value", "1 value", "3 values"."""
    if n == 0:
        return f"no {singular}"
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def format_frame(df: pd.DataFrame, *, percent_columns: Iterable[str] = (), digits: int = 2,
                 formats: Mapping[str, Callable[[Any], str]] | None = None) -> pd.DataFrame:
    """``df`` as strings: the ``percent_columns`` (fractions) through :func:`percent`, the columns in
    ``formats`` through their own function, every other cell through :func:`cell`; headers through
    :func:`header`."""
    pct = set(percent_columns)
    formats = dict(formats or {})
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        fn = formats.get(col) or (percent if col in pct else (lambda v: cell(v, digits)))
        out[header(col)] = [fn(v) for v in df[col]]
    return out


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f'<table class="lottery"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class FitTable:
    """A table that fits the page: the chosen columns, and the full table behind a dropdown.

    Jupyter and the book render it through ``_repr_html_``; ``shown`` and ``full`` are the two
    formatted frames (strings), for tests and for ``to_csv``."""

    def __init__(self, shown: pd.DataFrame, full: pd.DataFrame | None, *, caption: str | None = None):
        self.shown = shown
        self.full = full
        self.caption = caption

    def _repr_html_(self) -> str:
        parts = ['<div class="lottery-table">']
        if self.caption:
            parts.append(f'<p class="lottery-table-caption">{html.escape(self.caption)}</p>')
        parts.append(f'<div class="lottery-scroll">{_html_table(self.shown)}</div>')
        if self.full is not None:
            parts.append(f'<details class="lottery-table-full"><summary>All {self.full.shape[1]} columns '
                         f'({len(self.full)} rows)</summary><div class="lottery-scroll">'
                         f"{_html_table(self.full)}</div></details>")
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:  # plain-text output (terminals, papermill logs)
        return self.shown.to_string(index=False)


def fit_table(df: pd.DataFrame, columns: Sequence[str] | None = None, *, percent_columns: Iterable[str] = (),
              digits: int = 2, formats: Mapping[str, Callable[[Any], str]] | None = None,
              rename: Mapping[str, str] | None = None, caption: str | None = None) -> FitTable:
    """``df`` for a page: the ``columns`` a reader needs (those of them that ``df`` has; all when
    None) formatted with :func:`format_frame`, and, when columns were left out, the whole table
    behind a dropdown. ``rename`` gives headers of this table's own (before :func:`header`)."""
    pct = list(percent_columns)
    renamed = df.rename(columns=dict(rename or {}))
    mapping = dict(rename or {})
    pct = [mapping.get(c, c) for c in pct]
    fmts = {mapping.get(k, k): v for k, v in (formats or {}).items()}
    full = format_frame(renamed, percent_columns=pct, digits=digits, formats=fmts)
    if columns is None:
        return FitTable(full, None, caption=caption)
    keep = [mapping.get(c, c) for c in columns if mapping.get(c, c) in renamed.columns]
    shown = format_frame(renamed[keep], percent_columns=pct, digits=digits, formats=fmts)
    return FitTable(shown, full if len(keep) < renamed.shape[1] else None, caption=caption)
