"""The CLI: audit in three formats (with a re-scan), log verify, purge and records."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from consentcam.cli import main
from consentcam.domain.audit import Quarter
from consentcam.models import Person, utcnow
from tests.audit.scenario import build
from tests.conftest import cli_init

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance made by `consentcam init`, holding the every-finding scenario."""
    from consentcam.runtime import Runtime

    path = cli_init(
        tmp_path_factory.mktemp("cli") / "inst",
        "--business",
        "Kraftkällan",
        "--owner-name",
        "Ann-Christin Sundell",
    )
    rt = Runtime.build(path)
    with rt.sessions() as s:
        build(s, rt)
    rt.close()
    return path


def cli(instance: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--instance", str(instance), *args])


QUARTER = str(Quarter.current(utcnow()))


def test_audit_html_with_rescan(instance: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.html"
    result = cli(
        instance, "audit", "--quarter", QUARTER, "--format", "html", "-o", str(out), "--rescan"
    )
    assert result.exit_code == 0, result.output
    assert "re-scanning published copies: 6/6" in result.output
    html = out.read_text()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "audit-report.html").write_text(html)
    assert "Face nobody accounts for" in html and "<svg" in html
    assert "finding(s)" in result.output


def test_audit_csv(instance: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    result = cli(instance, "audit", "--quarter", QUARTER, "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    kinds = {k for r in rows for k in r["finding_kinds"].split()}
    assert {"consent_expired_online", "removal_overdue", "supplier_permission_lapsed"} <= kinds
    assert {r["publication_status"] for r in rows} == {"ok", "findings", "taken_down"}


def test_audit_pdf_renders(instance: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.pdf"
    result = cli(instance, "audit", "--quarter", QUARTER, "--format", "pdf", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "70",
            "-f",
            "1",
            "-l",
            "1",
            str(out),
            str(ARTIFACTS / "audit-pdf"),
        ],
        check=True,
        timeout=60,
    )
    page = next(ARTIFACTS.glob("audit-pdf*.png"))
    from PIL import Image

    with Image.open(page) as im:
        # A4 at 70 dpi is 579 x 819 px, and the page is not blank.
        assert abs(im.width / im.height - 210 / 297) < 0.01
        darkest = im.convert("L").getextrema()[0]
        assert isinstance(darkest, (int, float)) and darkest < 100  # ink on the page
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    if text:
        assert "Quarterly audit" in text and "Expired consent still online" in text


def test_bad_quarter(instance: Path, tmp_path: Path) -> None:
    result = cli(instance, "audit", "--quarter", "Q5", "-o", str(tmp_path / "x.html"))
    assert result.exit_code == 2 and "2026Q4" in result.output


def test_log_verify(instance: Path) -> None:
    result = cli(instance, "log", "verify")
    assert result.exit_code == 0 and result.output.strip().endswith("events, chain intact")
    from consentcam.runtime import Runtime

    rt = Runtime.build(instance)
    with rt.engine.begin() as conn:
        original = conn.execute(sa.text("SELECT payload FROM event WHERE seq = 7")).scalar_one()
        conn.execute(sa.text("UPDATE event SET payload = '{}' WHERE seq = 7"))
    try:
        bad = cli(instance, "log", "verify")
        assert bad.exit_code == 1
        assert bad.output.startswith("TAMPERED at event 7 (changed)")
    finally:
        with rt.engine.begin() as conn:
            conn.execute(sa.text("UPDATE event SET payload = :p WHERE seq = 7"), {"p": original})
        rt.close()
    assert cli(instance, "log", "verify").exit_code == 0


def test_records(instance: Path, tmp_path: Path) -> None:
    result = cli(instance, "records")
    assert result.exit_code == 0
    assert "# Record of processing activities: Kraftkällan" in result.output
    assert "Meta Platforms" in result.output and "Ann-Christin Sundell" in result.output
    out = tmp_path / "records.html"
    assert cli(instance, "records", "--format", "html", "-o", str(out)).exit_code == 0
    assert "<h2>Retention periods</h2>" in out.read_text()


def test_purge(instance: Path) -> None:
    from consentcam.runtime import Runtime

    rt = Runtime.build(instance)
    with rt.sessions() as s:
        people = {p.name: p for p in s.scalars(sa.select(Person))}
        for p in people.values():
            p.last_activity_at = utcnow() - timedelta(days=800)
        s.commit()
        ids = {name: p.id for name, p in people.items()}
    dry = cli(instance, "purge", "--inactive-for", "2y", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would erase: person" in dry.output and "kept: person" in dry.output
    # Alex is only suggested on a post (never confirmed), so nothing records Alex on it.
    assert f"would erase: person {ids['Alex Lacamoire']} Alex Lacamoire" in dry.output
    assert f"kept: person {ids['Rose Leslie']} Rose Leslie" in dry.output
    with rt.sessions() as s:
        alex = s.get(Person, ids["Alex Lacamoire"])
        assert alex is not None
        assert alex.erased_at is None
    done = cli(instance, "purge", "--inactive-for", "2y")
    assert done.exit_code == 0 and "erased: person" in done.output
    with rt.sessions() as s:
        alex = s.get(Person, ids["Alex Lacamoire"])
        rose = s.get(Person, ids["Rose Leslie"])
        assert alex is not None and rose is not None
        assert alex.erased_at is not None
        assert rose.erased_at is None
    rt.close()
    assert cli(instance, "purge", "--inactive-for", "soon").exit_code == 2
    assert cli(instance, "log", "verify").exit_code == 0
