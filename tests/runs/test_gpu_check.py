"""`make gpu-check` (concave_lottery.runs.gpu_check): its CPU fallback path, end to end, and its parts.

No GPU is at hand here: the CUDA path itself is run by a user (or a session lent a GPU) with `make gpu-check`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from concave_lottery.data.registry import dataset_status
from concave_lottery.runs import gpu_check

REPO = Path(__file__).resolve().parents[2]
needs_subset = pytest.mark.skipif(not dataset_status("cifar10-subset").available,
                                  reason="cifar10-subset is not in the data root or the mirror")


@pytest.mark.mirror
@needs_subset
@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the CPU fallback; this machine has CUDA")
def test_cpu_fallback_runs_every_part_and_writes_json(tmp_path, capsys):
    out = tmp_path / "deep" / "gpu-check.json"
    code = gpu_check.main(["--no-tests", "--cpu-steps", "2", "--cpu-batch", "4", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith(gpu_check.CPU_FALLBACK)
    assert "Paste this into an issue:\n```text\nconcave_lottery gpu-check (no CUDA: CPU fallback)" in printed
    report = json.loads(out.read_text())
    assert report["mode"] == gpu_check.CPU_FALLBACK and report["ok"] is True
    assert report["environment"]["device"] == "cpu" and report["environment"]["torch"] == torch.__version__
    assert report["cuda_tests"]["status"] == "not run"
    epochs = {e["requested"]: e for e in report["epochs"]}
    assert set(epochs) == {"fp32", "bf16", "auto"}
    assert epochs["fp32"]["precision"] == "fp32" and epochs["bf16"]["precision"] == "bf16"
    for e in epochs.values():
        assert e["status"] == "ok" and e["dataset"] == "cifar10-subset"
        assert e["steps"] == 2 and e["train_images"] == 8 and e["batch_size"] == 4
        assert e["median_step_s"] > 0 and e["samples_per_s"] > 0
    checks = report["mask_invariants"]
    assert {(c["mask"], c["precision"]) for c in checks} == {(k, p) for k in ("relaxed", "binary")
                                                             for p in ("fp32", "bf16")}
    for c in checks:
        assert c["status"] == "ok" and c["device"] == "cpu"
        assert c["pruned"] > 0 and c["nonzero_pruned_after_steps"] == 0 and c["alive_changed"] == 0
        assert c["surviving_weights_moved"] > 0 and c["steps"] == 2
    assert report["summary"] in printed


def test_mask_invariant_detects_a_revived_weight(monkeypatch):
    """The check is not vacuous: a projection that forgets ``alive`` (so weight decay or momentum could move a
    pruned entry of the relaxed mask) is caught."""
    from concave_lottery.method import masks as masklib

    def broken_project(model):
        for mask in masklib.get_masks(model).values():
            with torch.no_grad():
                mask.alive.fill_(1.0)  # a bug that revives every pruned weight

    monkeypatch.setattr(masklib, "project_masks_", broken_project)
    data = _tiny_cifar()
    check = gpu_check.mask_invariants(data, torch.device("cpu"), bf16=False, kind="binary", batch_size=4)
    assert check["status"] == "FAILED" and check["alive_changed"] > 0 and check["nonzero_pruned_after_steps"] > 0


def _tiny_cifar():
    from concave_lottery.data import ImageData

    g = torch.Generator().manual_seed(0)
    n = gpu_check.INVARIANT_STEPS * 4
    return ImageData(name="cifar10-subset", train_images=torch.randint(0, 256, (n, 3, 32, 32), generator=g,
                                                                        dtype=torch.uint8),
                     train_labels=torch.arange(n) % 10, test_images=torch.randint(0, 256, (10, 3, 32, 32), generator=g,
                                                                                   dtype=torch.uint8),
                     test_labels=torch.arange(10), num_classes=10, mean=(0.5,) * 3, std=(0.25,) * 3,
                     augmentation="cifar", source="synthetic")


@pytest.mark.skipif(torch.cuda.is_available(), reason="without CUDA the CUDA tests skip; here they run")
def test_cuda_tests_are_marked_and_skip_without_cuda():
    """`pytest -m cuda` selects the CUDA tests (the ones `make gpu-check` runs on a GPU) and they skip here."""
    result = gpu_check.run_cuda_tests(REPO, 300, cuda=False)
    assert result["status"] == "skipped (no CUDA)", result
    assert result["counts"].get("skipped", 0) >= 4 and "passed" not in result["counts"]


def test_pytest_counts():
    assert gpu_check.pytest_counts("4 skipped, 636 deselected in 11.21s") == {"skipped": 4, "deselected": 636}
    assert gpu_check.pytest_counts("=== 3 passed, 1 failed, 2 errors in 9.0s ===") == {
        "passed": 3, "failed": 1, "error": 2}


@pytest.mark.parametrize("argv, words", [
    (["--device", "tpu"], "--device='tpu' is not allowed"),
    (["--cpu-steps", "0"], "--cpu-steps=0 is not allowed"),
])
def test_bad_options_exit_2_with_one_paragraph(argv, words, capsys):
    assert gpu_check.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_without_cuda_is_refused(capsys):
    assert gpu_check.main(["--device", "cuda"]) == 2
    assert "no CUDA device is visible" in capsys.readouterr().err
