"""Numerical checks of Section IV: Problem (4), Theorems 1-2, φ of eq. (17), Lemma 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import minimize

from concave_lottery.errors import ParameterError
from concave_lottery.method.regularizers import REGULARIZERS, get_regularizer
from concave_lottery.section4.theory import (
    check_theorems,
    generate_instances,
    head_to_head,
    kkt_residual,
    phi,
    solve_problem4,
    theorem1_bound,
    theorem2_bound_printed,
    theorem2_bound_proof,
    theorem2_counterexample,
    violations,
)

ALL_REGS = [get_regularizer(n) for n in sorted(REGULARIZERS)] + [
    get_regularizer("log", eps=1e-3),
    get_regularizer("lq", q=0.1),
    get_regularizer("mcp", gamma=0.5),
]


@pytest.fixture(scope="module")
def small():
    return generate_instances(6, d=8, k=3, noise=0.3, seed=3)


def test_instances_shapes_and_assumptions(small):
    B, d = 6, 8
    assert small.H.shape == (B, d, d) and small.c.shape == (B, d) and small.m_tilde.shape == (B, d)
    assert torch.equal(small.k, torch.full((B,), 3.0, dtype=torch.float64))
    assert set(small.m_tilde.unique().tolist()) == {0.0, 1.0}
    assert (small.gamma > 0).all() and (small.lipschitz >= small.gamma).all()
    # loss and grad agree with the data form 1/(2n)||X(θ⊙m) - y||² + μ/2 ||m||² and autograd
    m = torch.rand(B, d, dtype=torch.float64, requires_grad=True)
    direct = ((small.X @ (small.theta * m)[..., None])[..., 0] - small.y).pow(2).sum(-1) / (
        2 * small.n_samples
    ) + 0.5 * small.mu * (m * m).sum(-1)
    torch.testing.assert_close(small.loss(m), direct)
    (g,) = torch.autograd.grad(small.loss(m).sum(), m)
    torch.testing.assert_close(small.grad(m.detach()), g)
    # eq. (6): the smallest admissible λ is ||∇L(m̃)||∞
    torch.testing.assert_close(small.lam_min(), small.grad(small.m_tilde).abs().amax(-1))


def test_pgd_matches_lbfgsb_for_l1(small):
    r = get_regularizer("l1")
    lam = torch.stack([small.lam_min(), 3 * small.lam_min()])  # (G=2, B)
    sol = solve_problem4(small, r, lam, tol=1e-12)
    assert sol.converged.all() and (sol.kkt_residual <= 1e-12).all()
    for g in range(2):
        for b in range(small.batch_size):
            H = small.H[b].numpy()
            c = small.c[b].numpy()
            lb = float(lam[g, b])
            res = minimize(
                lambda x, H=H, c=c, lb=lb: (0.5 * x @ H @ x - c @ x + lb * x.sum(), H @ x - c + lb),
                np.full(small.d, 0.5), jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * small.d,
                options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
            )
            np.testing.assert_allclose(sol.m[g, b].numpy(), res.x, atol=1e-6)
            assert float(sol.objective[g, b]) <= res.fun + 1e-12 + float(small.const[b])


@pytest.mark.parametrize("r", ALL_REGS, ids=lambda r: r.label)
def test_pgd_reaches_kkt(small, r):
    lam = 2 * small.lam_min()
    sol = solve_problem4(small, r, lam[None, :], tol=1e-10)  # a (G=1, B) array: one λ per instance
    assert sol.converged.all(), sol.kkt_residual
    m = sol.m[0]
    torch.testing.assert_close(kkt_residual(small, r, sol.m, sol.lam), sol.kkt_residual)
    # the KKT conditions of (4) coordinate by coordinate
    dF = small.grad(m) + lam[:, None] * torch.nan_to_num(r.derivative(m), posinf=1e300)
    inner = (m > 1e-9) & (m < 1 - 1e-9)
    assert inner.any()
    assert dF[inner].abs().max() <= 1e-8
    assert (dF[m <= 1e-9] >= -1e-8).all()
    assert (dF[m >= 1 - 1e-9] <= 1e-8).all()
    assert ((m >= 0) & (m <= 1)).all()


@pytest.mark.parametrize("r", ALL_REGS, ids=lambda r: r.label)
def test_pgd_never_increases_objective(small, r):
    # majorise-minimise: the step 1/λmax(H) decreases L + λR for every concave r
    lam = 3 * small.lam_min()[None, :]
    objectives = [
        solve_problem4(small, r, lam, max_iter=it, tol=1e-300).objective for it in (1, 2, 5, 20, 100)
    ]
    for before, after in zip(objectives, objectives[1:], strict=False):
        assert (after <= before + 1e-12).all()


def test_batching_does_not_mix_instances(small):
    r = get_regularizer("log")
    lam = torch.tensor([0.05, 0.2], dtype=torch.float64)
    joint = solve_problem4(small, r, lam, tol=1e-11)
    alone = solve_problem4(small.subset([4]), r, lam, tol=1e-11)
    torch.testing.assert_close(joint.m[:, 4], alone.m[:, 0], atol=1e-9, rtol=0)


@pytest.fixture(scope="module")
def table():
    frames = []
    settings = [dict(d=20, k=3, noise=0.3), dict(d=30, k=5, n_samples=20, mu=0.05, noise=0.5)]
    for seed, kw in enumerate(settings):
        inst = generate_instances(48, seed=10 + seed, **kw)
        df = check_theorems(inst, ALL_REGS, lam_factors=(0.5, 1.0, 2.0, 4.0))
        frames.append(df.assign(setting=seed))
    return pd.concat(frames, ignore_index=True)


def test_table_columns(table):
    for col in ["regularizer", "reg_name", "instance", "lam", "lam_factor", "lam_min", "k", "gamma",
                "assumption6", "assumption7", "optimality9", "premises", "error", "bound_thm1",
                "thm1_holds", "phi", "bound_thm2_printed", "bound_thm2_proof", "thm2_proof_holds",
                "binary", "support_recovered", "lemma1_applies", "lemma1_holds", "iterations",
                "kkt_residual", "converged"]:
        assert col in table.columns
    n_regs, n_lams, n_inst = len(ALL_REGS), 4, 48
    assert len(table) == 2 * n_regs * n_lams * n_inst
    assert table["converged"].all()
    # (6) holds exactly for lam_factor >= 1; (7) always holds for a quadratic with γ = λmin(H)
    assert (table["assumption6"] == (table["lam_factor"] >= 1)).all()
    assert table["assumption7"].all()


def test_theorem1_bound_holds_under_assumptions(table):
    ok = table[table["premises"]]
    assert len(ok) > 0.7 * len(table)
    assert ok["thm1_holds"].all()
    assert ok["thm2_proof_holds"].all()
    # for ℓ1, (4) is convex: projected gradient finds the global minimiser, so (9) holds
    l1 = table[table["reg_name"] == "l1"]
    assert l1["optimality9"].all()
    assert (table["bound_thm2_proof"] <= table["bound_thm1"] + 1e-12).all()


def test_phi_nonnegative(table):
    assert (table["phi"] >= -1e-12).all()
    assert (table.loc[table["reg_name"] == "l1", "phi"].abs() <= 1e-12).all()


def test_lemma1_holds(table):
    assert table["lemma1_holds"].all()


def test_lemma1_on_noiseless_instances():
    # noiseless, μ = 0: ∇L(m̃) = 0; with r'(1) = 0 (SCAD, MCP with γ < 1) m̃ is a binary KKT point
    inst = generate_instances(32, d=12, k=3, noise=0.0, mu=0.0, seed=7)
    regs = [get_regularizer("scad"), get_regularizer("mcp", gamma=0.5)]
    df = check_theorems(inst, regs, lams=[1e-3, 1e-2, 100.0])
    small_lam = df[df["lam"] < 1]
    assert (small_lam["bound_thm1"] < 1).all()
    assert small_lam["lemma1_applies"].mean() > 0.9
    assert df["lemma1_holds"].all()
    # a huge λ gives the binary m* = 0 ≠ m̃, allowed because 4√kλ/γ ≥ 1 (SCAD: r' > 0 on [0, 1);
    # MCP with γ = 0.5 is flat on [0.5, 1], so from m0 = 0.5 it stops at a non-binary KKT point)
    big = df[(df["lam"] == 100.0) & (df["reg_name"] == "scad")]
    assert big["binary"].all() and not big["equals_planted"].any()
    assert (big["bound_thm1"] >= 1).all() and not big["lemma1_applies"].any()


def test_printed_theorem2_fails_on_counterexample_but_proof_bound_holds():
    inst = theorem2_counterexample(d=20, k=16, lam=0.2)
    r = get_regularizer("log", eps=0.1)
    df = check_theorems(inst, [r, get_regularizer("l1")], lams=[0.2])
    row = df[df["reg_name"] == "log"].iloc[0]
    assert row["premises"] and row["thm1_holds"] and row["thm2_proof_holds"]
    assert not row["thm2_printed_holds"]
    assert row["error"] == pytest.approx(1.2196, abs=1e-3)
    # certify global optimality: (4) is separable here; brute force each scalar problem on a grid
    t = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    for a in (0.8, 0.0):
        scalar = 0.5 * (t - a) ** 2 + 0.2 * r.value(t)
        best = t[scalar.argmin()]
        sol = solve_problem4(inst, r, 0.2, tol=1e-13).m[0, 0]
        got = sol[0] if a else sol[-1]
        assert float(got) == pytest.approx(float(best), abs=1e-4)


def test_bound_helpers():
    lam, k, gamma = (torch.tensor(v, dtype=torch.float64) for v in (0.1, 4.0, 0.5))
    assert float(theorem1_bound(lam, k, gamma)) == pytest.approx(4 * 0.1 * 2 / 0.5)
    zero = torch.zeros((), dtype=torch.float64)
    assert float(theorem2_bound_proof(lam, k, gamma, zero)) == pytest.approx(1.6)
    assert float(theorem2_bound_printed(lam, k, gamma, zero + 0.3)) == pytest.approx(1.3)
    # the proof's bound is the root of γ/2 x² - 2λ√k x + λφ = 0
    ph = zero + 0.2
    x = theorem2_bound_proof(lam, k, gamma, ph)
    assert float(0.5 * gamma * x**2 - 2 * lam * 2 * x + lam * ph) == pytest.approx(0.0, abs=1e-12)
    m = torch.tensor([[0.0, 0.3, 1.0]], dtype=torch.float64)
    assert float(phi(get_regularizer("log"), m)) > 0
    assert float(phi(get_regularizer("l1"), m)) == 0


def test_head_to_head(table):
    one = table[table["setting"] == 0]
    h2h = head_to_head(one, "log(eps=0.1)", "l1")
    assert list(h2h.columns) == ["lam_index", "lam_factor", "wins", "ties", "losses", "n", "win_rate"]
    assert (h2h["n"] == 48).all()
    with pytest.raises(ParameterError):
        head_to_head(one, "nope", "l1")


def test_bad_parameters(small):
    with pytest.raises(ParameterError) as info:
        generate_instances(4, d=5, k=6)
    assert info.value.name == "k"
    with pytest.raises(ParameterError):
        generate_instances(4, d=5, k=2, n_samples=3, mu=0.0)
    with pytest.raises(ParameterError) as info:
        solve_problem4(small, get_regularizer("l1"), -1.0)
    assert info.value.name == "lam"


def test_violations_counts_the_failed_checks():
    flags = pd.Series([True, False, True, False, False])
    assert violations(flags) == 3
    assert pd.DataFrame({"g": [0, 0, 1, 1, 1], "ok": flags}).groupby("g")["ok"].agg(violations).tolist() == [1, 2]
