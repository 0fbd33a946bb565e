"""Choosing the campaign's epochs per phase from dense convergence runs (evidence.convergence)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from concave_lottery.evidence import convergence


def _write_run(root: Path, epochs: int, seed: int, curve: list[float], finished: bool = True) -> Path:
    run = root / f"imp-p0.2-seed{seed}-e{epochs}"
    (run / "round-0" / "ticket").mkdir(parents=True)
    config = {"epochs": epochs, "milestones": list(convergence.compressed_milestones(epochs)), "seed": seed,
              "method": "imp", "rounds": 0}
    (run / "config.json").write_text(json.dumps(config))
    if finished:
        epochs_rows = [{"epoch": i + 1, "lr": 0.1, "train_accuracy": a, "test_accuracy": a}
                       for i, a in enumerate(curve)]
        (run / "round-0" / "ticket" / "metrics.json").write_text(json.dumps({"epochs": epochs_rows, "steps": 1}))
        (run / "result.json").write_text(json.dumps({"config": config, "rounds": [],
                                                     "provenance": {"device": "test CPU"}}))
    return run


def test_compressed_milestones_keep_the_papers_fractions():
    assert convergence.compressed_milestones(85) == (56, 71)
    assert convergence.compressed_milestones(30) == (20, 25)
    assert convergence.compressed_milestones(40) == (26, 33)
    with pytest.raises(ValueError):
        convergence.compressed_milestones(0)


@given(st.integers(min_value=1, max_value=400))
def test_compressed_milestones_are_increasing_epochs_inside_the_round(epochs):
    first, second = convergence.compressed_milestones(epochs)
    assert 1 <= first <= second <= epochs


def test_curves_read_finished_runs_and_the_table_lists_unfinished_ones(tmp_path):
    runs = [_write_run(tmp_path, 85, 0, [0.5, 0.8, 0.9]), _write_run(tmp_path, 30, 0, [0.6, 0.88]),
            _write_run(tmp_path, 30, 1, [], finished=False)]
    curves = convergence.dense_curves(runs)
    assert set(curves["run"]) == {runs[0].name, runs[1].name}
    assert curves.groupby("epochs_per_phase")["epoch"].max().to_dict() == {30: 2, 85: 3}
    table = convergence.run_table(runs)
    assert table.set_index("run").loc[runs[2].name, "status"] == "in progress"
    assert table.set_index("run").loc[runs[1].name, "status"] == "finished"
    assert table.set_index("run").loc[runs[0].name, "epochs_done"] == 3
    finals = convergence.final_accuracies(curves)
    assert finals.set_index("epochs_per_phase").loc[85, "test_accuracy"] == 0.9


def _finals(values: dict[int, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"epochs_per_phase": e, "seed": s, "test_accuracy": a}
                         for e, accs in values.items() for s, a in enumerate(accs)])


def test_the_shortest_schedule_within_the_tolerance_is_chosen():
    choice = convergence.choose_epochs(_finals({85: [0.800, 0.804], 40: [0.799, 0.801], 30: [0.780, 0.790]}))
    assert choice.epochs == 40
    row = choice.table.set_index("epochs_per_phase").loc[40]
    assert row["gap"] == pytest.approx(-0.002)
    assert "E = 40" in choice.text and "-0.2 pp" in choice.text


def test_a_gap_beyond_the_tolerance_keeps_the_papers_schedule():
    choice = convergence.choose_epochs(_finals({85: [0.80, 0.81], 30: [0.70, 0.72]}))
    assert choice.epochs == 85
    assert "keeps the paper's 85 epochs" in choice.text


def test_noisy_seeds_make_the_choice_say_it_is_not_precise():
    choice = convergence.choose_epochs(_finals({85: [0.75, 0.79], 30: [0.76, 0.79]}), test_images=1017)
    assert choice.epochs == 30 and not choice.precise
    assert "not known to 0.5 pp" in choice.text
    assert any("binomial standard error of ±1.3 pp" in note for note in choice.notes)
    assert any("differ by 4.0 pp" in note for note in choice.notes)


def test_precise_when_the_interval_lies_inside_the_tolerance():
    choice = convergence.choose_epochs(_finals({85: [0.8000, 0.8010, 0.8005], 30: [0.8001, 0.8009, 0.8004]}))
    assert choice.epochs == 30 and choice.precise


def test_without_the_papers_schedule_nothing_is_chosen():
    choice = convergence.choose_epochs(_finals({30: [0.8, 0.81]}))
    assert choice.epochs is None and "No finished dense run" in choice.text


def test_the_table_is_formatted_for_people():
    choice = convergence.choose_epochs(_finals({85: [0.800, 0.804], 40: [0.799, 0.801]}))
    table = convergence.format_table(choice.table)
    assert list(table.columns) == ["Schedule (epochs)", "Seeds", "Final dense accuracy (%)",
                                   "Gap to 85 epochs (pp)", "95% interval (pp)"]
    row = table.set_index("Schedule (epochs)").loc[40]
    assert row["Final dense accuracy (%)"] == "80.0 ± 0.1" and row["Gap to 85 epochs (pp)"] == "-0.2"
    assert table.set_index("Schedule (epochs)").loc[85, "Gap to 85 epochs (pp)"] == "—"


def test_the_run_table_lists_sweep_tasks_not_started_yet(tmp_path):
    from concave_lottery.runs.sweep import tasks_from_tables

    tasks = tasks_from_tables([{"preset": "resnet20-cifar10-subset", "method": "imp", "rounds": 0, "epochs": 30,
                                "milestones": [20, 25], "seed": [0, 1]}], str(tmp_path), "cpu")
    table = convergence.run_table(tasks)
    assert list(table["status"]) == ["not started", "not started"]
    assert list(table["epochs_per_phase"]) == [30, 30] and list(table["seed"]) == [0, 1]


def test_the_figure_draws_one_line_per_schedule(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    runs = [_write_run(tmp_path, 85, 0, [0.5, 0.8, 0.9]), _write_run(tmp_path, 30, 0, [0.6, 0.88])]
    fig = convergence.plot_curves(convergence.dense_curves(runs))
    labels = [line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert labels == ["85 epochs (1 seed)", "30 epochs (1 seed)"]


def test_unfinished_shorter_schedules_leave_e_unchosen():
    finals = _finals({85: [0.76, 0.77]})
    choice = convergence.choose_epochs(finals, planned=[85, 40, 30])
    assert choice.epochs is None and "40, 30 epochs) have not finished yet" in choice.text
    partial = convergence.choose_epochs(_finals({85: [0.76, 0.77], 40: [0.762, 0.768]}), planned=[85, 40, 30])
    assert partial.epochs == 40 and any("Still training: the 30-epoch runs" in n for n in partial.notes)
    failing = convergence.choose_epochs(_finals({85: [0.76, 0.77], 40: [0.70, 0.71]}), planned=[85, 40, 30])
    assert failing.epochs is None  # 30 epochs may not be tried before 85 is kept by default
