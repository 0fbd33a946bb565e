"""The converged campaign's collapse check (issue 16 item 4): :mod:`concave_lottery.evidence.collapse` reads
each soft run's recorded search phases (digest-checked), round by round, and says whether the epoch-matched
λ collapsed the network, left it nearly dense, or neither."""

from __future__ import annotations

import json

import pandas as pd
import torch
from hypothesis import given
from hypothesis import strategies as st

from concave_lottery.evidence import analysis, collapse, converged, tiers
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.paths import RunDir

fraction = st.floats(0.0, 1.0)


@given(fraction, fraction, st.sampled_from([0.1, 0.01, 0.005]), st.booleans())
def test_the_reading_follows_the_thresholds(sparsity, accuracy, chance, final):
    reading = collapse.reading(sparsity, accuracy, chance, final=final)
    if sparsity > collapse.COLLAPSE_SPARSITY:
        assert reading == "collapsed: sparsity above 99%"
    elif accuracy < chance + collapse.CHANCE_MARGIN:
        assert reading.startswith("collapsed: accuracy within 5 pp of chance")
    elif final and sparsity < collapse.DENSE_SPARSITY:
        assert reading == "nearly dense: sparsity below 20%"
    else:
        assert reading == collapse.NO_COLLAPSE


def test_an_early_round_that_prunes_little_is_not_called_dense():
    assert collapse.reading(0.03, 0.5, 0.1, final=False) == collapse.NO_COLLAPSE
    assert collapse.reading(0.03, 0.5, 0.1, final=True).startswith("nearly dense")


def _tasks(spec, root):
    tasks = tiers.gather("converged", spec, str(root)).tasks
    return {(analysis.method_label(t.config.to_dict()), t.config.seed): t for t in tasks}


def _search(run_dir, config, round_index: int, alive: list[int], total: int, accuracy: float) -> None:
    """Round ``round_index``'s search as the library leaves it: ``search.json`` and ``masks.pt`` (two layers
    with ``alive`` entries alive out of ``total`` each), both with their digests."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    run = RunDir(run_dir)
    digests = Digests(run)
    rnd = run.round(round_index)
    rnd.path.mkdir(parents=True, exist_ok=True)
    digests.write_json(rnd.search_info, {"search_test_accuracy": accuracy, "pruned_this_round": 0})
    state = {f"layer{i}.weight": {"alive": torch.arange(total) < n, "score": torch.rand(total)}
             for i, n in enumerate(alive)}
    digests.save_torch(state, rnd.masks)


def test_searched_rounds_read_sparsity_from_the_masks_and_accuracy_from_the_search(soft_spec, tmp_path):
    tasks = _tasks(soft_spec, tmp_path)
    l1, log = tasks[("soft-l1", 0)], tasks[("soft-log", 0)]
    _search(l1.run_dir, l1.config.to_dict(), 1, [7, 1], 100, 0.72)   # 192 of 200 pruned
    _search(l1.run_dir, l1.config.to_dict(), 2, [1, 0], 100, 0.12)   # 199 of 200 pruned: above 99%
    _search(log.run_dir, log.config.to_dict(), 1, [9, 9], 50, 0.75)
    rows = collapse.searched_rounds(list(tasks.values())).set_index(["method", "round"])
    assert len(rows) == 3
    assert rows.loc[("soft-l1", 1), "sparsity"] == 1 - 8 / 200
    assert rows.loc[("soft-l1", 1), "reading"] == collapse.NO_COLLAPSE
    assert rows.loc[("soft-l1", 2), "reading"] == "collapsed: sparsity above 99%"
    assert rows.loc[("soft-log", 1), "sparsity"] == 1 - 18 / 100
    assert rows.loc[("soft-log", 1), "search_accuracy"] == 0.75 and rows.loc[("soft-log", 1), "chance"] == 0.1


def test_a_round_being_written_or_damaged_is_left_out(soft_spec, tmp_path):
    tasks = _tasks(soft_spec, tmp_path)
    l1 = tasks[("soft-l1", 0)]
    _search(l1.run_dir, l1.config.to_dict(), 1, [50], 100, 0.7)
    _search(l1.run_dir, l1.config.to_dict(), 2, [10], 100, 0.7)
    masks = RunDir(l1.run_dir).round(2).masks
    data = bytearray(masks.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped: no longer matches its digest
    masks.write_bytes(bytes(data))
    (l1.run_dir / "round-3").mkdir()
    (l1.run_dir / "round-3" / "search.json").write_text('{"search_test_accuracy": 0.1}')  # no digest, no masks
    rows = collapse.searched_rounds(list(tasks.values()))
    assert rows["round"].tolist() == [1]


def test_the_paragraph_says_what_is_known_and_what_is_still_to_come(soft_spec, tmp_path):
    assert "no search phase of the converged campaign is recorded yet" in collapse.collapse_text(
        collapse.searched_rounds([]), 3)
    tasks = _tasks(soft_spec, tmp_path)
    l1 = tasks[("soft-l1", 0)]
    _search(l1.run_dir, l1.config.to_dict(), 1, [68], 1000, 0.72)
    text = collapse.collapse_text(collapse.searched_rounds(list(tasks.values())), 3)
    assert "soft-ℓ1 seed 0: round 1 93.2% sparse, search accuracy 72.0%" in text
    assert "None collapsed" in text and "those not listed are still to come" in text
    _search(l1.run_dir, l1.config.to_dict(), 2, [5], 1000, 0.30)
    text = collapse.collapse_text(collapse.searched_rounds(list(tasks.values())), 3)
    assert "soft-l1 round 2: collapsed: sparsity above 99%" in text
    assert "λ is to be chosen again by a short, recorded λ sweep" in text


def test_the_rounds_to_come_are_counted_per_method_when_their_grids_differ():
    """The converged soft-log runs have 4 rounds and soft-ℓ1's 3: a run is unfinished against its own method's."""
    searched = pd.DataFrame([{"method": m, "seed": 0, "round": r, "sparsity": 0.9, "search_accuracy": 0.7,
                              "reading": collapse.NO_COLLAPSE} for m, last in (("soft-l1", 3), ("soft-log", 3))
                             for r in range(1, last + 1)])
    text = collapse.collapse_text(searched, {"soft-l1": 3, "soft-log": 4})
    assert text.endswith("Of the rounds (3 per soft-ℓ1 run and 4 per soft-log run), those not listed are still to "
                         "come.")
    assert "still to come" not in collapse.collapse_text(searched, {"soft-l1": 3, "soft-log": 3})
    assert "still to come" not in collapse.collapse_text(searched[searched["method"] == "soft-l1"],
                                                         {"soft-l1": 3, "soft-log": 4})  # no soft-log search yet
    assert "Of the 4 rounds per run" in collapse.collapse_text(searched, 4)


def test_the_converged_layer_carries_the_collapse_check(soft_spec, tmp_path):
    tasks = _tasks(soft_spec, tmp_path)
    log = tasks[("soft-log", 0)]
    _search(log.run_dir, log.config.to_dict(), 1, [88], 1000, 0.749)
    layer = converged.gather(soft_spec, str(tmp_path))
    assert layer.searched["method"].tolist() == ["soft-log"]
    assert "soft-log seed 0: round 1 91.2% sparse, search accuracy 74.9%" in layer.collapse
    shown = converged.collapse_rows(layer.searched).iloc[0].to_dict()
    assert shown["sparsity %"] == "91.2" and shown["search acc %"] == "74.9" and shown["method"] == "soft-log"
    assert ("To pass the highest soft sparsity recorded so far (91.2%, soft-log seed 0 round 1), IMP at 20% per "
            "level needs 11 levels (91.4%)." in layer.text)
