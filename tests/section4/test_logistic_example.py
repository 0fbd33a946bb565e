"""The Sec. IV-C logistic example (concave_lottery.section4.logistic) on small synthetic runs."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from concave_lottery.errors import ParameterError
from concave_lottery.method.regularizers import get_regularizer
from concave_lottery.section4 import logistic as le

L1 = get_regularizer("l1")
LOG = get_regularizer("log", eps=0.1)


def make_runs(R: int = 3, n: int = 48, n_val: int = 24, side: int = 6, seed: int = 0) -> le.LogisticRuns:
    """R runs of images in [0, 1] (side x side, the border always 0: dead pixels) with labels of a
    sparse logistic model plus label noise, float64."""
    g = torch.Generator().manual_seed(seed)
    d = side * side
    border = torch.ones(side, side, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    theta = torch.zeros(d, dtype=torch.float64)
    theta[[7, 8, 14, 21, 27]] = torch.tensor([3.0, -3.0, 2.5, -2.0, 2.0], dtype=torch.float64)

    def draw(m):
        X = torch.rand(R, m, d, generator=g, dtype=torch.float64) * (torch.rand(R, m, d, generator=g) < 0.6)
        X[:, :, border.flatten()] = 0.0
        p = torch.sigmoid((X - 0.3) @ theta)
        y = (torch.rand(R, m, generator=g, dtype=torch.float64) < p).to(torch.float64)
        return X, y

    return le.LogisticRuns(*draw(n), *draw(n_val))


@pytest.fixture(scope="module")
def runs():
    return make_runs()


@pytest.fixture(scope="module")
def fit(runs):
    return le.fit_logistic_l2(runs.X_train, runs.y_train, mu=1e-2)


def test_loss_and_sigmoid_have_the_corrected_signs():
    z = torch.tensor([[[-3.0], [-0.5], [0.0], [2.0], [40.0]]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    p = torch.sigmoid(z[:, :4])[..., 0]
    naive = -(y[:, :4] * torch.log(p) + (1 - y[:, :4]) * torch.log1p(-p)).mean(1)
    assert torch.allclose(le.cross_entropy(z[:, :4], y[:, :4])[:, 0], naive, rtol=1e-12)
    # a sample that is far on the right side costs ~e^-40, not 0 from cancellation
    assert float(le.cross_entropy(z[:, 4:], y[:, 4:])) == pytest.approx(torch.exp(torch.tensor(-40.0)).item(), rel=1e-6)
    # predict is sigma(+z): positive logits mean label 1
    X = torch.eye(2, dtype=torch.float64).unsqueeze(0)
    W = torch.tensor([[[2.0], [-2.0]]], dtype=torch.float64)
    assert le.predict(X, W, torch.zeros(1, 1, dtype=torch.float64))[0, :, 0].tolist() == pytest.approx(
        [torch.sigmoid(torch.tensor(2.0)).item(), torch.sigmoid(torch.tensor(-2.0)).item()])


def test_lipschitz_matches_the_top_eigenvalue(runs):
    X = runs.X_train
    X1 = torch.cat([X, torch.ones_like(X[..., :1])], dim=2)
    top = torch.linalg.eigvalsh(X1.transpose(1, 2) @ X1)[:, -1] / (4 * X.shape[1])
    est = le.lipschitz(X, intercept=True)
    assert torch.all(est >= top) and torch.allclose(est, 1.01 * top, rtol=1e-6)


def test_fit_is_a_minimiser_and_keeps_dead_pixels_at_zero(runs, fit):
    theta, b = fit
    R, n, d = runs.X_train.shape
    assert theta.shape == (R, d) and b.shape == (R,)
    X1 = torch.cat([runs.X_train, torch.ones_like(runs.X_train[..., :1])], dim=2)
    w = torch.cat([theta, b.unsqueeze(1)], dim=1).unsqueeze(-1)
    grad = X1.transpose(1, 2) @ (torch.sigmoid(X1 @ w) - runs.y_train.unsqueeze(-1)) / n
    grad[:, :d] += 1e-2 * theta.unsqueeze(-1)
    assert grad.abs().max() < 1e-8
    dead = le.dead_pixels(runs.X_train)
    assert dead.sum() == R * 20  # the 6x6 border
    assert torch.all(theta[dead] == 0) and torch.all(theta[~dead] != 0)
    with pytest.raises(ParameterError):
        le.fit_logistic_l2(runs.X_train, runs.y_train, mu=0.0)


def test_subgradient_shapes_and_no_exact_zeros_beyond_dead_pixels(runs):
    lams = torch.tensor([0.0, 1e-3, 1e-2, 1e-1], dtype=torch.float64)
    theta, b = le.fit_theta_l1(runs.X_train, runs.y_train, lams, n_iter=300)
    R, _, d = runs.X_train.shape
    assert theta.shape == (R, d, 4) and b.shape == (R, 4)
    dead = le.dead_pixels(runs.X_train).unsqueeze(-1).expand_as(theta)
    # the exact zeros are exactly the dead pixels, at every lambda: the iterates oscillate around 0
    assert torch.equal(theta == 0, dead)
    big = theta[..., 3]
    small = big.abs() < 0.05  # coordinates the penalty wants at zero...
    assert (small & ~dead[..., 3]).any()
    assert torch.all(big[small & ~dead[..., 3]] != 0)  # ...are small but not zero


@pytest.mark.parametrize("momentum", [True, False])
def test_batched_equals_a_loop_over_runs_and_lambdas(runs, fit, momentum):
    theta_hat, b_hat = fit
    lams = torch.tensor([1e-4, 3e-3, 3e-2], dtype=torch.float64)
    regs = [L1, LOG, LOG]
    batch = le.mask_projected_gradient(runs.X_train, runs.y_train, theta_hat, b_hat, lams, regs, n_iter=80,
                                       momentum=momentum)
    sg_theta, sg_b = le.fit_theta_l1(runs.X_train, runs.y_train, lams, n_iter=50)
    for r in range(2):
        one = runs.select([r])
        for c in range(3):
            single = le.mask_projected_gradient(one.X_train, one.y_train, theta_hat[r:r + 1], b_hat[r:r + 1],
                                                lams[c:c + 1], regs[c], n_iter=80, momentum=momentum)
            assert torch.allclose(single.mask[0, :, 0], batch.mask[r, :, c], atol=1e-9)
            assert torch.allclose(single.b[0, 0], batch.b[r, c], atol=1e-9)
            th, b = le.fit_theta_l1(one.X_train, one.y_train, lams[c:c + 1], n_iter=50)
            assert torch.allclose(th[0, :, 0], sg_theta[r, :, c], atol=1e-10)
            assert torch.allclose(b[0, 0], sg_b[r, c], atol=1e-10)


@pytest.mark.parametrize("reg", [L1, LOG], ids=["l1", "log"])
def test_projected_gradient_stays_in_the_box_and_reaches_exact_zeros(runs, fit, reg):
    theta_hat, b_hat = fit
    lams = torch.tensor([1e-3, 1e-2, 3e-2], dtype=torch.float64)
    out = le.mask_projected_gradient(runs.X_train, runs.y_train, theta_hat, b_hat, lams, reg, n_iter=300)
    m = out.mask
    assert m.shape == (3, 36, 3) and out.b.shape == (3, 3)
    assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
    active = ~le.dead_pixels(runs.X_train)
    zeros = ((m == 0) & active.unsqueeze(-1)).sum(1)  # exact zeros among the live pixels
    assert torch.all(zeros[:, -1] > 0)
    assert torch.all(zeros[:, 1:] >= zeros[:, :-1] - 1)  # more pruning with larger lambda
    assert torch.all(out.stationarity < 1.0)  # converged on the penalty's scale


def test_lambda_zero_removes_nothing_and_large_lambda_removes_nearly_all(runs, fit):
    theta_hat, b_hat = fit
    lams = torch.tensor([0.0, 10.0], dtype=torch.float64)
    for reg in (L1, LOG):
        out = le.mask_projected_gradient(runs.X_train, runs.y_train, theta_hat, b_hat, lams, reg, n_iter=100)
        w = theta_hat.unsqueeze(-1) * out.mask
        dead = le.dead_pixels(runs.X_train)
        assert torch.all(out.mask[..., 0] == 1.0)  # m = 1 is a fixed point at lambda = 0
        assert torch.equal(w[..., 0] == 0, dead)  # only the dead pixels are zero
        assert torch.all(out.mask[..., 1] == 0.0)  # everything removed


def test_precondition_reaches_the_same_l1_minimiser(runs, fit):
    theta_hat, b_hat = fit
    lams = torch.tensor([3e-3, 1e-2], dtype=torch.float64)
    a = le.mask_projected_gradient(runs.X_train, runs.y_train, theta_hat, b_hat, lams, L1, n_iter=1500)
    b = le.mask_projected_gradient(runs.X_train, runs.y_train, theta_hat, b_hat, lams, L1, n_iter=1500,
                                   precondition=True)
    assert torch.allclose(a.mask, b.mask, atol=1e-4)
    assert torch.equal(a.mask == 0, b.mask == 0)


def test_run_example_frame(runs):
    cfg = le.ExampleConfig(lams=[0.0, 1e-3, 1e-2, 1.0], mu=1e-2, n_iter_mask=150, n_iter_subgradient=100)
    res = le.run_example(runs, cfg)
    R, L = runs.n_runs, 4
    assert len(res.frame) == 3 * R * L
    assert set(res.frame["approach"]) == set(le.APPROACHES)
    assert res.frame[["accuracy", "sparsity"]].apply(lambda c: c.between(0, 1)).all().all()
    first = res.frame[res.frame["lam"] == 0]
    dead = float(res.baseline["dead_fraction"].mean())
    masks0 = first[first["approach"] != "theta-l1"]
    assert masks0["sparsity"].mean() == pytest.approx(dead)  # lambda = 0: dead pixels only
    last = res.frame[(res.frame["lam"] == 1.0) & (res.frame["approach"] != "theta-l1")]
    assert last["sparsity"].min() >= 0.95
    sg = res.frame[res.frame["approach"] == "theta-l1"]
    assert sg["exact_sparsity"].max() == pytest.approx(dead)  # (a): exact zeros = dead pixels
    assert (sg["dead_zero"] == 1).all()
    s = le.summarize(res.frame)
    assert {"accuracy", "accuracy_sd", "sparsity", "sparsity_sd"} <= set(s.columns) and len(s) == 3 * L
    with pytest.raises(ParameterError):
        le.run_example(runs, le.ExampleConfig(lams=[-1.0]))


def test_sparsity_at_accuracy_interpolates():
    frame = pd.DataFrame({
        "approach": ["x"] * 3 + ["y"] * 3,
        "lam": [1.0, 2.0, 3.0] * 2,
        "run": 0,
        "accuracy": [1.0, 0.9, 0.5, 0.8, 0.7, 0.6],
        "sparsity": [0.0, 0.5, 1.0, 0.1, 0.2, 0.3],
    })
    out = le.sparsity_at_accuracy(frame, [0.95, 0.7, 0.99, 0.5])
    assert out.loc["x", 0.95] == pytest.approx(0.25)
    assert out.loc["x", 0.7] == pytest.approx(0.75)
    assert out.loc["x", 0.5] == pytest.approx(1.0)
    assert out.loc["y", 0.7] == pytest.approx(0.2)
    assert pd.isna(out.loc["y", 0.99])


def test_find_k_sparse_mask_and_example_digits(runs):
    cfg = le.ExampleConfig(lams=[1e-4, 1e-3, 1e-2, 1e-1, 1.0], mu=1e-2, n_iter_mask=150, n_iter_subgradient=10)
    res = le.run_example(runs, cfg)
    k = le.find_k_sparse_mask(runs, res, k=3)
    assert int((k.mask != 0).sum()) == 3 and k.support.numel() == 3
    assert 0.0 <= k.accuracy <= 1.0
    images, labels = le.example_digits(runs, k.run, per_digit=2)
    assert images.shape == (4, 36) and labels.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_sparsity_at_accuracy_by_run():
    frame = pd.DataFrame({
        "approach": ["x"] * 4,
        "lam": [1.0, 2.0, 1.0, 2.0],
        "run": [0, 0, 1, 1],
        "accuracy": [1.0, 0.8, 1.0, 1.0],
        "sparsity": [0.0, 1.0, 0.2, 0.6],
    })
    out = le.sparsity_at_accuracy(frame, [0.9], by_run=True)
    assert out.loc[("x", 0), 0.9] == pytest.approx(0.5)
    assert out.loc[("x", 1), 0.9] == pytest.approx(0.6)


def test_sparsity_at_drop_uses_each_runs_reference():
    frame = pd.DataFrame({
        "approach": ["x"] * 4,
        "lam": [1.0, 2.0, 1.0, 2.0],
        "run": [0, 0, 1, 1],
        "accuracy": [1.0, 0.8, 0.9, 0.7],
        "sparsity": [0.0, 1.0, 0.2, 0.6],
    })
    out = le.sparsity_at_drop(frame, pd.Series({0: 1.0, 1: 0.9}), [0.1])
    assert out.loc[("x", 0), 0.1] == pytest.approx(0.5)
    assert out.loc[("x", 1), 0.1] == pytest.approx(0.4)
