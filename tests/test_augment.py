import numpy as np
import pytest
import torch

from cifar_models import augment
from cifar_models.augment import AugmentConfig, AugmentPipeline, describe_draws
from cifar_models.normalization import denormalize, model_input, to_float_batch


@pytest.fixture
def batch(cifar):
    return to_float_batch(torch.from_numpy(cifar.test.images[:16]))


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


PER_IMAGE = {
    "random_crop": dict(padding=4),
    "horizontal_flip": dict(p=0.5),
    "rotate": dict(degrees=15),
    "color_jitter": dict(brightness=0.4, contrast=0.4, saturation=0.4),
    "cutout": dict(size=8),
}


@pytest.mark.parametrize("name", PER_IMAGE)
def test_shape_dtype_and_seed(batch, name):
    op = getattr(augment, name)
    first = op(batch, **PER_IMAGE[name], generator=seeded(1))
    again = op(batch, **PER_IMAGE[name], generator=seeded(1))
    other = op(batch, **PER_IMAGE[name], generator=seeded(2))
    assert first.shape == batch.shape and first.dtype == batch.dtype
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert not torch.equal(first, batch)
    assert first.min() >= 0 and first.max() <= 1


def test_flip_twice_is_identity_and_flip_mirrors(batch):
    once = augment.horizontal_flip(batch, p=1.0)
    assert torch.equal(once, batch.flip(-1))
    assert torch.equal(augment.horizontal_flip(once, p=1.0), batch)
    assert torch.equal(augment.horizontal_flip(batch, p=0.0), batch)


def test_crop_is_a_translation(batch):
    crop = augment.RandomCrop(4)
    draws = {"dx": torch.full((16,), 2), "dy": torch.full((16,), -3)}
    shifted = crop.apply(batch, draws)
    # output pixel (r, c) comes from input (r + dy, c + dx) where that is inside the image
    assert torch.equal(shifted[:, :, 3:, :30], batch[:, :, :29, 2:])
    assert torch.equal(crop.apply(batch, {"dx": torch.zeros(16, dtype=torch.long), "dy": torch.zeros(16, dtype=torch.long)}), batch)


def test_cutout_fills_a_square(batch):
    out = augment.Cutout(8).apply(batch, {"cy": torch.full((16,), 16), "cx": torch.full((16,), 16)})
    assert torch.all(out[:, :, 12:20, 12:20] == 0.5)
    assert torch.equal(out[:, :, :12], batch[:, :, :12])


def test_mixup_and_cutmix_keep_target_mass(batch):
    targets = torch.nn.functional.one_hot(torch.arange(16) % 10, 10).float()
    for op in (augment.mixup, augment.cutmix):
        images, mixed = op(batch, targets, alpha=1.0, generator=seeded(3))
        assert images.shape == batch.shape
        assert torch.allclose(mixed.sum(1), torch.ones(16))
        again, _ = op(batch, targets, alpha=1.0, generator=seeded(3))
        assert torch.equal(images, again)


@pytest.mark.parametrize("params, message", [
    (dict(crop_padding=9), r"crop_padding must be a whole number in \[0, 8\], got 9"),
    (dict(crop_padding=2.5), "crop_padding must be a whole number"),
    (dict(flip_p=1.5), r"flip_p must be a number in \[0.0, 1.0\], got 1.5"),
    (dict(cutout_size=-1), "cutout_size must be"),
    (dict(brightness=2), "brightness must be"),
    (dict(rotate_degrees=90), "rotate_degrees must be"),
    (dict(mix="blend"), "mix must be one of 'none', 'mixup', 'cutmix'"),
    (dict(mix="mixup", mix_alpha=0), "mix_alpha must be"),
    (dict(sharpness=1), r"unknown field\(s\) \['sharpness'\]"),
])
def test_out_of_range_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        AugmentPipeline.from_dict(params)


def test_pipeline_round_trips_and_reports_draws(batch):
    params = dict(crop_padding=2, flip_p=0.5, rotate_degrees=5.0, brightness=0.2, cutout_size=6, mix="cutmix")
    pipeline = AugmentPipeline.from_dict(params)
    assert AugmentPipeline.from_dict(pipeline.to_dict()).to_dict() == pipeline.to_dict()
    out = pipeline(batch, torch.arange(16) % 10, generator=seeded(5))
    assert out.images.shape == batch.shape and out.targets.shape == (16, 10)
    words = describe_draws(out.draws, 0)
    assert set(words) == {"crop", "flip", "rotate", "jitter", "cutout", "mix"}
    assert torch.equal(pipeline(batch, torch.arange(16) % 10, generator=seeded(5)).images, out.images)


def test_normalisation_round_trip(cifar):
    images = cifar.test.images[:4]
    restored = denormalize(model_input(images))
    assert torch.allclose(restored, to_float_batch(torch.from_numpy(images)), atol=1e-6)


def test_successive_draws_from_one_generator_are_independent(batch):
    """Issue 13 saw image 0 get b×1.08 in all three preview draws of seed 0 (1.079, 1.079, 1.077). That is a
    coincidence of that seed, not a correlation: over 300 seeds, the draws of one image are uncorrelated and spread
    as a uniform on [0.8, 1.2]."""
    pipeline = AugmentPipeline(AugmentConfig(brightness=0.2))
    images = batch[:4]
    draws = np.array([[pipeline(images, generator=generator).draws["jitter"]["brightness"].numpy()
                       for generator in [seeded(seed)] for _ in range(3)] for seed in range(300)])  # seed, draw, image
    assert draws.shape == (300, 3, 4)
    for first, second in ((0, 1), (1, 2), (0, 2)):
        for image in range(4):
            assert abs(np.corrcoef(draws[:, first, image], draws[:, second, image])[0, 1]) < 0.2
    assert draws.min() >= 0.8 and draws.max() <= 1.2
    assert np.std(draws) == pytest.approx(0.4 / np.sqrt(12), rel=0.1)
    words = describe_draws(pipeline(images, generator=seeded(0)).draws, 0, pipeline.config)
    assert words["jitter"].startswith("b×") and "c×" not in words["jitter"]  # only the factors switched on
