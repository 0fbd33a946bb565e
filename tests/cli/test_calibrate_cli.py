"""``lottery calibrate``: the table of probes, the monotonicity message, exit 2 for bad input, exit 3 for a target
not reached. The probes' training is replaced by a given sparsity curve (tests/runs/test_calibrate.py trains real
probes)."""

from __future__ import annotations

import math

import pytest

import concave_lottery.data
import concave_lottery.runs.lottery
from concave_lottery.cli import main
from concave_lottery.runs.calibrate import load_calibration
from concave_lottery.runs.results import run_directory


@pytest.fixture
def curve(monkeypatch):
    """Set the sparsity a probe reaches as a function of λ; nothing is trained and no dataset is read."""
    holder = {}

    def run(config, out, **kwargs):
        result = {"config": config.to_dict(), "provenance": {"seconds": 60.0},
                  "rounds": [{"round": 1, "sparsity": holder["f"](config.lam), "remaining_weights": 0,
                              "search_test_accuracy": 0.9}]}
        return run_directory(config, out) / "result.json", result

    monkeypatch.setattr(concave_lottery.runs.lottery, "run_lottery", run)
    monkeypatch.setattr(concave_lottery.data, "load_dataset", lambda *a, **k: object())
    return holder


def _logistic(lam: float) -> float:
    return 1.0 / (1.0 + math.exp(-2.0 * (math.log10(lam) + 5.5)))


def test_prints_the_value_found_the_sparsity_and_the_curve(curve, tmp_path, capsys):
    curve["f"] = _logistic
    code = main(["calibrate", "lenet300-mnist", "regularizer=log", "rounds=1", "epochs=2", "target_sparsity=0.9",
                 "--out", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "λ found: " in out and "sparsity reached 0." in out and "(target 0.9 ± 0.01)" in out
    assert "was monotone over the" in out and "NOT monotone" not in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("#"))
    assert "λ" in header and "sparsity" in header and "run" in header
    record = load_calibration(next(tmp_path.glob("lenet300-mnist/calibrate-*")))
    assert record["reached"] and abs(record["found"]["sparsity"] - 0.9) <= 0.01
    assert record["command"].startswith("lottery calibrate lenet300-mnist regularizer=log")
    assert f"{record['found']['value']:.4g}" in out
    assert "--ticket" in out  # says how to train the ticket at the value found


def test_says_clearly_when_sparsity_is_not_monotone(curve, tmp_path, capsys):
    curve["f"] = lambda lam: 0.5 if lam <= 2e-6 else 0.2 + 0.7 * min(1.0, max(0.0, math.log10(lam) + 5))
    code = main(["calibrate", "lenet300-mnist", "target_sparsity=0.7", "lo=1e-6", "hi=1e-4", "--out", str(tmp_path),
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "is NOT monotone" in out and "s(1e-06) = 0.5000 then s(1e-05) = 0.2000" in out


@pytest.mark.parametrize(("args", "reason"), [
    (["target_sparsity=0.9", "budget=3"], "the 3 probes of the budget ran out"),
    (["target_sparsity=0.999999", "tolerance=1e-7", "hi=1"], "reaches only"),
])
def test_a_target_not_reached_exits_3_with_one_paragraph(curve, tmp_path, capsys, args, reason):
    curve["f"] = lambda lam: min(0.95, _logistic(lam))
    code = main(["calibrate", "lenet300-mnist", *args, "--out", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "Traceback" not in err and err.count("\n\n") == 0
    assert "was not reached" in err and reason in err and "budget=" in err
    assert "record: " in out  # the probes and the record are kept: a rerun with a larger budget continues
    assert not load_calibration(next(tmp_path.glob("lenet300-mnist/calibrate-*")))["reached"]


@pytest.mark.parametrize(("args", "name"), [
    (["regularizer=log"], "target_sparsity"),
    (["target_sparsity=1.5"], "target_sparsity"),
    (["target_sparsity=0.9", "tolerance=0.7"], "tolerance"),
    (["target_sparsity=0.9", "budget=1"], "budget"),
    (["target_sparsity=0.9", "vary=alpha"], "vary"),
    (["target_sparsity=0.9", "lo=1e-5", "hi=1e-6"], "hi"),
    (["target_sparsity=0.9", "method=imp"], "method"),
    (["target_sparsity=0.9", "vary=eps", "regularizer=l1"], "vary"),
    (["target_sparsity=0.9", "epochs=0"], "epochs"),
    (["target_sparsity=0.9", "train_tickets=some"], "train_tickets"),
])
def test_bad_input_exits_2_with_one_paragraph(tmp_path, capsys, args, name):
    assert main(["calibrate", "lenet300-mnist", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{name}=" in err and "Traceback" not in err and err.count("\n\n") == 0
    assert "must" in err or "needs" in err
    assert not any(tmp_path.iterdir())
