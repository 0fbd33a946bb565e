"""The ``lottery`` command: presets, run, and one-paragraph user errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from concave_lottery.cli import main
from concave_lottery.runs.config import PRESETS, RunConfig, resolve_config


def run_cli(*args: str, env_extra: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "LOTTERY_PROGRESS": "0", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "concave_lottery.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_presets_lists_the_paper_protocols(capsys):
    assert main(["presets", "--keys"]) == 0
    out = capsys.readouterr().out
    for name in ("lenet300-mnist", "resnet20-cifar10", "vgg11-tinyimagenet", "wrn20-cifar100", "resnet56-cifar10"):
        assert name in out
    assert "85 epochs per round" in out and "mask_lr_scale" in out


def test_paper_protocols_in_presets():
    r20 = PRESETS["resnet20-cifar10"].config
    assert (r20.epochs, r20.milestones, r20.lr, r20.momentum, r20.weight_decay, r20.batch_size, r20.rounds) == \
        (85, (56, 71), 0.1, 0.9, 1e-4, 128, 3)
    vgg = PRESETS["vgg11-cifar100"].config
    assert (vgg.epochs, vgg.milestones) == (120, (60, 90))
    assert resolve_config("resnet20-cifar10", {"regularizer": "l1"}).lam == 3e-6
    assert resolve_config("resnet20-cifar10", {"regularizer": "log"}).lam == 1e-6


def test_overrides_are_parsed_by_type():
    cfg = resolve_config("lenet300-mnist", {"lam": "2e-6", "rounds": "2", "milestones": "3,5", "bf16": "true",
                                            "regularizer": "l1"})
    assert cfg.lam == 2e-6 and cfg.rounds == 2 and cfg.milestones == (3, 5) and cfg.precision == "bf16"
    for none in ("none", "None", "[]"):  # no milestones: a constant learning rate (the reproducibility runs)
        assert resolve_config("resnet20-cifar10-subset", {"milestones": none}).milestones == ()
    name = RunConfig().run_name()  # the default: soft + log at the paper's lambda, seed 0, then the hash
    assert name == f"soft-log-lam1e-06-seed0-{RunConfig().short_hash()}"
    assert len(RunConfig().short_hash()) == 8 and RunConfig(seed=1).short_hash() != RunConfig().short_hash()


@pytest.mark.parametrize("args, name, value", [
    (["run", "no-such-preset"], "preset", "no-such-preset"),
    (["run", "lenet300-mnist", "model=alexnet"], "model", "alexnet"),
    (["run", "lenet300-mnist", "dataset=imagenet"], "dataset", "imagenet"),
    (["run", "lenet300-mnist", "colour=red"], "key", "colour"),
    (["run", "lenet300-mnist", "lam=-1"], "lam", "-1.0"),
    (["run", "lenet300-mnist", "eps=0"], "eps", "0.0"),
    (["run", "lenet300-mnist", "alpha=1.5"], "alpha", "1.5"),
    (["run", "lenet300-mnist", "alpha=0"], "alpha", "0.0"),
    (["run", "lenet300-mnist", "rounds=0"], "rounds", "0"),
    (["run", "lenet300-mnist", "rounds=two"], "rounds", "two"),
    (["run", "lenet300-mnist", "method=magic"], "method", "magic"),
    (["run", "lenet300-mnist", "regularizer=l0"], "regularizer", "l0"),
    (["run", "lenet300-mnist", "lam"], "override", "lam"),
    (["run", "lenet300-mnist", "lam=inf"], "lam", "inf"),
    (["run", "lenet300-mnist", "train_subset=100000"], "train_subset", "60,000"),
    (["run", "lenet300-mnist", "test_subset=20000"], "test_subset", "10,000"),
    (["run", "lenet300-mnist", "lr=nan"], "lr", "nan"),
    (["run", "lenet300-mnist", "lam="], "lam", "must have a value"),
    (["run", "lenet300-mnist", "lam=1e-6", "lam=3e-6"], "lam", "given once"),
    (["run", "lenet300-mnist", "mcp_gamma=-1"], "mcp_gamma", "-1.0"),
    (["run", "lenet300-mnist", "scad_a=2"], "scad_a", "2.0"),
    (["run", "lenet300-mnist", "method=imp", "prune_fraction=1"], "prune_fraction", "1.0"),
    (["run", "lenet300-mnist", "method=sigmoid", "beta_final=0.5"], "beta_final", "0.5"),
    (["extend", "no-such-run", "--rounds", "3"], "run_dir", "no-such-run"),
])
def test_user_errors_exit_nonzero_with_one_paragraph(capsys, args, name, value):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{name}=" in err and value in err and "Traceback" not in err
    assert "must" in err or "one of" in err  # says what is allowed
    assert err.count("\n\n") == 0


def test_missing_dataset_names_every_source_and_the_fix(tmp_path):
    proc = run_cli("run", "resnet20-cifar100", "epochs=1", "rounds=1", "--out", str(tmp_path / "out"),
                   env_extra={"LOTTERY_DATA": str(tmp_path / "empty"), "LOTTERY_DATA_MIRROR": str(tmp_path / "none"),
                              }, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(tmp_path / "empty") in proc.stderr and "lottery data fetch" in proc.stderr


@pytest.mark.mirror
def test_run_prints_result_path_last(tmp_path):
    import os

    if not os.environ.get("LOTTERY_DATA_MIRROR"):
        pytest.skip("LOTTERY_DATA_MIRROR is not set: the MNIST run needs the offline mirror")
    proc = run_cli("run", "lenet300-mnist", "method=soft", "regularizer=log", "lam=1e-6", "eps=0.1", "alpha=0.05",
                   "rounds=2", "epochs=1", "train_subset=2000", "test_subset=1000", "seed=1", "--out",
                   str(tmp_path), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.endswith("result.json") and Path(last).exists()
    assert "soft-log-lam1e-06-seed1-" in last


def test_results_lists_finished_runs_with_hardware_and_time(tmp_path, capsys):
    from concave_lottery.runs.digests import migrate
    from concave_lottery.runs.results import run_directory, write_json

    config = resolve_config("lenet300-mnist", {"method": "imp", "rounds": 1})
    run_dir = run_directory(config, tmp_path)
    rounds = [{"round": 0, "sparsity": 0.0, "test_accuracy": 0.98},
              {"round": 1, "sparsity": 0.2, "test_accuracy": 0.975}]
    provenance = {"device": "Test CPU", "seconds": 600.0, "git_commit": "abcdef123"}
    write_json(run_dir / "config.json", config.to_dict())
    write_json(run_dir / "result.json", {"config": config.to_dict(), "rounds": rounds, "provenance": provenance})
    migrate(run_dir)  # as a run of this library writes it: with the digests of its files
    (tmp_path / "lenet300-mnist" / "unfinished").mkdir()
    assert main(["results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "imp" in out and "20.0" in out and "97.5" in out and "Test CPU" in out and "abcdef12" in out
    assert "1 finished runs, 0.2 hours" in out
    assert main(["results", str(tmp_path / "missing")]) == 2
    assert "root" in capsys.readouterr().err
