"""Algorithm 1 on a problem whose answer is known: a planted support."""

from __future__ import annotations

import torch
from torch import nn

from concave_lottery.method import masks as masklib
from concave_lottery.method.regularizers import get_regularizer
from concave_lottery.method.search import SoftMask


def test_log_mask_recovers_planted_support():
    """Linear regression y = X θ̃ with k = 5 informative features out of d = 40, θ fixed at the
    least-squares fit: the relaxed mask with the log regularizer, trained by projected gradient
    and pruned at α, keeps exactly the k informative features."""
    torch.manual_seed(0)
    n, d, k = 400, 40, 5
    support = torch.randperm(d)[:k]
    theta_true = torch.zeros(d)
    theta_true[support] = torch.tensor([2.0, -1.5, 1.0, 3.0, -2.5])
    X = torch.randn(n, d)
    y = X @ theta_true + 0.05 * torch.randn(n)
    theta_hat = torch.linalg.lstsq(X, y[:, None]).solution.flatten()

    model = nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(theta_hat[None])
    model.weight.requires_grad_(False)  # Problem (4): θ fixed, only m is optimised
    masklib.attach_masks(model, "relaxed", init=0.5)
    method = SoftMask(get_regularizer("log", eps=0.1), lam=0.05, alpha=0.05)
    penalty = method.penalty(model)
    opt = torch.optim.SGD(masklib.mask_parameters(model), lr=0.05)
    for _ in range(3000):
        loss = 0.5 * ((model(X).flatten() - y) ** 2).mean() + penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        masklib.project_masks_(model)
    method.prune(model)
    kept = torch.nonzero(masklib.get_masks(model)["weight"].alive.flatten()).flatten()
    assert sorted(kept.tolist()) == sorted(support.tolist())


def test_in_place_penalty_gradient_equals_autograd():
    """SoftMask.penalty_grad adds exactly ∂(λ Σ r(a⊙m))/∂m, pruned entries included (zero there)."""
    for name in ("l1", "log", "mcp", "scad"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 3))
        masklib.attach_masks(model, "relaxed")
        for mask in masklib.get_masks(model).values():
            with torch.no_grad():
                mask.score.uniform_(0.0, 1.0)
            mask.prune_(torch.rand(mask.alive.shape) < 0.3)
        method = SoftMask(get_regularizer(name), lam=0.7, alpha=0.05)
        method.penalty(model)().backward()
        reference = [m.score.grad.clone() for m in masklib.get_masks(model).values()]
        for m in masklib.get_masks(model).values():
            m.score.grad = None
        method.penalty_grad(model)()
        for m, ref in zip(masklib.get_masks(model).values(), reference, strict=True):
            torch.testing.assert_close(m.score.grad, ref)
    assert SoftMask(get_regularizer("lq"), lam=0.7, alpha=0.05).penalty_grad(model) is None
