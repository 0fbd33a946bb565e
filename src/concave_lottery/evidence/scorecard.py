"""The claims scorecard: one row per claim of the paper, what this book found, and where it shows it.

Every row is computed by the same code as the chapter that shows the claim, from the same committed
run records (the recorded layer only: nothing is trained here), with the verdict words of
:mod:`concave_lottery.evidence.verdicts` read as confirmed / contradicted / inconclusive / not tested:

- Figs. 5-7 (per model and dataset: comparable to IMP, better than IMP at high sparsity, log at least
  as good as ℓ1) from :func:`concave_lottery.evidence.claims.lottery_claims`, the two regularizers
  combined (any contradicted → contradicted; both confirmed → confirmed; both not tested → not
  tested; else inconclusive). Where the converged layer (:mod:`concave_lottery.evidence.converged`,
  the paper's epochs per round, 3 seeds) judges a claim for a model and dataset, its verdict replaces
  the short-round layer's, which its why still quotes (:func:`prefer_converged`); where it does not
  judge it yet, the short-round row stays and its why says what the converged layer still waits for;
- Table II from :func:`concave_lottery.evidence.claims.table_ii_claim`;
- Figs. 8-9 from :func:`concave_lottery.evidence.claims.ablation_claims`;
- Theorems 1-2 and Lemma 1 from a small live check with the theory chapter's code
  (:func:`theory_rows`: seconds, the chapter's smoke size; the chapter runs the full one);
- Figs. 3-4 are not evaluated here (100 logistic regressions per λ); the row says so and points to
  the chapter.

:func:`scorecard` assembles the rows; a test checks that every claim of
:data:`concave_lottery.evidence.claims.PAPER_CLAIMS` is on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from . import analysis, claims, converged, verdicts
from .verdicts import SCORECARD

COLUMNS = ["claim", "paper", "verdict", "evidence", "scale", "chapter", "why"]

#: The chapter (notebook name and title) that shows each claim.
CHAPTER_TITLES = {
    "mnist_logistic": "Sparse logistic regression on MNIST",
    "theory": "Theory",
    "lottery_cifar": "Lottery tickets on CIFAR and Tiny ImageNet",
    "resnet56_table": "ResNet-56 and Table II",
    "ablations": "Ablations",
}


def _claim(claim_id: str) -> dict[str, str]:
    return next(c for c in claims.PAPER_CLAIMS if c["id"] == claim_id)


def _row(claim_id: str, label: str, verdict: str, evidence: str, scale: str, why: str) -> dict[str, str]:
    c = _claim(claim_id)
    return {"claim": label, "paper": f"{c['source']}: {c['statement']}", "verdict": verdict, "evidence": evidence,
            "scale": scale, "chapter": c["chapter"], "why": why, "id": claim_id}


def scale_brief(points: pd.DataFrame, accuracy: str = "test_accuracy") -> str:
    """The scale of one model and dataset's runs in a few words: training images, epochs per round,
    seeds, dense accuracy (IMP level 0, mean over seeds)."""
    from . import tiers

    if points.empty:
        return "no recorded runs"
    first = points.iloc[0].to_dict()
    dense = analysis.dense_reference(points, accuracy)
    seeds = sorted(points["seed"].unique().tolist())
    return (f"{tiers.dataset_label(first)}, {tiers.train_images(first):,} training images, "
            f"{int(points['epochs'].max())} epochs per round, seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds))}"
            + ("" if math.isnan(dense["mean"]) else f", dense {100 * dense['mean']:.1f}%"))


def _why(row: dict[str, Any]) -> str:
    """One line of why for one claims row (:func:`concave_lottery.evidence.claims.lottery_claims`)."""
    v = row["verdict"]
    if v == verdicts.NOT_TESTABLE:
        return str(row["evidence"])
    untrained = [n for n in str(row.get("note", "")).split("; ") if n.startswith("untrained")]
    floor = row.get("noise floor") or "unmeasured"
    matched = f"{row['matched sparsities']} matched sparsit{'y' if row['matched sparsities'] == 1 else 'ies'}"
    base = f"{matched}, noise floor {floor}"
    judged = str(row["evidence"]).count("] 95%, ")  # matched sparsities decided by a seed-paired interval
    if judged:
        base = f"{matched}, {judged} decided by the 95% t-interval of their seed-paired gaps"
    if row["matched sparsities"] == 0:
        base = str(row["evidence"])
    if untrained:
        return f"{base}; the numbers read '{row['reading']}', but the dense network is untrained"
    if v == verdicts.INCONCLUSIVE:
        return f"{base}; the {'intervals' if judged else 'gaps'} do not clear it (reading: {row['reading']})"
    return base


def _combined(rows: Sequence[dict[str, Any]]) -> str:
    words = [r["verdict"] for r in rows]
    if verdicts.FAILS in words:
        return verdicts.FAILS
    if all(w == verdicts.HOLDS for w in words):
        return verdicts.HOLDS
    if all(w == verdicts.NOT_TESTABLE for w in words):
        return verdicts.NOT_TESTABLE
    return verdicts.INCONCLUSIVE


FIGURE_OF_MODEL = {"resnet20": "Fig. 5", "wrn20": "Fig. 6", "vgg11": "Fig. 7"}


def lottery_rows(layers: Sequence[Any], accuracy: str = "test_accuracy") -> list[dict[str, str]]:
    """Figs. 5-7: per layer, model and dataset, the three claims (the two regularizers combined)."""
    out = []
    for layer in layers:
        for (model, dataset), sub in layer.by_model_and_dataset():
            table = claims.lottery_claims(sub, accuracy=accuracy).to_dict("records")
            state = claims.training_state_of(sub, accuracy)
            scale = scale_brief(sub, accuracy) + ("" if state.trained else " (untrained)")
            out += _lottery_claim_rows(table, model, dataset, layer.name, scale)
    return out


def _lottery_claim_rows(table: Sequence[dict[str, Any]], model: str, dataset: str, evidence: str,
                        scale: str) -> list[dict[str, Any]]:
    out = []
    for claim_id in ("comparable", "higher-sparsity", "log-vs-l1"):
        rows = [r for r in table if r["claim"] == claim_id]
        why = "; ".join(f"{r['a']}: {r['verdict']}, {_why(r)}" for r in rows)
        row = _row(claim_id, f"{FIGURE_OF_MODEL.get(model, 'Figs. 5-7')}, {model} on {dataset}: "
                   f"{claims.CLAIM_NAMES[claim_id]}", SCORECARD[_combined(rows)], evidence, scale, why)
        out.append(row | {"key": (claim_id, model, dataset)})
    return out


def converged_rows(layer: Any, accuracy: str = "test_accuracy") -> list[dict[str, Any]]:
    """Figs. 5-7 from a converged layer (:class:`concave_lottery.evidence.converged.ConvergedLayer`): the three
    claims of its model and dataset, from its claims table, where a pair of methods is judged (by the 95%
    t-interval of its seed-paired gaps) only once both have
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished seeds, and is ``not tested`` with the
    reason before that. The scale says how many of the spec's runs are finished."""
    from . import tiers

    if not layer.layer.tasks:
        return []
    config = layer.layer.tasks[0].config.to_dict()
    model, dataset = str(config["model"]), tiers.dataset_label(config)
    points = layer.layer.points
    if len(points):
        scale = scale_brief(points, accuracy)
    else:
        scale = f"{dataset}, {tiers.train_images(config):,} training images, {int(config['epochs'])} epochs per round"
    done = f"{layer.finished} of {len(layer.status)} runs of `{layer.layer.spec}` finished"
    table = layer.claims.to_dict("records")
    rows = _lottery_claim_rows(table, model, dataset, converged.LAYER, f"{scale}; {done}")
    for row in rows:
        waits = [why for r in table if r["claim"] == row["id"] and str(r["evidence"]).endswith(converged.WAITING)
                 for why in str(r["evidence"]).removesuffix(converged.WAITING).split("; ")]
        if waits:
            row["wait"] = (f"the {converged.LAYER} layer ({done}) does not judge it yet: "
                           + "; ".join(dict.fromkeys(waits)))
    return rows


def prefer_converged(recorded: Sequence[dict[str, Any]], converged_: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim, model and dataset: the converged row once its layer has judged every pair of
    methods the claim compares (its why then ends with what the short-round row read), else the short-round
    row, its why ending with what the converged layer still waits for (finished seeds, IMP's grid). A
    converged row with no short-round row of its key is added as it is."""
    by_key = {r["key"]: r for r in converged_}
    out = []
    for row in recorded:
        conv = by_key.pop(row.get("key"), None)
        if conv is None:
            out.append(row)
        elif "wait" not in conv:
            out.append(conv | {"why": f"{conv['why']}; the {row['evidence']} layer ({row['scale']}) read "
                                      f"{row['verdict']}"})
        else:
            out.append(row | {"why": f"{row['why']}; {conv['wait']}"})
    return out + list(by_key.values())


def table_ii_rows(layers: Sequence[Any], accuracy: str = "test_accuracy") -> list[dict[str, str]]:
    """Table II: a ticket with at most 25% of the weights is as accurate as the dense baseline."""
    out = []
    for layer in layers:
        for (model, dataset), sub in layer.by_model_and_dataset():
            rows = [claims.table_ii_claim(sub, method, accuracy=accuracy) for method in ("soft-l1", "soft-log")]
            state = claims.training_state_of(sub, accuracy)
            why = "; ".join(f"{r['a']}: {r['verdict']}, {_why(r)}" for r in rows)
            out.append(_row("table-ii", f"Table II, {model} on {dataset}: {claims.CLAIM_NAMES['table-ii']}",
                            SCORECARD[_combined(rows)], layer.name,
                            scale_brief(sub, accuracy) + ("" if state.trained else " (untrained)"), why))
    return out


def ablation_rows(layers: Sequence[Any], accuracy: str = "test_accuracy") -> list[dict[str, str]]:
    """Figs. 8-9: threshold against fixed fraction, concave against sigmoid (every sigmoid variant)."""
    out = []
    for layer in layers:
        for (model, dataset), sub in layer.by_model_and_dataset():
            table = claims.ablation_claims(sub, accuracy=accuracy).to_dict("records") if len(sub) else []
            state = claims.training_state_of(sub, accuracy)
            scale = scale_brief(sub, accuracy) + ("" if state.trained else " (untrained)")
            for claim_id in ("threshold", "concave-vs-sigmoid"):
                out.append(_ablation_row(table, claim_id, model, dataset, layer.name, scale))
    return out


def _ablation_row(table: Sequence[dict[str, Any]], claim_id: str, model: str, dataset: str, evidence: str,
                  scale: str) -> dict[str, Any]:
    rows = [r for r in table if r["claim"] == claim_id]
    why = "; ".join(f"{r['a']} vs {r['b']}: {r['verdict']}, {_why(r)}" for r in rows)
    figure = "Fig. 8" if claim_id == "threshold" else "Fig. 9"
    return _row(claim_id, f"{figure}, {model} on {dataset}: {claims.CLAIM_NAMES[claim_id]}",
                SCORECARD[_combined(rows)] if rows else SCORECARD[verdicts.NOT_TESTABLE], evidence, scale,
                why or "no recorded runs of these methods") | {"key": (claim_id, model, dataset)}


def converged_fig8_rows(layer: Any, accuracy: str = "test_accuracy") -> list[dict[str, Any]]:
    """Fig. 8 from a converged layer with its hard pair
    (:attr:`~concave_lottery.evidence.converged.ConvergedLayer.fig8`): one row, from
    :func:`~concave_lottery.evidence.converged.threshold_claims`, judged by the 95% t-interval of the seed-paired
    gaps once a hard method has :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished seeds, and with
    the reason it waits (``wait``) before that. Empty without a Fig. 8 spec."""
    from . import tiers

    if layer.fig8 is None or not layer.fig8.tasks:
        return []
    config = layer.fig8.tasks[0].config.to_dict()
    model, dataset = str(config["model"]), tiers.dataset_label(config)
    table = layer.threshold_claims(accuracy).to_dict("records")
    done = f"{layer.fig8.n_finished} of {len(layer.fig8.tasks)} runs of `{layer.fig8.spec}` finished"
    row = _ablation_row(table, "threshold", model, dataset, converged.LAYER,
                        f"{converged.scale_of(layer.fig8)}; {done}")
    waits = [why for r in table if str(r["evidence"]).endswith(converged.WAITING)
             for why in str(r["evidence"]).removesuffix(converged.WAITING).split("; ")]
    if waits:
        row["wait"] = (f"the {converged.LAYER} layer ({done}) does not judge it yet: "
                       + "; ".join(dict.fromkeys(waits)))
    return [row]


def theory_rows(*, n_instances: int = 8, lam_factors: Sequence[float] = (0.5, 1.0, 4.0), max_iter: int = 3000,
                eps: float = 0.1, seed: int = 0) -> list[dict[str, str]]:
    """Theorems 1-2 and Lemma 1 checked live on small random problems with the theory chapter's code
    (:mod:`concave_lottery.section4.theory`; its default sizes here are the chapter's smoke profile):

    - Theorem 1 (8): confirmed when no problem whose premises held violates it, contradicted when one does;
    - Theorem 2 (14) as printed: contradicted when it fails on
      :func:`~concave_lottery.section4.theory.theorem2_counterexample` (its premises hold there),
      and the bound the proof gives is checked beside it;
    - Lemma 1: confirmed when it applies somewhere and never fails, not tested when it never applies.
    """
    from ..method.regularizers import get_regularizer
    from ..section4 import theory, toy

    l1, log = get_regularizer("l1"), get_regularizer("log", eps=eps)
    instances = theory.generate_instances(n_instances, d=20, k=3, n_samples=80, noise=0.05, mu=1e-3, seed=seed)
    df = theory.check_theorems(instances, [l1, log], lam_factors=list(lam_factors), max_iter=max_iter)
    held = df[df["premises"]]
    scale = (f"{n_instances} random problems × {len(lam_factors)} λ × 2 regularizers (d = 20, k = 3), "
             f"computed on this page")
    thm1 = theory.violations(held["thm1_holds"])
    rows = [_row("theorem-1", "Theorem 1: " + claims.CLAIM_NAMES["theorem-1"],
                 SCORECARD[verdicts.FAILS if thm1 else verdicts.HOLDS if len(held) else verdicts.NOT_TESTABLE],
                 "live", scale, f"the bound (8) fails in {thm1} of the {len(held)} problems whose premises held")]
    ce = theory.check_theorems(theory.theorem2_counterexample(), [log], lam_factors=[1.0], max_iter=20000)
    ce_held = ce[ce["premises"]]
    printed = theory.violations(ce_held["thm2_printed_holds"])
    proof = theory.violations(held["thm2_proof_holds"]) + theory.violations(ce_held["thm2_proof_holds"])
    rows.append(_row("theorem-2", "Theorem 2: " + claims.CLAIM_NAMES["theorem-2"],
                     SCORECARD[verdicts.FAILS if printed else verdicts.HOLDS if len(ce_held) else
                               verdicts.NOT_TESTABLE], "live",
                     scale + "; and the separable instance theory.theorem2_counterexample",
                     ("(14) as printed fails on the separable instance whose premises hold; the bound the proof "
                      f"gives fails in {proof} problems" if printed else
                      "(14) as printed holds on every problem whose premises held")))
    base = theory.generate_instances(n_instances, d=20, k=3, n_samples=160, noise=0.005, mu=1e-3,
                                     theta_range=(1.5, 2.0), seed=seed + 1)
    dfl = theory.check_theorems(toy.with_signal_scale(base, 1.02), [l1, log],
                                lam_factors=[f for f in lam_factors if f <= 4.0], max_iter=max_iter)
    applies = dfl[dfl["lemma1_applies"]]
    fails = theory.violations(dfl["lemma1_holds"])
    rows.append(_row("lemma-1", "Lemma 1: " + claims.CLAIM_NAMES["lemma-1"],
                     SCORECARD[verdicts.FAILS if fails else verdicts.HOLDS if len(applies) else
                               verdicts.NOT_TESTABLE], "live",
                     f"{n_instances} problems × {len(dfl) // max(n_instances, 1)} (λ, regularizer), loss pushing "
                     "past the box (s = 1.02)",
                     f"applies in {len(applies)} problems, fails in {fails}"))
    return rows


def figs34_rows() -> list[dict[str, str]]:
    """Figs. 3-4 are not evaluated here: they need 100 logistic regressions per λ (minutes)."""
    return [_row("figs-3-4", "Figs. 3-4: " + claims.CLAIM_NAMES["figs-3-4"], SCORECARD[verdicts.NOT_TESTABLE],
                 "live (in the chapter)", "MNIST 0 vs 1, 100 random runs per λ",
                 "not tested here (minutes of computation): see the chapter, which computes it")]


def scorecard(lottery_layers: Sequence[Any] = (), table_ii_layers: Sequence[Any] = (),
              ablation_layers: Sequence[Any] = (), *, accuracy: str = "test_accuracy",
              theory: dict[str, Any] | None = None, converged_layers: Sequence[Any] = ()) -> pd.DataFrame:
    """Every claim of :data:`concave_lottery.evidence.claims.PAPER_CLAIMS`, in the paper's order:
    one row per claim (and per model and dataset for the lottery claims). A claim without runs in
    the given layers gets a ``not tested`` row that says so. ``theory``: keyword arguments of
    :func:`theory_rows` (``None``: its defaults). ``converged_layers``
    (:class:`~concave_lottery.evidence.converged.ConvergedLayer`): their verdicts of Figs. 5-7, and of Fig. 8 where
    the layer has its hard pair, take the place of the ``lottery_layers``' and ``ablation_layers``' where they give
    one (:func:`prefer_converged`)."""
    rows = figs34_rows() + theory_rows(**(theory or {}))
    rows += prefer_converged(lottery_rows(lottery_layers, accuracy),
                             [r for layer in converged_layers for r in converged_rows(layer, accuracy)])
    rows += table_ii_rows(table_ii_layers, accuracy)
    rows += prefer_converged(ablation_rows(ablation_layers, accuracy),
                             [r for layer in converged_layers for r in converged_fig8_rows(layer, accuracy)])
    seen = {r["id"] for r in rows}
    for c in claims.PAPER_CLAIMS:
        if c["id"] not in seen:
            rows.append(_row(c["id"], f"{c['source']}: {c['statement']}", SCORECARD[verdicts.NOT_TESTABLE], "",
                             "no recorded runs", "no recorded runs of this claim's methods"))
    order = {c["id"]: i for i, c in enumerate(claims.PAPER_CLAIMS)}
    frame = pd.DataFrame(rows, columns=COLUMNS + ["id"])
    frame["_order"] = frame["id"].map(order)
    return frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def recorded_layers(lottery_specs: Sequence[str], table_ii_spec: str, ablation_spec: str, root: str = "results", *,
                    models: Sequence[str] = ("resnet20", "wrn20", "vgg11"), datasets: Sequence[str] | None = None,
                    table_ii_datasets: Sequence[str] | None = None,
                    ablation_datasets: Sequence[str] | None = None) -> tuple[Any, Any, Any]:
    """The three recorded layers the scorecard reads (committed run records only, never trained):
    the lottery runs of Figs. 5-7 (IMP, ℓ1, log of ``models``), ResNet-56 for Table II and
    ResNet-20 with every method for Figs. 8-9."""
    from . import tiers

    lottery_methods = ["imp", "soft-l1", "soft-log"]
    lottery = tiers.gather("recorded", list(lottery_specs), root, models=models, datasets=datasets,
                           methods=lottery_methods)
    table_ii = tiers.gather("recorded", table_ii_spec, root, models=["resnet56"], datasets=table_ii_datasets,
                            methods=lottery_methods)
    ablation = tiers.gather("recorded", ablation_spec, root, models=["resnet20"], datasets=ablation_datasets)
    return lottery, table_ii, ablation


def as_markdown(card: pd.DataFrame) -> str:
    """The scorecard as a Markdown table, the verdict in bold and the chapter as a link."""
    head = "| claim | verdict | evidence and scale | chapter | why |\n|---|---|---|---|---|\n"
    lines = [f"| {r['claim']} | **{r['verdict']}** | {r['evidence']}: {r['scale']} | "
             f"[{CHAPTER_TITLES.get(r['chapter'], r['chapter'])}]({r['chapter']}.html) | "
             f"{str(r['why']).replace('|', '/')} |" for r in card.to_dict("records")]
    return head + "\n".join(lines)


def paper_statements() -> str:
    """Each claim of the scorecard in brief, one line each (a paraphrase: the chapters quote the paper)."""
    return "\n".join(f"- **{c['source']}** ({c['id']}): {c['statement']}." for c in claims.PAPER_CLAIMS)


def tally(card: pd.DataFrame) -> str:
    """How many rows got each verdict, in one sentence."""
    counts = card["verdict"].value_counts()
    return ", ".join(f"{int(counts.get(w, 0))} {w}" for w in SCORECARD.values()) + f" ({len(card)} rows)."


__all__ = ["COLUMNS", "scale_brief", "recorded_layers", "lottery_rows", "converged_rows", "converged_fig8_rows",
           "prefer_converged",
           "table_ii_rows", "ablation_rows", "theory_rows", "figs34_rows",
           "scorecard", "as_markdown", "paper_statements", "tally"]


def protocol_deviations(layers: dict[str, Any]) -> pd.DataFrame:
    """Where our recorded runs depart from the paper's protocol, one row per model, dataset and method
    of each layer (``layers``: what the layer is evidence for → :class:`~concave_lottery.evidence.tiers.Layer`):
    training images, epochs per round, rounds, seeds and λ, each beside the paper's value (its preset,
    its full dataset, 3 seeds, Sec. V-D's λ; the sigmoid uses ℓ1's λ)."""
    from ..data.registry import PAPER_TRAIN_SIZES
    from ..runs.config import PAPER_LAMBDA, get_preset
    from . import tiers

    paper_dataset = {"cifar10-subset": "cifar10", "tinyimagenet": "tinyimagenet"}
    rows = []
    for what, layer in layers.items():
        if not len(layer.points):
            continue
        runs = layer.points.drop_duplicates("run_dir")
        for (model, dataset, label), g in runs.groupby(["model", "dataset", "method_label"], sort=False):
            full = paper_dataset.get(dataset, dataset)
            paper = get_preset(f"{model}-{full}").config
            first = g.iloc[0].to_dict()
            lam = sorted(set(g["lam"])) if first["method"] != "imp" else None
            paper_reg = "l1" if first["method"] == "sigmoid" else first["regularizer"]
            rows.append({
                "evidence for": what, "model": model, "dataset": dataset, "method": label,
                "train images (paper)": f"{tiers.train_images(first):,} ({PAPER_TRAIN_SIZES[full]:,})",
                "epochs per round (paper preset)": f"{int(first['epochs'])} ({paper.epochs})",
                "rounds": int(first["rounds"]),
                "seeds (paper)": f"{g['seed'].nunique()} (3)",
                "lambda (paper)": "-" if lam is None else ", ".join(f"{v:.3g}" for v in lam)
                + f" ({PAPER_LAMBDA.get(paper_reg, float('nan')):.0e})",
            })
    return pd.DataFrame(rows)


__all__ += ["protocol_deviations"]
