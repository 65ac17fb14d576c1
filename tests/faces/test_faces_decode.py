"""Safe decoding: allowed formats, pixel limits, damaged files, EXIF orientation, colour modes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from consentcam.faces import ImageRejected, load_upright, probe
from consentcam.faces.decode import _decode

from .helpers import DATA, jpeg_bytes

PHOTO = DATA / "unknown" / "kit_with_rose.jpg"


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height 1-bit pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = zlib.compress(row * 8, 9)  # only a few rows: the header is what matters
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _photo() -> Image.Image:
    with Image.open(PHOTO) as im:
        im.load()
        return im.copy()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- refusals -------------------------------------------------------------------------------


def test_truncated_jpeg_is_rejected_with_file_name(tmp_path: Path) -> None:
    data = PHOTO.read_bytes()
    path = _write(tmp_path, "holiday.jpg", data[: len(data) // 2])
    with pytest.raises(ImageRejected, match=r"^holiday\.jpg: the file is truncated"):
        load_upright(path)


def test_truncated_png_is_rejected(tmp_path: Path) -> None:
    buf = io.BytesIO()
    _photo().save(buf, format="PNG")
    data = buf.getvalue()
    path = _write(tmp_path, "cut.png", data[: len(data) // 2])
    with pytest.raises(ImageRejected, match=r"^cut\.png: "):
        load_upright(path)


def test_decompression_bomb_is_rejected_before_decoding(tmp_path: Path) -> None:
    path = _write(tmp_path, "bomb.png", _png_header_only(20_000, 20_000))
    assert path.stat().st_size < 10_000
    with pytest.raises(ImageRejected) as info:
        load_upright(path)
    assert str(info.value) == "bomb.png: 400,000,000 pixels is over the 100,000,000 pixel limit"
    with pytest.raises(ImageRejected, match="bomb.png"):
        probe(path)


def test_image_over_our_limit_but_under_pillows_is_rejected(tmp_path: Path) -> None:
    # 120 MP: below Pillow's own hard limit (~179 MP), above ours, and above Pillow's warning
    # threshold (which pytest turns into an error): our check must handle it cleanly.
    path = _write(tmp_path, "big.png", _png_header_only(12_000, 10_000))
    with pytest.raises(
        ImageRejected, match=r"^big\.png: 120,000,000 pixels is over the 100,000,000"
    ):
        load_upright(path)
    # A higher configured limit lets the header through (probe reads no pixels).
    info = probe(path, max_pixels=150_000_000)
    assert (info.format, info.width, info.height) == ("PNG", 12_000, 10_000)


def test_configurable_pixel_limit_on_a_real_photo() -> None:
    width, height = _photo().size
    with pytest.raises(ImageRejected, match=f"{width * height:,} pixels is over the 1,000 pixel"):
        load_upright(PHOTO, max_pixels=1000)
    assert load_upright(PHOTO, max_pixels=width * height).width == width


def test_text_file_named_jpg_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "notes.jpg", b"Meeting notes\nNothing to see here.\n" * 20)
    with pytest.raises(ImageRejected) as info:
        load_upright(path)
    assert str(info.value) == "notes.jpg: not a supported image (allowed: JPEG, PNG, WebP, HEIC)"


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_other_image_formats_named_jpg_are_rejected(tmp_path: Path, fmt: str) -> None:
    buf = io.BytesIO()
    _photo().convert("RGB").save(buf, format=fmt)
    path = _write(tmp_path, f"photo-{fmt.lower()}.jpg", buf.getvalue())
    with pytest.raises(ImageRejected, match=rf"^photo-{fmt.lower()}\.jpg: .*not supported"):
        load_upright(path)
    with pytest.raises(ImageRejected, match=fmt):
        probe(path)


def test_pdf_bytes_are_rejected_with_given_name() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    with pytest.raises(ImageRejected, match=r"^scan\.jpg: PDF files are not supported"):
        load_upright(pdf, name="scan.jpg")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ImageRejected, match=r"^empty\.jpg: the file is empty"):
        load_upright(_write(tmp_path, "empty.jpg", b""))
    with pytest.raises(ImageRejected, match=r"^gone\.jpg: the file does not exist"):
        load_upright(tmp_path / "gone.jpg")


# --- decoding ---------------------------------------------------------------------------------


def test_bytes_and_path_give_the_same_pixels() -> None:
    from_path = load_upright(PHOTO)
    from_bytes = load_upright(PHOTO.read_bytes())
    assert from_path.rgb.dtype == np.uint8
    assert from_path.rgb.flags["C_CONTIGUOUS"]
    assert from_path.rgb.shape == (from_path.height, from_path.width, 3)
    assert np.array_equal(from_path.rgb, from_bytes.rgb)
    assert from_path.scale == 1.0
    assert from_path.format == "JPEG"


_INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def oriented_copy(upright: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """Store ``upright`` the way a camera would with the given EXIF orientation."""
    op = _INVERSE[orientation]
    stored = upright if op is None else upright.transpose(op)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    if fmt == "JPEG":
        # Near-lossless, so every orientation carries the same picture (JPEG noise differs
        # between a photo and its rotation, and HOG boxes can jump a pyramid level on noise).
        stored.save(buf, format="JPEG", quality=100, subsampling=0, exif=exif.tobytes())
    elif fmt == "WEBP":
        stored.save(buf, format="WEBP", lossless=True, exif=exif.tobytes())
    else:
        stored.save(buf, format=fmt, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_all_orientations_restore_the_upright_pixels_losslessly(fmt: str) -> None:
    upright = _photo().convert("RGB").resize((120, 90))
    expected = np.asarray(upright)
    for orientation in range(1, 9):
        data = oriented_copy(upright, orientation, fmt)
        decoded = load_upright(data)
        assert (decoded.width, decoded.height) == (120, 90), orientation
        assert np.array_equal(decoded.rgb, expected), f"orientation {orientation}"
        info = probe(data)
        assert (info.width, info.height) == (120, 90)


def test_probe_reports_upright_size_without_decoding() -> None:
    upright = _photo().convert("RGB")
    data = oriented_copy(upright, 6)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (upright.height, upright.width)
    info = probe(data)
    assert (info.format, info.width, info.height) == ("JPEG", upright.width, upright.height)
    # A file whose pixel data is cut off still probes: no pixels were read.
    assert probe(data[: len(data) // 2]).width == upright.width


def test_jpeg_is_decoded_at_reduced_size_but_reports_full_size() -> None:
    upright = _photo().convert("RGB")
    big = upright.resize((upright.width * 4, upright.height * 4))
    data = oriented_copy(big, 8)  # stored rotated: the reduced decode must still come out upright
    # The DCT-scaled decode (before any resize) is a power-of-two fraction of the stored size.
    draft, full_w, full_h, _ = _decode(
        data, max_pixels=10**9, max_side=max(big.size) // 4, name=None, exact=False
    )
    assert (full_w, full_h) == big.size
    assert draft.size == (big.width // 4, big.height // 4)
    reduced = load_upright(data, max_side=500)
    assert (reduced.width, reduced.height) == big.size
    assert max(reduced.rgb.shape[:2]) == 500
    assert reduced.rgb.shape[1] < reduced.rgb.shape[0]  # portrait, like the upright photo
    assert reduced.scale == pytest.approx(big.width / reduced.rgb.shape[1])
    # The reduced decode shows the same picture as a full decode scaled down.
    full = Image.fromarray(load_upright(data).rgb)
    full_small = np.asarray(full.resize((reduced.rgb.shape[1], reduced.rgb.shape[0])))
    diff = np.abs(full_small.astype(int) - reduced.rgb.astype(int)).mean()
    assert diff < 6.0


def test_heic_input(tmp_path: Path) -> None:
    pillow_heif.register_heif_opener()
    upright = _photo().convert("RGB")
    path = tmp_path / "phone.heic"
    upright.save(path, format="HEIF", quality=90)
    decoded = load_upright(path)
    assert decoded.format == "HEIC"
    assert (decoded.width, decoded.height) == upright.size
    assert np.abs(decoded.rgb.astype(int) - np.asarray(upright).astype(int)).mean() < 8.0
    assert probe(path).format == "HEIC"


def test_rgba_png_is_composited_on_white() -> None:
    path = DATA / "edge" / "32bit-rgba.png"
    with Image.open(path) as im:
        src = np.asarray(im)
    assert src.shape[2] == 4
    decoded = load_upright(path)
    assert decoded.rgb.shape == src.shape[:2] + (3,)
    alpha = src[..., 3:4].astype(float) / 255.0
    expected = src[..., :3] * alpha + 255.0 * (1 - alpha)
    assert np.abs(decoded.rgb.astype(float) - expected).max() <= 1.0


def test_synthetic_alpha_and_palette_transparency_become_white() -> None:
    rgba = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    out = load_upright(buf.getvalue()).rgb
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[1, 1]) == (255, 0, 0)

    pal = Image.new("P", (4, 2), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((0, 0), 0)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", transparency=0)
    out = load_upright(buf.getvalue()).rgb
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[1, 3]) == (0, 0, 255)


def test_palette_greyscale_and_one_bit_photos_decode_to_sensible_rgb() -> None:
    photo = _photo().convert("RGB")
    reference = np.asarray(photo.convert("L")).astype(int)
    for mode in ("P", "L", "LA", "1"):
        im = photo.convert(mode) if mode != "P" else photo.quantize(colors=256)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        decoded = load_upright(buf.getvalue()).rgb
        assert decoded.shape == (photo.height, photo.width, 3), mode
        grey = decoded.astype(int).mean(axis=2)
        if mode == "1":
            assert set(np.unique(decoded)) <= {0, 255}
            assert 0.2 < (grey > 127).mean() < 0.8
        else:
            assert np.abs(grey - reference).mean() < 6.0, mode
        if mode in ("L", "LA", "1"):
            assert np.array_equal(decoded[..., 0], decoded[..., 2])


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    gradient = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (16, 1))
    buf = io.BytesIO()
    Image.fromarray(gradient).save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I")
    decoded = load_upright(buf.getvalue()).rgb
    row = decoded[0, :, 0].astype(int)
    assert row.min() == 0 and row.max() == 255
    assert np.all(np.diff(row) >= 0)
    assert len(np.unique(row)) > 200  # a real gradient, not a handful of clipped values
    assert np.abs(row - np.arange(256)).max() <= 1


def test_cmyk_jpeg_decodes_to_rgb() -> None:
    photo = _photo().convert("RGB")
    data = jpeg_bytes(photo.convert("CMYK"))
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    decoded = load_upright(data)
    assert decoded.rgb.shape == (photo.height, photo.width, 3)
    assert np.abs(decoded.rgb.astype(int) - np.asarray(photo).astype(int)).mean() < 8.0
    reduced = load_upright(data, max_side=200)
    assert max(reduced.rgb.shape[:2]) == 200
