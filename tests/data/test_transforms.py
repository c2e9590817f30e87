"""bpnn.transforms: each augmentation checked against a direct computation, seeded, batched."""

import numpy as np
import pytest
from scipy import ndimage

import bpnn
from bpnn import transforms as T


def _batch(shape=(6, 2, 7, 8), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _shifted(image, dy, dx, fill):
    """``image`` (C, H, W) moved down by dy and right by dx, written out pixel by pixel."""
    out = np.full_like(image, fill)
    _, h, w = image.shape
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = image[:, i - dy, j - dx]
    return out


@pytest.mark.parametrize("max_shift", [2, (1, 3)])
def test_random_translate_shifts_each_sample_within_range(max_shift):
    x = _batch()
    out = T.RandomTranslate(max_shift, fill=-1.0, seed=3)(x)
    limit_h, limit_w = (max_shift, max_shift) if isinstance(max_shift, int) else max_shift
    shifts = []
    for image, moved in zip(x, out, strict=True):
        found = [(dy, dx) for dy in range(-limit_h, limit_h + 1)
                 for dx in range(-limit_w, limit_w + 1)
                 if np.array_equal(moved, _shifted(image, dy, dx, -1.0))]
        assert found, "output is not a shift of its input within max_shift"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # samples get their own shifts


def test_random_crop_cuts_a_window_of_the_padded_image():
    x = _batch((5, 3, 6, 6))
    out = T.RandomCrop((5, 4), padding=1, seed=2)(x)
    assert out.shape == (5, 3, 5, 4) and out.dtype == np.float32
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for image, crop in zip(padded, out, strict=True):
        assert any(np.array_equal(crop, image[:, i:i + 5, j:j + 4])
                   for i in range(4) for j in range(5))


def test_random_horizontal_flip_mirrors_whole_samples():
    x = _batch((200, 1, 3, 4))
    out = T.RandomHorizontalFlip(p=0.3, seed=1)(x)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x, strict=True)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x, strict=True)])
    assert (flipped | kept).all()
    assert 0.2 < flipped.mean() < 0.4
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])


@pytest.mark.parametrize("degrees", [5.0, 12.0, -30.0])
def test_rotation_matches_scipy_bilinear_rotation(degrees):
    x = _batch((2, 2, 9, 10)).astype(np.float64)
    out = T.rotate(x, np.full(2, np.deg2rad(degrees)), fill=0.0)
    for image, rotated in zip(x, out, strict=True):
        reference = ndimage.rotate(image, degrees, axes=(1, 2), reshape=False, order=1,
                                   mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(rotated, reference, atol=1e-12)


def test_rotation_by_a_right_angle_is_rot90_and_draws_its_angles_from_the_seed():
    x = _batch((3, 1, 6, 6))
    np.testing.assert_allclose(T.rotate(x, np.full(3, np.pi / 2)), np.rot90(x, axes=(2, 3)),
                               atol=1e-5)
    out = T.RandomRotation(10, seed=4)(x)
    angles = np.random.default_rng(4).uniform(-10, 10, 3) * np.pi / 180
    np.testing.assert_array_equal(out, T.rotate(x, angles))
    assert out.dtype == np.float32
    np.testing.assert_allclose(T.RandomRotation(0)(x), x, atol=1e-6)


def test_gaussian_noise_adds_the_seeded_draws():
    x = _batch((4, 1, 50, 50))
    out = T.GaussianNoise(0.2, seed=5)(x)
    expected = x + 0.2 * np.random.default_rng(5).standard_normal(x.shape, dtype=np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert abs((out - x).std() - 0.2) < 0.01 and out.dtype == np.float32


def test_normalize_per_channel():
    x = _batch((3, 2, 4, 4))
    out = T.Normalize([0.5, 0.25], [0.5, 2.0])(x)
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 0.5) / 0.5, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], (x[:, 1] - 0.25) / 2.0, rtol=1e-6)
    assert out.dtype == np.float32


def test_three_dimensional_batches_keep_their_shape():
    x = _batch((4, 7, 8))
    for transform in (T.RandomTranslate(2), T.RandomRotation(10), T.RandomHorizontalFlip(),
                      T.GaussianNoise(0.1), T.Normalize(0.5, 0.5), T.RandomCrop(7, padding=1)):
        out = transform(x)
        assert out.shape == (4, 7, 7 if isinstance(transform, T.RandomCrop) else 8)
        assert out.dtype == np.float32


def test_global_generator_makes_a_compose_reproducible():
    x = _batch()
    augment = T.Compose([T.RandomTranslate(1), T.RandomRotation(8), T.RandomHorizontalFlip(),
                         T.GaussianNoise(0.05)])
    bpnn.manual_seed(11)
    first = augment(x)
    bpnn.manual_seed(11)
    np.testing.assert_array_equal(augment(x), first)
    assert not np.array_equal(augment(x), first)  # the next draw differs


def test_compose_applies_in_order():
    x = _batch((2, 1, 3, 3))
    out = T.Compose([T.Normalize(0.0, 0.5), T.RandomHorizontalFlip(p=1.0)])(x)
    np.testing.assert_allclose(out, (x * 2)[..., ::-1], rtol=1e-6)


def test_the_data_loader_applies_a_transform_per_batch():
    x, y = _batch((10, 1, 4, 4)), np.arange(10)
    loader = bpnn.data.DataLoader((x, y), batch_size=4, transform=T.RandomHorizontalFlip(p=1.0))
    batches = [xb.numpy() for xb, _ in loader]
    np.testing.assert_array_equal(np.concatenate(batches), x[..., ::-1])


def test_bad_input_is_refused_with_the_shape():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(N, H, W\), got shape \(28, 28\)"):
        T.RandomTranslate(2)(np.zeros((28, 28), np.float32))
    with pytest.raises(TypeError, match="float images, got dtype uint8"):
        T.RandomRotation(10)(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"larger than the padded image \(6, 6\)"):
        T.RandomCrop(8, padding=1)(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="3 mean values for a batch with 2 channels"):
        T.Normalize([0.1, 0.2, 0.3], 1.0)(np.zeros((1, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="std must be positive"):
        T.Normalize(0.0, 0.0)
