"""`consentcam photo confirm` and `consentcam photo rescan`, with the real face engine."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from consentcam.cli import main
from consentcam.models import Photo
from consentcam.runtime import Runtime
from consentcam.services import photos, scanning
from tests.conftest import FACES, cli_init


def _scanned(instance: Path, rel: str) -> int:
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            photo = photos.ingest(s, rt, (FACES / rel).read_bytes(), rel.rsplit("/", 1)[-1]).photo
            s.commit()
            scanning.scan_photo(s, rt, photo.id)
            return int(photo.id)
    finally:
        rt.close()


def _run(instance: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--instance", str(instance), *args])
    return result.exit_code, result.output


def test_confirm_records_the_owner_and_refuses_others(tmp_path: Path) -> None:
    instance = cli_init(tmp_path / "inst")
    photo_id = _scanned(instance, "unknown/obama1.jpg")
    code, out = _run(instance, "photo", "confirm", str(photo_id), "--by", "nobody@example.com")
    assert code == 1 and "there is no user nobody@example.com" in out
    code, out = _run(instance, "photo", "confirm", "9999", "--by", "ann@example.com")
    assert code == 1 and "there is no photo 9999" in out
    code, out = _run(instance, "photo", "confirm", str(photo_id), "--by", "ANN@example.com")
    assert code == 0, out
    assert f"Photo {photo_id}: everyone is marked, confirmed by" in out
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            photo = s.get(Photo, photo_id)
            assert photo is not None
            assert photo.faces_confirmed_at is not None
    finally:
        rt.close()


def test_rescan_adds_a_face_nobody_marked_and_undoes_the_confirmation(tmp_path: Path) -> None:
    instance = cli_init(tmp_path / "inst")
    photo_id = _scanned(instance, "unknown/two_people.jpg")
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            photo = s.get(Photo, photo_id)
            assert photo is not None
            assert len(photo.faces) == 2
            # As if an older engine had found only one of the two guests.
            s.delete(photo.faces[1])
            s.commit()
    finally:
        rt.close()
    assert _run(instance, "photo", "confirm", str(photo_id), "--by", "ann@example.com")[0] == 0
    code, out = _run(instance, "photo", "rescan", str(photo_id), "--json")
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1]) == {"photo": photo_id, "new_faces": [2]}
    code, out = _run(instance, "photo", "rescan", "--all")
    assert code == 0 and f"Photo {photo_id}: no new face." in out
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            photo = s.get(Photo, photo_id)
            assert photo is not None
            assert photo.faces_confirmed_at is None
            assert [(f.number, f.source) for f in photo.faces] == [(1, "detected"), (2, "detected")]
    finally:
        rt.close()
    assert _run(instance, "photo", "rescan")[0] != 0
