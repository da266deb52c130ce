"""A user's own image, decoded safely and brought to what the models see: a 32x32 RGB centre crop.

Uploads come from anywhere, so decoding refuses what is not a PNG, JPEG, WebP or BMP image, a truncated file and a
decompression bomb (a small file that declares a huge canvas: Pillow's ``DecompressionBombWarning`` counts as an
error here, and a lower pixel limit of our own applies before any pixel is decoded). Grayscale, palette, 16-bit and
transparent images are converted, and the changes are listed in ``notes`` so the page can say what happened.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")  # for the upload widget's file filter
MODEL_SIZE = 32
# 50 megapixels: a large phone photo passes; 150 MB of RGB at most, before the crop shrinks it.
MAX_PIXELS = 50_000_000
MAX_BYTES = 50 * 1024 * 1024
# High bit depth images are scaled to 8 bits in bands of about this many pixels (8 MB of float64 each).
HIGH_DEPTH_BAND_PIXELS = 1 << 20
# Transparent pixels are drawn on white, the usual background of a cut-out object.
BACKGROUND = (255, 255, 255)
# EXIF orientations 5 to 8 turn the image by 90 degrees: its width and height swap.
ROTATING_ORIENTATIONS = (5, 6, 7, 8)
# How each format's files begin (offset, bytes): a file that begins so but that Pillow cannot open is a damaged file
# of that format (e.g. a PNG whose header fails its checksum), not a file of another kind. BMP's two-byte "BM" is left
# out: too short to tell a damaged bitmap from any file that starts with those letters.
SIGNATURES = {"PNG": ((0, b"\x89PNG\r\n\x1a\n"),), "JPEG": ((0, b"\xff\xd8\xff"),), "WebP": ((0, b"RIFF"), (8, b"WEBP"))}


class UploadError(ValueError):
    """An upload that cannot be turned into a model input; the message starts with the file's name."""


@dataclass(frozen=True)
class PreparedImage:
    name: str
    format: str  # as Pillow names it: "PNG", "JPEG", "WEBP" or "BMP"
    size: tuple[int, int]  # the upload's (width, height), upright
    mode: str  # the upload's Pillow mode before conversion, e.g. "P", "LA", "I;16"
    crop_box: tuple[int, int, int, int]  # the centred square taken from the upload (left, top, right, bottom)
    pixels: np.ndarray  # (32, 32, 3) uint8: exactly what the models are fed
    notes: tuple[str, ...]  # conversions applied, in words


def prepare_upload(data: bytes, name: str, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES,
                   size: int = MODEL_SIZE) -> PreparedImage:
    """Decode an uploaded file and return its centre crop resized to ``size`` x ``size`` RGB.

    Raises :class:`UploadError` (naming ``name``) for an empty, oversized, non-image, unsupported, truncated or
    decompression-bomb file; never lets Pillow's own exceptions through.
    """
    if not data:
        raise UploadError(f"{name}: the file is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"{name}: the file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice its limit: treat that as the bomb it may be.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
                return _prepare(image, name, max_pixels, size, notes)
    except UploadError:
        raise
    except UnidentifiedImageError:
        raise UploadError(_unidentified(data, name)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UploadError(f"{name}: refused as a possible decompression bomb ({error}).") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        # Pillow reports a cut-off file as OSError("image file is truncated ...") or a decoder error.
        raise UploadError(f"{name}: the image data is truncated or damaged ({error}).") from None
    except Exception as error:  # e.g. struct.error or KeyError from malformed EXIF: still the user's file at fault
        raise UploadError(f"{name}: the image could not be read ({type(error).__name__}: {error}).") from None


def _unidentified(data: bytes, name: str) -> str:
    """Why Pillow could not identify ``data``: a damaged file of an allowed format, or not an image of one."""
    for file_format, marks in SIGNATURES.items():
        if all(data[offset:offset + len(mark)] == mark for offset, mark in marks):
            return (f"{name}: a damaged {file_format} file: it begins as a {file_format} does, but its header cannot "
                    f"be read (a wrong checksum or field). Save or export the image again.")
    return f"{name}: not a PNG, JPEG, WebP or BMP image (the file's contents were checked, not its name)."


def _prepare(image: Image.Image, name: str, max_pixels: int, size: int, notes: list[str]) -> PreparedImage:
    """Everything after opening, while ``image`` is still open (a closed Pillow image has no pixels)."""
    width, height = image.size
    if width * height > max_pixels:
        raise UploadError(f"{name}: the image declares {width}x{height} = {width * height:,} pixels, more than the "
                          f"limit of {max_pixels:,}; it may be a decompression bomb. Upload a smaller image.")
    file_format, mode = image.format, image.mode
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation in ROTATING_ORIENTATIONS:
        width, height = height, width
        notes.append("Turned upright as its EXIF orientation says.")
    # JPEG can decode at 1/2, 1/4 or 1/8 scale: a large photo never needs its full resolution for 32x32.
    image.draft(None, (4 * size, 4 * size))
    image.load()
    # exif_transpose copies even an upright image: only call it when there is something to turn
    eight_bit = to_8bit(image if orientation == 1 else ImageOps.exif_transpose(image), notes)
    if (width, height) == (1, 1):
        notes.append("A single pixel: the model sees one flat colour.")
    elif min(width, height) < size:
        notes.append(f"Smaller than {size}x{size} ({width}x{height}): enlarged, so it carries little detail.")
    crop_box = centre_square(width, height)
    if width != height:
        notes.append(f"Not square: the centre {crop_box[2] - crop_box[0]}x{crop_box[3] - crop_box[1]} was kept.")
    # The same square in the decoded image, which a JPEG draft may have scaled down.
    small = eight_bit.resize((size, size), Image.Resampling.LANCZOS, box=centre_square(*eight_bit.size),
                             reducing_gap=3.0).convert("RGB")
    return PreparedImage(name=name, format=file_format, size=(width, height), mode=mode, crop_box=crop_box,
                         pixels=np.asarray(small, dtype=np.uint8).copy(), notes=tuple(notes))


def centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square of a ``width`` x ``height`` image, as (left, top, right, bottom)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def high_depth_to_gray(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float grayscale image scaled to 8 bits ("L"), a band of rows at a time: the
    full image is never copied at 8 bytes a pixel (a 49-megapixel upload would take 400 MB per copy)."""
    width, height = image.size
    # 16-bit files use their full range; 32-bit integer or float data have no fixed range, so use theirs.
    low, high = (0, 65535) if image.mode.startswith("I;16") else image.getextrema()
    span = max(float(high) - float(low), 1e-12)
    gray = np.empty((height, width), dtype=np.uint8)
    rows = max(1, HIGH_DEPTH_BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = np.asarray(image.crop((0, top, width, min(top + rows, height))), dtype=np.float64)
        gray[top:top + rows] = (np.clip((band - float(low)) / span, 0, 1) * 255).round()
    return Image.fromarray(gray, "L")


def to_8bit(image: Image.Image, notes: list[str]) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, appending what was changed to ``notes``; high bit depth grayscale to 8-bit
    grayscale, which the caller turns to RGB after shrinking it (a full-size RGB copy takes 4 bytes a pixel)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        notes.append(f"High bit depth grayscale ({mode}): scaled to 8 bits and copied to the three channels.")
        return high_depth_to_gray(image)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if mode in ("P", "PA"):
        notes.append("Palette image: colours looked up in its palette.")
    elif mode in ("1", "L", "LA", "La"):
        notes.append("Grayscale: copied to the three colour channels.")
    elif not has_alpha:
        notes.append(f"{mode} colours converted to RGB.")
    if has_alpha:
        notes.append("Transparent: drawn on a white background.")
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
