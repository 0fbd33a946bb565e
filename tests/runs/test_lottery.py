"""The lottery loop end to end on a tiny synthetic dataset: records, resume, no recomputation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from concave_lottery.runs import lottery as lotterylib
from concave_lottery.runs import training
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.digests import Digests, migrate
from concave_lottery.runs.results import load_runs

FAST = {"epochs": 2, "batch_size": 32, "rounds": 2, "lr": 0.05}


def config(**overrides):
    return resolve_config("lenet300-mnist", {**FAST, **overrides})


@pytest.fixture
def run(tiny_images):
    """``run(out, cfg, data=None)``: the lottery run of ``cfg`` under ``out`` on the tiny synthetic data."""

    def run(out, cfg, data=None):
        return lotterylib.run_lottery(cfg, out, device="cpu", progress=False, data=data or tiny_images())

    return run


def strip_timings(result: dict) -> dict:
    result = json.loads(json.dumps(result))
    result.pop("provenance")
    for record in result["rounds"]:
        for key in list(record):
            if "seconds" in key:
                record.pop(key)
    return result


@pytest.mark.parametrize("method", ["soft", "hard", "sigmoid", "imp"])
def test_every_method_produces_round_records(tmp_path, method, run):
    cfg = config(method=method, lam=1e-3, alpha=0.3)
    path, result = run(tmp_path, cfg)
    assert path.name == "result.json" and path.exists()
    assert path.parent.name.startswith(f"{method}-") and path.parent.parent.name == "lenet300-mnist"
    n = cfg.rounds + (1 if method == "imp" else 0)
    assert [r["round"] for r in result["rounds"]] == list(range(0 if method == "imp" else 1, cfg.rounds + 1))
    assert len(result["rounds"]) == n
    sparsities = [r["sparsity"] for r in result["rounds"]]
    assert sparsities == sorted(sparsities)  # sparsity never decreases: nothing revives
    for r in result["rounds"]:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["best_test_accuracy"] >= r["test_accuracy"]
        prunable = 8 * 8 * 300 + 300 * 100 + 100 * 4  # LeNet-300-100 on 8x8 inputs, 4 classes
        assert r["remaining_weights"] == round((1 - r["sparsity"]) * prunable)
    prov = result["provenance"]
    assert {"git_commit", "torch", "python", "device", "started", "seconds"} <= set(prov)
    assert result["config"]["method"] == method
    assert not list(path.parent.rglob("checkpoint.pt"))
    if method == "imp":
        assert result["rounds"][0]["sparsity"] == 0.0
        assert result["rounds"][1]["sparsity"] == pytest.approx(0.2, abs=1e-4)
        assert result["rounds"][2]["sparsity"] == pytest.approx(0.36, abs=1e-4)
    if method == "hard":
        assert result["rounds"][0]["sparsity"] == pytest.approx(0.2, abs=1e-4)


def test_soft_mask_sparsifies_with_a_large_lambda(tmp_path, run):
    _, result = run(tmp_path, config(method="soft", regularizer="l1", lam=1e-2, alpha=0.05, mask_lr_scale=100))
    assert result["rounds"][-1]["sparsity"] > 0.5
    assert result["rounds"][0]["mask_before_pruning"]["fraction_below"]["0.05"] > 0


def test_a_run_resumed_under_another_commit_names_both(tmp_path, monkeypatch, run):
    from concave_lottery.runs.results import run_directory, write_json

    cfg = config(method="imp", rounds=1)
    _, fresh = run(tmp_path / "fresh", cfg)
    assert "started_commit" not in fresh["provenance"]  # started and finished under the same commit
    run_dir = run_directory(cfg, tmp_path / "resumed")  # as an interrupted run leaves it, begun under "aaaa"
    run_dir.mkdir(parents=True)
    write_json(run_dir / "started.json", {"started": "2026-01-01T00:00:00+00:00", "git_commit": "aaaa"})
    monkeypatch.setattr("concave_lottery.runs.results.git_commit", lambda: "bbbb")
    _, result = run(tmp_path / "resumed", cfg)
    assert result["provenance"]["git_commit"] == "bbbb"
    assert result["provenance"]["started_commit"] == "aaaa"


def test_finished_run_is_never_recomputed(tmp_path, monkeypatch, run):
    cfg = config(rounds=1, epochs=1)
    path, first = run(tmp_path, cfg)

    def boom(*args, **kwargs):
        raise AssertionError("training ran again")

    monkeypatch.setattr(lotterylib, "train", boom)
    again_path, again = run(tmp_path, cfg)
    assert again_path == path and again == first


@pytest.mark.parametrize("method", ["soft", "imp"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, method, run):
    cfg = config(method=method, lam=1e-3, alpha=0.3, epochs=3)
    _, reference = run(tmp_path / "a", cfg)

    # 1) killed after round 1 (at the first training call of round 2)
    calls = {"n": 0}
    real_phase = lotterylib.LotteryRun._phase

    def phase_then_die(self, round_dir, phase, *args, **kwargs):
        if round_dir.name == "round-2":
            raise KeyboardInterrupt
        calls["n"] += 1
        return real_phase(self, round_dir, phase, *args, **kwargs)

    monkeypatch.setattr(lotterylib.LotteryRun, "_phase", phase_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", cfg)
    monkeypatch.setattr(lotterylib.LotteryRun, "_phase", real_phase)

    # 2) killed in the middle of a phase: after epoch 2's checkpoint, during epoch 3's evaluation
    real_eval, seen = training.evaluate, {"n": 0}

    def eval_then_die(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] == 3:
            raise KeyboardInterrupt
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate", eval_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", cfg)
    checkpoints = list((tmp_path / "b").rglob("checkpoint.pt"))
    assert len(checkpoints) == 1
    assert len(torch.load(checkpoints[0], weights_only=False)["history"]) == 2
    monkeypatch.setattr(training, "evaluate", real_eval)

    _, resumed = run(tmp_path / "b", cfg)
    assert strip_timings(resumed) == strip_timings(reference)
    masks_a = sorted((tmp_path / "a").rglob("masks.pt"))
    masks_b = sorted((tmp_path / "b").rglob("masks.pt"))
    assert len(masks_a) == len(masks_b) > 0
    for a, b in zip(masks_a, masks_b, strict=True):
        sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
        for name in sa:
            for key in sa[name]:
                assert torch.equal(sa[name][key], sb[name][key])


def test_rewinding_to_step_k(tmp_path, run):
    cfg = config(method="imp", rewind_step=3, rounds=1, epochs=1)
    path, result = run(tmp_path, cfg)
    assert (path.parent / "theta_rewind.pt").exists()
    theta0 = torch.load(path.parent / "theta0.pt", weights_only=True)
    thetak = torch.load(path.parent / "theta_rewind.pt", weights_only=True)
    assert theta0.keys() == thetak.keys()
    assert any(not torch.equal(theta0[k], thetak[k]) for k in theta0)
    assert len(result["rounds"]) == 2


def test_load_runs_gives_one_row_per_round(tmp_path, run):
    run(tmp_path, config(method="imp", rounds=1, epochs=1))
    run(tmp_path, config(method="soft", rounds=1, epochs=1, lam=1e-3))
    df = load_runs(tmp_path)
    assert len(df) == 3
    assert {"method", "sparsity", "test_accuracy", "prov_device", "run_dir"} <= set(df.columns)


def test_run_directory_with_other_config_is_refused(tmp_path, run, tiny_images):
    cfg = config(rounds=1, epochs=1)
    path, _ = run(tmp_path, cfg)
    (path).unlink()
    other = lotterylib.LotteryRun(config(rounds=1, epochs=1, seed=5), path.parent, device="cpu", progress=False,
                                  data=tiny_images())
    from concave_lottery.errors import ParameterError

    with pytest.raises(ParameterError, match="different config"):
        other.run()


def test_a_run_in_progress_elsewhere_is_not_started_twice(tmp_path, run):
    """A lottery process that holds the run's lock (here one of an older version, which wrote its pid into
    ``.lock`` without flock) is respected; once it is gone, the lock is taken over. The flock-based lock
    itself is tested with two processes racing in tests/cli/test_faults.py."""
    import subprocess
    import sys

    from concave_lottery.errors import UserError

    cfg = config(rounds=1, epochs=1)
    run_dir = tmp_path / cfg.preset / cfg.run_name()
    run_dir.mkdir(parents=True)
    # sleeps far longer than the test lasts under any load (it is killed below), and is only used once its
    # command line is the one the lock check reads (on a loaded machine that can take a moment)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "lottery"])
    try:
        cmdline = Path(f"/proc/{sleeper.pid}/cmdline")
        for _ in range(200):
            if b"lottery" in cmdline.read_bytes():
                break
            time.sleep(0.05)
        (run_dir / ".lock").write_text(str(sleeper.pid))
        with pytest.raises(UserError, match="being run by process"):
            run(tmp_path, cfg)
    finally:
        sleeper.kill()
        sleeper.wait()
    # the owner is gone: its stale lock is taken over (the lock file stays, empty, for the next run)
    path, _ = run(tmp_path, cfg)
    assert path.exists() and (run_dir / ".lock").read_text() == ""


def test_a_run_recorded_by_an_older_version_is_found_and_reused(tmp_path, monkeypatch, run):
    """A config.json written before a field existed still identifies its run (no recomputation)."""
    cfg = config(rounds=1, epochs=1)
    path, first = run(tmp_path, cfg)
    # pretend the run was recorded before `test_subset` existed, under another hash
    stored = json.loads((path.parent / "config.json").read_text())
    stored.pop("test_subset")
    (path.parent / "config.json").write_text(json.dumps(stored))
    (path.parent / "digests.json").unlink()  # older versions wrote no digests: `lottery migrate-digests` adds them
    old_dir = path.parent.with_name(path.parent.name[:-8] + "00000000")
    path.parent.rename(old_dir)
    migrate(old_dir)

    def boom(*args, **kwargs):
        raise AssertionError("training ran again")

    monkeypatch.setattr(lotterylib, "train", boom)
    again_path, again = run(tmp_path, cfg)
    assert again_path == old_dir / "result.json" and again == first


def test_a_corrupt_checkpoint_is_detected_not_used(tmp_path, monkeypatch, run):
    from concave_lottery.errors import CorruptFile

    cfg = config(rounds=1, epochs=2)
    real_eval, seen = training.evaluate, {"n": 0}

    def eval_then_die(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] == 2:
            raise KeyboardInterrupt
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate", eval_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, cfg)
    monkeypatch.setattr(training, "evaluate", real_eval)
    (checkpoint,) = list(tmp_path.rglob("checkpoint.pt"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    with pytest.raises(CorruptFile, match="checkpoint.pt does not match its digest"):
        run(tmp_path, cfg)
    checkpoint.unlink()
    path, _ = run(tmp_path, cfg)
    assert path.exists()


def test_classes_cuts_the_dataset_and_keeps_older_run_names(tmp_path, run, tiny_images):
    from concave_lottery.runs.config import RunConfig

    assert RunConfig().short_hash() == RunConfig(classes=0).short_hash()  # recorded runs keep their names
    assert RunConfig(classes=2).short_hash() != RunConfig().short_hash()
    cfg = config(method="imp", classes=2, rounds=1)
    data = lotterylib.load_data(cfg, torch.device("cpu"), base=tiny_images())
    assert data.num_classes == 2 and int(data.train_labels.max()) == 1
    _, result = run(tmp_path, cfg)
    assert result["config"]["classes"] == 2 and len(result["rounds"]) == 2


def test_extending_a_run_by_rounds_equals_the_longer_run(tmp_path, monkeypatch, run):
    short = config(method="soft", lam=1e-3, alpha=0.3, rounds=1)
    longer = config(method="soft", lam=1e-3, alpha=0.3, rounds=2)
    _, reference = run(tmp_path / "a", longer)
    path, _ = run(tmp_path / "b", short)
    target = lotterylib.extend_rounds(path.parent, 2, tmp_path / "b")
    assert json.loads((target / "started.json").read_text())["extended_from"] == path.parent.name
    assert not (target / "result.json").exists() and (target / "round-1" / "record.json").exists()

    real_phase, phases = lotterylib.LotteryRun._phase, []

    def counting_phase(self, round_dir, phase, *args, **kwargs):
        phases.append((round_dir.name, phase))
        return real_phase(self, round_dir, phase, *args, **kwargs)

    monkeypatch.setattr(lotterylib.LotteryRun, "_phase", counting_phase)
    extended_path, extended = run(tmp_path / "b", longer)
    assert extended_path.parent == target
    assert phases == [("round-2", "search"), ("round-2", "ticket")]  # round 1 was reused, not retrained
    assert strip_timings(extended) == strip_timings(reference)
    for t in (1, 2):
        a = torch.load(tmp_path / "a" / longer.preset / longer.run_name() / f"round-{t}" / "masks.pt")
        b = torch.load(target / f"round-{t}" / "masks.pt")
        assert a.keys() == b.keys() and all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])


@pytest.mark.parametrize("short_levels", [0, 1])
def test_extending_an_imp_run_by_levels_equals_the_longer_run(tmp_path, monkeypatch, run, tiny_images,
                                                             short_levels):
    """The short run's last level was left unpruned; the copy prunes it from the kept ticket exactly as the
    longer run did, and only the new levels are trained (level 0, the dense network, included)."""
    mnist_shaped = tiny_images(size=28, classes=10)  # the copy rebuilds LeNet-300-100 as MNIST's
    longer = config(method="imp", rounds=2, epochs=1)
    _, reference = run(tmp_path / "a", longer, mnist_shaped)
    path, short = run(tmp_path / "b", config(method="imp", rounds=short_levels, epochs=1), mnist_shaped)
    assert short["rounds"][-1]["pruned_after_level"] == 0
    target = lotterylib.extend_rounds(path.parent, 2, tmp_path / "b")
    record = json.loads((target / f"round-{short_levels}" / "record.json").read_text())
    assert record["pruned_after_level"] == reference["rounds"][short_levels]["pruned_after_level"] > 0

    real_phase, phases = lotterylib.LotteryRun._phase, []

    def counting_phase(self, round_dir, phase, *args, **kwargs):
        phases.append(round_dir.name)
        return real_phase(self, round_dir, phase, *args, **kwargs)

    monkeypatch.setattr(lotterylib.LotteryRun, "_phase", counting_phase)
    extended_path, extended = run(tmp_path / "b", longer, mnist_shaped)
    assert extended_path.parent == target
    assert phases == [f"round-{level}" for level in range(short_levels + 1, 3)]  # the others were reused
    assert strip_timings(extended) == strip_timings(reference)
    for level in range(3):
        a = torch.load(tmp_path / "a" / longer.preset / longer.run_name() / f"round-{level}" / "masks.pt")
        b = torch.load(target / f"round-{level}" / "masks.pt")
        assert a.keys() == b.keys() and all(torch.equal(a[n]["alive"], b[n]["alive"]) for n in a)
    Digests(target).verify_all()


def test_extending_refuses_an_imp_run_without_its_last_ticket_and_leaves_nothing(tmp_path, run):
    from concave_lottery.errors import ParameterError

    path, _ = run(tmp_path, config(method="imp", rounds=1, epochs=1))
    weights = path.parent / "round-1" / "ticket" / "weights.pt"
    weights.unlink()  # as in runs recorded before the ticket weights were kept
    entries = json.loads((path.parent / "digests.json").read_text())
    entries["files"].pop("round-1/ticket/weights.pt")
    (path.parent / "digests.json").write_text(json.dumps(entries))
    before = sorted(p.name for p in path.parent.parent.iterdir())
    with pytest.raises(ParameterError, match="trained ticket"):
        lotterylib.extend_rounds(path.parent, 2, tmp_path)
    assert sorted(p.name for p in path.parent.parent.iterdir()) == before


def test_extending_refuses_fewer_rounds_and_unfinished_runs(tmp_path, run):
    from concave_lottery.errors import ParameterError

    path, _ = run(tmp_path, config(method="soft", rounds=1, epochs=1))
    with pytest.raises(ParameterError, match="rounds"):
        lotterylib.extend_rounds(path.parent, 1, tmp_path)
    with pytest.raises(ParameterError, match="finished"):
        lotterylib.extend_rounds(tmp_path / "nothing-here", 2, tmp_path)
    lotterylib.extend_rounds(path.parent, 2, tmp_path)
    with pytest.raises(ParameterError, match="out"):
        lotterylib.extend_rounds(path.parent, 2, tmp_path)


def test_imp_with_zero_rounds_trains_the_dense_network_only(tmp_path, run):
    """``method=imp rounds=0`` is the dense baseline: level 0 alone, nothing pruned (the convergence runs)."""
    path, result = run(tmp_path, config(method="imp", rounds=0))
    assert [r["round"] for r in result["rounds"]] == [0]
    assert result["rounds"][0]["sparsity"] == 0.0 and result["rounds"][0]["pruned_after_level"] == 0
    assert not (path.parent / "round-1").exists()


def test_zero_rounds_is_refused_for_algorithm_1(tmp_path):
    from concave_lottery.errors import ParameterError

    with pytest.raises(ParameterError, match="rounds"):
        config(method="soft", rounds=0).validate()
