"""How much of a run is trained, read from its files (:mod:`concave_lottery.runs.progress`): the epochs a run
plans in all its phases, the epochs its folder records (recorded rounds, complete phases, the checkpoint of
the phase in progress; a damaged checkpoint counts for nothing), and the seconds its recorded epochs took."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from concave_lottery.runs.config import RunConfig
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.paths import RunDir
from concave_lottery.runs.progress import describe, epoch_seconds, epochs_planned, epochs_trained, progress


@given(rounds=st.integers(1, 30), epochs=st.integers(1, 200))
def test_planned_epochs_count_every_training_phase(rounds, epochs):
    imp = RunConfig(method="imp", rounds=rounds, epochs=epochs)
    assert epochs_planned(imp) == (rounds + 1) * epochs  # levels 0..L, level 0 the dense network
    for tickets, trained in (("all", rounds), ("last", 1), ("none", 0)):
        soft = RunConfig(method="soft", rounds=rounds, epochs=epochs, train_tickets=tickets)
        assert epochs_planned(soft) == (rounds + trained) * epochs  # a search every round, the tickets asked for


def _metrics(path: Path, seconds: list[float]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": i + 1, "seconds": s}
                                                              for i, s in enumerate(seconds)], "steps": []}))


def _unfinished_run(tmp_path: Path, *, damaged: bool = False) -> tuple[Path, RunConfig]:
    """A soft run of 3 rounds of 10 epochs: round 1 recorded, round 2's search complete (10 epochs) and its
    ticket at epoch 4 (a checkpoint, with its digest; ``damaged``: one byte flipped)."""
    config = RunConfig(method="soft", rounds=3, epochs=10)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    (run.round(1).path).mkdir()
    run.round(1).record.write_text("{}")
    _metrics(run.round(2).search.path, [5.0] * 10)
    run.round(2).ticket.path.mkdir(parents=True)
    Digests(run).save_torch({"history": [{"epoch": e} for e in range(4)]}, run.round(2).ticket.checkpoint)
    if damaged:
        data = bytearray(run.round(2).ticket.checkpoint.read_bytes())
        data[len(data) // 2] ^= 0xFF
        run.round(2).ticket.checkpoint.write_bytes(bytes(data))
    return run.path, config


def test_trained_epochs_are_read_from_records_metrics_and_the_checkpoint(tmp_path):
    run_dir, config = _unfinished_run(tmp_path)
    assert progress(run_dir) == {"round": 2, "phase": "ticket", "epochs_done": 4}
    assert epochs_trained(run_dir, config) == 2 * 10 + 10 + 4  # round 1's search and ticket, round 2 so far
    assert epochs_planned(config) == 60
    assert epochs_trained(tmp_path / "not-started", config) == 0
    (Path(run_dir) / "result.json").write_text("{}")
    assert epochs_trained(run_dir, config) == epochs_planned(config)


def test_a_run_is_described_in_a_few_words(tmp_path):
    run_dir, config = _unfinished_run(tmp_path)
    assert describe(run_dir, config) == "round 2 of 3 (ticket), epoch 4 of 10; 26 of 60 epochs left"
    imp = RunConfig(method="imp", rounds=20, epochs=85)
    assert describe(tmp_path / "not-started", imp) == "not started, 1,785 epochs"
    level = RunDir(tmp_path / "imp")
    level.round(0).path.mkdir(parents=True)
    level.round(0).record.write_text("{}")
    assert describe(level.path, imp) == "level 1 of 0-20, starting; 1,700 of 1,785 epochs left"  # level 1 not begun
    (Path(run_dir) / "result.json").write_text("{}")
    assert describe(run_dir, config) == "finished"


def test_a_damaged_checkpoint_counts_for_nothing(tmp_path):
    run_dir, config = _unfinished_run(tmp_path, damaged=True)
    assert epochs_trained(run_dir, config) == 2 * 10 + 10  # the run retrains that phase itself


@pytest.mark.parametrize("method, recorded", [("imp", 1), ("soft", 2)])
def test_a_recorded_round_counts_its_phases(tmp_path, method, recorded):
    config = RunConfig(method=method, rounds=2, epochs=7)
    run = RunDir(tmp_path / "run")
    (run.round(1).path).mkdir(parents=True)
    run.round(1).record.write_text("{}")
    assert epochs_trained(run.path, config) == recorded * 7  # an IMP level trains once


def test_epoch_seconds_are_those_of_the_complete_phases(tmp_path):
    run_dir, _ = _unfinished_run(tmp_path)
    _metrics(RunDir(run_dir).round(1).search.path, [1.0, 2.0])
    assert sorted(epoch_seconds(run_dir)) == [1.0, 2.0] + [5.0] * 10  # the checkpoint's epochs have no time yet


def test_the_dry_run_gives_the_hours_left_at_the_recorded_pace(tmp_path, capsys):
    """``lottery sweep SPEC --dry-run`` ends with the epochs left and, once some epochs are recorded, the hours
    they take at the median pace of the spec's recorded epochs."""
    import shutil

    from concave_lottery.cli import main
    from concave_lottery.runs.sweep import load_spec

    spec = tmp_path / "spec.toml"
    spec.write_text(f'out = "{tmp_path / "results"}"\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\n'
                    'rounds = 3\nepochs = 10\n')
    task = load_spec(str(spec)).tasks[0]
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 runs, 0 finished; 60 of 60 epochs of training left" in out and "median pace" not in out
    run_dir, _ = _unfinished_run(tmp_path)
    task.run_dir.parent.mkdir(parents=True)
    shutil.move(run_dir, task.run_dir)
    _metrics(RunDir(task.run_dir).round(2).search.path, [300.0] * 9 + [900.0])  # median 300 s
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[round 2 of 3 (ticket), epoch 4 of 10; 26 of 60 epochs left]" in out
    # 26 epochs x 300 s = 2.2 hours
    assert ("at the median pace of these runs' recorded epochs (300.0 s, 10 epochs), about 2.2 hours of training, "
            "shared among the runs trained side by side") in out
