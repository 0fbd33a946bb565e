"""The toy problem of the regularizers chapter: subgradient on θ vs projected gradient on m."""

from __future__ import annotations

import pytest
import torch

from concave_lottery.errors import ParameterError
from concave_lottery.method.regularizers import get_regularizer
from concave_lottery.section4 import theory, toy


@pytest.fixture(scope="module")
def problem():
    return toy.make_toy_problem(n=64, d=8, k=3, noise=0.1, seed=0)


def test_problem_shape_and_fit(problem):
    assert problem.X.shape == (64, 8) and int(problem.support.sum()) == 3
    assert torch.equal(problem.theta_true != 0, problem.support)
    # theta_hat is the least-squares fit: the gradient vanishes there.
    assert problem.grad_theta(problem.theta_hat).abs().max() < 1e-10


def test_subgradient_oscillates_and_never_hits_zero(problem):
    traj = toy.subgradient_weights(problem, lam=0.3, n_steps=300)
    assert traj.shape == (301, 8)
    assert int(toy.exact_zeros(traj).max()) == 0
    off = traj[-50:, ~problem.support]
    assert (off > 0).any() and (off < 0).any(), "the off-support weights keep changing sign"
    assert (traj[-1] - traj[-2]).abs().max() > 1e-2, "the iterates do not settle"


@pytest.mark.parametrize("name", ["l1", "log", "lq", "mcp", "scad"])
def test_projected_gradient_reaches_exact_zeros(problem, name):
    traj = toy.projected_gradient_mask(problem, get_regularizer(name), lam=0.3, n_steps=300)
    assert traj.shape == (301, 8)
    assert float(traj.min()) >= 0.0 and float(traj.max()) <= 1.0
    final = traj[-1]
    assert torch.equal(final != 0, problem.support), "exactly the off-support entries are 0"
    zeros = toy.exact_zeros(traj)
    first = int(torch.nonzero(zeros == 5)[0])
    assert bool((zeros[first:] == 5).all()), "once at zero, entries stay at zero"


def test_log_keeps_survivors_closer_to_one(problem):
    m_l1 = toy.projected_gradient_mask(problem, get_regularizer("l1"), lam=0.3, n_steps=300)[-1]
    m_log = toy.projected_gradient_mask(problem, get_regularizer("log", eps=0.1), lam=0.3, n_steps=300)[-1]
    s = problem.support
    assert bool((m_log[s] > m_l1[s]).all())


def test_trajectory_frame(problem):
    traj = toy.projected_gradient_mask(problem, get_regularizer("l1"), lam=0.3, n_steps=5)
    df = toy.trajectory_frame(traj, problem, "mask")
    assert len(df) == 6 * 8 and set(df.columns) == {"step", "coordinate", "value", "in_support", "method"}
    assert df.loc[(df.step == 5) & (df.coordinate == 2), "value"].item() == pytest.approx(float(traj[5, 2]))


def test_with_signal_scale_moves_the_unpenalised_optimum_past_one():
    base = theory.generate_instances(4, d=10, k=2, n_samples=200, noise=0.0, mu=0.0, seed=3)
    pushed = toy.with_signal_scale(base, 1.5)
    assert torch.allclose(pushed.gamma, base.gamma) and torch.equal(pushed.m_tilde, base.m_tilde)
    # Unpenalised minimiser of the quadratic: H m = c.
    m_opt = torch.linalg.solve(pushed.H, pushed.c[..., None])[..., 0]
    assert torch.allclose(m_opt, 1.5 * base.m_tilde, atol=1e-8)
    # On the support the gradient at m~ pushes outwards (negative), so entries want to exceed 1.
    g = pushed.grad(pushed.m_tilde)
    assert bool((g[pushed.m_tilde > 0] < 0).all())


def test_bad_arguments_are_user_errors(problem):
    with pytest.raises(ParameterError, match="k must"):
        toy.make_toy_problem(d=3, k=5)
    with pytest.raises(ParameterError, match="n must"):
        toy.make_toy_problem(n=2, d=5)
    with pytest.raises(ParameterError, match="step"):
        toy.subgradient_weights(problem, 0.1, step=-1.0)
    with pytest.raises(ParameterError, match="m0"):
        toy.projected_gradient_mask(problem, get_regularizer("l1"), 0.1, m0=2.0)
    with pytest.raises(ParameterError, match="scale"):
        toy.with_signal_scale(theory.generate_instances(2, d=4, k=1), 0.0)
