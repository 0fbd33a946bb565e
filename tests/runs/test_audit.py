"""lottery audit: passes on a recorded run, fails on tampered copies with a message naming what differs
(issue 18, part 3). CI audits the committed LeNet-300-100 run with ticket weights here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from conftest import NEEDS_MNIST

from concave_lottery.cli import main
from concave_lottery.runs.audit import audit_run
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.paths import RunDir

RECORDED = Path(__file__).resolve().parents[2] / "results" / "lenet300-mnist" / "soft-log-lam4e-06-seed0-9804b481"

pytestmark = NEEDS_MNIST


def test_the_recorded_run_with_ticket_weights_passes(capsys):
    assert main(["audit", str(RECORDED)]) == 0
    out = capsys.readouterr().out
    assert "passes every check" in out
    assert out.count("ok    accuracy") == 3 and out.count("ok    zeros") == 3


def _copy(run: Path, tmp_path: Path) -> RunDir:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return RunDir(target)


def _failures(run: RunDir) -> dict[str, str]:
    report = audit_run(run.path)
    assert not report.ok
    return {f.check: f.message for f in report.failures}


def test_a_small_run_passes_and_every_check_is_made(mnist_ticket_runs):
    for run in mnist_ticket_runs.values():
        report = audit_run(run)
        assert report.ok and not report.missing_weights, report.lines()
        assert {f.check for f in report.findings} == {"digests", "config", "records", "masks", "zeros", "accuracy"}


def test_an_unzeroed_weight_fails(mnist_ticket_runs, tmp_path, capsys):
    run = _copy(mnist_ticket_runs["soft"], tmp_path)
    path = run.round(2).ticket_weights
    state = torch.load(path, weights_only=True)
    mask = Digests(run).load_torch(run.round(2).masks)["fc_layers.1.weight"]["alive"]
    state["fc_layers.1.weight"][~mask] = 0.5  # un-zero the pruned weights of one layer ...
    torch.save(state, path)                   # ... without its digest: caught by the digests
    assert "does not match its digest" in _failures(run)["digests"]
    assert main(["audit", str(run.path)]) == 1
    assert "FAILED" in capsys.readouterr().err
    Digests(run).save_torch(state, path)      # ... and with a new digest: caught by the zeros
    message = _failures(run)["zeros"]
    assert "round 2" in message and "fc_layers.1.weight" in message and "not 0" in message


def test_an_edited_accuracy_fails(mnist_ticket_runs, tmp_path):
    run = _copy(mnist_ticket_runs["soft"], tmp_path)
    digests = Digests(run)
    result = digests.read_json(run.result)
    result["rounds"][-1]["test_accuracy"] += 0.01
    digests.write_json(run.result, result)    # result.json alone: it disagrees with the round's record
    assert "round 2: result.json and round-2/record.json differ (test_accuracy" in _failures(run)["records"]
    record = digests.read_json(run.round(2).record)
    record["test_accuracy"] = result["rounds"][-1]["test_accuracy"]
    digests.write_json(run.round(2).record, record)  # both: the recomputed accuracy disagrees
    message = _failures(run)["accuracy"]
    assert "round 2: the saved ticket scores" in message and "the record says" in message


def test_a_swapped_mask_fails(mnist_ticket_runs, tmp_path):
    run = _copy(mnist_ticket_runs["soft"], tmp_path)
    digests = Digests(run)
    first, second = (digests.load_torch(run.round(t).masks) for t in (1, 2))
    digests.save_torch(second, run.round(1).masks)  # round 1's mask replaced by round 2's (fewer survivors)
    assert "keeps" in _failures(run)["masks"] and "the record says" in _failures(run)["masks"]
    digests.save_torch(first, run.round(1).masks)
    alive = second["fc_layers.0.weight"]["alive"]
    perm = torch.randperm(alive.numel(), generator=torch.Generator().manual_seed(0))
    second["fc_layers.0.weight"]["alive"] = alive.flatten()[perm].view_as(alive)  # same count, other weights
    second["fc_layers.0.weight"]["alive"] &= first["fc_layers.0.weight"]["alive"]
    digests.save_torch(second, run.round(2).masks)
    failures = _failures(run)
    assert "masks" in failures or "zeros" in failures


def test_a_changed_config_fails(mnist_ticket_runs, tmp_path):
    run = _copy(mnist_ticket_runs["imp"], tmp_path)
    digests = Digests(run)
    config = digests.read_json(run.config)
    config["seed"] = 7
    digests.write_json(run.config, config)
    assert "differ in ['seed']" in _failures(run)["config"]
    result = digests.read_json(run.result)
    result["config"]["seed"] = 7
    digests.write_json(run.result, result)
    assert "its config's run name is imp-p0.2-seed7" in _failures(run)["config"]


def test_a_run_without_ticket_weights_is_audited_and_says_what_is_missing(mnist_ticket_runs, tmp_path, capsys):
    run = _copy(mnist_ticket_runs["imp"], tmp_path)
    Digests(run).delete(*[r.ticket_weights for r in run.rounds()])
    report = audit_run(run.path)
    assert report.ok and report.missing_weights == [0, 1, 2]
    assert main(["audit", str(run.path)]) == 2
    err = capsys.readouterr().err.replace("\n  ", " ")
    assert "has no ticket weights for rounds [0, 1, 2]" in err and "lottery run lenet300-mnist method=imp" in err
    assert json.loads(run.result.read_text())["rounds"]  # the run itself is left as it was


def test_a_run_resumed_with_other_speed_switches_passes_and_says_so(mnist_ticket_runs, tmp_path):
    """channels_last and compile are speed switches, not part of a run's identity: a run may be resumed with
    other ones (``same_run``), and result.json then records the last. The audit accepts that and names them;
    any other difference still fails."""
    run = _copy(mnist_ticket_runs["soft"], tmp_path)
    digests = Digests(run)
    result = digests.read_json(run.result)
    result["config"]["compile"] = not result["config"]["compile"]
    result["config"]["channels_last"] = not result["config"]["channels_last"]
    digests.write_json(run.result, result)
    report = audit_run(run.path)
    assert report.ok, report.lines()
    config = next(f for f in report.findings if f.check == "config")
    assert "differ only in the speed switches ['channels_last', 'compile']" in config.message
    result["config"]["lam"] = result["config"]["lam"] * 2
    digests.write_json(run.result, result)
    assert "differ in ['channels_last', 'compile', 'lam']" in _failures(run)["config"]
