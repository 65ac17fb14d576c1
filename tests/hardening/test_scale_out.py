"""Scale-out: PostgreSQL, huey on Redis and two worker processes scan 40 photos exactly once each."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from consentcam.models import Event, Face, Photo
from consentcam.runtime import Runtime
from consentcam.services import photos as photos_service
from tests.conftest import REDIS_URL, redis_available
from tests.hardening import servers
from tests.waits import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
PHOTOS = 40


@pytest.fixture
def redis_queue() -> Iterator[tuple[str, str]]:
    """The shared test Redis and a queue name of this test's own (only its keys are removed)."""
    if not redis_available():
        pytest.skip("Redis is not running at " + REDIS_URL)
    import redis

    name = "t-" + secrets.token_hex(5)
    client = redis.Redis.from_url(REDIS_URL)
    yield REDIS_URL, name
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    client.close()


def test_two_workers_on_postgresql_and_redis_scan_each_photo_once(
    tmp_path: Path, postgres_url: str, redis_queue: tuple[str, str]
) -> None:
    redis_url, queue_name = redis_queue
    env = servers.clean_env(CONSENTCAM_QUEUE_NAME=queue_name, CONSENTCAM_WORKERS="1")
    instance = tmp_path / "instance"
    servers.init_instance(
        instance, "--database-url", postgres_url, "--queue-url", redis_url, env=env
    )
    rt = Runtime.build(instance, {"QUEUE_NAME": queue_name})
    assert rt.engine.dialect.name == "postgresql"
    base_of: dict[int, int] = {}
    with rt.sessions() as s:
        for n in range(PHOTOS):
            base = n % len(servers.BASES)
            data = servers.variant(servers.BASES[base], n, side=480)
            photo = photos_service.ingest(s, rt, data, f"p{n}.jpg", source="api").photo
            base_of[photo.id] = base
        s.commit()
    assert len(base_of) == PHOTOS
    # Both workers re-queue every unfinished photo at start-up: each photo gets two jobs.
    workers = [
        servers.start(["worker"], instance, tmp_path / f"worker{i}.log", env=env) for i in range(2)
    ]
    try:

        def unscanned() -> int:
            for i, w in enumerate(workers):
                assert w.poll() is None, (tmp_path / f"worker{i}.log").read_text()[-2000:]
            with rt.sessions() as s:
                return (
                    s.scalar(sa.select(sa.func.count(Photo.id)).where(Photo.scan_state != "done"))
                    or 0
                )

        wait_until(
            lambda: unscanned() == 0,
            timeout=300,
            interval=1,
            message=lambda: f"{unscanned()} photos not scanned",
        )
        with rt.sessions() as s:
            rows = s.scalars(sa.select(Photo)).all()
            assert [p.scan_attempts for p in rows] == [1] * PHOTOS, "each photo scanned once"
            scanned = s.scalar(
                sa.select(sa.func.count()).select_from(Event).where(Event.kind == "photo.scanned")
            )
            assert scanned == PHOTOS
            dupes = s.execute(
                sa.select(Face.photo_id, Face.number)
                .group_by(Face.photo_id, Face.number)
                .having(sa.func.count() > 1)
            ).all()
            assert not dupes
            per_base: dict[int, set[int]] = defaultdict(set)
            for p in rows:
                per_base[base_of[p.id]].add(len(p.faces))
        # Variants of one base show the same faces; two_people.jpg shows two.
        assert all(len(counts) == 1 for counts in per_base.values()), dict(per_base)
        assert per_base[servers.BASES.index("unknown/two_people.jpg")] == {2}
        assert min(min(c) for c in per_base.values()) >= 1
        # Both workers stayed up through the duplicate jobs.
        assert all(w.poll() is None for w in workers)
    finally:
        for w in workers:
            servers.stop(w)
        rt.close()
