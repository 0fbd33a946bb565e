"""``precision`` (fp32 | bf16 | auto): its identity rules, the hardware detection behind ``auto``, and the
invariants of Algorithm 1's mask under bf16 autocast on the CPU (emulated where the CPU has no native bf16)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from concave_lottery.errors import ParameterError
from concave_lottery.method import masks as masklib
from concave_lottery.models import get_model
from concave_lottery.runs import precision as precisionlib
from concave_lottery.runs.config import RunConfig, apply_overrides, resolve_config
from concave_lottery.runs.lottery import build_method
from concave_lottery.runs.training import Hooks, TrainSettings, load_checked, train


@pytest.fixture
def cpu_with(monkeypatch):
    """Pretend the CPU has exactly the given /proc/cpuinfo flags."""
    def set_flags(*flags: str) -> None:
        monkeypatch.setattr(precisionlib, "cpu_flags", lambda: frozenset(flags))
    return set_flags


def test_fp32_keeps_the_recorded_identity_and_bf16_gets_its_own():
    base = RunConfig(model="resnet20", dataset="cifar10-subset")
    assert "precision" not in base.identity()  # recorded runs (all fp32) keep their folder names
    assert base.short_hash() == dataclasses.replace(base, precision="fp32").short_hash()
    bf16 = dataclasses.replace(base, precision="bf16")
    assert bf16.identity()["precision"] == "bf16" and bf16.short_hash() != base.short_hash()
    assert "-bf16-seed0-" in bf16.run_name() and "bf16" not in base.run_name()
    # the memory format and compilation are speed switches: same run, same folder
    assert dataclasses.replace(base, channels_last=True, compile=True).short_hash() == base.short_hash()


@pytest.mark.parametrize("flags, device_bf16", [
    (("avx2", "fma"), "fp32"), (("avx2", "avx512f"), "fp32"),
    (("avx512f", "avx512_bf16"), "bf16"), (("amx_tile", "amx_bf16"), "bf16")])
def test_auto_uses_bf16_only_where_the_cpu_has_it_natively(cpu_with, flags, device_bf16):
    cpu_with(*flags)
    conv = RunConfig(model="resnet20", dataset="cifar10-subset", precision="auto").resolved("cpu")
    assert conv.precision == device_bf16 and conv.channels_last
    mlp = RunConfig(model="lenet300", precision="auto").resolved("cpu")
    assert mlp.precision == device_bf16 and not mlp.channels_last
    # auto is decided before the identity: an auto run is the fp32 or the bf16 run, never a third folder
    same = RunConfig(model="resnet20", dataset="cifar10-subset", precision=device_bf16)
    assert conv.short_hash() == same.short_hash()
    assert resolve_config("resnet20-cifar10-subset", {"precision": "auto"}, device="cpu").precision == device_bf16


def test_auto_on_this_machine_follows_its_flags():
    flags = precisionlib.cpu_flags()
    native = "amx_bf16" in flags or "avx512_bf16" in flags
    assert precisionlib.native_bf16("cpu") is native
    assert precisionlib.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert precisionlib.resolve_precision("bf16", "cpu") == "bf16"  # asked for: emulated where not native


def test_legacy_bf16_switch_reads_as_precision():
    old = RunConfig().to_dict()
    old.pop("precision")
    assert RunConfig.from_dict({**old, "bf16": False}).precision == "fp32"
    assert RunConfig.from_dict({**old, "bf16": False}).identity() == RunConfig().identity()
    assert RunConfig.from_dict({**old, "bf16": True}).precision == "bf16"
    assert apply_overrides(RunConfig(), {"bf16": "true"}).precision == "bf16"
    assert apply_overrides(RunConfig(), {"bf16": False}).precision == "fp32"


def test_unknown_precision_is_a_parameter_error():
    with pytest.raises(ParameterError, match="precision"):
        resolve_config("lenet300-mnist", {"precision": "fp16"})


def test_provenance_records_precision_and_memory_format():
    from concave_lottery.runs.results import now, provenance

    record = provenance(torch.device("cpu"), now(), 1.0, precision="bf16", channels_last=True)
    assert record["precision"] == "bf16" and record["memory_format"] == "channels_last"
    assert record["native_bf16"] is precisionlib.native_bf16("cpu")


@pytest.mark.parametrize("kind", ["relaxed", "sigmoid"])
def test_pruned_weights_stay_exactly_zero_under_bf16_autocast_on_the_cpu(tmp_path, kind, tiny_images):
    """Algorithm 1's training step (penalty, projection, pruned entries) under CPU bf16 autocast: the
    convolutions run in bf16, while θ, the mask, the penalty and the optimizer state stay fp32, and every
    pruned weight is an exact 0, in fp32 and in the bf16 copy the convolution sees."""
    data = tiny_images(n_train=128, n_test=32, channels=3, size=8, name="cifar10")
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=data.num_classes, image_size=8)
    masklib.attach_masks(model, kind)
    masks = masklib.get_masks(model)
    g = torch.Generator().manual_seed(1)
    for mask in masks.values():  # prune 30% of every layer at random before training
        mask.prune_(torch.rand(mask.alive.shape, generator=g) < 0.3)
        if kind == "sigmoid":
            with torch.no_grad():
                mask.score.normal_(0.0, 1.0, generator=g)
    pruned = {name: mask.alive == 0 for name, mask in masks.items()}
    config = RunConfig(model="resnet20", method="soft" if kind == "relaxed" else "sigmoid", regularizer="log",
                       lam=1e-3, eps=0.1)
    method = build_method(config)
    hooks = Hooks(penalty=method.penalty(model), penalty_grad=method.penalty_grad(model),
                  after_step=lambda: masklib.project_masks_(model))
    conv_dtypes: set[torch.dtype] = set()
    model.conv.register_forward_hook(lambda _m, _i, out: conv_dtypes.add(out.dtype))
    settings = TrainSettings(epochs=1, batch_size=32, lr=0.05, momentum=0.9, weight_decay=1e-4,
                             mask_lr_scale=100.0, bf16=True, channels_last=True)
    checkpoint = tmp_path / "checkpoint.pt"
    result = train(model, data, settings, seed=0, hooks=hooks, checkpoint=checkpoint, progress=False)
    assert torch.bfloat16 in conv_dtypes  # the network really ran under bf16 autocast on the CPU
    assert all(torch.isfinite(torch.tensor(e.train_loss)) for e in result.history)
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        module = modules[name.removesuffix(".weight")]
        theta = module.parametrizations.weight.original
        assert theta.dtype == torch.float32 and mask.alive.dtype == torch.float32
        assert mask.score.dtype == torch.float32
        assert torch.equal(mask.alive == 0, pruned[name])  # training never revives nor prunes
        m = mask.mask().detach()
        assert ((m >= 0) & (m <= 1)).all()
        assert (m[pruned[name]] == 0).all()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            w = module.weight
        assert w.dtype == torch.float32  # θ ⊙ a ⊙ m is formed in fp32, before autocast casts it
        assert (w[pruned[name]] == 0).all() and (w.to(torch.bfloat16)[pruned[name]] == 0).all()
        if kind == "relaxed":
            assert (mask.score.detach()[pruned[name]] == 0).all()
    state = load_checked(checkpoint, weights_only=False)["optimizer"]["state"]
    assert state and all(v.dtype == torch.float32 for s in state.values() for v in s.values()
                         if isinstance(v, torch.Tensor) and v.is_floating_point())


def test_step_speed_benchmark_refuses_an_unknown_compile_precision():
    """``benchmarks/step_speed.py --compile-precisions`` takes fp32 and bf16 only, and says so before any work."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "step_speed.py"
    proc = subprocess.run([sys.executable, str(script), "--compile", "--compile-precisions", "fp32,fp16"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--compile-precisions: 'fp16' is not one of fp32, bf16" in proc.stderr
