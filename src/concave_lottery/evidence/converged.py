"""The converged layer of the lottery chapter (issue 16, item 5): what it shows while the campaign runs.

The converged campaign (``sweeps/resnet20-cifar10-subset-converged.toml``) trains ResNet-20 with the
paper's 85 epochs per phase (Sec. V-D) and at least :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS`
seeds per method. It takes days on a CPU, so the chapter is written to fill itself in as runs are recorded:
:func:`gather` reads the spec's run folders and returns a :class:`ConvergedLayer` with

- ``status``: one row per run of the spec (method, seed, finished / in progress / not started, and where
  an unfinished run stands: round, phase, epochs done of E), read from its files, never trained here;
- ``rows``: accuracy against sparsity per method and round, mean ± std over the finished seeds
  (:func:`concave_lottery.evidence.narrate.round_rows`), drawn by the same figure as the other layers
  (:func:`show_figures`);
- ``claims``: the claims of Figs. 5-7 (:func:`concave_lottery.evidence.claims.lottery_claims`). A pair of
  methods is judged only once both have :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished
  seeds, and then by the 95% t-interval of the seed-paired matched-sparsity gaps, printed in the evidence;
  before that, and while a method is not in the spec at all (the IMP grid is added once the soft tickets'
  sparsity is known), the claim is ``not testable`` and says why;
- ``text``: one paragraph saying how far the campaign is (with the epochs of training left,
  :func:`work_left_text`) and whether a converged verdict is given;
- ``searched`` and ``collapse``: the collapse check of the soft runs' recorded search phases, round by
  round, and its paragraph (:mod:`concave_lottery.evidence.collapse`), readable before any run finishes;
- ``provisional``: the tickets that the unfinished runs have already trained (:func:`provisional_points`),
  drawn per seed beside the finished runs (:meth:`ConvergedLayer.show_provisional`) and used by no verdict.
  An IMP run trains 21 levels of 85 epochs; its first levels are final long before it finishes;
- ``fig8`` (with ``gather(..., fig8_spec=...)``): the hard pair of Fig. 8 planned at the same scale, judged
  against this layer's thresholded runs by :func:`threshold_claims` in the same way.

Every judged claim is also said in words (:func:`verdict_text`): the matched sparsities that decided it, each
with its gap and interval, a plain "does not hold" on a fail, and how much less sure a verdict is that rests on
some of several places.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..errors import CorruptFile, ParameterError
from ..method.search import imp_levels_to_pass
from ..runs.digests import Digests
from ..runs.paths import RunDir
from ..runs.progress import epoch_seconds, epochs_planned, epochs_trained, place, progress
from . import analysis, claims, collapse, narrate, plotting, tables, tiers, verdicts
from .parity import MODEL_NAMES
from .verdicts import NOT_TESTABLE

__all__ = ["ConvergedLayer", "gather", "progress", "status_table", "claims_table", "campaign_text", "collapse_rows",
           "show_figures", "work_left_text", "provisional_points", "provisional_text", "round_shrink", "unpaired_text",
           "extra_round_pairs", "fixed_fraction_pairs", "fraction_plan_text", "seeds_needed_text", "verdict_text",
           "threshold_claims", "show_threshold", "points_of", "scale_of", "THRESHOLD_PAIRS", "COMPARABLE_CLAIMS"]

#: The name the converged layer goes by in captions and tables.
LAYER = "converged"

#: How :func:`claims_table` ends the evidence of a pair of methods it does not judge yet.
WAITING = ": no converged verdict yet"


def status_table(layer: tiers.Layer) -> pd.DataFrame:
    """One row per run of the layer's spec: method, seed, status, rounds done of the total, and for a run
    in progress its round, phase and epochs done of the epochs per phase (``where``)."""
    rows = []
    for task, row in zip(layer.tasks, layer.status.to_dict("records"), strict=True):
        epochs = int(task.config.epochs)
        where = ""
        imp = task.config.method == "imp"  # IMP trains levels 0 (dense) .. L, one training each
        if row["status"] == "in progress":
            where = place(task.config, progress(task.run_dir))
        elif row["status"] == "finished":
            done = f"levels 0-{task.config.rounds}" if imp else f"{row['rounds_done']} rounds"
            where = f"{done} of {epochs} epochs"
        rows.append({"method": row["method"], "seed": int(row["seed"]), "status": row["status"],
                     "rounds done": f"{row['rounds_done']} of {row['rounds_total']}", "where": where,
                     "run": row["run"]})
    return pd.DataFrame(rows, columns=["method", "seed", "status", "rounds done", "where", "run"])


def _readable(label: str) -> str:
    return label.replace("l1", "ℓ1")


def finished_seeds(status: pd.DataFrame) -> dict[str, int]:
    """Finished seeds per method label of a :func:`status_table` or a layer's ``status`` (columns method, seed,
    status)."""
    done = status[status["status"] == "finished"]
    return {m: int(done[done["method"] == m]["seed"].nunique()) for m in dict.fromkeys(status["method"])}


def claims_table(points: pd.DataFrame, methods: Sequence[str], seeds: dict[str, int], *,
                 accuracy: str = "test_accuracy") -> pd.DataFrame:
    """:func:`concave_lottery.evidence.claims.lottery_claims` on the converged points, with every claim
    whose two methods do not both have :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished
    seeds set to ``not testable`` and the reason in its evidence: a method not in the spec (IMP's grid is
    added later), or too few seeds so far. Judged rows keep the evidence with its 95% interval; a matched
    sparsity where fewer than that many seeds pair is listed, marked *not judged*, and does not count."""
    need = claims.INTERVAL_SEEDS
    table = claims.lottery_claims(points, accuracy=accuracy, min_pairs=need) if len(points) else pd.DataFrame(
        [_untested(c, a, b) for c, a, b, _, _ in claims.LOTTERY_CLAIMS])
    return _waiting(table, methods, seeds)


#: The columns of a claims row (:func:`concave_lottery.evidence.claims.lottery_claims`).
CLAIM_COLUMNS = ["claim", "a", "b", "matched sparsities", "evidence", "verdict", "reading", "noise floor", "rounds",
                 "note"]


def _untested(claim: str, a: str, b: str) -> dict:
    """A claim row with no ticket behind it yet (set to wait by :func:`_waiting`)."""
    return {"claim": claim, "a": a, "b": b, "matched sparsities": 0, "evidence": "", "verdict": NOT_TESTABLE,
            "reading": NOT_TESTABLE, "noise floor": "", "rounds": "", "note": ""}


def _waiting(table: pd.DataFrame, methods: Sequence[str], seeds: dict[str, int]) -> pd.DataFrame:
    """``table`` with every claim whose two methods do not both have
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished ``seeds`` set to ``not testable``, the
    reason in its evidence, ending with :data:`WAITING`."""
    need = claims.INTERVAL_SEEDS
    for i, row in table.iterrows():
        why = []
        for m in (row["a"], row["b"]):
            if m not in methods:
                why.append("IMP grid not added to the spec yet" if m == "imp" else f"{m} is not in the spec")
            elif seeds.get(m, 0) < need:
                why.append(f"{m} has {seeds.get(m, 0)} of {need} finished seeds")
        if why:
            table.loc[i, ["verdict", "reading", "matched sparsities"]] = [NOT_TESTABLE, NOT_TESTABLE, 0]
            table.loc[i, "evidence"] = "; ".join(why) + WAITING
    return table


def show_threshold(plan: tiers.Layer, thresholded: tiers.Layer, *, accuracy: str = "test_accuracy") -> pd.DataFrame:
    """Display Fig. 8 at the converged scale: :func:`threshold_claims` as a table, then each judged claim in words
    (:func:`verdict_text`), or a line saying that none is judged yet. Returns the table."""
    from IPython.display import Markdown, display

    table = threshold_claims(plan, thresholded, accuracy=accuracy)
    display(tables.fit_table(table.drop(columns="note"), ["claim", "a", "b", "verdict", "evidence"]))
    said = verdict_text(table, points_of(thresholded, plan), accuracy=accuracy, scale=scale_of(plan))
    display(Markdown(said or "No converged verdict on Fig. 8 yet: each row above says what it waits for."))
    return table


def points_of(*layers: tiers.Layer) -> pd.DataFrame:
    """The ticket points of several layers in one table (empty when none has a finished run)."""
    frames = [layer.points for layer in layers if len(layer.points)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


#: The Fig. 8 claims a converged hard pair is judged on: (claim, thresholded method, its hard counterpart).
THRESHOLD_PAIRS = tuple((c, a, b) for c, a, b, _, _ in claims.ABLATION_CLAIMS if c == "threshold")


def threshold_claims(plan: tiers.Layer, thresholded: tiers.Layer, *, accuracy: str = "test_accuracy") -> pd.DataFrame:
    """Fig. 8 at the converged scale: "a threshold α is better than a fixed fraction", each hard method of the
    ``plan`` (the hard pair's spec) against its thresholded counterpart in ``thresholded`` (``soft-`` for
    ``hard-``), judged as :func:`claims_table` judges Figs. 5-7: only once both methods have
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished seeds, then by the 95% t-interval of the
    seed-paired gaps at matched sparsity (:func:`~concave_lottery.evidence.claims.ablation_claims` with
    ``min_pairs``), a matched sparsity where fewer seeds pair listed as *not judged*. One row per hard method
    of the plan; before its seeds finish the row is ``not testable`` and says what it waits for."""
    points = points_of(thresholded, plan)
    seeds = {**finished_seeds(thresholded.status), **finished_seeds(plan.status)}
    methods = list(seeds)
    judged = claims.ablation_claims(points, accuracy=accuracy, min_pairs=claims.INTERVAL_SEEDS) \
        if len(points) else pd.DataFrame()
    found = {(r["claim"], r["a"], r["b"]): r for r in judged.to_dict("records")}
    rows = [found.get((claim, a, b), _untested(claim, a, b)) for claim, a, b in THRESHOLD_PAIRS if b in methods]
    return _waiting(pd.DataFrame(rows, columns=CLAIM_COLUMNS), methods, seeds)


def work_left_text(layer: tiers.Layer) -> str:
    """The training the layer's spec still needs, in epochs of all its runs' phases together
    (:func:`~concave_lottery.runs.progress.epochs_planned` less
    :func:`~concave_lottery.runs.progress.epochs_trained`), and, once a run is finished, the median
    seconds its recorded epochs took on the hardware their provenance names (``layer.runs``), with the hours
    left at that pace. Empty when nothing is left."""
    planned = sum(epochs_planned(t.config) for t in layer.tasks)
    trained = sum(epochs_trained(t.run_dir, t.config) for t in layer.tasks)
    if not planned or trained >= planned:
        return ""
    left = planned - trained
    text = f"Training left: {left:,} of the spec's {planned:,} epochs ({trained / planned:.0%} trained)."
    finished = [t for t, state in zip(layer.tasks, layer.status["status"], strict=True) if state == "finished"]
    seconds = [s for t in finished for s in epoch_seconds(t.run_dir)]
    if seconds:
        devices = sorted(set(layer.runs["prov_device"].astype(str)))
        median = statistics.median(seconds)
        text += (f" The finished runs' epochs took a median of {median:.0f} s each ({'; '.join(devices)}, with "
                 f"whatever else shared the machine), so what is left is about {left * median / 3600:,.0f} hours "
                 "of training at that pace, shared among the runs trained side by side.")
    return text


def campaign_text(status: pd.DataFrame, methods: Sequence[str], spec: str,
                  searched: pd.DataFrame | None = None, imp_levels: int | None = None,
                  prune_fraction: float = 0.2, left: str = "", table: pd.DataFrame | None = None,
                  points: pd.DataFrame | None = None) -> str:
    """How far the campaign is, in one paragraph: runs finished of the spec's, where each run in progress
    stands, how many are not started, whether IMP is in the spec and whether its levels pass the highest
    soft sparsity ``searched`` so far (if not, how many it needs,
    :func:`~concave_lottery.method.search.imp_levels_to_pass`, which ``lottery extend`` gives a finished IMP
    run), and which claims get a converged verdict (those whose two methods both have
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` finished seeds).
    ``imp_levels`` and ``prune_fraction`` are the spec's IMP levels (the fewest, if its grids differ) and p;
    ``left`` (:func:`work_left_text`) follows the first sentence. With the claims ``table``
    (:func:`claims_table`), a claim whose methods have their seeds but that no matched sparsity judges
    (fewer than :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` seeds pair anywhere) is said to be
    not judged, and why (:func:`unpaired_text`, from the ticket ``points``)."""
    need = claims.INTERVAL_SEEDS
    n, counts = len(status), status["status"].value_counts()
    finished, running = int(counts.get("finished", 0)), status[status["status"] == "in progress"]
    parts = [f"{finished} of {n} runs of `{spec}` finished"]
    if len(running):
        where = "; ".join(f"{_readable(r['method'])} seed {r['seed']} at {r['where']}"
                          for r in running.to_dict("records"))
        parts.append(f"{len(running)} in progress: {where}")
    if counts.get("not started", 0):
        parts.append(f"{int(counts['not started'])} not started")
    text = "; ".join(parts) + "." + (f" {left}" if left else "")
    top = searched.loc[searched["sparsity"].idxmax()] if searched is not None and len(searched) else None
    if top is not None:
        highest = (f"the highest soft sparsity recorded so far ({top['sparsity']:.1%}, "
                   f"{_readable(top['method'])} seed {top['seed']} round {top['round']})")
        n = imp_levels_to_pass(float(top["sparsity"]), prune_fraction)
        needed = f"{n} levels ({1 - (1 - prune_fraction) ** n:.1%})"
    if "imp" not in methods or imp_levels is None:
        text += (" The spec has no IMP grid yet (it is added once the soft tickets' sparsity is known), so the "
                 "claims against IMP cannot be tested on this layer.")
        if top is not None:
            text += f" To pass {highest}, IMP at {prune_fraction:.0%} per level needs {needed}."
    elif top is not None:
        reach = 1 - (1 - prune_fraction) ** imp_levels
        if reach > float(top["sparsity"]):
            text += f" IMP's {imp_levels} levels of {prune_fraction:.0%} reach {reach:.1%}, past {highest}."
        else:
            text += (f" IMP's {imp_levels} levels of {prune_fraction:.0%} reach only {reach:.1%}, short of {highest}: "
                     f"it needs {needed}, which `lottery extend RUN --rounds {n}` gives each finished IMP run "
                     "(only the new levels train).")
    seeds = finished_seeds(status)
    short = {m: k for m, k in seeds.items() if k < need}
    ready = [(claim, a, b) for claim, a, b, _, _ in claims.LOTTERY_CLAIMS
             if seeds.get(a, 0) >= need and seeds.get(b, 0) >= need]
    judged = None if table is None else {(r["claim"], r["a"], r["b"]) for r in table.to_dict("records")
                                         if r["verdict"] != NOT_TESTABLE}
    unpaired = [c for c in ready if judged is not None and c not in judged]
    ready = [c for c in ready if c not in unpaired]
    names = [f"{claim} ({_readable(a)} against {_readable(b)})" for claim, a, b in ready]
    if short or not seeds:
        have = ", ".join(f"{_readable(m)} {k} of {need}" for m, k in seeds.items())
        text += (f" A converged verdict needs {need} finished seeds of both methods it compares (finished so far: "
                 f"{have}")
        text += (f"): {', '.join(names)} is judged below by the 95% t-interval of the seed-paired gaps at matched "
                 "sparsity, printed in its evidence; the other claims wait." if names
                 else "), so no converged verdict is given yet." if not unpaired
                 else "); the claims whose methods are short of seeds wait.")
    else:
        text += (f" Every method has {need} or more finished seeds: each verdict below is decided by the 95% "
                 "t-interval of the seed-paired gaps at matched sparsity, printed in its evidence.")
    if unpaired:
        text += " " + unpaired_text(unpaired, points if points is not None else pd.DataFrame())
    return text


def round_shrink(points: pd.DataFrame, methods: Sequence[str]) -> tuple[float, float] | None:
    """The least and greatest factor by which a seed's remaining weights shrink from one round to the next
    (IMP: level), over the finished seeds of ``methods`` in the ticket ``points``; None without two rounds."""
    factors = []
    if len(points):
        for _, sub in points[points["method_label"].isin(list(methods))].groupby(["method_label", "seed"]):
            remaining = (1.0 - sub.sort_values("round")["sparsity"]).to_numpy(dtype=float)
            factors += [a / b for a, b in zip(remaining[:-1], remaining[1:], strict=True) if b > 0]
    return (min(factors), max(factors)) if factors else None


def unpaired_text(unpaired: Sequence[tuple[str, str, str]], points: pd.DataFrame) -> str:
    """Why claims whose two methods have their finished seeds get no verdict: at no matched sparsity do
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` seeds pair, because a seed's curve is read between
    two of its tickets only when its remaining weights at most halve between them
    (:data:`~concave_lottery.evidence.analysis.MAX_INTERPOLATION_GAP`), and how far apart the rounds are."""
    need = claims.INTERVAL_SEEDS
    names = ", ".join(f"{claim} ({_readable(a)} against {_readable(b)})" for claim, a, b in unpaired)
    one = len(unpaired) == 1
    shrink = round_shrink(points, sorted({m for _, a, b in unpaired for m in (a, b)}))
    apart = (f"; from one round to the next these curves' remaining weights shrink {shrink[0]:.2f}x to "
             f"{shrink[1]:.2f}x" if shrink else "")
    return (f"{names} {'has' if one else 'have'} {need} finished seeds of both methods, but at no matched sparsity "
            f"do {need} seeds pair: a seed's curve is read between two of its tickets only where its remaining "
            f"weights at most halve between them (`analysis.MAX_INTERPOLATION_GAP`; across a wider jump the accuracy "
            f"in between was never measured){apart}, so at each method's tickets some seed's curve of the other "
            f"cannot be read. {'It is' if one else 'They are'} therefore not judged: the gaps where fewer seeds pair "
            f"are listed in {'its' if one else 'their'} evidence, marked not judged, and no verdict rests on them.")


#: The claims judged at every matched sparsity by the ``comparable`` rule (the whole interval above −1 pp):
#: those :func:`seeds_needed_text` projects for.
COMPARABLE_CLAIMS = ("comparable", "log-vs-l1")


def seeds_needed_text(table: pd.DataFrame, gaps: dict[tuple[str, str], pd.DataFrame]) -> str:
    """For every inconclusive matched sparsity of a judged ``comparable``-type claim (:data:`COMPARABLE_CLAIMS`;
    ``table`` from :func:`claims_table`, ``gaps`` from :meth:`ConvergedLayer.interval_gaps`), how many seeds would
    put its 95% t-interval wholly on one side of −1 pp if the seed-paired gaps kept the mean and spread measured
    (:func:`~concave_lottery.evidence.verdicts.seeds_to_decide`): a projection to plan seeds with, labelled so,
    never a verdict. Empty when nothing judged is inconclusive."""
    parts = []
    for row in table.to_dict("records"):
        rows = gaps.get((str(row["a"]), str(row["b"])))
        if row["claim"] not in COMPARABLE_CLAIMS or rows is None:
            continue
        each = []
        for g in rows.sort_values("sparsity").to_dict("records"):
            interval = verdicts.GapInterval(g["gap_mean"], g["gap_low"], g["gap_high"], int(g["pairs"]))
            if verdicts.judge_interval(interval, want="comparable", min_gap=claims.MIN_GAP) != verdicts.INCONCLUSIVE:
                continue
            n = verdicts.seeds_to_decide(interval, want="comparable", min_gap=claims.MIN_GAP)
            need = f"about {n} seeds" if n is not None else f"more than {verdicts.MAX_PROJECTED_SEEDS} seeds"
            each.append(f"{need} at {g['sparsity']:.1%} sparse ({interval.text()})")
        if each:
            parts.append(f"{row['claim']} ({_readable(row['a'])} against {_readable(row['b'])}): " + ", ".join(each))
    if not parts:
        return ""
    return ("**How many seeds would decide the inconclusive ones** (a projection to plan with, not a result): if the "
            f"seed-paired gaps kept the mean and spread of the seeds measured, the 95% t-interval would lie wholly on "
            f"one side of −{100 * claims.MIN_GAP:g} pp with {'; '.join(parts)}. More seeds also move the mean, so they "
            "may decide either way, or not at all.")


#: What a matched sparsity's own verdict says of ``a`` against ``b``, by what the claim asks of the gap
#: (:data:`~concave_lottery.evidence.claims.WANT`): the words of :func:`verdict_text`.
_SAYS = {("comparable", verdicts.HOLDS): "{a} is within {tol} of {b} or ahead",
         ("comparable", verdicts.FAILS): "{b} is ahead of {a} by more than {tol}",
         ("better", verdicts.HOLDS): "{a} is ahead of {b}",
         ("better", verdicts.FAILS): "{b} is ahead of {a}"}


def _interval(g: dict) -> str:
    return verdicts.GapInterval(g["gap_mean"], g["gap_low"], g["gap_high"], int(g["pairs"])).text()


def verdict_text(table: pd.DataFrame, points: pd.DataFrame, *, accuracy: str = "test_accuracy",
                 scale: str = "") -> str:
    r"""Every judged claim of ``table`` (:func:`claims_table`, or :func:`threshold_claims`) in plain words, one
    item each: the paper's claim, the verdict, and the matched sparsities that decided it with their seed-paired
    gap :math:`a - b` and 95% t-interval (:func:`~concave_lottery.evidence.claims.decisive_gaps` on the ticket
    ``points``). A ``fails`` says that the paper's claim does not hold on this layer (``scale``: what the
    layer is, e.g. its model, data and epochs). Where a verdict rests on some of several sparsities, it says how
    many, and that each interval is 95% on its own: with the true gap on the edge, one interval falls wholly past
    it 1 time in 40, and one of :math:`N` places does so more often
    (:func:`~concave_lottery.evidence.verdicts.chance_past_edge`, independent places; less where they share
    their seeds). Claims not judged yet are left out (:func:`campaign_text` says what they wait for); empty
    when none is judged."""
    items = []
    for row in table.to_dict("records"):
        if row["verdict"] == NOT_TESTABLE:
            continue
        claim, a, b = str(row["claim"]), str(row["a"]), str(row["b"])
        names = {"a": _readable(a), "b": "IMP" if b == "imp" else _readable(b), "tol": f"{100 * claims.MIN_GAP:g} pp"}
        want = claims.WANT[claim]
        words = claims.CLAIM_NAMES[claim]  # log-vs-l1's words name both regularizers
        head = f"- **{words if claim == 'log-vs-l1' else names['a'] + ' ' + words}: {row['verdict']}.**"
        edge = "0" if want == "better" else f"−{names['tol']}"
        gaps = claims.decisive_gaps(points, claim, a, b, accuracy=accuracy)
        if gaps.empty:  # decided without an interval (curves that do not overlap): the evidence says how
            items.append(f"{head} {row['evidence']}.")
            continue
        records = gaps.sort_values("sparsity").to_dict("records")
        decided = [g for g in records if g["verdict"] != verdicts.INCONCLUSIVE]
        n = len(records)
        where = "the matched sparsity" if n == 1 else f"the {n} matched sparsities"
        parts = []
        for outcome in (verdicts.FAILS, verdicts.HOLDS):
            these = [g for g in decided if g["verdict"] == outcome]
            if these:
                k = len(these)
                count = ("at the one matched sparsity judged" if n == 1 else f"at all {n} matched sparsities judged"
                         if k == n else f"at {k} of the {n} matched sparsities judged")
                at = ", ".join(f"{_interval(g)} at {g['sparsity']:.1%} sparse" for g in these)
                parts.append(f"{count}, {_SAYS[(want, outcome)].format(**names)} with 95% confidence: "
                             f"{names['a']} − {names['b']} is {at}")
        undecided = n - len(decided)
        if not decided:
            means = [100 * g["gap_mean"] for g in records]
            span = (" and ".join(f"{_interval(g)} at {g['sparsity']:.1%} sparse" for g in records) if n <= 2
                    else f"from {min(means):+.2f} to {max(means):+.2f} pp")
            text = (f"At {where} judged, no interval decides: the paired gap {names['a']} − {names['b']} is "
                    f"{span}, and {'its interval reaches' if n == 1 else 'every interval reaches'} both sides of "
                    f"{edge}.")
        else:
            text = "; ".join(parts) + "."
            text = (text[0].upper() + text[1:]
                    + (f" The other {undecided} interval{'s reach' if undecided > 1 else ' reaches'} both sides "
                       f"of {edge}." if undecided else ""))
            deciding = sum(g["verdict"] == row["verdict"] for g in decided)
            if row["verdict"] in (verdicts.FAILS, verdicts.HOLDS) and 0 < deciding < n:
                chance = verdicts.chance_past_edge(n, seeds=claims.INTERVAL_SEEDS)
                text += (" Each interval is 95% on its own: were the true gap exactly on the edge, it would fall "
                         f"wholly past it 1 time in 40. With {n} places looked at, at least one does more often: "
                         f"about {chance:.0%} of the time were the places independent, less as they share their "
                         f"seeds (`verdicts.chance_past_edge`). So a verdict resting on {deciding} of them is less "
                         "sure than one interval.")
        if row["verdict"] == verdicts.FAILS:
            text += f" **The paper's claim does not hold on this layer{f' ({scale})' if scale else ''}.**"
        elif row["verdict"] == verdicts.HOLDS:
            text += f" The paper's claim holds on this layer{f' ({scale})' if scale else ''}."
        items.append(f"{head} {text}")
    return "\n".join(items)


def extra_round_pairs(points: pd.DataFrame, extended: str, other: str, shrinks: Sequence[float], *,
                      accuracy: str = "test_accuracy") -> pd.DataFrame:
    """How many seeds would pair at each matched sparsity of ``extended`` against ``other``
    (:func:`~concave_lottery.evidence.claims.matched_gaps`) if every seed of ``extended`` in the ticket ``points``
    had one more round, whose remaining weights are its last round's divided by each factor of ``shrinks``.

    This is how the converged spec chose soft-log's 4th round: with 3 rounds no matched sparsity paired
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` seeds (:func:`unpaired_text`). Which seeds pair
    depends only on where the tickets lie, never on their accuracy, so the added tickets simply repeat their
    seed's last accuracy, and a decision taken from this table cannot have been steered by the gaps.
    Columns: shrink, sparsity (the matched sparsity), pairs (seeds paired there)."""
    columns = ["shrink", "sparsity", "pairs"]
    mine = points[points["method_label"] == extended] if len(points) else points
    if mine.empty:
        return pd.DataFrame(columns=columns)
    last = mine.sort_values("round").groupby("seed").tail(1)
    rows = []
    for shrink in shrinks:
        if not shrink > 1:
            raise ParameterError("shrinks", shrink, "each factor is how many times fewer weights remain after the "
                                 "added round than before it, > 1")
        added = last.assign(round=last["round"] + 1, sparsity=1.0 - (1.0 - last["sparsity"]) / float(shrink))
        gaps = claims.matched_gaps(pd.concat([points, added], ignore_index=True), extended, other, accuracy=accuracy)
        rows += [{"shrink": float(shrink), "sparsity": float(g["sparsity"]), "pairs": int(g["pairs"])}
                 for g in gaps.to_dict("records")]
    return pd.DataFrame(rows, columns=columns)


def fixed_fraction_pairs(points: pd.DataFrame, reference: str, fractions: Sequence[float], rounds: int, *,
                         label: str | None = None, accuracy: str = "test_accuracy") -> pd.DataFrame:
    r"""How many seeds a planned run of the hard variant (Fig. 8: each round prunes a fixed ``fraction`` of
    the surviving entries, so round :math:`t` is :math:`1 - (1 - p)^t` sparse on every seed) would pair with the
    ticket ``points`` of ``reference`` (its thresholded counterpart, e.g. ``soft-l1``) at each matched sparsity
    (:func:`~concave_lottery.evidence.claims.matched_gaps`), for each fraction :math:`p` of ``fractions`` and
    ``rounds`` rounds, on the seeds ``reference`` has. The planned method is called ``label``
    (default ``reference`` with ``soft`` replaced by ``hard``).

    This is how the converged Fig. 8 spec chose its fraction before any hard ticket existed, as
    :func:`extra_round_pairs` chose soft-log's 4th round: a fixed fraction jumps by the same factor every round,
    and a curve is read only across a jump of at most a halving (``analysis.MAX_INTERPOLATION_GAP``), so most
    fractions leave the thresholded tickets unpaired. Which seeds pair depends only on where the tickets lie,
    never on their accuracy; the planned tickets repeat their seed's first reference accuracy.
    Columns: fraction, sparsity (the matched sparsity), pairs (seeds paired there)."""
    columns = ["fraction", "sparsity", "pairs"]
    if not (isinstance(rounds, int) and rounds >= 1):
        raise ParameterError("rounds", rounds, "the planned run's number of rounds, a whole number >= 1")
    mine = points[points["method_label"] == reference] if len(points) else points
    if mine.empty:
        return pd.DataFrame(columns=columns)
    planned = label or reference.replace("soft", "hard", 1)
    first = mine.sort_values("round").groupby("seed").head(1)
    rows = []
    for fraction in fractions:
        if not 0 < fraction < 1:
            raise ParameterError("fractions", fraction, "each is the share of the surviving entries a round prunes, "
                                 "strictly between 0 and 1")
        added = pd.concat([first.assign(method_label=planned, round=t, sparsity=1.0 - (1.0 - float(fraction)) ** t)
                           for t in range(1, rounds + 1)], ignore_index=True)
        gaps = claims.matched_gaps(pd.concat([points, added], ignore_index=True), reference, planned,
                                   accuracy=accuracy)
        rows += [{"fraction": float(fraction), "sparsity": float(g["sparsity"]), "pairs": int(g["pairs"])}
                 for g in gaps.to_dict("records")]
    return pd.DataFrame(rows, columns=columns)


def fraction_plan_text(plan: tiers.Layer, points: pd.DataFrame) -> str:
    r"""One paragraph on a spec of hard runs (Fig. 8) planned beside the thresholded ones: how many of its runs
    are recorded and how many epochs are left, and, for each of its methods, the fixed fraction :math:`p` and the
    rounds it prunes (its tickets at :math:`1 - (1 - p)^t` sparse on every seed) and where all
    :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` seeds of its thresholded counterpart in ``points``
    (``hard-`` read as ``soft-``) pair with it (:func:`fixed_fraction_pairs`): the places a converged verdict
    on "a threshold is better than a fixed fraction" can be given, known before any hard ticket exists."""
    need = claims.INTERVAL_SEEDS
    planned = sum(epochs_planned(t.config) for t in plan.tasks)
    trained = sum(epochs_trained(t.run_dir, t.config) for t in plan.tasks)
    head = "At the converged scale" if plan.n_finished == len(plan.tasks) else "Planned at the converged scale"
    text = (f"**{head}** (`{plan.spec}`): {plan.n_finished} of {len(plan.tasks)} runs "
            f"recorded, {planned - trained:,} of {planned:,} epochs of training left.")
    grids: dict[str, tuple[float, int]] = {}
    for task, label in zip(plan.tasks, plan.status["method"], strict=True):
        grids.setdefault(str(label), (float(task.config.prune_fraction), int(task.config.rounds)))
    for label, (fraction, rounds) in grids.items():
        reference = label.replace("hard", "soft", 1)
        where = ", ".join(f"{1 - (1 - fraction) ** t:.1%}" for t in range(1, rounds + 1))
        table = fixed_fraction_pairs(points, reference, [fraction], rounds, label=label)
        full = sorted(table[table["pairs"] >= need]["sparsity"])
        seeds = points[points["method_label"] == reference]["seed"].nunique() if len(points) else 0
        count = f"all {need}" if seeds == need else str(need)
        pairs = (f"{count} seeds of {_readable(reference)} pair with it at "
                 + ", ".join(f"{x:.1%}" for x in full) if full else
                 f"no matched sparsity pairs {need} seeds of {_readable(reference)} ({seeds} recorded)")
        text += (f" {_readable(label)} prunes {fraction:.0%} of the surviving entries per round, {rounds} rounds "
                 f"({where} sparse): {pairs}.")
    return text + (" The fraction was chosen from where the thresholded tickets lie, never from their accuracy "
                   "(`converged.fixed_fraction_pairs`); its spec's comment records the choice.")


_PROVISIONAL = ["method_label", "seed", "round", "sparsity", "test_accuracy", "best_test_accuracy", "run"]

#: The markers of the unfinished runs' seeds 0, 1, 2, ... in :meth:`ConvergedLayer.show_provisional`.
SEED_MARKERS = ("v", "^", "D", "P", "X")


def provisional_points(layer: tiers.Layer) -> pd.DataFrame:
    """The tickets that the layer's unfinished runs have trained so far: one row per run in progress and
    per round (IMP: level) whose record (``round-<t>/record.json``) is on disk, matches the run's digests
    and holds a test accuracy (method label, seed, round, sparsity, final and best test accuracy, run).

    A round's ticket is final once its record is written: a later round starts again from the rewind point
    with its own mask and leaves it as it is, and a resumed or extended run keeps it. So these are the
    numbers the finished run will report for those rounds. They enter no verdict: :func:`claims_table`
    judges finished seeds only."""
    rows = []
    for task, row in zip(layer.tasks, layer.status.to_dict("records"), strict=True):
        if row["status"] != "in progress" or not task.run_dir.is_dir():
            continue
        run = RunDir(task.run_dir)
        digests = Digests(run)
        for rnd in sorted(run.rounds(), key=lambda r: r.index):
            if not rnd.record.exists():
                continue
            try:
                record = digests.read_json(rnd.record)
                if record.get("test_accuracy") is None:
                    continue  # the round's ticket has not trained yet
                values = {k: float(record[k]) for k in ("sparsity", "test_accuracy", "best_test_accuracy")}
            except (CorruptFile, KeyError, OSError, TypeError, ValueError, AttributeError):
                continue  # being written, or damaged: not read
            rows.append({"method_label": analysis.method_label(task.config.to_dict()), "seed": int(task.config.seed),
                         "round": rnd.index, **values, "run": task.run_dir.name})
    return pd.DataFrame(rows, columns=_PROVISIONAL)


def _span(unit: str, rounds: Sequence[int]) -> str:
    """"level 0", "levels 0-10", "rounds 1, 3" (a run of consecutive rounds as a range)."""
    rounds = sorted(rounds)
    if len(rounds) == 1:
        return f"{unit} {rounds[0]}"
    if rounds == list(range(rounds[0], rounds[-1] + 1)):
        return f"{unit}s {rounds[0]}-{rounds[-1]}"
    return f"{unit}s {', '.join(map(str, rounds))}"


def provisional_text(points: pd.DataFrame) -> str:
    """One paragraph on :func:`provisional_points`: which unfinished run has trained which tickets, how sparse
    the sparsest is, and why they are drawn but judged by no claim. Empty when there are none."""
    if points.empty:
        return ""
    parts = []
    for (method, seed), sub in points.groupby(["method_label", "seed"], sort=False):
        unit = "level" if method == "imp" else "round"
        top = float(sub["sparsity"].max())
        parts.append(f"{_readable(str(method))} seed {seed}, {_span(unit, sub['round'].tolist())} "
                     + (f"(up to {top:.1%} sparse)" if top > 0 else "(dense)"))
    return ("Not in any verdict yet: the tickets that the unfinished runs have trained so far, drawn below one "
            "dotted curve per seed beside the finished runs' mean ± std: " + "; ".join(parts) + ". A round's "
            "ticket is final once its record is written (a later round starts again from the rewind point and "
            "leaves it as it is), so these are the numbers those runs will report; but a claim is judged only "
            f"on {claims.INTERVAL_SEEDS} finished seeds per method, by the interval of their paired gaps, and "
            "fewer seeds give no interval.")


def collapse_rows(searched: pd.DataFrame) -> pd.DataFrame:
    """The collapse check's rounds as the chapter prints them (percent, readable method names)."""
    return pd.DataFrame({"method": searched["method"].map(_readable), "seed": searched["seed"],
                         "round": searched["round"], "sparsity %": (100 * searched["sparsity"]).map("{:.1f}".format),
                         "search acc %": (100 * searched["search_accuracy"]).map("{:.1f}".format),
                         "reading": searched["reading"]})


def scale_of(layer: tiers.Layer) -> str:
    """"ResNet-20 on cifar10-subset, 85 epochs a phase, 3 seeds": the scale a converged verdict speaks for (the
    first run's model, data and epochs per phase, and :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS`)."""
    if not layer.tasks:
        return ""
    config = layer.tasks[0].config
    return (f"{MODEL_NAMES.get(config.model, config.model)} on {config.dataset}, {config.epochs} epochs a phase, "
            f"{claims.INTERVAL_SEEDS} seeds")


def show_figures(layers: Sequence[tiers.Layer], accuracy: str = "test_accuracy") -> int:
    """The Figs. 5-7 panel of every layer, model and dataset: its caption
    (:func:`concave_lottery.evidence.narrate.lottery_figure_caption`), then ticket accuracy against the
    remaining weights, mean ± std over seeds (:func:`concave_lottery.evidence.plotting.ticket_accuracy_vs_remaining`),
    the dense network (IMP level 0) dashed. Says so when no layer has a finished run; returns the count."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    figures = 0
    for layer in layers:
        for (model, dataset), sub in layer.by_model_and_dataset():
            summary, dense = analysis.summarize_rounds(sub), analysis.dense_reference(sub, accuracy)
            caption = narrate.lottery_figure_caption(layer, sub, model, dataset)
            jumps = narrate.jumps_sentence(summary)
            display(Markdown(caption + (f" {jumps}" if jumps else "")))
            fig = plotting.ticket_accuracy_vs_remaining(summary, dense=dense, accuracy=accuracy)
            fig.axes[0].set_title(f"{layer.name}: {model} on {dataset}")
            plt.show()
            figures += 1
    if not figures:
        display(Markdown("No finished run to plot yet."))
    return figures


@dataclass
class ConvergedLayer:
    """What the chapter shows for the converged layer (see the module's docstring)."""

    layer: tiers.Layer
    status: pd.DataFrame
    rows: pd.DataFrame
    claims: pd.DataFrame
    text: str
    searched: pd.DataFrame
    collapse: str
    #: :func:`provisional_points`: tickets of the unfinished runs, drawn, never judged
    provisional: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_PROVISIONAL))
    #: the hard pair of Fig. 8 at this scale (its spec's runs, read, never trained), or None
    fig8: tiers.Layer | None = None

    @property
    def finished(self) -> int:
        return int((self.status["status"] == "finished").sum())

    def threshold_claims(self, accuracy: str = "test_accuracy") -> pd.DataFrame:
        """Fig. 8 at this scale (:func:`threshold_claims` of :attr:`fig8` against this layer's thresholded runs);
        empty without a Fig. 8 spec."""
        if self.fig8 is None:
            return pd.DataFrame(columns=CLAIM_COLUMNS)
        return threshold_claims(self.fig8, self.layer, accuracy=accuracy)

    @property
    def scale(self) -> str:
        """What the layer is, for its verdicts: model, data, epochs per phase and the seeds a verdict needs."""
        return scale_of(self.layer)

    def interval_gaps(self, accuracy: str = "test_accuracy") -> dict[tuple[str, str], pd.DataFrame]:
        """For every pair of methods a claim judges (not waiting for seeds), the matched sparsities where
        :data:`~concave_lottery.evidence.claims.INTERVAL_SEEDS` seeds pair
        (:func:`~concave_lottery.evidence.claims.matched_gaps` rows): what
        :func:`concave_lottery.evidence.plotting.gap_intervals` draws. Keyed by (a, b)."""
        out: dict[tuple[str, str], pd.DataFrame] = {}
        for row in self.claims.to_dict("records"):
            key = (str(row["a"]), str(row["b"]))
            if str(row["evidence"]).endswith(WAITING) or key in out:
                continue
            gaps = claims.matched_gaps(self.layer.points, row["a"], row["b"], accuracy=accuracy)
            gaps = gaps[gaps["pairs"] >= claims.INTERVAL_SEEDS]
            if len(gaps):
                out[key] = gaps
        return out

    def provisional_figure(self, accuracy: str = "test_accuracy"):
        """The finished runs' mean ± std per method and round (as in :func:`show_figures`) with one dotted
        curve per unfinished run through the tickets it has trained (:attr:`provisional`), in its method's
        colour, one marker per seed (:data:`SEED_MARKERS`); None when there are none."""
        if self.provisional.empty:
            return None
        summary = analysis.summarize_rounds(self.layer.points)
        colors, styles, markers, extra = {}, {}, {}, []
        for (method, seed), sub in self.provisional.groupby(["method_label", "seed"], sort=False):
            label = f"{method} seed {seed}, in progress"
            colors[label] = plotting.color_for(str(method))
            styles[label] = ":"
            markers[label] = SEED_MARKERS[int(seed) % len(SEED_MARKERS)]
            extra.append(pd.DataFrame({"method_label": label, "round": sub["round"], "n_seeds": 1,
                                       "sparsity_mean": sub["sparsity"], "sparsity_std": float("nan"),
                                       f"{accuracy}_mean": sub[accuracy], f"{accuracy}_std": float("nan")}))
        frames = [f for f in (summary, *extra) if len(f)]
        fig = plotting.ticket_accuracy_vs_remaining(pd.concat(frames, ignore_index=True), accuracy=accuracy,
                                                    colors=colors, styles=styles, markers=markers)
        model, dataset = (self.layer.tasks[0].config.model, self.layer.tasks[0].config.dataset) \
            if self.layer.tasks else ("", "")
        fig.axes[0].set_title(f"{LAYER}: {model} on {dataset}, with the unfinished runs' tickets so far")
        return fig

    def show_provisional(self, accuracy: str = "test_accuracy") -> None:
        """Display :func:`provisional_text` and :meth:`provisional_figure` (nothing when there are none)."""
        import matplotlib.pyplot as plt
        from IPython.display import Markdown, display

        if self.provisional.empty:
            return
        display(Markdown(provisional_text(self.provisional)))
        self.provisional_figure(accuracy)
        plt.show()

    def show(self, accuracy: str = "test_accuracy") -> None:
        """Display the paragraph, the status table, the collapse check, and (with finished runs) the
        figure, the seed-paired gaps with their intervals (:meth:`interval_gaps`), the mean ± std table,
        the claims with their intervals and, for the inconclusive ones, how many seeds would decide them
        (:func:`seeds_needed_text`, a projection)."""
        import matplotlib.pyplot as plt
        from IPython.display import Markdown, display

        display(Markdown(self.text))
        display(tables.fit_table(self.status, ["method", "seed", "status", "rounds done", "where"]))
        display(Markdown(self.collapse))
        if len(self.searched):
            display(tables.fit_table(collapse_rows(self.searched)))
        if not self.finished:
            return
        show_figures([self.layer], accuracy)
        self.show_provisional(accuracy)
        gaps = self.interval_gaps(accuracy)
        if gaps:
            display(Markdown(f"The seed-paired gaps that decide the verdicts below, each at a matched sparsity "
                             f"where {claims.INTERVAL_SEEDS} seeds pair, with its 95% t-interval ({LAYER} layer):"))
            plotting.gap_intervals(gaps, min_gap=claims.MIN_GAP)
            plt.show()
        display(tables.fit_table(self.rows, ["method", "round", "seeds", "sparsity %", "ticket acc % (final)"]))
        display(tables.fit_table(self.claims.drop(columns="note"), ["claim", "a", "b", "verdict", "evidence"]))
        said = verdict_text(self.claims, self.layer.points, accuracy=accuracy, scale=self.scale)
        if said:
            display(Markdown("**What the converged verdicts say**, claim by claim:\n\n" + said))
        projection = seeds_needed_text(self.claims, gaps)
        if projection:
            display(Markdown(projection))


def build(layer: tiers.Layer, methods: Sequence[str], *, accuracy: str = "test_accuracy") -> ConvergedLayer:
    """The :class:`ConvergedLayer` of an already gathered layer (its ``points`` may be synthetic in tests);
    ``methods`` are the method labels the spec lists."""
    status = status_table(layer)
    rows = pd.DataFrame(narrate.round_rows([layer]))
    table = claims_table(layer.points, methods, finished_seeds(status), accuracy=accuracy)
    searched = collapse.searched_rounds(layer.tasks)
    rounds = {analysis.method_label(t.config.to_dict()): int(t.config.rounds) for t in layer.tasks
              if t.config.method == "soft"}  # per method: the converged soft-log runs have 4 rounds, soft-ℓ1's 3
    imp = [t.config for t in layer.tasks if t.config.method == "imp"]
    levels = min((int(c.rounds) for c in imp), default=None)
    fraction = float(imp[0].prune_fraction) if imp else 0.2
    text = campaign_text(status, methods, layer.spec, searched, levels, fraction, work_left_text(layer), table,
                         layer.points)
    return ConvergedLayer(layer, status, rows, table, text, searched, collapse.collapse_text(searched, rounds),
                          provisional_points(layer))


def gather(spec: str, root: str, *, models: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
           accuracy: str = "test_accuracy", fig8_spec: str | None = None) -> ConvergedLayer:
    """The converged layer of ``spec`` under the results root ``root``: its runs read (never trained),
    the status of each, and the figure, table, claims and paragraph of :class:`ConvergedLayer`. With
    ``fig8_spec`` (the hard pair planned at the same scale), its runs are read too, as :attr:`ConvergedLayer.fig8`."""
    layer = tiers.gather(LAYER, spec, root, models=models, datasets=datasets)
    methods = list(dict.fromkeys(analysis.method_label(t.config.to_dict()) for t in layer.tasks))
    built = build(layer, methods, accuracy=accuracy)
    if fig8_spec is not None:
        built.fig8 = tiers.gather(LAYER, fig8_spec, root, models=models, datasets=datasets)
    return built

