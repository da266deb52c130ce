"""Pictures for people: nearest-neighbour enlarging, colour scales for maps and a heat map drawn over an image.

The bottom of the library for showing things: it imports nothing of the lab's, and the explanation modules and the
dashboard draw with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from matplotlib import colormaps

# Sequential maps for values of one sign, a diverging one (red positive, blue negative, white zero) for signed values.
SEQUENTIAL_COLOURS = "viridis"
DIVERGING_COLOURS = "RdBu_r"
OVERLAY_COLOURS = "inferno"


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so 32x32 pixels stay crisp squares instead of the browser's blur."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def enlarge_to(image: np.ndarray, pixels: int) -> np.ndarray:
    """Nearest-neighbour upscaling to about ``pixels`` wide, so a 4x4 map shows as crisp squares, not a blur."""
    return enlarge(image, max(pixels // image.shape[1], 1))


@dataclass(frozen=True)
class ColourScale:
    """How values map to colours: ``low`` and ``high`` are the ends; a diverging scale is symmetric around zero."""

    low: float
    high: float
    diverging: bool

    def colourise(self, values: np.ndarray, sequential: str = SEQUENTIAL_COLOURS) -> np.ndarray:
        """``values`` (H, W) to uint8 RGB (H, W, 3)."""
        span = max(self.high - self.low, 1e-12)  # a constant map gets the scale's low colour, not a division by zero
        fraction = np.clip((np.asarray(values, dtype=np.float64) - self.low) / span, 0, 1)
        colour_map = colormaps[DIVERGING_COLOURS if self.diverging else sequential]
        return (colour_map(fraction)[..., :3] * 255).round().astype(np.uint8)

    def stops(self, steps: int = 16, sequential: str = SEQUENTIAL_COLOURS) -> tuple[np.ndarray, list[str]]:
        """``steps`` evenly spaced values from ``low`` to ``high`` and their colours as '#rrggbb': a colour bar."""
        values = np.linspace(self.low, self.high, steps)
        rgb = self.colourise(values[None], sequential)[0]
        return values, [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]

    def describe(self) -> str:
        kind = "diverging, white at 0" if self.diverging else "sequential"
        return f"{self.low:.3g} to {self.high:.3g} ({kind})"


def colour_scale(values: np.ndarray | Iterable[np.ndarray], percentile: float = 100.0) -> ColourScale:
    """The scale that fits all of ``values``: diverging and symmetric when they hold both signs.

    ``percentile`` below 100 makes it robust: its ends are the ``100 - percentile`` and ``percentile`` percentiles
    of the values, so a few extreme values saturate instead of pushing every other value into the darkest colour.
    """
    arrays = [np.asarray(values)] if isinstance(values, np.ndarray) else [np.asarray(v) for v in values]
    pooled = np.concatenate([a.ravel() for a in arrays])
    low, high = float(pooled.min()), float(pooled.max())
    if low < 0 < high:
        extent = float(np.percentile(np.abs(pooled), percentile))
        return ColourScale(-extent, extent, diverging=True)
    if percentile < 100:
        low, high = (float(v) for v in np.percentile(pooled, [100 - percentile, percentile]))
    return ColourScale(low, high, diverging=False)


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float) -> np.ndarray:
    """The heat map's positive evidence drawn over the (uint8) image.

    Each pixel's opacity grows with its evidence, so regions the map ignores keep the image's own colours.
    """
    positive = np.clip(heatmap, 0, None)
    strength = positive / max(float(positive.max()), 1e-12)
    colours = ColourScale(0.0, 1.0, diverging=False).colourise(strength, OVERLAY_COLOURS).astype(np.float32)
    alpha = (opacity * strength)[..., None]
    return ((1 - alpha) * image.astype(np.float32) + alpha * colours).round().astype(np.uint8)
