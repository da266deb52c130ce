"""CIFAR-10-C corruptions: the table, determinism, and each operation against a reference with a known answer."""
import colorsys

import numpy as np
import pytest
from scipy import ndimage

from cifar_models.corruptions import (CORRUPTIONS, FAMILIES, SEVERITIES, _clipped_zoom, _plasma_fractal, corrupt,
                                      frost_textures, motion_blur_batch, motion_blur_kernel)


@pytest.fixture(scope="module")
def photos():
    """Varied uint8 test images without the data set: smooth gradients plus texture."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:32, 0:32]
    base = np.stack([xs * 8, ys * 8, (xs + ys) * 4], axis=-1)
    images = [(base + rng.integers(-30, 30, base.shape)) * rng.uniform(0.3, 1.0) for _ in range(12)]
    return np.clip(images, 0, 255).astype(np.uint8)


def grey(value: int, count: int = 4) -> np.ndarray:
    return np.full((count, 32, 32, 3), value, np.uint8)


def test_the_table_holds_the_fifteen_corruptions_in_four_families():
    assert len(CORRUPTIONS) == 15
    families = [c.family for c in CORRUPTIONS.values()]
    assert {f: families.count(f) for f in FAMILIES} == {"noise": 3, "blur": 4, "weather": 4, "digital": 4}
    assert all(len(c.severity_params) == len(SEVERITIES) for c in CORRUPTIONS.values())
    assert CORRUPTIONS["gaussian_noise"].severity_params == (0.04, 0.06, 0.08, 0.09, 0.10)  # CIFAR's, not ImageNet's


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_every_corruption_is_seeded_changes_the_images_and_keeps_their_format(name, photos):
    for severity in (1, 5):
        first = corrupt(photos, name, severity, seed=7)
        assert first.dtype == np.uint8 and first.shape == photos.shape
        assert np.array_equal(first, corrupt(photos, name, severity, seed=7))
        assert not np.array_equal(first, photos)
    assert np.abs(corrupt(photos, name, 5).astype(int) - photos).mean() > 1


@pytest.mark.parametrize("name", ["gaussian_noise", "glass_blur", "motion_blur", "snow", "frost", "fog", "elastic"])
def test_random_corruptions_differ_between_seeds(name, photos):
    assert not np.array_equal(corrupt(photos, name, 3, seed=0), corrupt(photos, name, 3, seed=1))


def test_bad_requests_are_refused_by_name(photos):
    with pytest.raises(ValueError, match="unknown corruption 'rain'; choose from gaussian_noise"):
        corrupt(photos, "rain", 1)
    with pytest.raises(ValueError, match="severity must be one of"):
        corrupt(photos, "fog", 6)
    with pytest.raises(ValueError, match=r"expected uint8 images \(N, 32, 32, 3\)"):
        corrupt(photos.astype(np.float32), "fog", 1)
    assert corrupt(photos[:0], "fog", 1).shape == (0, 32, 32, 3)


def test_gaussian_and_shot_noise_have_the_stated_spread():
    noisy = corrupt(grey(128, 50), "gaussian_noise", 1).astype(float)
    assert (noisy - 128).std() == pytest.approx(0.04 * 255, rel=0.05)  # truncation shifts the mean by ~0.5
    shot = corrupt(grey(128, 50), "shot_noise", 5).astype(float) / 255
    assert shot.var() == pytest.approx((128 / 255) / 50, rel=0.1)  # Poisson: variance = mean / photons


def test_impulse_noise_flips_the_stated_share_of_values_to_black_or_white():
    noisy = corrupt(grey(128, 50), "impulse_noise", 5)
    changed = noisy != 128
    assert changed.mean() == pytest.approx(0.07, rel=0.1)
    assert set(np.unique(noisy[changed])) == {0, 255}


def test_brightness_is_the_hsv_value_shift_of_colorsys(photos):
    shifted = corrupt(photos, "brightness", 5)
    for image, result in zip(photos[:3], shifted[:3]):
        for pixel, got in zip(image.reshape(-1, 3)[::37], result.reshape(-1, 3)[::37]):
            h, s, v = colorsys.rgb_to_hsv(*(pixel / 255))
            expected = np.array(colorsys.hsv_to_rgb(h, s, min(v + 0.3, 1))) * 255
            assert np.abs(got - expected).max() <= 1  # truncation to uint8
    assert np.all(corrupt(grey(0), "brightness", 5) == int(0.3 * 255))  # black turns grey


def test_contrast_pulls_each_channel_towards_its_mean():
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[:, :16] = 200  # channel mean 100
    result = corrupt(image, "contrast", 5).astype(float)
    assert result[0, 0, 0, 0] == pytest.approx(100 + 100 * 0.15, abs=1)
    assert result[0, -1, 0, 0] == pytest.approx(100 - 100 * 0.15, abs=1)


def test_defocus_blur_keeps_flat_images_and_spreads_a_point_symmetrically():
    assert np.array_equal(corrupt(grey(90), "defocus_blur", 5), grey(90))
    point = np.zeros((1, 32, 32, 3), np.uint8)
    point[0, 16, 16] = 255
    blurred = corrupt(point, "defocus_blur", 5)[0, :, :, 0].astype(int)
    assert blurred[16, 16] < 255 and blurred[15, 16] == blurred[17, 16] == blurred[16, 15] == blurred[16, 17] > 0


def test_clipped_zoom_equals_scipy_zoom_of_the_central_crop():
    images = np.random.default_rng(0).random((5, 32, 32, 3))
    for factor in (1.0, 1.07, 1.26, 2.25):
        crop = int(np.ceil(32 / factor))
        top = (32 - crop) // 2
        reference = ndimage.zoom(images[:, top:top + crop, top:top + crop], (1, factor, factor, 1), order=1)
        trim = (reference.shape[1] - 32) // 2
        np.testing.assert_allclose(_clipped_zoom(images, factor), reference[:, trim:trim + 32, trim:trim + 32],
                                   atol=1e-12)


def test_motion_blur_kernel_and_direction_follow_imagemagick():
    weights = motion_blur_kernel(6, 1)
    assert len(weights) == 13 and weights.sum() == pytest.approx(1)
    assert weights[1] / weights[0] == pytest.approx(np.exp(-0.5))  # Gaussian in the tap index, one-sided
    point = np.zeros((2, 32, 32), float)
    point[:, 16, 16] = 1.0
    blurred = motion_blur_batch(point, 6, 1, np.array([0.0, 90.0]))
    # output x samples x + i along the angle, so the point smears backwards along it
    np.testing.assert_allclose(blurred[0, 16, 16 - 12:17][::-1], weights)
    np.testing.assert_allclose(blurred[1, 16 - 12:17, 16][::-1], weights)
    assert blurred[0].sum() == pytest.approx(1) and blurred[0, 15].sum() == 0


def test_plasma_fractal_spans_zero_to_one_per_image():
    maps = _plasma_fractal(3, 2.0, np.random.default_rng(0))
    assert maps.shape == (3, 32, 32)
    assert np.allclose(maps.min(axis=(1, 2)), 0) and np.allclose(maps.max(axis=(1, 2)), 1)
    assert not np.array_equal(maps[0], maps[1])


def test_frost_textures_ship_with_the_package():
    textures = frost_textures()
    assert len(textures) == 5
    assert all(t.dtype == np.uint8 and t.shape[0] > 32 and t.shape[1] > 32 and t.shape[2] == 3 for t in textures)
