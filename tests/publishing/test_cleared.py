"""The cleared copy: stripped of metadata, within Instagram's limits, chosen faces unrecognisable."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from consentcam.services import cleared
from tests.conftest import FACES

ALL_META_KEYS = {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "photoshop", "comment", "gps"}


def source_with_everything(width: int = 1200, height: int = 900, orientation: int = 1) -> bytes:
    """A JPEG carrying EXIF (camera, GPS, orientation), an ICC profile, XMP and a comment."""
    im = Image.new("RGB", (width, height), (200, 150, 100))
    im.paste((30, 60, 200), (0, 0, width // 3, height // 2))  # a landmark to check orientation
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x0110] = "SecretPhone 12"
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (59.0, 19.0, 48.0)
    gps[3] = "E"
    gps[4] = (18.0, 4.0, 6.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:xmp="http://ns.adobe.com/xap/1.0/"/></x:xmpmeta>'
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, icc_profile=icc, xmp=xmp, comment=b"secret comment")
    return buf.getvalue()


def assert_clean(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "JPEG"
    assert im.mode == "RGB"
    assert not (set(im.info) & ALL_META_KEYS), im.info.keys()
    assert len(im.getexif()) == 0
    for marker in (
        b"Exif",
        b"http://ns.adobe.com/xap",
        b"ICC_PROFILE",
        b"SecretPhone",
        b"secret comment",
        b"CameraMaker",
    ):
        assert marker not in data, marker
    return im


def test_source_really_carries_metadata() -> None:
    # Guard against a vacuous test: the input has everything the output must not.
    data = source_with_everything()
    im = Image.open(io.BytesIO(data))
    assert "icc_profile" in im.info and "exif" in im.info
    assert b"Exif" in data and b"http://ns.adobe.com/xap" in data and b"SecretPhone" in data


@pytest.mark.parametrize("fit", ["pad", "crop"])
def test_metadata_is_stripped(fit: str) -> None:
    out = cleared.render(source_with_everything(), fit=fit)
    assert_clean(out)


def test_exif_orientation_is_applied() -> None:
    # Orientation 6 = rotate 90° clockwise for display: a 1200x900 file shows as 900x1200.
    out = assert_clean(cleared.render(source_with_everything(1200, 900, orientation=6), fit="pad"))
    w, h = out.size
    assert h > w  # portrait after applying EXIF (padded to 4:5)
    # The blue landmark (top-left third of the stored image) ends up at the top right.
    arr = np.asarray(out).astype(int)
    top_right = arr[int(h * 0.2), int(w * 0.8)]
    top_left = arr[int(h * 0.2), int(w * 0.2)]
    assert top_right[2] > top_right[0] + 60
    assert not top_left[2] > top_left[0] + 60


SHAPES = [
    (100, 100),
    (200, 1000),
    (1000, 200),
    (4000, 3000),
    (3000, 4000),
    (6000, 1000),
    (320, 400),
    (1440, 1800),
    (5000, 5000),
    (641, 359),
    (999, 1249),
]


@pytest.mark.parametrize("fit", ["pad", "crop"])
@pytest.mark.parametrize(("width", "height"), SHAPES)
def test_size_and_aspect_within_instagram_limits(width: int, height: int, fit: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 90)).save(buf, "PNG")
    out = assert_clean(cleared.render(buf.getvalue(), fit=fit))
    w, h = out.size
    assert cleared.MIN_WIDTH <= w <= cleared.MAX_WIDTH
    assert cleared.MIN_ASPECT - 1e-9 <= w / h <= cleared.MAX_ASPECT + 1e-9, (w, h)
    source_aspect = width / height
    if cleared.MIN_ASPECT <= source_aspect <= cleared.MAX_ASPECT:
        assert abs(w / h - source_aspect) < 0.01  # within limits: the shape is kept


def test_pad_keeps_everything_and_crop_cuts() -> None:
    # A tall strip with red ends: padding keeps both ends, cropping loses them.
    im = Image.new("RGB", (400, 1600), (60, 60, 200))
    im.paste((220, 0, 0), (0, 0, 400, 60))
    im.paste((220, 0, 0), (0, 1540, 400, 1600))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    padded = np.asarray(Image.open(io.BytesIO(cleared.render(buf.getvalue(), fit="pad")))).astype(
        int
    )
    cropped = np.asarray(Image.open(io.BytesIO(cleared.render(buf.getvalue(), fit="crop")))).astype(
        int
    )
    red = lambda a: int(((a[..., 0] > 150) & (a[..., 2] < 100)).sum())  # noqa: E731
    assert red(padded) > 0
    assert red(cropped) == 0
    # The pad colour is neutral (grey), at the left edge of the padded copy.
    r, g, b = padded[padded.shape[0] // 2, 2]
    assert max(r, g, b) - min(r, g, b) < 12


def test_crop_keeps_faces_inside() -> None:
    # A wide image with a "face" near the right edge: the crop window slides to include it.
    face = (3300, 400, 3500, 600)
    window = cleared.crop_window(3600, 1000, cleared.MAX_ASPECT, [face])
    assert window[0] <= face[0] and window[2] >= face[2]
    assert window[2] - window[0] <= 1910
    centred = cleared.crop_window(3600, 1000, cleared.MAX_ASPECT, [])
    assert centred[0] == (3600 - (centred[2] - centred[0])) // 2


def test_icc_profile_is_converted_not_copied() -> None:
    # A profile that maps the same pixels to different colours than sRGB would (a wide gamut
    # made from different primaries): conversion must change the pixel values.
    wide = ImageCms.createProfile("LAB")  # not RGB: must be ignored rather than misapplied
    assert cleared.to_srgb(
        Image.new("RGB", (4, 4), (10, 200, 30)), ImageCms.ImageCmsProfile(wide).tobytes()
    ).getpixel((0, 0)) == (10, 200, 30)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    same = cleared.to_srgb(Image.new("RGB", (4, 4), (10, 200, 30)), srgb).getpixel((0, 0))
    assert isinstance(same, tuple)
    assert all(abs(a - b) <= 2 for a, b in zip(same, (10, 200, 30), strict=True))


@pytest.mark.slow
def test_blurred_face_no_longer_matches_with_the_real_engine() -> None:
    """two_people.jpg: Biden (left box at x≈778) blurred, Obama kept; the engine tells."""
    from consentcam.faces.match import Matcher
    from consentcam.faces.pipeline import scan_image

    templates, ids = [], []
    for person_id, folder in ((1, "biden"), (2, "obama")):
        for path in sorted(Path(FACES / "known" / folder).iterdir())[:2]:
            result = scan_image(path)
            assert len(result.faces) == 1
            templates.append(result.faces[0].encoding)
            ids.append(person_id)
    matcher = Matcher(np.array(templates), ids, threshold=0.6)

    original = (FACES / "unknown" / "two_people.jpg").read_bytes()
    before = scan_image(original)
    found = {m.person_id for m in matcher.match_many([f.encoding for f in before.faces])}
    assert found == {1, 2}  # both recognised in the original
    biden_box = next(f.box for f in before.faces if f.box[0] > 600)
    obama_box = next(f.box for f in before.faces if f.box[0] < 600)

    out = cleared.render(original, blur=[biden_box], faces=[obama_box], fit="pad")
    assert_clean(out)
    after = scan_image(out)
    matches = matcher.match_many([f.encoding for f in after.faces]) if after.faces else []
    people_found = [m.person_id for m in matches]
    assert 2 in people_found, "the face that was not blurred must still be recognised"
    assert 1 not in people_found, "the blurred face must not be recognisable"
    # Even at a lenient threshold nothing close to Biden remains among the faces found.
    lenient = Matcher(np.array(templates), ids, threshold=0.75)
    assert 1 not in [m.person_id for m in lenient.match_many([f.encoding for f in after.faces])]

    # The strongest attack: encode the blurred pixels exactly where the face was (no detection
    # needed). The blurred face is far from Biden; the same step on the untouched face still
    # matches Obama, so the method itself works.
    from consentcam.faces.decode import load_upright
    from consentcam.faces.engine import get_engine

    engine = get_engine()
    rgb = load_upright(original).rgb
    blurred = np.asarray(cleared.blur_faces(Image.fromarray(rgb), [biden_box]))
    forced = matcher.match_many(engine.encode(blurred, [biden_box, obama_box]))
    assert (
        forced[0].person_id is None and forced[0].distance is not None and forced[0].distance > 0.6
    )
    assert forced[1].person_id == 2
