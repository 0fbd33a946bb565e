"""On-device augmentation and the tensor-resident batch path (CPU here; CUDA when present)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from concave_lottery.data import BatchOptions, ImageData, batches, num_batches
from concave_lottery.data import augment as aug
from concave_lottery.errors import ParameterError

torch.set_num_threads(1)


def make_data(n_train=37, n_test=11, channels=3, size=8, augmentation="cifar", classes=None, seed=0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    train = torch.randint(1, 256, (n_train, channels, size, size), generator=g, dtype=torch.uint8)  # no zeros
    test = torch.randint(1, 256, (n_test, channels, size, size), generator=g, dtype=torch.uint8)
    train_labels = torch.arange(n_train) if classes is None else torch.arange(n_train) % classes
    return ImageData(
        "toy",
        train,
        train_labels,
        test,
        torch.arange(n_test) % 5,
        n_train if classes is None else classes,
        tuple(0.3 + 0.1 * c for c in range(channels)),
        tuple(0.2 + 0.05 * c for c in range(channels)),
        augmentation,
        "test",
    )


def reference(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-sample reference: zero-pad, crop at the offset, flip: torchvision's RandomCrop + flip."""
    h, w = images.shape[-2:]
    out = []
    for image, (dy, dx), flip in zip(images, offsets.tolist(), flips.tolist(), strict=True):
        crop = F.pad(image, (pad, pad, pad, pad))[:, dy : dy + h, dx : dx + w]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6),
    c=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    pad=st.integers(0, 5),
    seed=st.integers(0, 2**31),
    channels_last=st.booleans(),
)
def test_crop_flip_is_a_window_of_the_padded_image(n, c, h, w, pad, seed, channels_last):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n + 2, c, h, w), generator=g, dtype=torch.uint8)
    index = torch.randint(0, n + 2, (n,), generator=g)
    offsets, flips = aug.draw(aug.CropFlip(pad=pad), n, g)
    assert offsets.min() >= 0 and offsets.max() <= 2 * pad  # the crop stays inside the padded image
    out = aug.crop_flip(images, index, offsets, flips, pad)
    assert out.shape == (n, c, h, w) and out.dtype == torch.uint8
    expected = reference(images[index], offsets, flips, pad)
    assert torch.equal(out, expected)
    mean, std = torch.rand(c, generator=g), 0.1 + torch.rand(c, generator=g)
    scale, shift = aug.affine(mean, std, (c, h, w), channels_last)
    x = aug.transform(images, index, offsets, flips, pad, scale, shift, channels_last, torch.float32)
    torch.testing.assert_close(x, (expected.float() / 255 - mean.view(-1, 1, 1)) / std.view(-1, 1, 1))
    assert x.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def test_flip_is_an_exact_mirror_and_centre_crop_is_identity():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    index = torch.arange(4)
    centre = torch.full((4, 2), 4)
    same = aug.crop_flip(images, index, centre, torch.zeros(4, dtype=torch.bool), pad=4)
    mirrored = aug.crop_flip(images, index, centre, torch.ones(4, dtype=torch.bool), pad=4)
    assert torch.equal(same, images) and torch.equal(mirrored, images.flip(-1))


def test_extreme_offsets_shift_in_zeros():
    images = torch.full((1, 1, 6, 6), 9, dtype=torch.uint8)
    out = aug.crop_flip(images, torch.tensor([0]), torch.tensor([[0, 8]]), torch.tensor([False]), pad=4)
    assert (out[0, 0, :4] == 0).all() and (out[0, 0, 4:, :2] == 9).all() and (out[0, 0, :, 2:] == 0).all()


def test_matches_torchvision_transforms_with_the_same_parameters():
    from torchvision.transforms.v2 import functional as TF

    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    offsets, flips = aug.draw(aug.AUGMENTATIONS["cifar"], 5, g)
    ours = aug.crop_flip(images, torch.arange(5), offsets, flips, pad=4)
    for i in range(5):
        expected = TF.crop(TF.pad(images[i], [4]), int(offsets[i, 0]), int(offsets[i, 1]), 32, 32)
        expected = TF.horizontal_flip(expected) if flips[i] else expected
        assert torch.equal(ours[i], expected)


def test_same_seed_same_batches_other_seed_other_batches():
    data = make_data()

    def epoch(seed):
        return list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(seed)))

    a, b, c = epoch(1), epoch(1), epoch(2)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True))
    assert not torch.equal(a[0][1], c[0][1])


def test_epoch_is_a_permutation_and_labels_follow_their_images():
    data = make_data()  # label i is image i
    seen = []
    for x, y in batches(data, 8, train=True, generator=torch.Generator().manual_seed(0), augment=False):
        expected = aug.normalize(data.train_images[y], torch.tensor(data.mean), torch.tensor(data.std))
        torch.testing.assert_close(x, expected)
        seen += y.tolist()
    assert sorted(seen) == list(range(data.num_train)) and seen != sorted(seen)


def test_augmented_batches_are_padded_crops_of_the_right_images():
    data = make_data()
    g = torch.Generator().manual_seed(4)
    state = g.get_state()
    got = list(batches(data, 10, train=True, generator=g))
    g.set_state(state)  # replay the documented draws: permutation, then offsets and flips
    order = torch.randperm(data.num_train, generator=g)
    offsets, flips = aug.draw(aug.AUGMENTATIONS["cifar"], data.num_train, g)
    mean, std = torch.tensor(data.mean), torch.tensor(data.std)
    expected = aug.normalize(reference(data.train_images[order], offsets, flips, 4), mean, std)
    assert torch.equal(torch.cat([y for _, y in got]), order)
    torch.testing.assert_close(torch.cat([x for x, _ in got]), expected)


def test_augmentation_of_a_sample_does_not_depend_on_the_batch_size():
    data = make_data()
    one = torch.cat([x for x, _ in batches(data, 5, train=True, generator=torch.Generator().manual_seed(9))])
    two = torch.cat([x for x, _ in batches(data, 16, train=True, generator=torch.Generator().manual_seed(9))])
    assert torch.equal(one, two)


def test_test_split_in_order_normalised_without_augmentation():
    data = make_data()
    xs, ys = zip(*batches(data, 4, train=False), strict=True)
    x, y = torch.cat(xs), torch.cat(ys)
    assert torch.equal(y, data.test_labels)
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    torch.testing.assert_close(x, (data.test_images.float() / 255 - mean) / std)
    assert x.dtype == torch.float32 and y.dtype == torch.int64


def test_mnist_style_data_is_never_augmented():
    data = make_data(channels=1, augmentation="none")
    x, y = next(iter(batches(data, 37, train=True, generator=torch.Generator().manual_seed(0))))
    torch.testing.assert_close(x, aug.normalize(data.train_images[y], torch.tensor(data.mean), torch.tensor(data.std)))


def test_tinyimagenet_augmentation_pads_by_4():
    assert aug.AUGMENTATIONS["tinyimagenet"] == aug.CropFlip(pad=4, flip=True)
    assert aug.AUGMENTATIONS["cifar"] == aug.CropFlip(pad=4, flip=True)
    assert aug.AUGMENTATIONS["none"] is None


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_num_batches_and_sizes(drop_last, train):
    data = make_data()
    n = data.num_train if train else data.num_test
    got = list(batches(data, 4, train=train, drop_last=drop_last, generator=torch.Generator().manual_seed(0)))
    assert len(got) == num_batches(data, 4, train=train, drop_last=drop_last)
    assert len(got) == (n // 4 if drop_last else -(-n // 4))
    assert sum(len(y) for _, y in got) == (n - n % 4 if drop_last else n)


def test_channels_last_and_dtype_options_change_layout_not_values():
    data = make_data()
    plain = list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(3)))
    fast = list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(3), channels_last=True))
    for (x, _), (z, _) in zip(plain, fast, strict=True):
        assert z.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, z)
    test_cl = next(iter(batches(data, 8, train=False, channels_last=True)))[0]
    assert test_cl.is_contiguous(memory_format=torch.channels_last)
    options = BatchOptions(channels_last=True, dtype="bfloat16")
    half = next(iter(batches(data, 8, train=False, **options.kwargs())))[0]
    assert half.dtype == torch.bfloat16 and half.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(half.float(), next(iter(batches(data, 8, train=False)))[0], atol=0.05, rtol=0.01)


def test_compiled_step_gives_the_same_batches():
    data = make_data()
    eager = list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(3)))
    compiled = list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(3), compile="aot_eager"))
    for (x, y), (z, w) in zip(eager, compiled, strict=True):
        assert torch.equal(y, w)
        torch.testing.assert_close(x, z)


@pytest.mark.slow
def test_inductor_compiled_step_on_cpu():
    data = make_data()
    eager = list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(3), channels_last=True))
    compiled = list(
        batches(data, 8, train=True, generator=torch.Generator().manual_seed(3), channels_last=True, compile=True)
    )
    for (x, _), (z, _) in zip(eager, compiled, strict=True):
        torch.testing.assert_close(x, z)


def test_bad_arguments():
    data = make_data()
    with pytest.raises(ParameterError, match="batch_size"):
        batches(data, 0, train=True)
    with pytest.raises(ParameterError, match="dtype"):
        batches(data, 4, train=True, dtype="int8")
    with pytest.raises(ParameterError, match="dtype"):
        BatchOptions(dtype="float64")
    with pytest.raises(ParameterError, match="augmentation"):
        aug.get("imagenet")


def test_default_generator_is_torchs_global_one():
    data = make_data()
    torch.manual_seed(11)
    a = next(iter(batches(data, 8, train=True)))[1]
    torch.manual_seed(11)
    b = next(iter(batches(data, 8, train=True)))[1]
    assert torch.equal(a, b)


def test_subset_is_stratified():
    data = make_data(n_train=100, n_test=20, classes=4)
    sub = data.subset(n_train=10, seed=1)
    counts = torch.bincount(sub.train_labels, minlength=4).tolist()
    assert sorted(counts) == [2, 2, 3, 3] and sub.num_test == 20
    assert torch.equal(sub.train_images, data.subset(n_train=10, seed=1).train_images)
    assert not torch.equal(sub.train_images, data.subset(n_train=10, seed=2).train_images)


def test_imagedata_checks_its_tensors():
    data = make_data()
    with pytest.raises(ValueError, match="uint8"):
        ImageData(
            "x",
            data.train_images.float(),
            data.train_labels,
            data.test_images,
            data.test_labels,
            3,
            data.mean,
            data.std,
            "none",
            "x",
        )
    with pytest.raises(ValueError, match="int64"):
        ImageData(
            "x",
            data.train_images,
            data.train_labels.int(),
            data.test_images,
            data.test_labels,
            3,
            data.mean,
            data.std,
            "none",
            "x",
        )
    assert data.in_channels == 3 and data.image_size == 8


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu_batches():
    data = make_data()
    gpu = data.to("cuda")
    assert gpu.train_images.is_cuda and gpu.train_images.dtype == torch.uint8
    cpu_batches = list(batches(data, 8, train=True, generator=torch.Generator().manual_seed(5), channels_last=True))
    gpu_batches = list(batches(gpu, 8, train=True, generator=torch.Generator().manual_seed(5), channels_last=True))
    for (x, y), (z, w) in zip(cpu_batches, gpu_batches, strict=True):
        assert z.is_cuda and z.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(y, w.cpu())
        torch.testing.assert_close(x, z.cpu())
    with pytest.raises(ParameterError, match="CPU torch.Generator"):
        batches(gpu, 8, train=True, generator=torch.Generator(device="cuda"))


def test_first_classes_keeps_every_image_of_the_kept_classes():
    data = make_data(n_train=100, n_test=20, classes=4)
    sub = data.first_classes(2)
    assert sub.num_classes == 2
    assert torch.equal(sub.train_labels, data.train_labels[data.train_labels < 2])
    assert torch.equal(sub.test_images, data.test_images[data.test_labels < 2])
    assert "first 2 of 4 classes" in sub.source
    assert data.first_classes(4) is data
    with pytest.raises(ParameterError, match="classes"):
        data.first_classes(5)
