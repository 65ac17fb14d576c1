"""Pages ask the database a fixed number of questions, however many photos, faces and people."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine.interfaces import DBAPICursor

from consentcam.models import (
    AuditRun,
    ConsentChannel,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Person,
    Photo,
    Publication,
    QueueItem,
    RemovalTask,
    Supplier,
    SupplierPermission,
)
from consentcam.runtime import Runtime

SMALL = 1
LARGE = 5  # five times the rows of every kind

#: Pages whose statement count must not grow with the data (the person page is added per run).
PAGES = ("/photos/", "/photos/?state=blocked", "/", "/queue/", "/removals/", "/audits/")

#: Seeds ``scale`` times the data and returns the SQL statements of every page, by page.
Measure = Callable[[int], dict[str, list[str]]]


def seed(session: so.Session, scale: int) -> int:
    """Photos with faces in every state, people with consents of both scopes, a supplier,
    queue items, publications, removal tasks and audit runs: ``scale`` times a small base.

    Returns the id of a person who appears in photos and has consents, publications and an
    open removal task (their page then lists rows of every kind).
    """
    rng = random.Random(scale)
    now = datetime.now(UTC)
    supplier = Supplier(name=f"Studio Foto {scale}")
    session.add(supplier)
    session.flush()
    session.add(
        SupplierPermission(
            supplier_id=supplier.id,
            channels="instagram facebook",
            valid_from=now - timedelta(days=30),
        )
    )
    people = [Person(name=f"Person {scale}-{i:03d}") for i in range(8 * scale)]
    session.add_all(people)
    session.flush()
    photos = []
    for i in range(40 * scale):
        photos.append(
            Photo(
                sha256=f"{scale:04x}{i:060x}",
                original_key=f"originals/{i}",
                original_name=f"IMG_{i:04d}.jpg",
                format="JPEG",
                size_bytes=1000,
                width=800,
                height=600,
                uploaded_at=now - timedelta(minutes=i),
                scan_state="done" if i % 10 else "pending",
                supplier_id=supplier.id if i % 7 == 0 else None,
                thumbnail_key=f"thumbs/{i}",
            )
        )
    session.add_all(photos)
    session.flush()
    star = people[0]
    for n, photo in enumerate(photos):
        for number in range(1, 4):
            who = star if number == 1 and n % 2 == 0 else rng.choice(people)
            state = ("confirmed", "suggested", "pending", "not_identifiable")[(n + number) % 4]
            session.add(
                Face(
                    photo_id=photo.id,
                    number=number,
                    left=10 * number,
                    top=10,
                    right=10 * number + 8,
                    bottom=18,
                    state=state,
                    person_id=who.id if state == "confirmed" else None,
                    suggested_person_id=who.id if state == "suggested" else None,
                    distance=0.4 if state == "suggested" else None,
                    not_identifiable_reason="seen from behind"
                    if state == "not_identifiable"
                    else None,
                    blur=(n + number) % 9 == 0,
                )
            )
    for i, person in enumerate(people):
        listed = i % 3 == 0
        record = ConsentRecord(
            person_id=person.id,
            scope="listed" if listed else "all",
            given_at=now - timedelta(days=10),
            expires_at=now + timedelta(days=300) if i % 2 else None,
            signer_name=person.name,
            biometric=i % 2 == 0,
        )
        session.add(record)
        session.flush()
        for channel in ("instagram", "facebook", "website"):
            session.add(
                ConsentChannel(
                    consent_id=record.id,
                    channel=channel,
                    withdrawn_at=now - timedelta(days=1) if channel == "website" else None,
                )
            )
        if listed:
            for photo in rng.sample(photos, 3):
                session.add(ConsentPhoto(consent_id=record.id, photo_id=photo.id))
    items = []
    for i, photo in enumerate(photos[: 10 * scale]):
        items.append(
            QueueItem(
                photo_id=photo.id,
                channels="instagram facebook",
                caption=f"Post {i}",
                status=("blocked", "ready", "scheduled", "published")[i % 4],
                scheduled_for=now + timedelta(days=i % 5),
            )
        )
    session.add_all(items)
    session.flush()
    publications = []
    for i, item in enumerate(items):
        publications.append(
            Publication(
                queue_item_id=item.id,
                photo_id=item.photo_id,
                channel="instagram",
                publisher="manual",
                published_at=now - timedelta(days=i),
                live=i % 3 != 0,
            )
        )
    session.add_all(publications)
    session.flush()
    for i, publication in enumerate(publications):
        session.add(
            RemovalTask(
                publication_id=publication.id,
                person_id=star.id if i % 2 == 0 else rng.choice(people).id,
                method="manual",
                status="open" if i % 3 else "done",
                due_at=now + timedelta(hours=i * 5 - 20),
            )
        )
    for i in range(4 * scale):
        session.add(
            AuditRun(
                quarter=f"{2020 + i // 4}Q{i % 4 + 1}",
                publication_count=i,
                finding_count=i % 3,
                signed_at=now - timedelta(days=i) if i % 2 else None,
                signer_name="Owner" if i % 2 else None,
            )
        )
    session.commit()
    return star.id


@contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    """Collect every SQL statement the engine sends while the block runs."""
    statements: list[str] = []

    def count(_conn: sa.Connection, _cursor: DBAPICursor, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def statements_per_page(app: Flask, client: FlaskClient, urls: list[str]) -> dict[str, list[str]]:
    rt: Runtime = app.extensions["runtime"]
    out = {}
    for url in urls:
        client.get(url)  # the first request of a page may load things once per process
        rt.cache.clear()  # counted cold: remembered counts would hide their own queries
        with counting(rt.engine) as statements:
            response = client.get(url)
        assert response.status_code == 200, url
        out[url] = statements
    return out


@pytest.fixture
def measure(app: Flask, owner_client: FlaskClient, runtime: Runtime) -> Measure:
    def run(scale: int) -> dict[str, list[str]]:
        with runtime.sessions() as session:
            star = seed(session, scale)
        counts = statements_per_page(app, owner_client, [*PAGES, f"/people/{star}"])
        return {url.replace(f"/people/{star}", "/people/<id>"): s for url, s in counts.items()}

    return run


def test_pages_issue_the_same_number_of_queries_with_five_times_the_data(
    measure: Measure, runtime: Runtime
) -> None:
    small = measure(SMALL)
    with runtime.sessions() as session:
        rows_before = session.scalar(sa.select(sa.func.count(Face.id)))
    large = measure(LARGE)  # added to the small set: six times the rows in all
    with runtime.sessions() as session:
        rows_after = session.scalar(sa.select(sa.func.count(Face.id)))
    assert rows_before is not None and rows_after is not None
    assert rows_after >= 6 * rows_before - 1  # the data really grew
    report = {url: (len(small[url]), len(large[url])) for url in small}
    for url, (before, after) in report.items():
        # Equal, or a small constant more (a branch such as "any listed consents?" may switch on).
        assert after <= before + 2, f"{url}: {before} -> {after} statements\n" + "\n".join(
            " ".join(statement.split())[:120] for statement in large[url]
        )
        assert before >= 2, (url, report)  # the counter saw the page's queries


#: A statement that counts photos or their verdicts row by row.
COUNTS_PHOTOS = re.compile(r"count\(\*\)(?: AS \w+)? FROM (photo|photo_channel_state)\b")


def test_the_photo_counts_are_read_not_counted(measure: Measure) -> None:
    """The photo list's filter counts and the start page's photo counts come from the counters
    kept on write: no page counts photos or their verdicts row by row, however many there are."""
    pages = measure(SMALL)
    for url in ("/photos/", "/photos/?state=blocked", "/"):
        counted = [
            " ".join(s.split())[:120]
            for s in pages[url]
            if COUNTS_PHOTOS.search(" ".join(s.split()))
        ]
        assert counted == [], (url, counted)
        assert any("photo_tally" in s for s in pages[url]), url


def test_the_counter_catches_a_query_per_row(app: Flask, runtime: Runtime) -> None:
    """The measurement itself fails on an N+1 pattern: lazy-loading faces photo by photo."""
    with runtime.sessions() as session:
        seed(session, SMALL)
    with runtime.sessions() as session, counting(runtime.engine) as statements:
        photos = session.scalars(sa.select(Photo).limit(20)).all()
        faces = sum(len(p.faces) for p in photos)
    assert faces > 0
    assert len(statements) >= 20
