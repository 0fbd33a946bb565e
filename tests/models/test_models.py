"""The model registry: parameter counts, shapes, prunable names, initialisation, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from concave_lottery.errors import ParameterError
from concave_lottery.models import (
    MODELS,
    count_parameters,
    get_model,
    prunable_parameter_names,
)

torch.set_num_threads(1)

# (name, num_classes, in_channels, image_size) -> (all parameters, prunable), as documented.
COUNTS = {
    ("resnet20", 10, 3, 32): (272_474, 270_896),
    ("resnet56", 10, 3, 32): (855_770, 851_504),
    ("wrn20", 10, 3, 32): (4_327_754, 4_321_472),
    ("vgg11", 10, 3, 32): (9_231_114, 9_222_848),
    ("vgg11", 100, 3, 32): (9_277_284, 9_268_928),
    ("vgg11", 200, 3, 64): (9_328_584, 9_320_128),
    ("resnet20", 100, 3, 32): (278_324, 276_656),
    ("resnet20", 200, 3, 64): (284_824, 283_056),
    ("wrn20", 100, 3, 32): (4_350_884, 4_344_512),
    ("wrn20", 200, 3, 64): (4_376_584, 4_370_112),
    ("resnet56", 100, 3, 32): (861_620, 857_264),
    ("resnet56", 200, 3, 64): (868_120, 863_664),
    ("lenet300", 10, 1, 28): (266_610, 266_200),
    ("lenet300", 10, 3, 32): (953_010, 952_600),
    ("logreg", 2, 1, 20): (802, 800),
    ("logreg", 10, 1, 28): (7_850, 7_840),
    ("logreg", 10, 3, 32): (30_730, 30_720),
}

# A small input configuration per model for forward passes.
SMALL = {
    "lenet300": (1, 28),
    "logreg": (1, 28),
    "resnet20": (3, 32),
    "resnet56": (3, 16),
    "wrn20": (3, 16),
    "vgg11": (3, 32),
}


def build(name: str, num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return get_model(name, num_classes=num_classes, in_channels=in_channels, image_size=image_size)


def test_registry_names():
    assert set(MODELS) == {"lenet300", "logreg", "resnet20", "resnet56", "wrn20", "vgg11"}


def test_resnet20_counts_match_open_lth():
    assert count_parameters(build("resnet20")) == (272_474, 270_896)


@pytest.mark.parametrize("key", list(COUNTS), ids=lambda k: "-".join(map(str, k)))
def test_documented_counts(key):
    name, num_classes, in_channels, image_size = key
    assert count_parameters(build(name, num_classes, in_channels, image_size)) == COUNTS[key]


@pytest.mark.parametrize("name", list(MODELS))
def test_documented_in_docstrings(name):
    """The 10-class count of every model appears in the registry's docstring table."""
    import concave_lottery.models as models

    c, s = (1, 28) if name in ("lenet300", "logreg") else (3, 32)
    total, prunable = COUNTS[(name, 10, c, s)]
    line = next(row for row in models.__doc__.splitlines() if row.startswith(name + " "))
    assert f"{total:,}" in line and f"{prunable:,}" in line


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shape_and_channels_last(name):
    c, s = SMALL[name]
    torch.manual_seed(0)
    model = build(name, 7, c, s).eval()
    x = torch.randn(2, c, s, s)
    out = model(x)
    assert out.shape == (2, 7) and out.dtype == torch.float32
    model_cl = model.to(memory_format=torch.channels_last)
    out_cl = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out_cl, out, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet20", "lenet300", "vgg11"])
def test_bf16_autocast_and_backward(name):
    c, s = SMALL[name]
    model = build(name, 5, c, s).train()
    x = torch.randn(4, c, s, s).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (4, 5) and out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(("image_size", "num_classes"), [(32, 10), (64, 200), (32, 100)])
def test_vgg11_image_sizes(image_size, num_classes):
    model = build("vgg11", num_classes, 3, image_size).eval()
    assert model(torch.randn(1, 3, image_size, image_size)).shape == (1, num_classes)


def test_resnet_on_64x64():
    model = build("resnet20", 200, 3, 64).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 200)


def test_vgg11_rejects_tiny_inputs():
    with pytest.raises(ParameterError, match="image_size"):
        build("vgg11", 10, 3, 8)


@pytest.mark.parametrize("name", list(MODELS))
def test_prunable_names(name):
    c, s = SMALL[name]
    model = build(name, 10, c, s)
    names = prunable_parameter_names(model)
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    assert names and len(set(names)) == len(names)
    for n in names:
        assert n.endswith(".weight") and n in params
        assert isinstance(modules[n.rsplit(".", 1)[0]], nn.Conv2d | nn.Linear)
    # Exactly the Conv2d/Linear weights: no bias, no BatchNorm.
    expected = [f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, nn.Conv2d | nn.Linear)]
    assert names == expected
    assert not any(n.endswith(".bias") for n in names)
    bn = {
        f"{m}.{p}"
        for m, mod in model.named_modules()
        if isinstance(mod, nn.BatchNorm2d)
        for p in ("weight", "bias")
    }
    assert not bn & set(names)
    assert names[-1] == "fc.weight"


def test_resnet20_prunable_layers():
    names = prunable_parameter_names(build("resnet20"))
    # first conv + 9 blocks x 2 convs + 2 shortcut convs + classifier
    assert len(names) == 1 + 18 + 2 + 1
    assert names[0] == "conv.weight"
    assert "blocks.3.shortcut.0.weight" in names and "blocks.6.shortcut.0.weight" in names
    assert "blocks.0.shortcut.0.weight" not in names


def test_count_ignores_parametrization_extras():
    from torch.nn.utils import parametrize

    class Mask(nn.Module):
        def __init__(self, shape):
            super().__init__()
            self.mask = nn.Parameter(torch.full(shape, 0.5))

        def forward(self, w):
            return w * self.mask

    model = build("logreg", 10, 1, 28)
    parametrize.register_parametrization(model.fc, "weight", Mask(model.fc.weight.shape))
    assert prunable_parameter_names(model) == ["fc.weight"]
    assert count_parameters(model) == (7_850, 7_840)


def test_unknown_name():
    with pytest.raises(ParameterError, match="model must be one of"):
        get_model("resnet21", num_classes=10)


def test_bad_arguments():
    with pytest.raises(ParameterError, match="num_classes"):
        get_model("resnet20", num_classes=0)
    with pytest.raises(ParameterError, match="batchnorm_init"):
        get_model("resnet20", num_classes=10, batchnorm_init="nope")


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_weights(name):
    c, s = SMALL[name]
    torch.manual_seed(123)
    a = build(name, 10, c, s).state_dict()
    torch.manual_seed(123)
    b = build(name, 10, c, s).state_dict()
    torch.manual_seed(124)
    other = build(name, 10, c, s).state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[k], other[k]) for k in a if a[k].is_floating_point())


def test_open_lth_initialisation():
    torch.manual_seed(0)
    model = build("wrn20")
    # BatchNorm: scale ~ U[0, 1), shift 0 (open_lth batchnorm_init='uniform').
    gammas = torch.cat([m.weight.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    betas = torch.cat([m.bias.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    assert gammas.min() >= 0 and gammas.max() < 1 and 0.45 < gammas.mean() < 0.55
    assert torch.count_nonzero(betas) == 0
    # Kaiming normal, fan-in: std = sqrt(2 / fan_in).
    w = model.blocks[4].conv1.weight.detach()
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    assert abs(w.std().item() / (2 / fan_in) ** 0.5 - 1) < 0.02
    assert abs(w.mean().item()) < 0.02 * (2 / fan_in) ** 0.5


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["resnet20", "vgg11", "lenet300"])
def test_cuda_bf16_channels_last(name):
    c, s = SMALL[name]
    model = build(name, 10, c, s).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(4, c, s, s, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (4, 10) and out.dtype == torch.bfloat16
    out.float().sum().backward()
