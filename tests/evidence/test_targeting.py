"""The book's view of recorded calibrations (concave_lottery.evidence.targeting), on a record written by
``calibrate`` with stand-in probes (a given sparsity curve; tests/runs/test_calibrate.py trains real ones)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from concave_lottery.errors import CorruptFile  # noqa: E402
from concave_lottery.evidence import targeting  # noqa: E402
from concave_lottery.runs.calibrate import CalibrationSpec, calibrate  # noqa: E402
from concave_lottery.runs.config import resolve_config  # noqa: E402
from concave_lottery.runs.results import run_directory  # noqa: E402


def _run(config, out, **kwargs):
    s = 1.0 / (1.0 + math.exp(-2.0 * (math.log10(config.lam) + 5.5)))
    result = {"config": config.to_dict(), "provenance": {"seconds": 30.0},
              "rounds": [{"round": 1, "sparsity": s, "remaining_weights": 0, "search_test_accuracy": 0.95}]}
    return run_directory(config, out) / "result.json", result


def test_summary_probes_figure_and_sentence_come_from_the_record(tmp_path):
    base = resolve_config("lenet300-mnist", {"regularizer": "log", "rounds": "1", "epochs": "10"})
    path, record = calibrate(base, CalibrationSpec(target_sparsity=0.9), tmp_path, device="cpu", data=object(),
                             run=_run)
    records = targeting.load_records(tmp_path)
    assert len(records) == 1 and records[0]["found"] == record["found"]
    summary = targeting.summary_frame(records)
    row = summary.iloc[0]
    assert row["target"] == "0.9 ± 0.01" and row["status"] == "reached" and row["monotone"] == "yes"
    assert row["sparsity reached"] == round(record["found"]["sparsity"], 4) and row["probes"] == len(record["probes"])
    assert row["probe minutes"] == round(0.5 * len(record["probes"]), 1) and row["ticket acc %"] is None
    assert "1 round(s) of 10 epochs" in row["protocol"] and row["search acc % there"] == 95.0
    probes = targeting.probe_frame(records[0])
    assert list(probes["λ"]) == sorted(p["value"] for p in record["probes"])
    assert probes["sparsity"].is_monotonic_increasing
    fig = targeting.plot_probe_curves(records)
    assert fig.axes[0].get_xscale() == "log"
    text = targeting.narrate_records(records)
    assert f"λ = {record['found']['value']:.4g} reached" in text and "No ticket is recorded" in text
    assert targeting.narrate_records([]).startswith("No calibration")
    assert targeting.summary_frame([]).empty and targeting.plot_probe_curves([]) is not None
    path.write_text(path.read_text().replace('"reached": true', '"reached": false'))
    with pytest.raises(CorruptFile, match="does not match its digest"):
        targeting.load_records(tmp_path)
