"""lottery export: the three formats of a recorded ticket, each read back (issue 18, part 2)."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from conftest import NEEDS_MNIST
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

from concave_lottery.cli import main
from concave_lottery.errors import ParameterError
from concave_lottery.export import FORMATS, export_ticket
from concave_lottery.export.compact import compact_model, load_compact, resize_to
from concave_lottery.export.sparse import load_sparse_model, load_sparse_state, read_sparse, sparse_linear_model
from concave_lottery.export.torch_prune import load_torch_prune
from concave_lottery.models import get_model
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.lottery import load_data
from concave_lottery.runs.paths import RunDir
from concave_lottery.runs.tickets import NoTicketWeights, build_model, load_ticket
from concave_lottery.runs.training import evaluate


def test_the_registry_holds_the_three_formats():
    assert set(FORMATS) == {"torch-prune", "sparse", "compact"}


@NEEDS_MNIST
def test_torch_prune_round_trip_gives_the_recorded_ticket_accuracy(mnist_ticket_runs, tmp_path):
    for method, run in mnist_ticket_runs.items():
        ticket = load_ticket(run)
        path = export_ticket(run, "torch-prune", out=tmp_path / f"{method}.pt")
        state = torch.load(path, weights_only=True)
        assert {k for k in state if k.endswith("weight_orig")} == {f"{n}_orig" for n in ticket.mask}
        model = build_model(ticket.config)
        for name, mask in ticket.mask.items():  # what a PyTorch user does with their own copy of the network
            module_name, _, param = name.rpartition(".")
            prune.custom_from_mask(model.get_submodule(module_name), param, mask)
        model.load_state_dict(state)
        assert all(prune.is_pruned(m) for m in [model.get_submodule(n.rpartition(".")[0]) for n in ticket.mask])
        data = load_data(ticket.config, torch.device("cpu"), progress=False)
        _, accuracy = evaluate(model, data)
        assert accuracy == ticket.record["test_accuracy"]
        again = load_torch_prune(path, build_model(ticket.config))
        assert torch.equal(again.fc.weight, model.fc.weight)


@NEEDS_MNIST
def test_sparse_file_holds_csr_weights_and_rebuilds_the_ticket(mnist_ticket_runs, tmp_path):
    ticket = load_ticket(mnist_ticket_runs["soft"])
    path = export_ticket(mnist_ticket_runs["soft"], "sparse", out=tmp_path / "t.safetensors")
    tensors, header = read_sparse(path)
    assert header["round"] == ticket.round and header["test_accuracy"] == ticket.record["test_accuracy"]
    assert sum(tensors[n].values().numel() for n in ticket.mask) == ticket.record["remaining_weights"]
    assert all(tensors[n].layout == torch.sparse_csr for n in ticket.mask)
    state, _ = load_sparse_state(path)
    assert state.keys() == ticket.state.keys() and all(torch.equal(state[k], ticket.state[k]) for k in state)
    x = torch.rand(32, 1, 28, 28)
    dense = ticket.model()
    assert torch.equal(load_sparse_model(path)(x), dense(x))
    assert torch.allclose(sparse_linear_model(copy.deepcopy(dense))(x), dense(x), atol=1e-5)
    assert path.stat().st_size < 0.2 * len(torch.cat([v.flatten() for v in ticket.state.values()])) * 4


def _random_ticket(model: nn.Module, seed: int, dead: float, unread: float) -> nn.Module:
    """Random weights, biases and BatchNorm statistics; whole rows (filters) of ``dead`` of the units and whole
    input columns of ``unread`` of them set to 0, and scattered zeros elsewhere."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                w = module.weight
                w.mul_(torch.rand(w.shape, generator=g) > 0.5)
                w[torch.rand(w.shape[0], generator=g) < dead] = 0
                w[:, torch.rand(w.shape[1], generator=g) < unread] = 0
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=g))
            elif isinstance(module, nn.BatchNorm2d):
                for t in (module.weight, module.bias, module.running_mean):
                    t.copy_(torch.randn(t.shape, generator=g))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) + 0.5)
    return model.eval()


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31), dead=st.floats(0.0, 0.6), unread=st.floats(0.0, 0.3),
       architecture=st.sampled_from(["lenet300", "resnet20"]))
def test_compact_network_computes_what_the_masked_network_computes(seed, dead, unread, architecture):
    channels, size = (1, 28) if architecture == "lenet300" else (3, 32)
    torch.manual_seed(seed)
    masked = _random_ticket(get_model(architecture, num_classes=10, in_channels=channels, image_size=size),
                            seed, dead, unread)
    small, reports = compact_model(copy.deepcopy(masked), architecture)
    x = torch.randn(4, channels, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected, got = masked(x), small(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()) + 1e-6)
    removed = sum(r.removed for r in reports)
    assert sum(p.numel() for p in small.parameters()) <= sum(p.numel() for p in masked.parameters())
    if dead > 0.3 and architecture == "lenet300":
        assert removed > 0
    rebuilt = resize_to(get_model(architecture, num_classes=10, in_channels=channels, image_size=size),
                        small.state_dict())
    rebuilt.load_state_dict(small.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), got)


def test_compact_keeps_a_dead_channel_whose_constant_a_padded_convolution_reads():
    model = _random_ticket(get_model("resnet20", num_classes=10), 0, 0.0, 0.0)
    block = model.blocks[0]
    with torch.no_grad():
        block.conv1.weight[3] = 0                        # dead filter ...
        block.bn1.bias[3], block.bn1.running_mean[3] = 2.0, 0.0  # ... whose BatchNorm output is positive
        block.conv1.weight[5] = 0
        block.bn1.bias[5], block.bn1.weight[5], block.bn1.running_mean[5] = -1.0, 1.0, 0.0  # ReLU(-1) = 0
    small, reports = compact_model(copy.deepcopy(model), "resnet20")
    assert reports[0].removed == 1 and small.blocks[0].conv1.out_channels == 15
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(small(x), model(x), atol=1e-4)


@NEEDS_MNIST
def test_compact_export_is_smaller_and_equal_to_float_tolerance(mnist_ticket_runs, tmp_path):
    ticket = load_ticket(mnist_ticket_runs["soft"])
    path = export_ticket(mnist_ticket_runs["soft"], "compact", out=tmp_path / "c.pt")
    model, header = load_compact(path)
    assert sum(removed for removed, _ in header["removed"].values()) > 0
    assert sum(p.numel() for p in model.parameters()) < sum(v.numel() for v in ticket.state.values())
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), ticket.model()(x), atol=1e-4)


@NEEDS_MNIST
def test_every_round_and_the_command_line(mnist_ticket_runs, tmp_path, capsys):
    run = mnist_ticket_runs["imp"]
    for fmt in FORMATS:
        assert main(["export", str(run), "--round", "0", "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
        assert capsys.readouterr().out.strip() == str(tmp_path / fmt)
    assert main(["export", str(run), "--round", "7", "--format", "sparse"]) == 2
    assert "rounds with a trained ticket are [0, 1, 2]" in capsys.readouterr().err.replace("\n  ", " ")
    with pytest.raises(ParameterError, match="format must be one of compact, sparse, torch-prune"):
        export_ticket(run, "onnx")
    assert main(["export", str(run), "--format", "onnx"]) == 2
    assert "format='onnx' is not allowed" in capsys.readouterr().err


@NEEDS_MNIST
def test_a_run_recorded_before_the_weights_were_kept_says_how_to_get_them(mnist_ticket_runs, tmp_path, capsys):
    import shutil

    old = tmp_path / mnist_ticket_runs["soft"].name
    shutil.copytree(mnist_ticket_runs["soft"], old)
    run = RunDir(old)
    Digests(run).delete(*[r.ticket_weights for r in run.rounds()])
    with pytest.raises(NoTicketWeights, match="recorded before runs kept their trained ticket weights"):
        load_ticket(old)
    assert main(["export", str(old), "--format", "compact"]) == 2
    err = capsys.readouterr().err.replace("\n  ", " ")
    assert "has no ticket weights" in err and "lottery run lenet300-mnist" in err and "lam=0.0003" in err


@NEEDS_MNIST
def test_saved_weights_that_are_not_the_networks_are_refused(mnist_ticket_runs, tmp_path):
    import shutil

    from concave_lottery.errors import CorruptFile

    run = RunDir(tmp_path / mnist_ticket_runs["soft"].name)
    shutil.copytree(mnist_ticket_runs["soft"], run.path)
    path = run.round(2).ticket_weights
    good = torch.load(path, weights_only=True)
    for bad, problem in (({k: v for k, v in good.items() if k != "fc.bias"}, "its names are not the model's"),
                         ({**good, "fc.weight": good["fc.weight"].half()}, "fc.weight is torch.float16"),
                         ({**good, "fc.weight": good["fc.weight"][:5]}, "fc.weight is (5, 100)")):
        Digests(run).save_torch(bad, path)  # a consistent digest: only the structure check can refuse it
        with pytest.raises(CorruptFile, match=re.escape(problem)):
            load_ticket(run.path)
