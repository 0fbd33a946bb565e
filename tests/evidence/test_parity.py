"""bf16 against fp32 with the same seeds (issue 16, item 2): :mod:`concave_lottery.evidence.parity` on synthetic
ticket points (the pairing, the seed spread, the reading) and on synthetic run folders written as the library
writes them (fp32 result files older than ``precision`` beside bf16 ones; finished, in progress, not started)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from concave_lottery.evidence import parity, tiers
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.digests import migrate
from concave_lottery.runs.results import run_directory, write_json

SPEC = """
out = "results"
[[grid]]
preset = "lenet300-mnist"
method = "soft"
regularizer = "l1"
rounds = 2
precision = ["fp32", "bf16"]
seed = [0, 1]

[[grid]]
preset = "lenet300-mnist"
method = "imp"
rounds = 2
precision = ["fp32", "bf16"]
seed = [0, 1]
"""

#: (method, seed, precision) → [(round, sparsity, ticket accuracy)]: soft-ℓ1's round 2 accuracy moves 0.5 pp
#: under bf16 against a 0.2 pp fp32 seed spread; everything else moves less than its spread.
RECORDS = {
    ("soft-l1", 0, "fp32"): [(1, 0.60, 0.9790), (2, 0.72, 0.9800)],
    ("soft-l1", 1, "fp32"): [(1, 0.61, 0.9800), (2, 0.73, 0.9820)],
    ("soft-l1", 0, "bf16"): [(1, 0.605, 0.9795), (2, 0.725, 0.9750)],
    ("soft-l1", 1, "bf16"): [(1, 0.600, 0.9790), (2, 0.730, 0.9770)],
    ("imp", 0, "fp32"): [(0, 0.0, 0.980), (1, 0.2, 0.981), (2, 0.36, 0.979)],
    ("imp", 1, "fp32"): [(0, 0.0, 0.982), (1, 0.2, 0.980), (2, 0.36, 0.982)],
    ("imp", 0, "bf16"): [(0, 0.0, 0.981), (1, 0.2, 0.980), (2, 0.36, 0.980)],
    ("imp", 1, "bf16"): [(0, 0.0, 0.981), (1, 0.2, 0.981), (2, 0.36, 0.981)],
}


def _overrides(method: str, seed: int, precision: str) -> dict:
    base = {"method": "soft", "regularizer": "l1"} if method == "soft-l1" else {"method": "imp"}
    return {**base, "rounds": 2, "seed": seed, "precision": precision}


def _write(root, method: str, seed: int, precision: str, records=None, *, rounds_done: int = 0):
    """A run folder as the library leaves it: finished (``records``: a result file with its digests; an fp32
    one written before ``precision`` and ``classes`` existed), or in progress (``rounds_done`` round records)."""
    config = resolve_config("lenet300-mnist", _overrides(method, seed, precision))
    run_dir = run_directory(config, root)
    stored = config.to_dict()
    if precision == "fp32":
        for old in ("precision", "classes"):
            stored.pop(old)
    write_json(run_dir / "config.json", stored)
    if records is None:
        for t in range(1, rounds_done + 1):
            write_json(run_dir / f"round-{t}" / "record.json", {"round": t})
        return run_dir
    rows = [{"round": t, "sparsity": s, "remaining_weights": 1, "test_accuracy": a, "best_test_accuracy": a}
            for t, s, a in records]
    prov = {"device": "Test CPU", "seconds": 1.0, "git_commit": "abc"}
    if precision == "bf16":
        prov |= {"precision": "bf16", "memory_format": "contiguous", "native_bf16": False}
    write_json(run_dir / "result.json", {"config": stored, "rounds": rows, "provenance": prov})
    migrate(run_dir)
    return run_dir


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "parity.toml"
    path.write_text(SPEC)
    return str(path)


def _fill(root, keys=None):
    for key, records in RECORDS.items():
        if keys is None or key in keys:
            _write(root, *key, records)


# ------------------------------------------------------------------------------ the reading


finite = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
spreads = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(finite, spreads)
def test_reading_is_symmetric_in_the_sign_of_the_difference(d, spread):
    assert parity.reading(d, spread) == parity.reading(-d, spread)
    assert parity.reading(d, spread) in (parity.WITHIN, parity.BEYOND)


@given(finite, spreads, spreads)
def test_reading_is_monotone_in_the_spread_and_the_difference(d, s1, s2):
    small, large = sorted((s1, s2))
    if parity.reading(d, small) == parity.WITHIN:
        assert parity.reading(d, large) == parity.WITHIN
    if parity.reading(d, large) == parity.BEYOND:
        assert parity.reading(d, small) == parity.BEYOND
    assert parity.reading(d / 2, large) == parity.WITHIN or parity.reading(d, large) == parity.BEYOND


@given(spreads)
def test_reading_pending_and_without_a_spread(spread):
    assert parity.reading(math.nan, spread) == parity.PENDING
    assert parity.reading(math.nan, math.nan) == parity.PENDING
    assert parity.reading(spread, math.nan) == parity.NO_SPREAD
    assert parity.reading(spread, spread) == parity.WITHIN  # the edge counts as within


# ------------------------------------------------------------------------------ pairing synthetic points


def _points(keys=None) -> pd.DataFrame:
    rows = [{"model": "lenet300", "dataset_label": "mnist", "method_label": m, "seed": s, "precision": p,
             "round": t, "sparsity": sp, "test_accuracy": a}
            for (m, s, p), records in RECORDS.items() if keys is None or (m, s, p) in keys
            for t, sp, a in records]
    return pd.DataFrame(rows)


def test_compare_pairs_seeds_and_reads_against_the_fp32_spread():
    rows = parity.compare(_points()).set_index(["method_label", "round", "quantity"])
    acc = rows.loc[("soft-l1", 2, "ticket accuracy")]
    assert acc["differences"] == pytest.approx({0: -0.005, 1: -0.005})
    assert acc["difference"] == pytest.approx(-0.005) and acc["spread"] == pytest.approx(0.002)
    assert acc["fp32"] == pytest.approx(0.981) and acc["bf16"] == pytest.approx(0.976)
    assert acc["reading"] == parity.BEYOND and acc["paired"] == 2 and not acc["fixed"]
    sp = rows.loc[("soft-l1", 1, "sparsity")]
    assert sp["difference"] == pytest.approx(-0.0025) and sp["spread"] == pytest.approx(0.01)
    assert sp["reading"] == parity.WITHIN
    dense = rows.loc[("imp", 0, "ticket accuracy")]  # bf16 lands between the fp32 seeds: mean difference 0
    assert dense["difference"] == pytest.approx(0.0) and dense["reading"] == parity.WITHIN
    imp_sparsity = rows.xs("sparsity", level="quantity").loc["imp"]
    assert imp_sparsity["fixed"].all() and (imp_sparsity["reading"] == parity.WITHIN).all()
    assert list(parity.compare(_points())["method_label"].drop_duplicates()) == ["soft-l1", "imp"]
    assert (rows.loc["soft-l1"]["fixed"] == False).all()  # noqa: E712


def test_a_missing_half_is_pending_and_one_paired_seed_still_reads():
    keys = [k for k in RECORDS if k != ("soft-l1", 1, "bf16") and not (k[0] == "imp" and k[2] == "bf16")]
    rows = parity.compare(_points(keys)).set_index(["method_label", "round", "quantity"])
    one = rows.loc[("soft-l1", 2, "ticket accuracy")]
    assert one["paired"] == 1 and one["differences"] == pytest.approx({0: -0.005})
    assert one["fp32"] == pytest.approx(0.980)  # the mean over the paired seed only
    assert one["spread"] == pytest.approx(0.002) and one["reading"] == parity.BEYOND
    imp = rows.loc["imp"]
    assert (imp["reading"] == parity.PENDING).all() and (imp["paired"] == 0).all() and not imp["fixed"].any()
    assert imp.loc[(0, "ticket accuracy"), "fp32"] == pytest.approx(0.981)  # the fp32 seeds recorded


def test_a_zero_spread_is_named_in_the_conclusion():
    points = _points()
    level = (points["method_label"] == "imp") & (points["round"] == 1) & (points["precision"] == "fp32")
    points.loc[level, "test_accuracy"] = 0.981  # both fp32 seeds equal: spread 0
    rows = parity.compare(points)
    status = pd.DataFrame(columns=["model", "method", "seed", "precision", "status", "rounds_done", "rounds_total",
                                   "hardware", "native_bf16", "run"])
    text = parity.conclusion(rows, status, "spec.toml")
    assert "2 beyond the fp32 seed spread" in text and "IMP level 1 ticket accuracy: 0.00 pp" not in text
    assert "1 of the rows beyond it has a spread of 0" in text
    assert "Pending" not in text and "native_bf16" not in text


def test_native_bf16_is_read_never_assumed():
    rows = parity.compare(_points())
    status = pd.DataFrame([{"model": "lenet300", "method": "soft-l1", "seed": s, "precision": "bf16",
                            "status": "finished", "rounds_done": 2, "rounds_total": 2, "hardware": h,
                            "native_bf16": n, "run": ""}
                           for s, h, n in ((0, "Xeon", True), (1, "EPYC", False), (2, "old", None))])
    text = parity.conclusion(rows, status, "spec.toml")
    assert "Of the 3 finished bf16 runs, native_bf16 in the provenance is: true 1, false 1, not recorded 1 " \
           "(EPYC, Xeon, old)." in text
    text = parity.conclusion(rows, status.iloc[:1], "spec.toml")
    assert "The finished bf16 run records native_bf16 = true in the provenance (Xeon): bf16 ran on bf16 " \
           "hardware." in text and "emulated" not in text


def test_halves_on_different_kinds_of_device_are_said_to_mix_bf16_with_the_device():
    rows = parity.compare(_points())
    status = pd.DataFrame([{"model": "lenet300", "method": "soft-l1", "seed": s, "precision": p, "status": "finished",
                            "rounds_done": 2, "rounds_total": 2, "hardware": h, "device_type": d, "native_bf16": n,
                            "run": ""}
                           for s, p, h, d, n in ((0, "fp32", "EPYC", "cpu", None), (1, "fp32", "Xeon", "cpu", None),
                                                 (0, "bf16", "NVIDIA H200", "cuda", True))])
    text = parity.conclusion(rows, status, "spec.toml")
    assert "different kinds of device for LeNet-300-100 (fp32 on cpu, bf16 on cuda)" in text
    assert "cannot be laid on bf16 alone" in text
    same = status.assign(device_type="cpu")  # two CPU models are one kind of device: nothing is said
    assert "different kinds of device" not in parity.conclusion(rows, same, "spec.toml")
    assert "different kinds of device" not in parity.conclusion(rows, status.drop(columns="device_type"), "spec.toml")


def test_one_fp32_seed_gives_no_spread_and_two_runs_of_one_seed_are_refused():
    keys = [("soft-l1", 0, "fp32"), ("soft-l1", 0, "bf16")]
    rows = parity.compare(_points(keys))
    assert set(rows["reading"]) == {parity.NO_SPREAD} and rows["spread"].isna().all()
    doubled = pd.concat([_points(keys), _points([("soft-l1", 0, "bf16")])])
    with pytest.raises(ValueError, match="two bf16 runs of the same seed"):
        parity.compare(doubled)
    assert parity.compare(_points([])).empty


# ------------------------------------------------------------------------------ run folders


def test_gather_reads_old_fp32_and_new_bf16_folders_and_concludes(spec, tmp_path):
    root = tmp_path / "results"
    _fill(root)
    result = parity.gather(spec, str(root))
    assert set(result.status["status"]) == {"finished"} and len(result.status) == 8
    assert dict(result.points.groupby("precision").size()) == {"bf16": 10, "fp32": 10}
    bf16 = result.status[result.status["precision"] == "bf16"]
    assert (bf16["native_bf16"] == False).all() and set(bf16["hardware"]) == {"Test CPU"}  # noqa: E712
    shown = result.shown()
    assert shown.shape[1] <= 6 and "sparsity" in set(shown["quantity"])
    assert not (shown["ticket"].str.contains("IMP") & (shown["quantity"] == "sparsity")).any()  # fixed: left out
    beyond = shown[shown["reading"] == parity.BEYOND]
    assert list(beyond["ticket"]) == ["LeNet-300-100 soft-ℓ1 round 2"]
    assert beyond.iloc[0]["bf16 − fp32 (pp), per seed"] == "−0.50 (−0.50, −0.50)"
    assert beyond.iloc[0]["fp32 → bf16 (%)"] == "98.10 → 97.60"
    assert shown.iloc[0]["ticket"] == "LeNet-300-100 soft-ℓ1 round 1"
    assert "LeNet-300-100 IMP level 0 (dense)" in set(shown["ticket"])
    text = result.text
    assert "7 comparisons" in text and "2 paired seeds" in text and "leaving out 3 that the protocol fixes" in text
    assert "1 beyond the fp32 seed spread (LeNet-300-100 soft-ℓ1 round 2 ticket accuracy: −0.50 pp against a " \
           "spread of 0.20 pp)" in text
    assert "so recorded runs stay fp32" in text
    assert "one difference, |seed 0 − seed 1|, a rough yardstick" in text
    assert "All 4 finished bf16 runs record native_bf16 = false in the provenance (Test CPU): bf16 was " \
           "emulated" in text
    assert "Pending" not in text
    assert "<table" in result.table()._repr_html_()
    assert set(shown[shown["ticket"].str.contains("IMP")]["bf16 − fp32 (pp), per seed"]) == {
        "0.00 (+0.10, −0.10)", "0.00 (−0.10, +0.10)"}


def test_unfinished_bf16_runs_are_pending_with_the_command(spec, tmp_path):
    root = tmp_path / "results"
    _fill(root, [k for k in RECORDS if k[2] == "fp32" or k == ("soft-l1", 0, "bf16")])
    _write(root, "soft-l1", 1, "bf16", rounds_done=1)
    result = parity.gather(spec, str(root))
    status = result.status.set_index(["method", "seed", "precision"])["status"]
    assert status[("soft-l1", 1, "bf16")] == "in progress" and status[("imp", 0, "bf16")] == "not started"
    rows = result.rows.set_index(["method_label", "round", "quantity"])
    assert rows.loc[("soft-l1", 2, "ticket accuracy"), "paired"] == 1
    assert (rows.loc["imp"]["reading"] == parity.PENDING).all()
    assert set(result.shown()["ticket"]) == {"LeNet-300-100 soft-ℓ1 round 1", "LeNet-300-100 soft-ℓ1 round 2"}
    text = result.text
    assert "(sparsity and ticket accuracy per method and round, 1 paired seed)" in text
    assert "The finished bf16 run records native_bf16 = false" in text
    assert ("Pending: LeNet-300-100 soft-ℓ1 bf16 (seed 1: in progress, 1 of 2 rounds recorded); "
            "LeNet-300-100 IMP bf16 (seeds 0, 1: not started); the command that records them: "
            f"`lottery sweep {spec}`") in text


def test_no_bf16_half_yet_compares_nothing(spec, tmp_path):
    root = tmp_path / "results"
    _fill(root, [k for k in RECORDS if k[2] == "fp32"])
    result = parity.gather(spec, str(root))
    assert (result.rows["reading"] == parity.PENDING).all() and result.shown().empty
    assert result.text.startswith(f"No run of `{spec}` has both its fp32 and its bf16 half recorded yet")
    assert "recorded runs stay fp32" in result.text and "(seeds 0, 1: not started)" in result.text
    empty = parity.gather(spec, str(tmp_path / "nothing"))
    assert empty.rows.empty and empty.shown().empty and "not started" in empty.text


def test_dataset_label_of_a_result_file_older_than_classes():
    assert tiers.dataset_label({"dataset": "mnist", "classes": math.nan}) == "mnist"
    assert tiers.dataset_label({"dataset": "tinyimagenet", "classes": 10.0}) == "tinyimagenet (10 classes)"


def test_halves_with_other_or_unrecorded_cpu_kernels_are_said_to_mix_bf16_with_the_kernels():
    rows = parity.compare(_points())

    def status(fp32_kernels, bf16_kernels="AVX512"):
        return pd.DataFrame([{"model": "lenet300", "method": "soft-l1", "seed": s, "precision": p,
                              "status": "finished", "rounds_done": 2, "rounds_total": 2, "hardware": "AMD EPYC",
                              "device_type": "cpu", "cpu_capability": k, "native_bf16": p == "bf16", "run": ""}
                             for s, p, k in ((0, "fp32", fp32_kernels[0]), (1, "fp32", fp32_kernels[1]),
                                             (0, "bf16", bf16_kernels))])

    said = "did not provably run with the same CPU kernels for LeNet-300-100"
    text = parity.conclusion(rows, status((None, None)), "spec.toml")
    assert f"{said} (bf16 with AVX512 kernels; the fp32 runs' provenance does not record theirs)" in text
    text = parity.conclusion(rows, status(("AVX2", None)), "spec.toml")
    assert "(bf16 with AVX512 kernels; fp32 with AVX2, and 1 of 2 fp32 runs do not record theirs)" in text
    text = parity.conclusion(rows, status(("AVX2", "AVX2")), "spec.toml")
    assert "(bf16 with AVX512 kernels; fp32 with AVX2)" in text and "mixes bf16's effect with the kernels'" in text
    for same in (status(("AVX512", "AVX512")), status((None, None), bf16_kernels=None),
                 status(("AVX2", "AVX2")).drop(columns="cpu_capability")):
        assert "CPU kernels" not in parity.conclusion(rows, same, "spec.toml")
    # a GPU half is the device sentence's, not this one's
    gpu = status((None, None)).assign(device_type=["cpu", "cpu", "cuda"])
    assert "CPU kernels" not in parity.conclusion(rows, gpu, "spec.toml")


# ------------------------------------------------------------------------------ the memory-format control

CONTROL_SPEC = """
out = "results/parity-control"
[[grid]]
preset = "lenet300-mnist"
method = "soft"
regularizer = "l1"
rounds = 2
seed = [0, 1]
channels_last = true
"""


def _write_control(root, seed: int, records) -> None:
    """A finished fp32 channels_last run of soft-ℓ1: the recorded run's name, under the control root."""
    config = resolve_config("lenet300-mnist", {**_overrides("soft-l1", seed, "fp32"), "channels_last": True})
    run_dir = run_directory(config, root)
    write_json(run_dir / "config.json", config.to_dict())
    rows = [{"round": t, "sparsity": s, "remaining_weights": 1, "test_accuracy": a, "best_test_accuracy": a}
            for t, s, a in records]
    prov = {"device": "Test CPU", "seconds": 1.0, "git_commit": "abc", "precision": "fp32",
            "memory_format": "channels_last"}
    write_json(run_dir / "result.json", {"config": config.to_dict(), "rounds": rows, "provenance": prov})
    migrate(run_dir)


@pytest.mark.parametrize("moved", [False, True])
def test_the_memory_format_control_says_whether_the_format_alone_moves_a_result(spec, tmp_path, moved):
    root = tmp_path / "results"
    _fill(root)
    # as sweeps/parity-bf16.toml does: the spec asks channels_last of runs recorded contiguous; their stored
    # config, not the spec, says how they trained
    Path(spec).write_text(SPEC.replace('regularizer = "l1"\n', 'regularizer = "l1"\nchannels_last = true\n'))
    control_spec = tmp_path / "control.toml"
    control_spec.write_text(CONTROL_SPEC)
    # soft-ℓ1's round-2 accuracy: fp32 98.00 / 98.20 (spread 0.2 pp); bf16 moved it −0.5 pp (beyond)
    shift = -0.005 if moved else 0.0005
    for seed, records in ((0, RECORDS[("soft-l1", 0, "fp32")]), (1, RECORDS[("soft-l1", 1, "fp32")])):
        _write_control(root / parity.CONTROL_ROOT, seed,
                       [(t, sp, a + (shift if t == 2 else 0.0)) for t, sp, a in records])
    result = parity.gather(spec, str(root), control_spec=str(control_spec))
    checked = result.checked.set_index(["method_label", "round", "quantity"])
    assert set(checked.index.get_level_values("method_label")) == {"soft-l1"}  # IMP has no control run
    acc = checked.loc[("soft-l1", 2, "ticket accuracy")]
    assert acc["difference"] == pytest.approx(shift) and acc["spread"] == pytest.approx(0.002)
    assert acc["fp32"] == pytest.approx(0.981)  # the contiguous (recorded) mean, not a bf16 value
    assert acc["reading"] == (parity.BEYOND if moved else parity.WITHIN)
    shown = result.control_shown()
    assert len(shown) == 4 and list(shown["ticket"])[-1] == "LeNet-300-100 soft-ℓ1 round 2"
    assert shown.iloc[-1]["bf16 − fp32 (pp)"] == "−0.50 (−0.50, −0.50)"
    text = result.text
    assert "Control: the fp32 runs of LeNet-300-100 soft-ℓ1 trained again (2 seeds), still fp32 but in " \
           "channels_last" in text
    if moved:
        assert "the memory format alone moved 1 beyond the fp32 seed spread, and bf16 with channels_last moved 1" \
            in text and "not that bf16 is what changed them" in text
    else:
        assert "the memory format alone moved 0 beyond" in text and "come with bf16, not with the memory format" \
            in text


def test_the_memory_format_control_pending_or_absent(spec, tmp_path):
    root = tmp_path / "results"
    _fill(root)
    control_spec = tmp_path / "control.toml"
    control_spec.write_text(CONTROL_SPEC)
    result = parity.gather(spec, str(root), control_spec=str(control_spec))
    assert result.checked.empty and result.control_shown().empty
    assert f"The memory-format control (`{control_spec}`) is pending: LeNet-300-100 soft-ℓ1 fp32 (seeds 0, 1: " \
           "not started)." in result.text
    plain = parity.gather(spec, str(root))
    assert plain.checked is None and "control" not in plain.text and plain.control_shown().empty


def test_many_rows_beyond_the_spread_are_counted_per_model_not_listed(spec, tmp_path, monkeypatch):
    root = tmp_path / "results"
    _fill(root)
    named = "LeNet-300-100 soft-ℓ1 round 2 ticket accuracy: −0.50 pp against a spread of 0.20 pp"
    assert named in parity.gather(spec, str(root)).text
    monkeypatch.setattr(parity, "LISTED", 0)  # more rows beyond than a sentence names
    text = parity.gather(spec, str(root)).text
    assert "1 beyond the fp32 seed spread (LeNet-300-100: 1 of 7, each marked in the table)" in text
    assert named not in text


def test_a_missing_evaluation_file_says_how_to_write_it(spec, tmp_path):
    """Where bf16 tickets are compared but the fp32 evaluation of them is not recorded, the conclusion says that
    it is not known whether a difference is the training's or the evaluation's, with the command."""
    root = tmp_path / "results"
    _fill(root)
    missing = str(root / "parity-control" / "fp32-evaluation.json")
    text = parity.gather(spec, str(root), evaluation=missing).text
    assert text.endswith(f"`python scripts/parity_evaluation.py {spec} --root {root}` writes `{missing}`.")
    assert "not evaluated in fp32 yet" in text and parity.gather(spec, str(root)).text in text
