"""The ticket deployment benchmark's record and table (concave_lottery.export.benchmark); it never asserts a time."""

from __future__ import annotations

import json

import pytest
from conftest import NEEDS_MNIST

from concave_lottery.errors import CorruptFile
from concave_lottery.export.benchmark import deploy_table, hardware_line, load_record, run_benchmark


@NEEDS_MNIST
def test_a_record_holds_every_format_and_replays_as_a_table(mnist_ticket_runs, tmp_path):
    out = tmp_path / "deploy.json"
    record = run_benchmark([mnist_ticket_runs["soft"]], out, repeats={1: 3, 128: 2})
    assert load_record(out) == json.loads(json.dumps(record))
    ticket = record["tickets"][0]
    assert set(ticket["bytes"]) == {"dense", "masked", "sparse", "compact"}
    assert ticket["bytes"]["sparse"] < ticket["bytes"]["dense"] < ticket["bytes"]["masked"]  # 98% sparse
    assert ticket["parameters"]["compact"] < ticket["parameters"]["dense"]
    assert ticket["compact_max_abs_difference"] < 1e-3
    assert all(v is not None and v > 0 for v in ticket["latency_seconds"]["1"].values())  # LeNet: sparse applies
    table = deploy_table(out)
    assert list(table.index.get_level_values("format")) == ["dense", "masked", "sparse", "compact"]
    assert {"on disk", "vs dense", "latency, batch 1", "latency, batch 128"} <= set(table.columns)
    assert record["provenance"]["cpu"] in hardware_line(record)
    assert deploy_table(record, caption=True).caption == hardware_line(record)


def test_a_file_that_is_not_a_record_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": 99}')
    with pytest.raises(CorruptFile, match="benchmarks/ticket_deploy.py"):
        load_record(path)
    with pytest.raises(CorruptFile, match="cannot be read"):
        load_record(tmp_path / "missing.json")
