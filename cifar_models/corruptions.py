"""The CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019), generated on the fly from uint8 test images.

Fifteen corruptions in four families, five severities each, with the CIFAR-sized parameters of the paper's own
CIFAR code (``make_cifar_c.py`` in hendrycks/robustness), listed in ``CORRUPTIONS``: one object per corruption
holding its family, its five parameter sets and the function that applies them. Every function takes a batch
``(N, 32, 32, 3)`` uint8 and a seeded ``numpy.random.Generator`` and returns uint8, so a (seed, corruption,
severity) triple always gives the same images.

Which library does what, and why:

- Neither candidate library has the CIFAR parameters. ``imagecorruptions`` (1.1.2) and torch-uncertainty's
  corruption transforms (0.13) both use the ImageNet-C severities (Gaussian noise sigma 0.08-0.38 against CIFAR's
  0.04-0.10; shot noise 60-3 photons against 500-50; motion-blur radius 10-20 against 6-9), which on a 32x32 image
  are far stronger than CIFAR-10-C. torch-uncertainty also changes several algorithms (glass blur, brightness,
  elastic) and loads its frost textures from a hub at run time; both work image by image and would add OpenCV,
  scikit-image, kornia and einops. kornia's filters are generic but none reproduces the reference operations
  (its motion blur is a symmetric line, ImageMagick's is one-sided and Gaussian-weighted).
- So the reference's own numerical operations are called from the libraries the reference called them from, on the
  whole batch at once: scipy.ndimage's ``gaussian_filter`` (what ``skimage.filters.gaussian`` runs), ``zoom``,
  ``correlate`` (OpenCV's ``filter2D`` with its reflect-101 border) and ``map_coordinates``; Pillow's JPEG encoder
  and BOX resampling, exactly as the reference.
- The frost textures come from the ``torch-uncertainty-assets`` package (the five frost images of the original
  code, re-encoded as JPEG; no dependencies), resized and cropped as the reference does.
- Written here as batched array code, because no kept library has them: the three noises, contrast, brightness (a
  shift of HSV value, computed in closed form: with hue and saturation fixed, RGB scales with V), the plasma
  fractal behind fog, ImageMagick's motion-blur kernel (used by motion blur and snow; the reference calls
  ImageMagick through Wand), the glass-blur pixel shuffle and OpenCV's affine warp inside elastic.

Faithfulness notes: the glass-blur "swap" of the reference copies rather than swaps (numpy views), and CIFAR-10-C
was generated that way, so it is reproduced; results are truncated to uint8 as ``np.uint8`` does there. Random
draws differ from the reference's global numpy state, so images match CIFAR-10-C in distribution, not bit for bit.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

SEVERITIES = (1, 2, 3, 4, 5)
FAMILIES = ("noise", "blur", "weather", "digital")
IMAGE_SIZE = 32


# ---------------------------------------------------------------- shared helpers


def _to_unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64) / 255.0


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 by truncation, as the reference's ``np.uint8(... * 255)``."""
    return (np.clip(unit, 0, 1) * 255).astype(np.uint8)


def _gaussian(images: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """``skimage.filters.gaussian`` over the two spatial axes of ``(N, H, W[, C])``: scipy's filter, which it runs."""
    sigmas = (0, sigma, sigma) + (0,) * (images.ndim - 3)
    return ndimage.gaussian_filter(images, sigmas, mode=mode, truncate=truncate)


def _clipped_zoom(images: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre of ``(N, H, W, C)`` by ``factor`` and crop back to ``H x W``: the reference's
    ``scipy.ndimage.zoom(order=1)`` of the central crop. That zoom is linear and separable, so it is applied as
    scipy's own zoom of an identity matrix, one matrix product per axis for the whole batch (40x faster than
    zooming a 4-D array)."""
    size = images.shape[1]
    crop = int(np.ceil(size / factor))
    top = (size - crop) // 2
    interpolation = ndimage.zoom(np.eye(crop), (factor, 1), order=1)  # (zoomed size, crop)
    trim = (len(interpolation) - size) // 2
    interpolation = interpolation[trim:trim + size].astype(images.dtype)
    central = np.moveaxis(images[:, top:top + crop, top:top + crop], 3, 1)  # (N, C, crop, crop)
    return np.moveaxis(interpolation @ central @ interpolation.T, 1, 3)


def motion_blur_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick's MotionBlurImage weights: a one-sided Gaussian over ``2 ceil(radius) + 1`` taps, normalised."""
    taps = np.arange(2 * int(np.ceil(radius)) + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    return weights / weights.sum()


def motion_blur_batch(images: np.ndarray, radius: float, sigma: float, angles_deg: np.ndarray) -> np.ndarray:
    """ImageMagick's motion blur of ``(N, H, W, C)`` floats, each image along its own angle: tap ``i`` samples the
    pixel ``round(i cos a)`` to the right and ``round(i sin a)`` down (ImageMagick's ``ceil(x - 0.5)``), edges
    replicated (ImageMagick's default virtual pixels)."""
    weights = motion_blur_kernel(radius, sigma)
    taps = np.arange(len(weights))
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    dx = np.ceil(taps[None] * np.cos(angles)[:, None] - 0.5).astype(int)  # (N, taps)
    dy = np.ceil(taps[None] * np.sin(angles)[:, None] - 0.5).astype(int)
    count, height, width = images.shape[:3]
    rows = np.clip(np.arange(height)[None, None, :] + dy[:, :, None], 0, height - 1)  # (N, taps, H)
    cols = np.clip(np.arange(width)[None, None, :] + dx[:, :, None], 0, width - 1)  # (N, taps, W)
    batch = np.arange(count)[:, None, None, None]
    shifted = images[batch, rows[:, :, :, None], cols[:, :, None, :]]  # (N, taps, H, W, ...)
    return np.einsum("t,nt...->n...", weights, shifted)


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's anti-aliased disk kernel: a 17x17 disk, normalised, then OpenCV's 3x3 Gaussian blur."""
    grid = np.arange(-8, 9)
    xs, ys = np.meshgrid(grid, grid)
    disk = ((xs**2 + ys**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    return ndimage.gaussian_filter(disk, alias_blur, mode="mirror", radius=1)  # cv2.GaussianBlur(ksize=(3, 3))


def _plasma_fractal(count: int, wibble_decay: float, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """``count`` diamond-square height maps ``(count, size, size)`` in [0, 1]: the reference's ``plasma_fractal``
    with a batch axis."""
    maps = np.zeros((count, size, size))
    step, wibble = size, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares += np.roll(squares, -1, axis=2)
        maps[:, half:size:step, half:size:step] = wibbled_mean(squares)
        centres = maps[:, half:size:step, half:size:step]
        corners = maps[:, 0:size:step, 0:size:step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, 0:size:step, half:size:step] = wibbled_mean(left)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half:size:step, 0:size:step] = wibbled_mean(top)
        step //= 2
        wibble /= wibble_decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def _grayscale(unit: np.ndarray) -> np.ndarray:
    """OpenCV's RGB2GRAY weights, keeping a channel axis."""
    return unit @ np.array([0.299, 0.587, 0.114])[:, None]


def _per_image_pil(images: np.ndarray, operation: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(operation(Image.fromarray(image)).convert("RGB")) for image in images])


@lru_cache(maxsize=1)
def frost_textures() -> tuple[np.ndarray, ...]:
    """The five frost photographs, scaled by 0.2 with bilinear sampling (OpenCV's ``resize`` in the reference)."""
    folder = resources.files("torch_uncertainty_assets.frost")
    textures = []
    for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".jpg")):
        with folder.joinpath(name).open("rb") as handle:
            picture = np.array(Image.open(handle).convert("RGB"))
        tensor = torch.from_numpy(picture).permute(2, 0, 1)[None].float()
        small = F.interpolate(tensor, scale_factor=0.2, mode="bilinear", align_corners=False, antialias=False,
                              recompute_scale_factor=False)
        textures.append(small[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy())
    return tuple(textures)


# ---------------------------------------------------------------- the corruptions (parameters: make_cifar_c.py)


def gaussian_noise(images, sigma, rng):
    unit = _to_unit(images)
    return _to_uint8(unit + rng.normal(scale=sigma, size=unit.shape))


def shot_noise(images, photons, rng):
    return _to_uint8(rng.poisson(_to_unit(images) * photons) / photons)


def impulse_noise(images, amount, rng):
    """skimage's ``random_noise(mode='s&p')``: each value flipped with probability ``amount``, to 0 or 1 evenly."""
    unit = _to_unit(images)
    flipped = rng.random(unit.shape) < amount
    salted = rng.random(unit.shape) < 0.5
    unit[flipped & salted] = 1
    unit[flipped & ~salted] = 0
    return _to_uint8(unit)


def defocus_blur(images, params, rng):
    radius, alias_blur = params
    kernel = _disk(radius, alias_blur)
    rows, cols = np.nonzero(kernel)  # the disk is tiny: correlate with its support only (the zeros add nothing)
    kernel = kernel[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    blurred = ndimage.correlate(_to_unit(images), kernel[None, :, :, None].astype(np.float64), mode="mirror")
    return _to_uint8(blurred)


def glass_blur(images, params, rng):
    sigma, max_delta, iterations = params
    shuffled = (_gaussian(_to_unit(images), sigma) * 255).astype(np.uint8)
    size, batch = shuffled.shape[1], np.arange(len(images))
    for _ in range(iterations):
        for row in range(size - max_delta, max_delta, -1):
            for col in range(size - max_delta, max_delta, -1):
                dx, dy = rng.integers(-max_delta, max_delta, size=(2, len(images)))  # upper bound excluded
                shuffled[:, row, col] = shuffled[batch, row + dy, col + dx]  # the reference's "swap" copies
    return _to_uint8(_gaussian(shuffled / 255.0, sigma))


def motion_blur(images, params, rng):
    radius, sigma = params
    angles = rng.uniform(-45, 45, size=len(images))
    return np.clip(np.round(motion_blur_batch(images.astype(np.float64), radius, sigma, angles)), 0, 255).astype(
        np.uint8)


def zoom_blur(images, top_zoom, rng):
    unit = _to_unit(images).astype(np.float32)
    zooms = np.arange(1, top_zoom, 0.01)
    total = unit + sum(_clipped_zoom(unit, factor) for factor in zooms)
    return _to_uint8(total / (len(zooms) + 1))


def snow(images, params, rng):
    mean, spread, zoom, threshold, radius, sigma, keep = params
    unit = images.astype(np.float32) / 255
    layer = rng.normal(loc=mean, scale=spread, size=(len(images), IMAGE_SIZE, IMAGE_SIZE, 1))
    layer = _clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8)  # the reference blurs an 8-bit PNG
    angles = rng.uniform(-135, -45, size=len(images))
    layer = np.round(motion_blur_batch(layer.astype(np.float64), radius, sigma, angles)) / 255
    whitened = keep * unit + (1 - keep) * np.maximum(unit, _grayscale(unit) * 1.5 + 0.5)
    return _to_uint8(whitened + layer + np.rot90(layer, k=2, axes=(1, 2)))


def frost(images, params, rng):
    image_weight, frost_weight = params
    textures = frost_textures()
    crops = []
    for index in rng.integers(0, len(textures), size=len(images)):
        texture = textures[index]
        top = rng.integers(0, texture.shape[0] - IMAGE_SIZE)
        left = rng.integers(0, texture.shape[1] - IMAGE_SIZE)
        crops.append(texture[top:top + IMAGE_SIZE, left:left + IMAGE_SIZE])
    blended = image_weight * images.astype(np.float64) + frost_weight * np.stack(crops)
    return np.clip(blended, 0, 255).astype(np.uint8)


def fog(images, params, rng):
    thickness, wibble_decay = params
    unit = _to_unit(images)
    brightest = unit.max(axis=(1, 2, 3), keepdims=True)
    unit = unit + thickness * _plasma_fractal(len(images), wibble_decay, rng)[..., None]
    return _to_uint8(unit * brightest / (brightest + thickness))


def brightness(images, shift, rng):
    """skimage's rgb2hsv, V + shift clipped, hsv2rgb: with H and S fixed, RGB scales with V (black becomes grey)."""
    unit = _to_unit(images)
    value = unit.max(axis=-1, keepdims=True)
    brighter = np.minimum(value + shift, 1)
    scaled = np.divide(unit * brighter, value, out=np.broadcast_to(brighter, unit.shape).copy(), where=value > 0)
    return _to_uint8(scaled)


def contrast(images, factor, rng):
    unit = _to_unit(images)
    means = unit.mean(axis=(1, 2), keepdims=True)
    return _to_uint8((unit - means) * factor + means)


def elastic(images, params, rng):
    alpha, sigma, affine_shift = (value * IMAGE_SIZE for value in params)
    unit = images.astype(np.float32) / 255
    count = len(images)
    centre, square = IMAGE_SIZE // 2, IMAGE_SIZE // 3
    source = np.array([[centre + square, centre + square], [centre + square, centre - square],
                       [centre - square, centre - square]], dtype=np.float64)  # (x, y) points
    target = source + rng.uniform(-affine_shift, affine_shift, size=(count, 3, 2)).astype(np.float32)
    grid_y, grid_x = np.meshgrid(np.arange(IMAGE_SIZE), np.arange(IMAGE_SIZE), indexing="ij")
    # cv2.getAffineTransform maps source -> target; warpAffine samples each output pixel at the inverse map.
    homogeneous = np.concatenate([target, np.ones((count, 3, 1))], axis=2)  # (N, 3, 3)
    inverse = np.linalg.solve(homogeneous, np.broadcast_to(source, (count, 3, 2)))  # target -> source, (N, 3, 2)
    pixels = np.stack([grid_x.ravel(), grid_y.ravel(), np.ones(grid_x.size)], axis=1)  # (P, 3)
    sample = pixels @ inverse  # (N, P, 2) as (x, y)
    warped = _sample(unit, sample[..., 1], sample[..., 0], mode="mirror")  # OpenCV's BORDER_REFLECT_101
    dx = _gaussian(rng.uniform(-1, 1, size=(count, IMAGE_SIZE, IMAGE_SIZE)), sigma, mode="reflect", truncate=3)
    dy = _gaussian(rng.uniform(-1, 1, size=(count, IMAGE_SIZE, IMAGE_SIZE)), sigma, mode="reflect", truncate=3)
    rows = (grid_y[None] + (dy * alpha).astype(np.float32)).reshape(count, -1)
    cols = (grid_x[None] + (dx * alpha).astype(np.float32)).reshape(count, -1)
    return _to_uint8(_sample(warped, rows, cols, mode="reflect"))


def _sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    """Bilinear ``images[n, rows[n, p], cols[n, p], c]`` for ``(N, H, W, C)`` and ``(N, H*W)`` coordinates."""
    count, height, width, channels = images.shape
    shape = (count, height * width, channels)
    coordinates = [np.broadcast_to(np.arange(count)[:, None, None], shape),
                   np.broadcast_to(rows[:, :, None], shape), np.broadcast_to(cols[:, :, None], shape),
                   np.broadcast_to(np.arange(channels)[None, None], shape)]
    values = ndimage.map_coordinates(images, np.stack(coordinates), order=1, mode=mode)
    return values.reshape(images.shape)


def pixelate(images, fraction, rng):
    small = int(IMAGE_SIZE * fraction)
    return _per_image_pil(images, lambda image: image.resize((small, small), Image.Resampling.BOX).resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX))


def jpeg(images, quality, rng):
    def compress(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        return Image.open(buffer)

    return _per_image_pil(images, compress)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Corruption:
    name: str
    title: str
    family: str
    severity_params: tuple  # one entry per severity 1-5, in make_cifar_c.py's units
    apply: Callable[[np.ndarray, object, np.random.Generator], np.ndarray]

    def __call__(self, images: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
        """``images`` (N, 32, 32, 3) uint8 corrupted at ``severity`` (1-5); the same seed gives the same images."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"expected uint8 images (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), got {images.dtype} "
                             f"{images.shape}")
        if len(images) == 0:
            return images.copy()
        rng = np.random.default_rng([seed, zlib.crc32(self.name.encode()), severity])
        return self.apply(images, self.severity_params[severity - 1], rng)


CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in (
    Corruption("gaussian_noise", "Gaussian noise", "noise", (0.04, 0.06, 0.08, 0.09, 0.10), gaussian_noise),
    Corruption("shot_noise", "Shot noise", "noise", (500, 250, 100, 75, 50), shot_noise),
    Corruption("impulse_noise", "Impulse noise", "noise", (0.01, 0.02, 0.03, 0.05, 0.07), impulse_noise),
    Corruption("defocus_blur", "Defocus blur", "blur",
               ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)), defocus_blur),
    Corruption("glass_blur", "Glass blur", "blur",
               ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)), glass_blur),
    Corruption("motion_blur", "Motion blur", "blur", ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)), motion_blur),
    Corruption("zoom_blur", "Zoom blur", "blur", (1.06, 1.11, 1.16, 1.21, 1.26), zoom_blur),
    Corruption("snow", "Snow", "weather",
               ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
                (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)), snow),
    Corruption("frost", "Frost", "weather", ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)), frost),
    Corruption("fog", "Fog", "weather", ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)), fog),
    Corruption("brightness", "Brightness", "weather", (0.05, 0.1, 0.15, 0.2, 0.3), brightness),
    Corruption("contrast", "Contrast", "digital", (0.75, 0.5, 0.4, 0.3, 0.15), contrast),
    Corruption("elastic", "Elastic transform", "digital",
               ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)), elastic),
    Corruption("pixelate", "Pixelate", "digital", (0.95, 0.9, 0.85, 0.75, 0.65), pixelate),
    Corruption("jpeg", "JPEG compression", "digital", (80, 65, 58, 50, 40), jpeg),
)}
CORRUPTION_NAMES = tuple(CORRUPTIONS)


def corrupt(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``images`` with the corruption ``name`` at ``severity``; a ValueError names the choices when unknown."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTION_NAMES)}")
    return CORRUPTIONS[name](images, severity, seed)
