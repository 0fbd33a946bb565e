"""SoftMaskPruner (issue 18, part 4): Algorithm 1 in your own training loop.

The pruner is the library's own method behind a small API, so a step driven through it must equal the step
the library's training loop takes (:func:`concave_lottery.runs.training.train` with the ``soft`` method's
hooks) bit for bit; pruned weights must stay exactly 0 through momentum and weight decay; and the book's
example script (``examples/own_loop.py``) must run.
"""

from __future__ import annotations

import copy
import re
import runpy
from itertools import islice
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import concave_lottery
from concave_lottery.data import ImageData, batches
from concave_lottery.errors import ParameterError, UserError
from concave_lottery.method import masks as masklib
from concave_lottery.method.pruner import SoftMaskPruner
from concave_lottery.method.regularizers import get_regularizer
from concave_lottery.method.search import SoftMask
from concave_lottery.runs.training import Hooks, TrainSettings, epoch_seed, train

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "own_loop.py"


def _images(n: int = 96, classes: int = 3, size: int = 8, seed: int = 0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(classes, 1, size, size, generator=g)

    def draw(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, classes, (k,), generator=g)
        x = protos[y] * 0.7 + 0.3 * torch.rand(k, 1, size, size, generator=g)
        return (x * 255).round().to(torch.uint8), y

    (xtr, ytr), (xte, yte) = draw(n), draw(32)
    return ImageData(name="mnist", train_images=xtr, train_labels=ytr, test_images=xte, test_labels=yte,
                     num_classes=classes, mean=(0.5,), std=(0.25,), augmentation="none", source="synthetic")


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["log", "l1", "mcp", "scad"])
def test_pruner_step_is_the_librarys_algorithm1_step(name):
    """Two epochs through the pruner in a hand-written loop equal two epochs of the library's ``train()``
    with the ``soft`` method's hooks (penalty gradient, SGD groups, projection): every tensor bit for bit;
    then pruning (step 4) removes the same entries."""
    data = _images()
    lam, alpha, lr, momentum, wd, bs, epochs, seed = 2e-3, 0.3, 0.05, 0.9, 5e-4, 32, 2, 7
    reg = get_regularizer(name, eps=0.1)

    library = _net()
    masklib.attach_masks(library, "relaxed", init=0.5)
    method = SoftMask(reg, lam, alpha)
    settings = TrainSettings(epochs=epochs, batch_size=bs, lr=lr, momentum=momentum, weight_decay=wd,
                             mask_lr_scale=100.0)
    train(library, data, settings, seed=seed, hooks=Hooks(**method.search_hooks(library, epochs)), progress=False)

    ours = _net()
    pruner = SoftMaskPruner(ours, regularizer=name, lam=lam, eps=0.1, alpha=alpha)
    optimizer = torch.optim.SGD(pruner.param_groups(lr=lr, weight_decay=wd), lr=lr, momentum=momentum)
    for epoch in range(epochs):
        ours.train()
        for x, y in batches(data, bs, train=True, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch))):
            loss = F.cross_entropy(ours(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            pruner.add_penalty_grad_()
            optimizer.step()
            pruner.after_step()

    a, b = _state(library), _state(ours)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    scores = torch.cat([m.score.detach().flatten() for m in pruner.masks.values()])
    assert scores.min() >= 0 and scores.max() <= 1  # the projection of eq. (1) ran
    assert method.prune(library) == pruner.prune() > 0
    for key, mask in masklib.get_masks(library).items():
        assert torch.equal(mask.alive, pruner.masks[key].alive), key


@pytest.mark.parametrize("name", ["log", "lq"])
def test_penalty_is_the_librarys_and_its_gradient_matches(name):
    """``penalty()`` is λ Σ r(a ⊙ m) of eqs. (2)-(3), the very closure the library trains with; its autograd
    gradient is the closed-form one of ``add_penalty_grad_`` (ℓq: the library's autograd path too)."""
    model = _net()
    pruner = SoftMaskPruner(model, regularizer=name, lam=0.01, q=0.5, alpha=0.1)
    with torch.no_grad():
        for mask in pruner.masks.values():
            mask.score.uniform_(0.05, 1.0)
    library = SoftMask(get_regularizer(name, q=0.5), 0.01, 0.1)
    assert torch.equal(pruner.penalty(), library.penalty(model)())
    assert float(pruner.penalty().detach()) == pytest.approx(
        0.01 * sum(float(get_regularizer(name, q=0.5).value(m.score.detach()).sum()) for m in pruner.masks.values()))
    pruner.penalty().backward()
    autograd = {k: m.score.grad.clone() for k, m in pruner.masks.items()}
    if name == "lq":
        assert not pruner.has_penalty_grad
        with pytest.raises(UserError, match="pruner.penalty"):
            pruner.add_penalty_grad_()
        return
    for m in pruner.masks.values():
        m.score.grad = None
    pruner.add_penalty_grad_()
    for k, m in pruner.masks.items():
        torch.testing.assert_close(m.score.grad, autograd[k])


def test_pruned_weights_stay_zero_through_momentum_and_weight_decay():
    """After ``prune()`` the same optimizer keeps stepping (momentum from before the pruning, weight decay on
    θ and on the mask): the pruned effective weights are exactly 0 after every step, and their m stays 0;
    θ itself moves there (weight decay), which the mask hides. ``rewind`` keeps the masks, ``remove`` bakes 0s."""
    data = _images()
    model = _net()
    pruner = SoftMaskPruner(model, regularizer="log", lam=5e-3, alpha=0.4, mask_weight_decay=1e-3)
    theta0 = pruner.theta()
    optimizer = torch.optim.SGD(pruner.param_groups(lr=0.05, weight_decay=5e-3), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)

    def steps(n: int) -> None:
        for x, y in islice(batches(data, 16, train=True, generator=gen), n):
            loss = F.cross_entropy(model(x), y) + pruner.penalty()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            pruner.after_step()
            for name, alive in dead.items():
                module = model.get_submodule(name.removesuffix(".weight"))
                assert torch.all(module.weight[alive == 0] == 0), name
                score = pruner.masks[name].score  # None once the ticket trains (binary mask)
                assert score is None or torch.all(score[alive == 0] == 0), name

    dead: dict[str, torch.Tensor] = {}
    steps(4)
    assert pruner.prune() > 0
    dead = {k: v.float() for k, v in pruner.binary_masks().items()}
    theta_dead_before = {k: model.get_submodule(k.removesuffix(".weight")).parametrizations.weight.original
                         .detach().clone() for k in dead}
    steps(4)
    moved = sum(int((model.get_submodule(k.removesuffix(".weight")).parametrizations.weight.original.detach()
                     != theta_dead_before[k])[dead[k] == 0].sum()) for k in dead)
    assert moved > 0  # θ changed under the pruned entries, the effective weight did not
    pruner.rewind(theta0)
    assert all(torch.equal(pruner.binary_masks()[k].float(), v) for k, v in dead.items())
    pruner.ticket()
    optimizer = torch.optim.SGD(pruner.param_groups(lr=0.05, weight_decay=5e-3), lr=0.05, momentum=0.9)
    assert len(optimizer.param_groups) == 1  # the ticket's mask is not trained
    steps(3)
    assert pruner.sparsity() == pytest.approx(masklib.sparsity_report(model).sparsity)
    plain = pruner.remove()
    for name, alive in dead.items():
        assert torch.all(plain.get_submodule(name.removesuffix(".weight")).weight[alive == 0] == 0)


def test_bad_parameters_are_one_clear_error():
    for kwargs, name in [({"lam": -1.0}, "lam"), ({"lam": 1e-3, "alpha": 1.5}, "alpha"),
                         ({"lam": 1e-3, "eps": 0.0}, "eps"), ({"lam": 1e-3, "mask_lr_scale": 0.0}, "mask_lr_scale"),
                         ({"lam": 1e-3, "regularizer": "l2"}, "regularizer")]:
        with pytest.raises(ParameterError, match=name):
            SoftMaskPruner(_net(), **kwargs)


def test_exported_lazily_from_the_top_level():
    assert concave_lottery.SoftMaskPruner is SoftMaskPruner
    assert "SoftMaskPruner" in dir(concave_lottery)
    pruner = SoftMaskPruner(_net(), lam=0.0, exclude=("4",))
    assert list(pruner.masks) == ["0.weight"]
    assert float(pruner.penalty()) == 0.0


def _cifar_loader(batch_size: int) -> tuple[DataLoader, str]:
    """cifar10-subset from the data root or the mirror when it is there (never downloaded by a test),
    else a synthetic stand-in of the same shape."""
    try:
        data = concave_lottery.load_dataset("cifar10-subset", download=False, progress=False)
        images, labels, mean, std, source = (data.train_images[:64], data.train_labels[:64], data.mean, data.std,
                                             data.source)
    except UserError:
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (64, 3, 32, 32), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (64,), generator=g)
        mean, std, source = (0.5,) * 3, (0.25,) * 3, "synthetic"
    x = (images.float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    return DataLoader(TensorDataset(x, labels), batch_size=batch_size, shuffle=True), source


def test_the_books_example_runs(capsys):
    """``examples/own_loop.py`` (the book page includes it): a torchvision ResNet-18 with a plain DataLoader,
    2 rounds and a short ticket training on a few small batches; after it the pruned weights are exactly 0
    (round 2 and the ticket trained through momentum and weight decay after the first pruning)."""
    pytest.importorskip("torchvision")
    loader, source = _cifar_loader(batch_size=4)
    example = runpy.run_path(str(EXAMPLE))
    torch.manual_seed(0)
    model, pruner = example["main"](loader, rounds=2, batches=2, ticket_batches=2, lam=5e-3, alpha=0.44)
    out = capsys.readouterr().out
    assert re.search(r"round 1: [\d,]+ weights removed, sparsity", out) and "round 2:" in out, out
    assert 0 < pruner.sparsity() < 1, (source, out)
    for name, alive in pruner.binary_masks().items():
        weight = model.get_submodule(name.removesuffix(".weight")).weight
        assert torch.all(weight[~alive] == 0), name
    assert copy.deepcopy(model)(next(iter(loader))[0]).shape[1] == 10


def test_the_book_page_shows_the_example_in_at_most_15_added_lines():
    """book/own_loop.md includes the script itself (what runs is what is shown) and highlights the lines
    Algorithm 1 adds: each names the pruner, and there are at most 15."""
    page = (ROOT / "book" / "own_loop.md").read_text()
    assert "../examples/own_loop.py" in page
    spec = re.search(r":emphasize-lines:\s*([\d,\- ]+)", page).group(1)
    lines = EXAMPLE.read_text().splitlines()
    numbers: list[int] = []
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        numbers += range(int(lo), int(hi or lo) + 1)
    first_import = next(i for i, line in enumerate(lines) if line.startswith("import "))
    naming = {n for n, line in enumerate(lines, 1) if n > first_import and "pruner" in line
              and not line.lstrip().startswith("#")}
    assert set(numbers) == naming, sorted(naming)
    assert len(numbers) <= 15
    assert "book/own_loop" in (ROOT / "_toc.yml").read_text()
