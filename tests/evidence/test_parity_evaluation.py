"""The bf16 tickets evaluated again in fp32 (:mod:`concave_lottery.evidence.parity_evaluation`): recorded from a
real bf16 run's saved tickets, read back only while they are still the run's, refused when the file is corrupt,
and the sentence that says whether an accuracy difference is the training's or the evaluation's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import NEEDS_MNIST

from concave_lottery.errors import CorruptFile
from concave_lottery.evidence import parity, parity_evaluation
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.lottery import run_lottery
from concave_lottery.runs.paths import RunDir
from concave_lottery.runs.results import load_result

REPO = Path(__file__).resolve().parents[2]

SPEC = """
out = "results"
[[grid]]
preset = "lenet300-mnist"
method = "soft"
regularizer = "log"
lam = 3e-4
rounds = 2
epochs = 1
train_subset = 2000
test_subset = 1000
precision = ["fp32", "bf16"]
seed = 0
"""


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    """A spec with one small LeNet-300-100 run in fp32 and in bf16 (only the bf16 half trained: the file is about
    bf16 tickets), 2 rounds of 1 epoch on 2,000 MNIST images; the spec's path and the results root."""
    base = tmp_path_factory.mktemp("parity-eval")
    spec, root = base / "parity.toml", base / "results"
    spec.write_text(SPEC)
    config = resolve_config("lenet300-mnist", {"method": "soft", "regularizer": "log", "lam": "3e-4", "rounds": "2",
                                               "epochs": "1", "train_subset": "2000", "test_subset": "1000",
                                               "seed": "0", "precision": "bf16"})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path, _ = run_lottery(config, root, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    return str(spec), root, path.parent


@NEEDS_MNIST
def test_record_evaluates_every_saved_bf16_ticket_in_both_precisions(bf16_run, tmp_path):
    spec, root, run_dir = bf16_run
    out = tmp_path / "eval.json"
    content = parity_evaluation.record(spec, str(root), out, command="test", progress=False)
    result = load_result(run_dir)
    tickets = content["tickets"]
    assert [t["round"] for t in tickets] == [r["round"] for r in result["rounds"]] == [1, 2]
    run = RunDir(run_dir)
    for t, r in zip(tickets, result["rounds"], strict=True):
        # redone on the machine that trained it, the bf16 evaluation is the record, bit for bit
        assert t["recorded"] == r["test_accuracy"] == t["bf16"]
        assert 0.0 <= t["fp32"] <= 1.0 and t["test_images"] == 1000 and t["model"] == "lenet300"
        assert t["weights_sha256"] in Digests(run).entries()[run.relative(run.round(t["round"]).ticket_weights)]
    assert content["provenance"]["precision"] == "fp32" and content["spec"] == spec
    frame, prov = parity_evaluation.load(out, root)
    assert frame["current"].all() and len(frame) == 2 and prov["device_type"] == "cpu"


@NEEDS_MNIST
def test_an_entry_whose_ticket_changed_is_not_used(bf16_run, tmp_path):
    spec, root, run_dir = bf16_run
    out = tmp_path / "eval.json"
    parity_evaluation.record(spec, str(root), out, progress=False)
    content = json.loads(out.read_text())
    content["tickets"][0]["weights_sha256"] = "0" * 64  # evaluated other weights than the run's
    out.write_text(json.dumps(content))
    frame, _ = parity_evaluation.load(out, root)
    assert frame["current"].tolist() == [False, True]
    text = parity_evaluation.sentence(pd.DataFrame(columns=["quantity", "reading"]), pd.DataFrame(), frame, {}, "f")
    assert "1 entry of the file evaluate weights that are no longer the recorded ones and are not used" in text
    assert "(1 ticket)" in text  # only the current one is counted


@pytest.mark.parametrize("text, why", [
    ("{not json", "not valid JSON"),
    (json.dumps({"format": 99, "tickets": []}), "not an evaluation file"),
    (json.dumps({"format": 1, "tickets": [{"run": "a/b", "model": "m", "round": 1, "weights_sha256": "x",
                                           "test_images": 10, "recorded": 0.5, "bf16": 0.5, "fp32": 1.5}]}),
     "no valid fp32"),
    (json.dumps({"format": 1, "tickets": [{"run": "a/b", "round": 1}]}), "no valid model"),
])
def test_a_corrupt_file_is_refused_with_what_is_wrong(tmp_path, text, why):
    path = tmp_path / "eval.json"
    path.write_text(text)
    with pytest.raises(CorruptFile, match=why):
        parity_evaluation.load(path, tmp_path)


# ---------------------------------------------------------------- reread and the sentence on synthetic rows

#: Two seeds, one round: bf16 training moved the ticket accuracy by −2 pp against a 0.5 pp fp32 seed spread.
POINTS = [("fp32", 0, 0.700), ("fp32", 1, 0.705), ("bf16", 0, 0.680), ("bf16", 1, 0.685)]


def _points() -> pd.DataFrame:
    return pd.DataFrame([{"model": "resnet20", "dataset_label": "cifar10", "method_label": "imp", "seed": s,
                          "precision": p, "round": 0, "sparsity": 0.0, "test_accuracy": a,
                          "run_dir": f"/r/resnet20-cifar10-subset/imp-{p}-seed{s}"} for p, s, a in POINTS])


def _evaluated(fp32: dict[int, float], current: bool = True) -> pd.DataFrame:
    bf16 = {s: a for p, s, a in POINTS if p == "bf16"}
    return pd.DataFrame([{"run": f"resnet20-cifar10-subset/imp-bf16-seed{s}", "model": "resnet20", "round": 0,
                          "weights_sha256": "x", "test_images": 1000, "recorded": bf16[s], "bf16": bf16[s],
                          "fp32": a, "current": current} for s, a in fp32.items()])


def test_reread_replaces_only_the_bf16_accuracy_and_drops_tickets_without_a_current_evaluation():
    points = _points()
    again = parity_evaluation.reread(points, _evaluated({0: 0.699, 1: 0.703}))
    assert again.set_index(["precision", "seed"])["test_accuracy"].to_dict() == pytest.approx(
        {("fp32", 0): 0.700, ("fp32", 1): 0.705, ("bf16", 0): 0.699, ("bf16", 1): 0.703})
    partial = parity_evaluation.reread(points, _evaluated({0: 0.699}))
    assert len(partial) == 3 and not ((partial["precision"] == "bf16") & (partial["seed"] == 1)).any()
    assert parity_evaluation.reread(points, _evaluated({0: 0.699, 1: 0.703}, current=False))["precision"].tolist() \
        == ["fp32", "fp32"]


@pytest.mark.parametrize("fp32, stays", [({0: 0.681, 1: 0.686}, True), ({0: 0.699, 1: 0.703}, False)])
def test_the_sentence_says_whether_a_difference_is_the_trainings_or_the_evaluations(fp32, stays):
    points, evaluated = _points(), _evaluated(fp32)
    rows = parity.compare(points)
    assert rows.set_index("quantity").loc["ticket accuracy", "reading"] == parity.BEYOND
    again = parity_evaluation.compare_reread(points, evaluated)
    text = parity_evaluation.sentence(rows, again, evaluated, {"device": "Test CPU", "started": "2026-12-07T13:00"},
                                      "eval.json")
    assert "Test CPU, 2026-12-07" in text and "reproduced the recorded accuracy of 2 of 2 tickets." in text
    if stays:
        assert "1 of the 1 ticket-accuracy comparisons beyond the fp32 seed spread stay beyond it" in text
        assert "come from the bf16 runs' training, not from their evaluation in bf16" in text
        assert "by +0.10 pp on average and at most 0.10 pp for ResNet-20 (2 tickets)" in text
    else:
        assert "0 of the 1 ticket-accuracy comparisons" in text and "1 of them came from the evaluation in bf16" in text


def test_no_evaluation_says_nothing_and_a_missing_file_leaves_the_parity_as_it_was(tmp_path):
    assert parity_evaluation.sentence(parity.compare(_points()), pd.DataFrame(), _evaluated({}), {}, "f") == ""
    spec = tmp_path / "parity.toml"
    spec.write_text(SPEC)
    without = parity.gather(str(spec), str(tmp_path / "results"))
    missing = parity.gather(str(spec), str(tmp_path / "results"), evaluation=str(tmp_path / "absent.json"))
    assert missing.evaluated is None and missing.reread is None and missing.text == without.text


# ------------------------------------------------------------------------------ the script

@pytest.mark.parametrize("args, says", [(["--threads", "0"], "--threads=0 is not allowed"),
                                        (["--root", "no/such/folder"], "--root='no/such/folder' is not allowed")])
def test_the_script_refuses_bad_input_with_exit_status_2(tmp_path, args, says):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "parity_evaluation.py"), *args],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


def test_the_recorded_file_matches_the_committed_tickets():
    """The committed file evaluates tickets that are still the recorded ones, and its bf16 evaluation redone
    reproduced each record (so its fp32 column is of the same tickets)."""
    frame, prov = parity_evaluation.load(REPO / "results" / parity_evaluation.FILE, REPO / "results")
    assert len(frame) and frame["current"].all() and (frame["bf16"] == frame["recorded"]).all()
    assert prov["precision"] == "fp32"
