"""A user's upload through prepare_upload, the function the Predict and other pages' upload widgets call."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cifar_models.uploads import MAX_PIXELS, UploadError, prepare_upload

REPO_README = Path(__file__).resolve().parents[1] / "README.md"


def encoded(image: Image.Image, file_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, file_format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo(cifar) -> Image.Image:
    """A real test image (a cat: the first of its class), as an RGB Pillow image."""
    index = int(np.flatnonzero(cifar.test.labels == cifar.classes.index("cat"))[0])
    return Image.fromarray(cifar.test.images[index])


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height``: the shape of a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


@pytest.mark.parametrize("file_format", ["PNG", "JPEG", "WEBP", "BMP"])
def test_each_format_gives_what_the_model_sees(photo, file_format):
    big = photo.resize((400, 300), Image.Resampling.BICUBIC)
    prepared = prepare_upload(encoded(big, file_format), f"cat.{file_format.lower()}")
    assert prepared.format == file_format
    assert prepared.size == (400, 300)
    assert prepared.crop_box == (50, 0, 350, 300)
    assert prepared.pixels.shape == (32, 32, 3) and prepared.pixels.dtype == np.uint8
    assert any("centre 300x300" in note for note in prepared.notes)


def test_a_lossless_32x32_upload_is_unchanged(photo):
    prepared = prepare_upload(encoded(photo, "PNG"), "cat.png")
    np.testing.assert_array_equal(prepared.pixels, np.asarray(photo))
    assert prepared.notes == ()


def test_the_centre_crop_drops_the_sides(photo):
    # The real image enlarged to 64x64 between two red bars: the centre square is the image, the bars are cut.
    canvas = Image.new("RGB", (128, 64), (255, 0, 0))
    canvas.paste(photo.resize((64, 64), Image.Resampling.NEAREST), (32, 0))
    prepared = prepare_upload(encoded(canvas, "PNG"), "framed.png")
    assert prepared.crop_box == (32, 0, 96, 64)
    difference = np.abs(prepared.pixels.astype(int) - np.asarray(photo).astype(int))
    assert difference.mean() < 6, "the 32x32 should be the original cat, resized down from 64x64"


def test_exif_orientation_is_applied(photo):
    wide = photo.resize((64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    prepared = prepare_upload(encoded(wide, "JPEG", exif=exif.tobytes()), "phone.jpg")
    assert prepared.size == (32, 64)
    assert any("EXIF" in note for note in prepared.notes)


def test_grayscale_is_converted(photo):
    prepared = prepare_upload(encoded(photo.convert("L"), "PNG"), "gray.png")
    assert prepared.mode == "L"
    channels = prepared.pixels.astype(int)
    assert (channels[..., 0] == channels[..., 1]).all() and (channels[..., 1] == channels[..., 2]).all()
    assert any("Grayscale" in note for note in prepared.notes)


def test_sixteen_bit_grayscale_is_scaled(photo):
    sixteen = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    prepared = prepare_upload(encoded(Image.fromarray(sixteen), "PNG"), "deep.png")
    np.testing.assert_array_equal(prepared.pixels[..., 0], np.asarray(photo.convert("L")))


def test_palette_is_converted(photo):
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    prepared = prepare_upload(encoded(palette, "PNG"), "palette.png")
    assert prepared.mode == "P"
    np.testing.assert_array_equal(prepared.pixels, np.asarray(palette.convert("RGB")))
    assert any("Palette" in note for note in prepared.notes)


def test_rgba_transparency_is_drawn_on_white(photo):
    rgba = photo.convert("RGBA")
    alpha = np.full((32, 32), 255, dtype=np.uint8)
    alpha[:, :16] = 0  # left half fully transparent
    rgba.putalpha(Image.fromarray(alpha))
    prepared = prepare_upload(encoded(rgba, "PNG"), "cutout.png")
    assert (prepared.pixels[:, :16] == 255).all()
    np.testing.assert_array_equal(prepared.pixels[:, 16:], np.asarray(photo)[:, 16:])
    assert any("white" in note for note in prepared.notes)


def test_one_pixel_becomes_a_flat_image():
    prepared = prepare_upload(encoded(Image.new("RGB", (1, 1), (200, 30, 40)), "BMP"), "dot.bmp")
    assert (prepared.pixels == np.array([200, 30, 40], dtype=np.uint8)).all()
    assert any("single pixel" in note for note in prepared.notes)


def test_a_non_image_is_refused():
    with pytest.raises(UploadError, match=r"README\.png: not a PNG, JPEG, WebP or BMP image"):
        prepare_upload(REPO_README.read_bytes(), "README.png")


def test_an_empty_file_is_refused():
    with pytest.raises(UploadError, match=r"empty\.jpg: the file is empty"):
        prepare_upload(b"", "empty.jpg")


def test_another_image_format_is_refused(photo):
    with pytest.raises(UploadError, match=r"cat\.gif: not a PNG, JPEG, WebP or BMP image"):
        prepare_upload(encoded(photo, "GIF"), "cat.gif")


@pytest.mark.parametrize("file_format", ["PNG", "JPEG", "WEBP", "BMP"])
def test_a_truncated_file_is_refused(photo, file_format):
    complete = encoded(photo.resize((256, 256)), file_format)
    with pytest.raises(UploadError, match=rf"half\.{file_format.lower()}: the image data is truncated or damaged"):
        prepare_upload(complete[: len(complete) // 2], f"half.{file_format.lower()}")


def test_a_decompression_bomb_is_refused_before_decoding():
    # 12000x12000 black pixels compress to about 17 kB; Pillow warns (89 M pixels < 144 M < 179 M), we refuse.
    bomb = encoded(Image.new("1", (12000, 12000)), "PNG")
    assert len(bomb) < 100_000
    with pytest.raises(UploadError, match=r"bomb\.png: refused as a possible decompression bomb"):
        prepare_upload(bomb, "bomb.png", max_pixels=10**9)  # Pillow's warning alone must refuse it


def test_a_header_declaring_a_huge_canvas_is_refused():
    with pytest.raises(UploadError, match=r"huge\.png: refused as a possible decompression bomb"):
        prepare_upload(png_declaring(50_000, 50_000), "huge.png")


def test_our_pixel_limit_applies_below_pillows():
    width = height = int(MAX_PIXELS ** 0.5) + 100  # over our limit, under Pillow's
    with pytest.raises(UploadError, match=r"large\.png: the image declares .* more than the limit"):
        prepare_upload(png_declaring(width, height), "large.png")


def test_an_oversized_file_is_refused(photo):
    with pytest.raises(UploadError, match=r"big\.bmp: the file is .* MB; the limit is 1 MB"):
        prepare_upload(encoded(photo.resize((1024, 1024)), "BMP"), "big.bmp", max_bytes=2**20)
