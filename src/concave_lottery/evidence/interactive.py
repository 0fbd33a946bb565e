"""Interactive figures for the book's HTML pages: self-contained HTML and plain inline JavaScript
(no kernel, no CDN), with every number computed by the library when the page is built.

- :func:`eps_slider`: the log regularizer r_ε(m) against ℓ1 and the scalar objective
  ½(m − 1)² + λ r_ε(m) with its minimiser, for ε on a slider (chapter ``regularizers``).
"""

from __future__ import annotations

import json

import torch

from ..method.regularizers import get_regularizer

__all__ = ["eps_slider_data", "eps_slider", "lambda_slider_data", "lambda_slider"]

#: The slider's page: two SVG panels drawn by inline JavaScript from the JSON put at ``__DATA__``.
EPS_SLIDER_TEMPLATE = """<div class="eps-slider-figure" style="max-width: 720px">
  <label>&epsilon; = <span class="eps-value"></span>
    <input class="eps-slider" type="range" min="0" max="40" step="1" value="20" style="width: 60%">
  </label>
  <div style="display: flex; gap: 12px">
    <svg class="eps-left" viewBox="0 0 330 230" width="330" height="230"></svg>
    <svg class="eps-right" viewBox="0 0 330 230" width="330" height="230"></svg>
  </div>
  <div class="eps-caption" style="font-size: small"></div>
</div>
<script>
(function () {
  var D = __DATA__;
  var root = document.currentScript.previousElementSibling;
  var slider = root.querySelector(".eps-slider");
  var NS = "http://www.w3.org/2000/svg";
  function sx(m) { return 40 + 270 * m; }
  function path(ys, lo, hi) {
    return D.m.map(function (m, i) {
      var y = 200 - 180 * (ys[i] - lo) / (hi - lo);
      return (i ? "L" : "M") + sx(m).toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
  }
  function el(svg, tag, attrs) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    svg.appendChild(e);
    return e;
  }
  function axes(svg, title) {
    el(svg, "rect", {x: 40, y: 20, width: 270, height: 180, fill: "none", stroke: "#999"});
    var t = el(svg, "text", {x: 175, y: 14, "text-anchor": "middle", "font-size": 12});
    t.textContent = title;
    var x = el(svg, "text", {x: 175, y: 222, "text-anchor": "middle", "font-size": 11});
    x.textContent = "m";
  }
  var left = root.querySelector(".eps-left"), right = root.querySelector(".eps-right");
  axes(left, "r(m): log (blue) and l1 (grey)");
  axes(right, "1/2 (m-1)^2 + lambda r(m), lambda = " + D.lam);
  el(left, "path", {d: path(D.m, 0, 1), stroke: "#999", fill: "none", "stroke-dasharray": "4 3"});
  var curve = el(left, "path", {class: "eps-curve", stroke: "#1f77b4", fill: "none", "stroke-width": 2});
  var objective = el(right, "path", {class: "eps-objective", stroke: "#d62728", fill: "none", "stroke-width": 2});
  var dot = el(right, "circle", {class: "eps-minimiser", r: 5, fill: "#d62728"});
  var fmax = Math.max.apply(null, D.frames.map(function (f) { return Math.max.apply(null, f.f); }));
  function show(i) {
    var f = D.frames[i];
    root.querySelector(".eps-value").textContent = f.eps.toPrecision(3);
    curve.setAttribute("d", path(f.r, 0, 1));
    objective.setAttribute("d", path(f.f, 0, fmax));
    dot.setAttribute("cx", sx(f.m_star).toFixed(1));
    dot.setAttribute("cy", (200 - 180 * f.f_star / fmax).toFixed(1));
    root.querySelector(".eps-caption").textContent =
      "minimiser m* = " + f.m_star.toFixed(3) + " (l1 would give " + (1 - D.lam).toFixed(3) + ")";
  }
  slider.addEventListener("input", function () { show(+slider.value); });
  show(+slider.value);
})();
</script>
"""


def eps_slider_data(lam: float, *, n_eps: int = 41, n_grid: int = 201) -> dict:
    """For ε on a log grid from 10⁻³ to 10: r_ε on [0, 1], the objective ½(m − 1)² + λ r_ε(m), and its
    grid minimiser m* (for large ε, m* → 1 − λ, the ℓ1 answer)."""
    grid = torch.linspace(0.0, 1.0, n_grid, dtype=torch.float64)
    frames = []
    for e in [float(e) for e in torch.logspace(-3, 1, n_eps, dtype=torch.float64)]:
        r_e = get_regularizer("log", eps=e).value(grid)
        objective = 0.5 * (grid - 1.0) ** 2 + lam * r_e
        k_min = int(torch.argmin(objective))
        frames.append({"eps": e, "r": [round(float(v), 5) for v in r_e],
                       "f": [round(float(v), 5) for v in objective], "m_star": float(grid[k_min]),
                       "f_star": float(objective[k_min])})
    return {"m": [round(float(v), 4) for v in grid], "frames": frames, "lam": lam}


def eps_slider(lam: float):
    """The ε slider as an ``IPython.display.HTML`` object (see :data:`EPS_SLIDER_TEMPLATE`)."""
    from IPython.display import HTML

    data = eps_slider_data(lam)
    if abs(data["frames"][-1]["m_star"] - (1 - lam)) >= 0.02:
        raise AssertionError("large eps must behave like l1: m* = 1 - lam")
    return HTML(EPS_SLIDER_TEMPLATE.replace("__DATA__", json.dumps(data)))


#: The λ slider's page: bars drawn by inline JavaScript from the JSON put at ``__DATA__``.
LAMBDA_SLIDER_TEMPLATE = """<div class="lam-slider-figure" style="max-width: 720px">
  <label>&lambda; = <span class="lam-value"></span>
    <input class="lam-slider" type="range" min="0" step="1" style="width: 60%">
  </label>
  <svg class="lam-bars" viewBox="0 0 700 190" width="700" height="190"></svg>
</div>
<script>
(function () {
  var D = __DATA__;
  var root = document.currentScript.previousElementSibling;
  var slider = root.querySelector(".lam-slider");
  var svg = root.querySelector(".lam-bars");
  var NS = "http://www.w3.org/2000/svg";
  slider.max = D.frames.length - 1;
  slider.value = Math.floor((D.frames.length - 1) / 2);
  function el(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    svg.appendChild(e);
    return e;
  }
  function show(i) {
    var f = D.frames[i];
    root.querySelector(".lam-value").textContent = f.lam === 0 ? "0" : f.lam.toPrecision(3);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    ["accuracy", "sparsity"].forEach(function (metric, col) {
      var x0 = 250 + 225 * col;
      el("text", {x: x0 + 100, y: 14, "text-anchor": "middle", "font-size": 12}, metric);
      f.bars.forEach(function (b, row) {
        var y = 24 + 52 * row, w = 200 * b[metric];
        el("rect", {x: x0, y: y, width: 200, height: 36, fill: "#eee"});
        el("rect", {class: "lam-bar", x: x0, y: y, width: w.toFixed(1), height: 36, fill: D.colors[b.approach]});
        el("text", {x: x0 + 4, y: y + 23, "font-size": 11}, (100 * b[metric]).toFixed(1) + "%");
        if (col === 0) { el("text", {x: 0, y: y + 23, "font-size": 11}, b.label); }
      });
    });
  }
  slider.addEventListener("input", function () { show(+slider.value); });
  show(+slider.value);
})();
</script>
"""


def lambda_slider_data(summary, approaches) -> dict:
    """One frame per λ of :func:`concave_lottery.section4.logistic.summarize` output: each approach's
    (name → label) mean accuracy and sparsity, and the approaches' colours."""
    from matplotlib.colors import to_hex

    from .plotting import LOGISTIC_COLORS

    frames = []
    for lam_value, g in summary.sort_values("lam").groupby("lam", sort=True):
        rows = g.set_index("approach")
        frames.append({"lam": float(lam_value), "bars": [
            {"approach": name, "label": label, "accuracy": round(float(rows.loc[name, "accuracy"]), 4),
             "sparsity": round(float(rows.loc[name, "sparsity"]), 4)} for name, label in approaches.items()]})
    return {"frames": frames, "colors": {name: to_hex(c) for name, c in LOGISTIC_COLORS.items()}}


def lambda_slider(summary, approaches, *, n_lams: int | None = None):
    """The λ slider as an ``IPython.display.HTML`` object; ``n_lams`` checks that every λ of the grid
    has a frame."""
    from IPython.display import HTML

    data = lambda_slider_data(summary, approaches)
    if n_lams is not None and len(data["frames"]) != n_lams:
        raise AssertionError(f"{len(data['frames'])} frames for {n_lams} values of lambda")
    return HTML(LAMBDA_SLIDER_TEMPLATE.replace("__DATA__", json.dumps(data)))
