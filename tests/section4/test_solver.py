"""The shared Section IV solvers (section4.solver): projected gradient for Problem (4) and the subgradient
method for ℓ1, checked on separable problems whose minimisers are known in closed form."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from concave_lottery.method.regularizers import get_regularizer
from concave_lottery.section4 import solver

L1 = get_regularizer("l1")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.floats(0.0, 2.0))
def test_projected_gradient_finds_the_soft_threshold_of_a_separable_problem(seed, lam):
    """L(m) = ½‖m - c‖²: the minimiser of (4) with ℓ1 is clip(c - λ, 0, 1) coordinate by coordinate."""
    c = torch.randn(3, 7, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2
    run = solver.projected_gradient(lambda m: m - c, L1, lam, torch.full_like(c, 0.5), 1.0, max_iter=5, tol=1e-12)
    torch.testing.assert_close(run.m, (c - lam).clamp(0.0, 1.0), rtol=0, atol=1e-12)
    assert run.converged.all() and run.converged.shape == (3,)
    assert (run.iterations <= 1).all()  # step 1 = 1/L reaches the minimiser in one step
    assert (run.residual <= 1e-12).all()


def test_projected_gradient_records_its_trajectory_and_stops_only_when_told():
    c = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    run = solver.projected_gradient(lambda m: m - c, L1, 0.1, torch.full_like(c, 0.5), 0.25, max_iter=6, record=True)
    assert run.trajectory.shape == (7, 3) and torch.equal(run.trajectory[-1], run.m)
    assert torch.equal(run.trajectory[0], torch.full_like(c, 0.5))
    assert not run.converged and int(run.iterations) == 6  # no tol: exactly max_iter steps
    assert run.m[1] == 0.0  # pushed below 0 by the projection: exactly 0


def test_stationarity_is_zero_exactly_at_kkt_points():
    m = torch.tensor([0.0, 1.0, 0.4])
    assert solver.stationarity(m, torch.tensor([2.0, -3.0, 0.0])) == 0  # pushes out of the box, or zero inside
    assert solver.stationarity(m, torch.tensor([-0.25, 0.0, 0.0])) == 0.25  # at 0 but pulled inwards
    torch.testing.assert_close(solver.stationarity(m, torch.tensor([0.0, 0.0, 0.1])), torch.tensor(0.1))


def test_the_infinite_derivative_of_lq_at_zero_keeps_an_entry_at_zero():
    lq = get_regularizer("lq", q=0.5)
    m = torch.tensor([0.0, 0.5], dtype=torch.float64)
    d = solver.penalty_derivative(lq, m)
    assert torch.isfinite(d).all() and d[0] == torch.finfo(torch.float64).max
    assert torch.equal(solver.penalty_gradient(lq, m, 0.0), torch.zeros(2, dtype=torch.float64))  # never NaN
    assert solver.projected_step(m, solver.penalty_gradient(lq, m, 0.1), 0.5)[0] == 0.0


def test_subgradient_l1_penalises_theta_not_the_intercept():
    """L(θ, b) = ½‖θ - c‖² + ½(b - 3)²: θ oscillates around its soft threshold, b converges to 3."""
    c = torch.tensor([2.0, 0.05, -1.0], dtype=torch.float64)

    def grads(theta, b):
        return theta - c, b - 3.0

    run = solver.subgradient_l1(grads, torch.zeros(3, dtype=torch.float64), 0.5, lambda t: 0.1, 200,
                                b0=torch.zeros(1, dtype=torch.float64), record=True)
    assert run.trajectory.shape == (201, 3) and torch.equal(run.trajectory[-1], run.theta)
    torch.testing.assert_close(run.b, torch.tensor([3.0], dtype=torch.float64))
    torch.testing.assert_close(run.theta[[0, 2]], torch.tensor([1.5, -0.5], dtype=torch.float64))
    assert run.theta[1] != 0 and abs(float(run.theta[1])) <= 0.1 * 0.5 + 1e-12  # never exactly 0: it overshoots
    no_b = solver.subgradient_l1(lambda theta, b: (theta - c, None), torch.zeros(3, dtype=torch.float64), 0.5,
                                 lambda t: 0.1, 3)
    assert no_b.b is None and no_b.trajectory is None
