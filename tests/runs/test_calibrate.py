"""``lottery calibrate``'s library (concave_lottery.runs.calibrate): probes are cached runs of a real model.

LeNet-300-100 on tiny synthetic 8x8 images (the ``tiny_images`` fixture: 256 training images; 1 round of 2 epochs):
each probe is an ordinary run folder trained by Algorithm 1's search, so the calibration can be checked end to end
in seconds.
"""

from __future__ import annotations

import json

import pytest
import torch

from concave_lottery.data import ImageData
from concave_lottery.errors import ParameterError
from concave_lottery.runs.calibrate import (
    CalibrationSpec,
    calibrate,
    calibration_dir,
    load_calibration,
    parse_calibration_args,
    probe_config,
    train_ticket,
)
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.results import check_finished_run, load_result


@pytest.fixture(scope="module")
def tiny(tiny_images) -> ImageData:
    return tiny_images()


BASE = {"regularizer": "log", "rounds": "1", "epochs": "2"}


def test_calibration_reaches_the_target_resumes_from_cached_probes_and_trains_the_ticket(tmp_path, tiny):
    base = resolve_config("lenet300-mnist", BASE)
    spec = CalibrationSpec(target_sparsity=0.5, tolerance=0.05, budget=12, lo=1e-3, hi=1.6e-3)
    seen: list[bool] = []
    path, record = calibrate(base, spec, tmp_path, device="cpu", progress=False, data=tiny,
                             on_probe=lambda entry, bisection, cached: seen.append(cached))
    assert record["status"] == "reached" and record["reached"]
    found = record["found"]
    assert abs(found["sparsity"] - 0.5) <= 0.05
    assert not any(seen) and len(seen) == len(record["probes"]) >= 3
    assert record["monotone"] is True and record["violations"] == []
    assert path.parent == calibration_dir(base, spec, tmp_path) and load_calibration(path) == record
    # every probe is an ordinary finished run: digests verify, no ticket trained, its sparsity recorded
    for entry in record["probes"]:
        check_finished_run(tmp_path / entry["run"])
        result = load_result(tmp_path / entry["run"])
        assert result["config"]["train_tickets"] == "none" and result["config"]["lam"] == entry["value"]
        assert result["rounds"][-1]["sparsity"] == entry["sparsity"]
        assert result["rounds"][-1]["test_accuracy"] is None
        assert not list((tmp_path / entry["run"]).rglob("ticket"))
    # a rerun trains nothing and asks for the same probes (no dataset given: a cached probe needs none)
    seen.clear()
    again_path, again = calibrate(base, spec, tmp_path, device="cpu", progress=False,
                                  on_probe=lambda entry, bisection, cached: seen.append(cached))
    assert again_path == path and all(seen) and again["probes"] == record["probes"]
    # the ticket at the λ found reuses the probe's search: same masks, same sparsity, a trained ticket
    result_path, result = train_ticket(path, tmp_path, device="cpu", progress=False, data=tiny)
    last = result["rounds"][-1]
    assert last["sparsity"] == found["sparsity"] and 0.0 <= last["test_accuracy"] <= 1.0
    assert result["config"]["train_tickets"] == "all" and result["config"]["lam"] == found["value"]
    probe_masks = torch.load(tmp_path / found["run"] / "round-1" / "masks.pt", weights_only=True)
    ticket_masks = torch.load(result_path.parent / "round-1" / "masks.pt", weights_only=True)
    assert all(torch.equal(probe_masks[k]["alive"], ticket_masks[k]["alive"]) for k in probe_masks)
    check_finished_run(result_path.parent)
    ticket = load_calibration(path)["ticket"]
    assert ticket["test_accuracy"] == last["test_accuracy"] and ticket["sparsity"] == found["sparsity"]
    assert json.loads((result_path.parent / "started.json").read_text())["searches_of_probe"] == found["run"]


def test_eps_at_fixed_lambda_on_real_probes(tmp_path, tiny):
    """ε of the log regularizer at fixed λ: the direction of s(ε) is read from the bracket's ends."""
    base = resolve_config("lenet300-mnist", {**BASE, "lam": "1.2e-3"})
    spec = CalibrationSpec(vary="eps", target_sparsity=0.5, tolerance=0.05, budget=10)
    _, record = calibrate(base, spec, tmp_path, device="cpu", progress=False, data=tiny)
    assert record["reached"] and abs(record["found"]["sparsity"] - 0.5) <= 0.05 and record["monotone"]
    for entry in record["probes"]:
        config = load_result(tmp_path / entry["run"])["config"]
        assert config["eps"] == entry["value"] and config["lam"] == 1.2e-3 and config["train_tickets"] == "none"


def _fake_run(sparsity_of):
    """A stand-in for run_lottery: the sparsity of a probe is a given function of λ (or ε)."""
    from concave_lottery.runs.results import run_directory

    def run(config, out, **kwargs):
        value = config.lam if config.eps == 0.1 else config.eps
        result = {"config": config.to_dict(), "provenance": {"seconds": 1.0},
                  "rounds": [{"round": 1, "sparsity": sparsity_of(value), "remaining_weights": 0,
                              "search_test_accuracy": 0.5}]}
        return run_directory(config, out) / "result.json", result

    return run


def test_non_monotone_sparsity_is_recorded(tmp_path):
    def dip(lam: float) -> float:  # 0.5 up to 2e-6, 0.2 at 1e-5, then up to 0.9 at 1e-4
        import math

        return 0.5 if lam <= 2e-6 else 0.2 + 0.7 * min(1.0, max(0.0, math.log10(lam) + 5))

    base = resolve_config("lenet300-mnist", BASE)
    spec = CalibrationSpec(target_sparsity=0.7, tolerance=0.01, budget=20, lo=1e-6, hi=1e-4)
    _, record = calibrate(base, spec, tmp_path, device="cpu", data=object(), run=_fake_run(dip))
    assert record["reached"] and record["monotone"] is False
    assert record["violations"] == [{"lower": {"value": 1e-6, "sparsity": 0.5},
                                     "upper": {"value": 1e-5, "sparsity": 0.2}}]


def test_eps_at_fixed_lambda_reads_the_direction_from_the_bracket(tmp_path):
    base = resolve_config("lenet300-mnist", {**BASE, "lam": "2e-6"})
    spec = CalibrationSpec(vary="eps", target_sparsity=0.3, tolerance=0.01, budget=30)
    _, record = calibrate(base, spec, tmp_path, device="cpu", data=object(),
                          run=_fake_run(lambda eps: 1.0 / (1.0 + eps)))  # decreasing in ε: ε = 7/3 gives 0.3
    assert record["reached"] and record["monotone"] and record["vary"] == "eps"
    assert abs(record["found"]["sparsity"] - 0.3) <= 0.01 and record["protocol"]["lam"] == 2e-6
    assert record["bracket"] == [0.03162, 0.3162]  # the protocol's ε = 0.1, / and · √10


def test_unreachable_target_is_a_record_not_an_exception(tmp_path):
    base = resolve_config("lenet300-mnist", BASE)
    spec = CalibrationSpec(target_sparsity=0.9, tolerance=0.01, budget=30)
    _, record = calibrate(base, spec, tmp_path, device="cpu", data=object(), run=_fake_run(lambda lam: 0.4))
    assert record["status"] == "unreachable" and not record["reached"]
    assert "0.4000" in record["reason"] and record["found"]["sparsity"] == 0.4
    with pytest.raises(Exception, match="did not reach its target"):
        train_ticket(calibration_dir(base, spec, tmp_path), tmp_path, device="cpu")


@pytest.mark.parametrize(("overrides", "name"), [
    ({}, "target_sparsity"),
    ({"target_sparsity": "1.5"}, "target_sparsity"),
    ({"target_sparsity": "x"}, "target_sparsity"),
    ({"target_sparsity": "0.9", "tolerance": "0"}, "tolerance"),
    ({"target_sparsity": "0.9", "budget": "1"}, "budget"),
    ({"target_sparsity": "0.9", "budget": "2.5"}, "budget"),
    ({"target_sparsity": "0.9", "vary": "alpha"}, "vary"),
    ({"target_sparsity": "0.9", "factor": "1"}, "factor"),
    ({"target_sparsity": "0.9", "lo": "1e-5", "hi": "1e-6"}, "hi"),
    ({"target_sparsity": "0.9", "hi": "2"}, "hi"),
])
def test_bad_calibration_keys_name_the_parameter(overrides, name):
    with pytest.raises(ParameterError) as info:
        parse_calibration_args(overrides)
    assert info.value.name == name


def test_protocols_whose_sparsity_lambda_does_not_decide_are_refused(tmp_path):
    spec = CalibrationSpec(target_sparsity=0.9)
    with pytest.raises(ParameterError, match="method must be one of soft, sigmoid"):
        calibrate(resolve_config("lenet300-mnist", {"method": "imp"}), spec, tmp_path, device="cpu")
    with pytest.raises(ParameterError, match="vary=eps needs method=soft and regularizer=log"):
        calibrate(resolve_config("lenet300-mnist", {"regularizer": "l1"}), CalibrationSpec(vary="eps"), tmp_path,
                  device="cpu")
    assert probe_config(resolve_config("lenet300-mnist", BASE), "lam", 1e-6).train_tickets == "none"
    assert not any(tmp_path.iterdir())  # refused before any folder is made
