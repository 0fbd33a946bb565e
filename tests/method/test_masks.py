"""The mask abstraction: projection, pruning, no revival, IMP's global magnitude step, reports."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from concave_lottery.errors import ParameterError
from concave_lottery.method import masks as masklib
from concave_lottery.method.rewinding import load_theta_, theta_state
from concave_lottery.method.search import MagnitudePruning
from concave_lottery.models import get_model


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_attach_wraps_every_conv_and_linear_weight_and_nothing_else():
    model = small_net()
    masks = masklib.attach_masks(model, "relaxed")
    assert list(masks) == ["0.weight", "4.weight"]
    assert all(float(m.score.detach().mean()) == 0.5 for m in masks.values())
    report = masklib.sparsity_report(model)
    assert report.prunable == 4 * 9 + 3 * 144
    assert report.total_parameters == sum(p.numel() for p in small_net().parameters())
    assert report.sparsity == 0.0


def test_forward_is_theta_times_mask():
    model = small_net()
    theta = model[4].weight.detach().clone()
    masklib.attach_masks(model, "relaxed", init=0.5)
    torch.testing.assert_close(model[4].weight, theta * 0.5)


def test_projection_keeps_relaxed_mask_in_unit_interval():
    model = small_net()
    masklib.attach_masks(model, "relaxed")
    for mask in masklib.get_masks(model).values():
        with torch.no_grad():
            mask.score.copy_(torch.randn_like(mask.score) * 3)
    masklib.project_masks_(model)
    for mask in masklib.get_masks(model).values():
        score = mask.score.detach()
        assert float(score.min()) >= 0.0 and float(score.max()) <= 1.0


@pytest.mark.parametrize("kind", ["relaxed", "sigmoid", "binary"])
def test_pruned_weights_never_come_back(kind):
    """200 SGD steps with momentum 0.9 and weight decay, a penalty, then a rewind: pruned entries
    stay exactly 0 in the mask state and in the effective weight."""
    model = small_net()
    theta0 = theta_state(model)
    masklib.attach_masks(model, kind)
    # prune a random third of every layer
    g = torch.Generator().manual_seed(1)
    pruned = {}
    for name, mask in masklib.get_masks(model).items():
        remove = torch.rand(mask.alive.shape, generator=g) < 1 / 3
        mask.prune_(remove)
        pruned[name] = remove
    opt = torch.optim.SGD([
        {"params": masklib.weight_parameters(model), "weight_decay": 1e-2},
        {"params": masklib.mask_parameters(model), "weight_decay": 1e-2, "lr": 1.0},
    ], lr=0.1, momentum=0.9)
    x = torch.randn(32, 1, 8, 8)
    y = torch.randint(0, 3, (32,))
    for _ in range(200):
        loss = nn.functional.cross_entropy(model(x), y)
        # a penalty whose gradient pushes every entry, pruned ones included, away from 0
        for mask in masklib.get_masks(model).values():
            if mask.score is not None:
                loss = loss - 0.1 * mask.score.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        masklib.project_masks_(model)
    load_theta_(model, theta0)  # rewind θ; the mask stays
    for name, mask in masklib.get_masks(model).items():
        module = dict(model.named_modules())[name.removesuffix(".weight")]
        remove = pruned[name]
        assert torch.all(mask.alive[remove] == 0)
        assert torch.all(mask.mask()[remove] == 0)
        if kind == "relaxed":
            assert torch.all(mask.score[remove] == 0)
        assert torch.all(module.weight[remove] == 0)
        assert torch.all(mask.alive[~remove] == 1)


def test_threshold_pruning_removes_entries_below_alpha_only():
    model = small_net()
    masklib.attach_masks(model, "relaxed")
    mask = masklib.get_masks(model)["4.weight"]
    with torch.no_grad():
        mask.score.copy_(torch.linspace(0, 1, mask.score.numel()).view_as(mask.score))
    removed = masklib.prune_by_threshold_(model, 0.25)
    expected = int((torch.linspace(0, 1, mask.score.numel()) < 0.25).sum())
    assert removed == expected
    assert int((mask.alive == 0).sum()) == expected
    assert masklib.prune_by_threshold_(model, 0.25) == 0  # idempotent
    with pytest.raises(ParameterError, match="alpha"):
        masklib.prune_by_threshold_(model, 1.5)


def test_one_imp_step_removes_the_20_percent_smallest_magnitudes_globally():
    model = get_model("lenet300", num_classes=10, in_channels=1, image_size=28)
    masklib.attach_masks(model, "binary")
    # a first step, so that the second one ranks only survivors
    MagnitudePruning(0.2).prune(model)
    masks = masklib.get_masks(model)
    modules = dict(model.named_modules())
    names = list(masks)
    theta = torch.cat([modules[n.removesuffix(".weight")].parametrizations.weight.original.detach().abs().flatten()
                       for n in names])
    alive_before = torch.cat([masks[n].alive.flatten() for n in names]).bool()
    removed = MagnitudePruning(0.2).prune(model)
    alive_after = torch.cat([masks[n].alive.flatten() for n in names]).bool()

    # reference by sorting: the round(20%) smallest |θ| among the survivors
    survivors = torch.nonzero(alive_before).flatten()
    k = round(0.2 * survivors.numel())
    ref_removed = survivors[torch.argsort(theta[survivors], stable=True)[:k]]
    expected = alive_before.clone()
    expected[ref_removed] = False
    assert removed == k
    assert torch.equal(alive_after, expected)
    # the cut is global: every removed magnitude <= every kept one
    assert theta[alive_before & ~alive_after].max() <= theta[alive_after].min()


def test_ties_are_broken_by_position():
    model = nn.Sequential(nn.Linear(4, 1, bias=False), nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[1].weight.fill_(1.0)
    masklib.attach_masks(model, "binary")
    scores = {n: torch.ones_like(m.alive) for n, m in masklib.get_masks(model).items()}
    masklib.prune_by_fraction_(model, scores, 0.5)  # 3 of 6 equal scores: the first three positions
    assert masklib.get_masks(model)["0.weight"].alive.flatten().tolist() == [0, 0, 0, 1]
    assert masklib.get_masks(model)["1.weight"].alive.flatten().tolist() == [1, 1]


def test_mask_state_roundtrip_and_detach():
    model = small_net()
    masklib.attach_masks(model, "relaxed")
    masklib.prune_by_threshold_(model, 0.6)  # everything at 0.5 goes
    state = masklib.mask_state(model)
    other = small_net()
    masklib.attach_masks(other, "binary")
    masklib.load_mask_state(other, state, scores=False)
    assert masklib.sparsity_report(other).sparsity == 1.0
    masklib.detach_masks(other, bake=True)
    assert not masklib.get_masks(other)
    assert torch.all(other[4].weight == 0)


def test_sparsity_report_text_and_dict():
    model = small_net()
    masklib.attach_masks(model, "binary")
    masklib.get_masks(model)["4.weight"].prune_(torch.ones(3, 144, dtype=torch.bool))
    report = masklib.sparsity_report(model)
    d = report.as_dict()
    assert d["remaining_weights"] == 36 and d["layers"]["4.weight"]["sparsity"] == 1.0
    assert report.parameter_sparsity == pytest.approx(432 / report.total_parameters)
    assert "total" in str(report)
