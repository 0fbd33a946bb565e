"""The training loop: optimizer groups, milestones, determinism, speed switches on the CPU."""

from __future__ import annotations

import pytest
import torch

from concave_lottery.method import masks as masklib
from concave_lottery.models import get_model
from concave_lottery.runs.training import Hooks, TrainSettings, make_optimizer, train


def lenet(data, kind="relaxed"):
    torch.manual_seed(0)
    model = get_model("lenet300", num_classes=data.num_classes, in_channels=data.in_channels,
                      image_size=data.image_size)
    masklib.attach_masks(model, kind)
    return model


def settings(**kw):
    base = dict(epochs=3, batch_size=32, lr=0.05, momentum=0.9, weight_decay=1e-4, milestones=(2,),
                mask_lr_scale=10.0, mask_weight_decay=1e-3)
    base.update(kw)
    return TrainSettings(**base)


def test_optimizer_groups_weights_and_masks_separately(tiny_images):
    data = tiny_images()
    model = lenet(data)
    opt = make_optimizer(model, settings())
    weights, masks = opt.param_groups
    assert weights["lr"] == 0.05 and weights["weight_decay"] == 1e-4
    assert masks["lr"] == pytest.approx(0.5) and masks["weight_decay"] == 1e-3
    assert {id(p) for p in masks["params"]} == {id(p) for p in masklib.mask_parameters(model)}
    assert len(weights["params"]) + len(masks["params"]) == len(list(model.parameters()))


def test_milestones_divide_the_learning_rate_and_training_learns(tiny_images):
    data = tiny_images()
    result = train(lenet(data), data, settings(), seed=0, progress=False)
    assert [e.lr for e in result.history] == pytest.approx([0.05, 0.05, 0.005])
    assert result.final_test_accuracy > 0.6
    assert result.steps == 3 * 8


def test_same_seed_same_training(tiny_images):
    data = tiny_images()
    a = train(lenet(data), data, settings(), seed=3, progress=False)
    b = train(lenet(data), data, settings(), seed=3, progress=False)
    assert [e.train_loss for e in a.history] == [e.train_loss for e in b.history]


def test_hooks_are_called(tiny_images):
    data = tiny_images()
    model = lenet(data)
    seen = {"epochs": [], "steps": 0, "after": 0}
    hooks = Hooks(penalty=lambda: torch.zeros(()), after_step=lambda: seen.__setitem__("after", seen["after"] + 1),
                  before_epoch=seen["epochs"].append, on_step=lambda k: seen.__setitem__("steps", k))
    train(model, data, settings(epochs=2), seed=0, hooks=hooks, progress=False)
    assert seen == {"epochs": [0, 1], "steps": 16, "after": 16}


def test_channels_last_matches_the_default_layout(tiny_images):
    data = tiny_images(channels=3, size=8, name="cifar10")
    torch.manual_seed(0)
    ref = train(get_model("resnet20", num_classes=4, image_size=8), data, settings(epochs=1), seed=0, progress=False)
    torch.manual_seed(0)
    cl = train(get_model("resnet20", num_classes=4, image_size=8), data, settings(epochs=1, channels_last=True),
               seed=0, progress=False)
    # different convolution kernels round differently; 8 momentum steps amplify that a little
    assert cl.history[0].train_loss == pytest.approx(ref.history[0].train_loss, rel=1e-2)


def test_bf16_autocast_trains_on_the_cpu_close_to_fp32(tiny_images):
    data = tiny_images()
    a = train(lenet(data), data, settings(epochs=1), seed=0, progress=False)
    b = train(lenet(data), data, settings(epochs=1, bf16=True), seed=0, progress=False)
    # bf16 rounds the matrix products (8 bits of mantissa), so the losses differ, but only a little
    assert a.history[0].train_loss != b.history[0].train_loss
    assert b.history[0].train_loss == pytest.approx(a.history[0].train_loss, rel=5e-2)


@pytest.mark.slow
def test_compiled_model_trains_like_the_eager_one(tiny_images):
    data = tiny_images()
    eager = train(lenet(data, "binary"), data, settings(epochs=1), seed=0, progress=False)
    compiled = train(lenet(data, "binary"), data, settings(epochs=1, compile=True), seed=0, progress=False)
    assert compiled.history[0].train_loss == pytest.approx(eager.history[0].train_loss, rel=1e-3)


def test_divergence_is_reported(tiny_images):
    data = tiny_images()
    with pytest.raises(FloatingPointError, match="diverged"):
        train(lenet(data), data, settings(epochs=1, lr=1e6, momentum=0.0), seed=0, progress=False)
