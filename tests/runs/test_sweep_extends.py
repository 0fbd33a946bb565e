"""Sweep specs that extend another (``extends`` + ``[set]``), and ``sweeps/paper-rehearsal.toml``: the paper's
spec with every run cut to 1 epoch and 1 round, which the paper-profile rehearsal trains."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from concave_lottery.errors import ParameterError
from concave_lottery.runs.sweep import load_spec, read_spec

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def test_paper_rehearsal_is_the_paper_spec_with_one_epoch_and_one_round():
    paper = load_spec(SWEEPS / "paper.toml").tasks
    rehearsal = load_spec(SWEEPS / "paper-rehearsal.toml").tasks
    assert len(paper) == len(rehearsal) == 102
    for full, cut in zip(paper, rehearsal, strict=True):
        assert cut.out == "_rehearsal/results" and full.out == "results"
        assert cut.config.epochs == 1 and cut.config.rounds == 1
        # everything else is the paper's run: preset, model, dataset, method, λ, ε, α, seed, schedule, batch
        assert dataclasses.replace(cut.config, epochs=full.config.epochs, rounds=full.config.rounds) == full.config
    assert {t.config.dataset for t in rehearsal} == {"cifar10", "cifar100", "tinyimagenet"}
    assert {t.config.model for t in rehearsal} == {"resnet20", "resnet56", "wrn20", "vgg11"}
    assert sorted({t.config.seed for t in rehearsal}) == [0, 1, 2]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_set_replaces_keys_in_every_table_and_out_is_inherited_unless_given(tmp_path):
    _write(tmp_path, "base.toml", 'out = "res"\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "imp"\nrounds = 8\n'
                                  'seed = [0, 1]\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\n')
    child = _write(tmp_path, "child.toml", 'extends = "base.toml"\n[set]\nrounds = 1\nepochs = 2\n')
    data = read_spec(child)
    assert data["out"] == "res"
    assert data["grid"] == [{"preset": "lenet300-mnist", "method": "imp", "rounds": 1, "seed": [0, 1], "epochs": 2},
                            {"preset": "lenet300-mnist", "method": "soft", "rounds": 1, "epochs": 2}]
    own = _write(tmp_path, "own.toml", 'extends = "base.toml"\nout = "elsewhere"\n')
    assert read_spec(own)["out"] == "elsewhere" and read_spec(own)["grid"] == read_spec(tmp_path / "base.toml")["grid"]
    assert len(load_spec(child).tasks) == 3


def test_a_spec_can_extend_several_and_takes_their_tables_in_turn(tmp_path):
    _write(tmp_path, "a.toml", 'out = "res"\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "imp"\nseed = [0, 1]\n')
    _write(tmp_path, "b.toml", 'out = "res"\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\n'
                               '[[grid]]\npreset = "lenet300-mnist"\nmethod = "imp"\nseed = 1\n')
    both = _write(tmp_path, "both.toml", 'extends = ["a.toml", "b.toml"]\n')
    data = read_spec(both)
    assert data["out"] == "res" and data["grid"] == read_spec(tmp_path / "a.toml")["grid"] + read_spec(
        tmp_path / "b.toml")["grid"]
    tasks = load_spec(both).tasks  # imp seed 1 is in both: run once
    assert [(t.config.method, t.config.seed) for t in tasks] == [("imp", 0), ("imp", 1), ("soft", 0)]
    _write(tmp_path, "c.toml", 'out = "other"\n[[grid]]\npreset = "lenet300-mnist"\n')
    with pytest.raises(ParameterError, match="different results roots"):
        read_spec(_write(tmp_path, "mixed.toml", 'extends = ["a.toml", "c.toml"]\n'))
    assert read_spec(_write(tmp_path, "given.toml", 'extends = ["a.toml", "c.toml"]\nout = "mine"\n'))["out"] == "mine"


@pytest.mark.parametrize("text, words", [
    ('extends = "base.toml"\n[[grid]]\npreset = "lenet300-mnist"\n', "takes its [[grid]] tables from it"),
    ('extends = "loop.toml"\n', "extends itself"),
    ('extends = "missing.toml"\n', "must be an existing TOML file"),
    ('extends = 3\n', "must name another spec"),
    ('extends = []\n', "must name another spec"),
    ('extends = ["base.toml", "loop.toml"]\n', "extends itself"),
    ('extends = "base.toml"\nset = 3\n', "must be a table of run parameters"),
])
def test_bad_extension_is_one_clear_error(tmp_path, text, words):
    _write(tmp_path, "base.toml", '[[grid]]\npreset = "lenet300-mnist"\n')
    _write(tmp_path, "loop.toml", 'extends = "spec.toml"\n')
    with pytest.raises(ParameterError, match=None) as info:
        read_spec(_write(tmp_path, "spec.toml", text))
    assert words in str(info.value)


def test_a_set_key_that_is_no_run_parameter_is_refused(tmp_path):
    _write(tmp_path, "base.toml", '[[grid]]\npreset = "lenet300-mnist"\n')
    spec = _write(tmp_path, "spec.toml", 'extends = "base.toml"\n[set]\nepoch = 1\n')
    with pytest.raises(ParameterError, match="epoch"):
        load_spec(spec)
