"""The quarterly audit with the real engine: every kind of finding, the reports, sign-off."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import FindingKind, Quarter
from consentcam.models import AuditRun, Event, User
from consentcam.runtime import Runtime
from consentcam.services import audit as audits
from tests.audit.scenario import Built, Scenario, build_once


@pytest.fixture(scope="session")
def built_scenario(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> Built:
    """The every-finding scenario, built once per test process; each test reads a copy."""
    return build_once(tmp_path_factory.mktemp("scenario"), migrated_sqlite)


@pytest.fixture
def settings(instance: Path, built_scenario: Built) -> dict[str, object]:
    """This test's instance holds a copy of the scenario (the runtime opens it, not a new one)."""
    return built_scenario.copy_to(instance)


@pytest.fixture
def scenario(session: so.Session, runtime: Runtime, built_scenario: Built) -> Scenario:
    return built_scenario.load(session)


def test_audit_finds_every_kind_with_a_rescan(
    session: so.Session, runtime: Runtime, scenario: Scenario, owner: User
) -> None:
    progress: list[tuple[int, int]] = []
    run = audits.run_audit(
        session,
        runtime,
        scenario.quarter,
        rescan=True,
        user=owner,
        progress=lambda d, t: progress.append((d, t)),
    )
    session.commit()
    snap = audits.read_snapshot(runtime, run)
    kinds = {f["kind"] for f in snap["findings"]}
    wanted = {
        FindingKind.CONSENT_WITHDRAWN_ONLINE,
        FindingKind.CONSENT_EXPIRED_ONLINE,
        FindingKind.REMOVAL_OPEN,
        FindingKind.REMOVAL_OVERDUE,
        FindingKind.FACE_NOT_CONFIRMED,
        FindingKind.SUPPLIER_PERMISSION_LAPSED,
        FindingKind.CLEARED_COPY_MISSING,
        FindingKind.UNACCOUNTED_FACE,
    }
    assert {k.value for k in wanted} <= kinds, kinds
    by_pub: dict[int, set[str]] = {}
    for f in snap["findings"]:
        by_pub.setdefault(f["publication_id"], set()).add(f["kind"])
    pubs = scenario.pubs
    assert pubs["ok"].id not in by_pub
    assert by_pub[pubs["unaccounted"].id] == {"unaccounted_face"}
    assert "consent_withdrawn_online" in by_pub[pubs["withdrawn"].id]
    assert "cleared_copy_missing" in by_pub[pubs["missing"].id]
    assert "supplier_permission_lapsed" in by_pub[pubs["supplier"].id]
    # Findings come high first.
    severities = [f["severity"] for f in snap["findings"]]
    assert severities == sorted(severities, key=lambda s: s != "high")
    # Progress reached every live post whose copy exists.
    assert progress[-1][0] == progress[-1][1] == 6
    # The taken-down post is listed as such, and the chart counts it.
    rows = {p["id"]: p for p in snap["publications"]}
    assert rows[pubs["down"].id]["status"] == "taken_down"
    assert rows[pubs["ok"].id]["status"] == "ok"
    assert snap["chart"]["facebook"]["taken_down"] == 1
    assert sum(sum(c.values()) for c in snap["chart"].values()) == len(pubs)
    # Consent as it was when published, and as it stands now.
    biden_face = next(
        f
        for f in rows[pubs["withdrawn"].id]["faces"]
        if f["person_id"] == scenario.people["biden"].id
    )
    assert (biden_face["then"], biden_face["now"]) == ("active", "withdrawn")
    kit = rows[pubs["expired"].id]["faces"][0]
    assert (kit["then"], kit["now"]) == ("active", "expired")
    assert rows[pubs["supplier"].id]["supplier_permission"]["now"] == "lapsed"
    assert run.publication_count == len(pubs) and run.finding_count == len(snap["findings"])
    event = session.scalar(sa.select(Event).where(Event.kind == "audit.run"))
    assert event is not None
    assert json.loads(event.payload)["report_sha256"] == run.report_sha256


def test_without_rescan_no_unaccounted_faces(
    session: so.Session, runtime: Runtime, scenario: Scenario
) -> None:
    run = audits.run_audit(session, runtime, scenario.quarter)
    session.commit()
    snap = audits.read_snapshot(runtime, run)
    assert "unaccounted_face" not in {f["kind"] for f in snap["findings"]}
    html = audits.read_report(runtime, run).decode()
    assert "No re-scan" in html


def test_html_report_lists_findings_first_with_chart_and_thumbnails(
    session: so.Session, runtime: Runtime, scenario: Scenario
) -> None:
    run = audits.run_audit(session, runtime, scenario.quarter)
    session.commit()
    html = audits.read_report(runtime, run).decode()
    assert (
        html.index('id="findings"') < html.index('id="summary"') < html.index('id="publications"')
    )
    assert "<svg" in html and "Taken down" in html
    assert html.count("data:image/jpeg;base64,") >= 6
    url = scenario.pubs["withdrawn"].url
    assert url is not None
    assert url in html
    assert "Joe Biden" in html


def test_csv_has_one_row_per_publication_face(
    session: so.Session, runtime: Runtime, scenario: Scenario
) -> None:
    from consentcam.reports.csv import render_csv

    run = audits.run_audit(session, runtime, scenario.quarter)
    session.commit()
    snap = audits.read_snapshot(runtime, run)
    rows = list(csv.DictReader(io.StringIO(render_csv(snap))))
    expected = sum(max(1, len(p["faces"])) for p in snap["publications"])
    assert len(rows) == expected
    two = [r for r in rows if r["publication_id"] == str(scenario.pubs["withdrawn"].id)]
    assert len(two) == 2
    biden = next(r for r in two if r["person"] == "Joe Biden")
    assert "consent_withdrawn_online" in biden["finding_kinds"]
    assert "removal_open" in biden["finding_kinds"]
    obama = next(r for r in two if r["person"] == "Barack Obama")
    assert "consent_withdrawn_online" not in obama["finding_kinds"]


def test_signing_keeps_the_hash_and_refuses_changes(
    session: so.Session, runtime: Runtime, scenario: Scenario, owner: User
) -> None:
    run = audits.run_audit(session, runtime, scenario.quarter)
    session.commit()
    assert not audits.quarter_signed(session, scenario.quarter)
    with pytest.raises(audits.AuditError, match="full name"):
        audits.sign(session, runtime, run, owner, "  ")
    with pytest.raises(audits.AuditError, match="reviewed"):
        audits.sign(session, runtime, run, owner, "Ann", reviewed=False)
    audits.sign(session, runtime, run, owner, "Ann-Christin Sundell")
    session.commit()
    audits.checkpoint_signed(runtime, run)
    assert audits.quarter_signed(session, str(scenario.quarter))
    assert not audits.quarter_signed(session, scenario.quarter.previous())
    with pytest.raises(audits.AuditError, match="signed already"):
        audits.sign(session, runtime, run, owner, "Someone else")
    with pytest.raises(audits.AuditError):
        audits.complete_run(session, runtime, run)
    kept = audits.summary_of(run)["event_head_at_signing"]
    assert audits.read_event_head(runtime) == (kept["seq"], kept["hash"])
    # A re-run is a new run; the signed one stays as it was.
    again = audits.run_audit(session, runtime, scenario.quarter)
    session.commit()
    assert again.id != run.id and again.signed_at is None
    signed = session.get(AuditRun, run.id)
    assert signed is not None
    assert signed.signer_name == "Ann-Christin Sundell"


def test_a_changed_report_file_is_refused(
    session: so.Session, runtime: Runtime, scenario: Scenario, owner: User
) -> None:
    run = audits.run_audit(session, runtime, scenario.quarter)
    session.commit()
    assert run.report_key is not None
    path = runtime.storage.path(run.report_key)
    path.write_bytes(path.read_bytes().replace(b"Joe Biden", b"Joe Bidet"))
    with pytest.raises(audits.ReportTampered):
        audits.read_report(runtime, run)
    with pytest.raises(audits.ReportTampered):
        audits.sign(session, runtime, run, owner, "Ann")
    snap_path = runtime.storage.path(audits.snapshot_key(run))
    snap_path.write_bytes(snap_path.read_bytes() + b" ")
    with pytest.raises(audits.ReportTampered):
        audits.read_snapshot(runtime, run)


def test_a_quarter_before_the_posts_is_empty(
    session: so.Session, runtime: Runtime, scenario: Scenario
) -> None:
    earlier = Quarter.parse("2001Q1")
    run = audits.run_audit(session, runtime, earlier)
    session.commit()
    snap = audits.read_snapshot(runtime, run)
    assert snap["publications"] == [] and snap["findings"] == []
    assert "No publications in this quarter" in audits.read_report(runtime, run).decode()


def test_cleared_box_follows_padding_and_scaling() -> None:
    # A 500x700 photo is padded to 560x700 (4:5) then scaled up to 560 wide: a shift of 30 px.
    box = audits.cleared_box((100, 100, 200, 200), (500, 700), "pad", [], (560, 700))
    assert box == pytest.approx((130, 100, 230, 200))
    # Within limits: scaling only.
    box = audits.cleared_box((100, 100, 200, 200), (2000, 1500), "pad", [], (1000, 750))
    assert box == pytest.approx((50, 50, 100, 100))
    assert audits.unaccounted_faces([(40, 40, 60, 60), (500, 500, 520, 520)], [box]) == 1
