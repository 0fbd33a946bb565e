"""Tests of the concave regularizers r(m) of Assumption 1 (paper eq. (3), Sec. III-A)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from concave_lottery.errors import ParameterError
from concave_lottery.method.regularizers import (
    REGULARIZERS,
    Assumption1Check,
    L1Regularizer,
    LogRegularizer,
    LqRegularizer,
    MCPRegularizer,
    Regularizer,
    SCADRegularizer,
    check_assumption1,
    get_regularizer,
)

EPS = st.floats(1e-4, 1e3)
Q = st.floats(0.05, 0.95)
GAMMA = st.floats(0.02, 50.0)
A = st.floats(2.001, 50.0)


@st.composite
def regularizers(draw) -> Regularizer:
    name = draw(st.sampled_from(sorted(REGULARIZERS)))
    return get_regularizer(name, eps=draw(EPS), q=draw(Q), gamma=draw(GAMMA), a=draw(A))


FAST = settings(max_examples=40, deadline=None)


def test_registry_names_and_defaults():
    assert set(REGULARIZERS) == {"l1", "log", "lq", "mcp", "scad"}
    assert get_regularizer("log").params() == {"eps": 0.1}
    assert get_regularizer("lq", q=0.3).params() == {"q": 0.3}
    assert get_regularizer("mcp", gamma=3.0).params() == {"gamma": 3.0}
    assert get_regularizer("scad").params() == {"a": 3.7}
    assert get_regularizer("l1").params() == {}
    assert get_regularizer(" LOG ", eps=0.5) == LogRegularizer(eps=0.5)
    for name, cls in REGULARIZERS.items():
        assert cls.name == name
        assert isinstance(get_regularizer(name), cls)
    assert get_regularizer("log", eps=0.1).label == "log(eps=0.1)"


@FAST
@given(regularizers())
def test_assumption1_holds(r: Regularizer):
    check = check_assumption1(r)
    assert isinstance(check, Assumption1Check)
    assert check.holds, (r, check.failures(), check.details)


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_assumption1_lq_extremes(q):
    # m**0.05 jumps by 0.68 over the first grid cell; the refinement must still call it continuous
    check = check_assumption1(LqRegularizer(q=q))
    assert check.holds, check.details


def test_check_rejects_convex_unnormalised_and_discontinuous():
    convex = check_assumption1(lambda m: m**2)
    assert not convex.holds and convex.failures() == ["concave"]
    doubled = check_assumption1(lambda m: 2 * m)
    assert not doubled.holds and not doubled.one_at_one and not doubled.image_unit
    assert doubled.concave and doubled.nondecreasing and doubled.continuous
    step = check_assumption1(lambda m: torch.where(m > 0, 0.2 + 0.8 * m.sqrt(), m))
    assert not step.holds and not step.continuous
    bump = check_assumption1(lambda m: 4 * m * (1 - m) + m)  # concave, r(0)=0, r(1)=1, overshoots
    assert bump.concave and not bump.nondecreasing and not bump.image_unit
    assert not check_assumption1(lambda m: 1 - m).zero_at_zero
    assert not check_assumption1(lambda m: m * float("nan")).holds


@FAST
@given(st.floats(1e-4, 1e3), st.floats(1e-4, 1e3))
def test_log_tends_to_l1(e1, e2):
    lo, hi = min(e1, e2), max(e1, e2)
    m = torch.linspace(0, 1, 4001, dtype=torch.float64)

    def sup(eps: float) -> float:
        return float((LogRegularizer(eps=eps).value(m) - m).abs().max())

    assert sup(hi) <= sup(lo) + 1e-12
    assert sup(1e4) < 2e-5  # ≈ 1/(8 eps)


@FAST
@given(regularizers())
def test_derivative_matches_autograd(r: Regularizer):
    m = torch.cat([torch.tensor([1e-12, 1e-6, 1e-3], dtype=torch.float64),
                   torch.linspace(0, 1, 201, dtype=torch.float64)[1:]])
    m.requires_grad_(True)
    (grad,) = torch.autograd.grad(r(m), m)
    closed = r.derivative(m.detach())
    assert torch.isfinite(closed).all()
    torch.testing.assert_close(grad, closed, rtol=1e-9, atol=1e-9)


@FAST
@given(regularizers(), st.sampled_from([torch.float64, torch.float32]))
def test_autograd_finite_at_zero(r: Regularizer, dtype):
    m = torch.tensor([0.0, 0.0, 0.5, 1.0], dtype=dtype, requires_grad=True)
    value = r(m)
    assert value.dtype == dtype
    (grad,) = torch.autograd.grad(value, m)
    assert torch.isfinite(grad).all(), (r, grad)
    assert (grad[:2] >= 0).all()
    # a zero upstream gradient must give zero, never NaN (0 * inf)
    m2 = torch.zeros(3, dtype=dtype, requires_grad=True)
    (0.0 * r(m2)).backward()
    assert torch.equal(m2.grad, torch.zeros_like(m2))


def test_lq_derivative_is_inf_at_zero_and_autograd_large():
    r = LqRegularizer(q=0.5)
    assert math.isinf(float(r.derivative(torch.zeros(1))[0]))
    m = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    r(m).backward()
    assert 1e100 < float(m.grad[0]) < math.inf


@pytest.mark.parametrize(
    ("factory", "param", "bad"),
    [
        (lambda v: LogRegularizer(eps=v), "eps", [0.0, -1.0, float("nan"), float("inf"), "x"]),
        (lambda v: LqRegularizer(q=v), "q", [0.0, 1.0, 1.5, -0.1, float("nan")]),
        (lambda v: MCPRegularizer(gamma=v), "gamma", [0.0, -2.0, float("inf")]),
        (lambda v: SCADRegularizer(a=v), "a", [2.0, 1.0, -3.0, float("nan")]),
        (lambda v: get_regularizer("log", eps=v), "eps", [0.0]),
        (lambda v: get_regularizer("lq", q=v), "q", [1.0]),
        (lambda v: get_regularizer("mcp", gamma=v), "gamma", [0.0]),
        (lambda v: get_regularizer("scad", a=v), "a", [2.0]),
    ],
)
def test_bad_parameters_raise(factory, param, bad):
    for v in bad:
        with pytest.raises(ParameterError) as info:
            factory(v)
        assert info.value.name == param
        assert str(info.value).startswith(f"{param}=")


def test_unknown_name_raises():
    with pytest.raises(ParameterError) as info:
        get_regularizer("l0")
    assert info.value.name == "regularizer"
    assert "l1" in str(info.value) and "scad" in str(info.value)


def test_formulas_and_sum():
    m = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    eps = 0.1
    expected = torch.log((m + eps) / eps) / math.log((1 + eps) / eps)
    torch.testing.assert_close(LogRegularizer(eps=eps).value(m), expected)
    torch.testing.assert_close(LqRegularizer(q=0.5).value(m), m.sqrt())
    torch.testing.assert_close(L1Regularizer().value(m), m)
    # MCP, gamma = 0.5 < 1: flat at 1 beyond gamma
    mcp = MCPRegularizer(gamma=0.5)
    torch.testing.assert_close(mcp.value(m), torch.tensor([0.0, 0.75, 1.0, 1.0], dtype=torch.float64))
    # SCAD with knot 1/a: linear with slope 2a/(a+1) up to 1/a, flat slope 0 at m = 1
    scad = SCADRegularizer(a=4.0)
    assert float(scad.value(torch.tensor(0.25, dtype=torch.float64))) == pytest.approx(2 * 4 / 5 * 0.25)
    assert float(scad.derivative(torch.tensor(1.0))) == pytest.approx(0.0, abs=1e-7)
    for name in REGULARIZERS:
        r = get_regularizer(name)
        assert float(r(m)) == pytest.approx(float(r.value(m).sum()))
        mm = torch.rand(3, 4, dtype=torch.float32)
        assert r.value(mm).shape == (3, 4) and r.value(mm).dtype == torch.float32
        assert r(mm).ndim == 0


@FAST
@given(regularizers())
def test_above_chord_phi_nonnegative(r: Regularizer):
    m = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert (r.value(m) - m >= -1e-12).all()  # r(m) >= m, so phi(m) of eq. (17) >= 0
