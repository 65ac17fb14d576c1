"""Data at rest: what is encrypted really is, key rotation, backup and restore, the sweeper, no file URLs."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from consentcam import config as config_mod
from consentcam.cli import main
from consentcam.maintenance import config_keys
from consentcam.models import (
    ChannelConnection,
    ConsentRecord,
    Face,
    Photo,
    ReferenceFace,
)
from consentcam.runtime import Runtime
from consentcam.services import events, people, photos, scanning, sweeper
from tests.conftest import FACES, OWNER_PASSWORD

EVIDENCE = b"%PDF-1.4 signed by Ann-Christin Sundell, consent form v1: EVIDENCE-PLAINTEXT-MARKER"
META_TOKEN = "EAAB-meta-access-token-PLAINTEXT-MARKER"


def make_instance(tmp_path: Path) -> Path:
    """A real instance made by `consentcam init`, filled with consent, faces and a Meta token."""
    instance = tmp_path / "instance"
    result = CliRunner().invoke(
        main,
        [
            "--instance",
            str(instance),
            "init",
            "--owner-email",
            "owner@example.com",
            "--owner-password",
            OWNER_PASSWORD,
            "--business",
            "Kraftkällan",
            "--responsible",
            "Ann-Christin Sundell",
            "--queue-url",
            "sqlite:///" + str(instance / "q.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    rt = Runtime.build(instance)
    try:
        populate(rt)
    finally:
        rt.close()
    return instance


def populate(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Barack Obama")
        people.give_consent(
            s,
            rt,
            person,
            channels=["instagram"],
            evidence=EVIDENCE,
            evidence_mime="application/pdf",
            evidence_kind="scan",
            biometric=True,
        )
        ref = FACES / "known/obama" / sorted(os.listdir(FACES / "known/obama"))[0]
        people.enrol_reference(s, rt, person, ref.read_bytes(), ref.name)
        ids = []
        for rel in ("unknown/obama1.jpg", "unknown/two_people.jpg"):
            ids.append(photos.ingest(s, rt, (FACES / rel).read_bytes(), Path(rel).name).photo.id)
        s.add(
            ChannelConnection(
                channel="instagram",
                kind="meta",
                account_id="1789",
                access_token_enc=rt.vault.encrypt(META_TOKEN.encode()),
            )
        )
        s.commit()
        for pid in ids:
            scanning.scan_photo(s, rt, pid)
        s.commit()


def _raw_db(instance: Path) -> bytes:
    data = b""
    for name in ("consentcam.db", "consentcam.db-wal"):
        path = instance / name
        if path.exists():
            data += path.read_bytes()
    return data


def _templates(rt: Runtime) -> list[bytes]:
    with rt.sessions() as s:
        rows = list(s.scalars(sa.select(Face.template).where(Face.template.is_not(None))))
        rows += list(s.scalars(sa.select(ReferenceFace.template)))
    clear: list[bytes] = []
    for t in rows:
        assert t is not None  # the query leaves out faces without a template
        clear.append(rt.vault.decrypt(t))
    return clear


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_instance(tmp_path_factory.mktemp("rest"))


def _copy(instance: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(instance, target)
    return target


def test_templates_evidence_and_tokens_are_encrypted_at_rest(filled: Path) -> None:
    rt = Runtime.build(filled)
    try:
        clear_templates = _templates(rt)
        assert len(clear_templates) >= 3, "faces of two photos and one reference"
        with rt.sessions() as s:
            record = s.scalars(sa.select(ConsentRecord)).one()
            ref = s.scalars(sa.select(ReferenceFace)).one()
        raw_db = _raw_db(filled)
        for clear in clear_templates:
            assert len(clear) == 128 * 8
            assert np.frombuffer(clear, dtype=np.float64).shape == (128,)
            # No 16-byte window of any template appears in the raw database.
            for i in range(0, len(clear), 64):
                assert clear[i : i + 16] not in raw_db
        assert META_TOKEN.encode() not in raw_db
        media = Path(rt.settings["MEDIA_DIR"])
        every_file = b"".join(p.read_bytes() for p in media.rglob("*") if p.is_file())
        assert b"EVIDENCE-PLAINTEXT-MARKER" not in every_file
        assert record.evidence_key is not None
        assert record.evidence_key.startswith("evidence/")
        assert rt.vault.decrypt(rt.storage.read(record.evidence_key)) == EVIDENCE
        reference_bytes = (
            FACES / "known/obama" / sorted(os.listdir(FACES / "known/obama"))[0]
        ).read_bytes()
        assert ref.source_key is not None
        stored_ref = rt.storage.read(ref.source_key)
        assert reference_bytes[100:132] not in stored_ref
        kept = rt.vault.decrypt(stored_ref)  # re-encoded like every stored image, then encrypted
        assert hashlib.sha256(kept).hexdigest() == ref.source_sha256
        assert kept[:2] == b"\xff\xd8" and b"Exif" not in kept[:64]
    finally:
        rt.close()


def test_durable_commits_on_sqlite(filled: Path) -> None:
    rt = Runtime.build(filled)
    try:
        with rt.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        rt.close()


@pytest.mark.postgres
def test_durable_commits_on_postgresql(postgres_url: str) -> None:
    from consentcam.db import make_engine

    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert conn.exec_driver_sql("SHOW fsync").scalar() == "on"
    engine.dispose()


def test_rotate_key_re_encrypts_everything_and_drops_the_old_key(
    filled: Path, tmp_path: Path
) -> None:
    instance = _copy(filled, tmp_path)
    old = config_keys(instance)
    assert len(old) == 1
    before = Runtime.build(instance)
    clear_before = sorted(_templates(before))
    files_before = {k: before.storage.read(k) for k in before.storage.keys("evidence")}
    before.close()
    result = CliRunner().invoke(main, ["--instance", str(instance), "rotate-key"])
    assert result.exit_code == 0, result.output
    new = config_keys(instance)
    assert len(new) == 1 and new != old
    after = Runtime.build(instance)  # knows only the new key now
    try:
        assert sorted(_templates(after)) == clear_before
        with after.sessions() as s:
            token = s.scalars(sa.select(ChannelConnection.access_token_enc)).one()
            record = s.scalars(sa.select(ConsentRecord)).one()
        assert token is not None and record.evidence_key is not None
        assert after.vault.decrypt(token) == META_TOKEN.encode()
        assert after.vault.decrypt(after.storage.read(record.evidence_key)) == EVIDENCE
        for key, data in files_before.items():
            assert after.storage.read(key) != data  # re-encrypted in place
    finally:
        after.close()
    # The other settings survived the rewrite of config.toml.
    assert "secret_key" in (instance / config_mod.CONFIG_FILE).read_text()


def test_rotate_key_interrupted_midway_resumes(
    filled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentcam import maintenance

    instance = _copy(filled, tmp_path)
    old = config_keys(instance)
    calls = {"n": 0}
    real = maintenance.rotate_files

    def killed(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        raise KeyboardInterrupt("killed during the files")

    monkeypatch.setattr(maintenance, "rotate_files", killed)
    with pytest.raises(KeyboardInterrupt):
        maintenance.rotate_key(instance, echo=lambda _m: None)
    assert calls["n"] == 1
    keys = config_keys(instance)
    assert len(keys) == 2 and keys[1] == old[0], "new key first, old key still listed"
    midway = Runtime.build(instance)  # both keys: everything is still readable
    assert len(_templates(midway)) >= 3
    midway.close()
    monkeypatch.setattr(maintenance, "rotate_files", real)
    rows, files = maintenance.rotate_key(instance, echo=lambda _m: None)
    assert rows == 0, "rows were done before the interruption"
    assert files >= 2
    assert config_keys(instance) == keys[:1]
    done = Runtime.build(instance)
    assert len(_templates(done)) >= 3
    done.close()


def _verify_instance(instance: Path) -> int:
    """Check the event chain and that every file named by a row exists with its SHA-256."""
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            count, problem = events.verify(s)
            assert problem is None and count > 3
            for photo in s.scalars(sa.select(Photo)):
                assert rt.storage.exists(photo.original_key) and rt.storage.exists(
                    photo.thumbnail_key
                )
            for record in s.scalars(sa.select(ConsentRecord)):
                assert record.evidence_key is not None
                clear = rt.vault.decrypt(rt.storage.read(record.evidence_key))
                assert hashlib.sha256(clear).hexdigest() == record.evidence_sha256
            for ref in s.scalars(sa.select(ReferenceFace)):
                assert ref.source_key is not None
                clear = rt.vault.decrypt(rt.storage.read(ref.source_key))
                assert hashlib.sha256(clear).hexdigest() == ref.source_sha256
            keys = sweeper.referenced_keys(s)
        assert keys and all(rt.storage.exists(k) for k in keys)
        return count
    finally:
        rt.close()


def test_backup_and_restore_into_a_new_instance(filled: Path, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    # Keep a connection writing to the database open while the backup runs.
    live = sqlite3.connect(filled / "consentcam.db")
    live.execute("BEGIN")
    result = CliRunner().invoke(main, ["--instance", str(filled), "backup", "-o", str(archive)])
    live.rollback()
    live.close()
    assert result.exit_code == 0, result.output
    assert "contains the encryption key" in result.output
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    target = tmp_path / "restored"
    result = CliRunner().invoke(main, ["restore", str(archive), "--instance", str(target)])
    assert result.exit_code == 0, result.output
    assert _verify_instance(target) == _verify_instance(filled)
    # Restoring over an existing instance is refused.
    again = CliRunner().invoke(main, ["restore", str(archive), "--instance", str(target)])
    assert again.exit_code != 0 and "already an instance" in again.output


def test_backup_without_key_needs_the_key_to_restore(filled: Path, tmp_path: Path) -> None:
    archive = tmp_path / "nokey.tar.gz"
    result = CliRunner().invoke(
        main, ["--instance", str(filled), "backup", "-o", str(archive), "--without-key"]
    )
    assert result.exit_code == 0, result.output
    import tarfile

    with tarfile.open(archive) as tar:
        member = tar.extractfile("config.toml")
        assert member is not None
        cfg = member.read().decode()
    assert "encryption_key" not in cfg
    refused = CliRunner().invoke(main, ["restore", str(archive), "--instance", str(tmp_path / "a")])
    assert refused.exit_code != 0 and "--encryption-key" in refused.output
    key = config_keys(filled)[0]
    ok = CliRunner().invoke(
        main, ["restore", str(archive), "--instance", str(tmp_path / "b"), "--encryption-key", key]
    )
    assert ok.exit_code == 0, ok.output
    _verify_instance(tmp_path / "b")


def test_sweeper_removes_orphans_and_partial_files_only(filled: Path, tmp_path: Path) -> None:
    instance = _copy(filled, tmp_path)
    rt = Runtime.build(instance)
    try:
        orphan, _ = rt.storage.put("originals", b"no row points here", "jpg")
        partial = rt.storage.root / "originals" / ".tmp-killed.part"
        partial.write_bytes(b"half a file")
        young, _ = rt.storage.put("originals", b"an upload whose row is not committed yet", "jpg")
        old = time.time() - 3600
        os.utime(rt.storage.path(orphan), (old, old))
        os.utime(partial, (old, old))
        with rt.sessions() as s:
            dry = sweeper.sweep(s, rt, dry_run=True)
            assert orphan in dry.orphans and young not in dry.orphans and dry.removed == 0
            assert rt.storage.exists(orphan)
            result = sweeper.sweep(s, rt)
        assert not rt.storage.exists(orphan) and not partial.exists()
        assert rt.storage.exists(young), "a young file may belong to an upload in flight"
        assert result.missing == []
    finally:
        rt.close()
    _verify_instance(instance)
    out = CliRunner().invoke(main, ["--instance", str(instance), "sweep", "--min-age", "0"])
    assert out.exit_code == 0 and "removed 1 unreferenced" in out.output


def test_no_route_serves_an_original_or_evidence_by_its_key(filled: Path) -> None:
    from consentcam.web import create_app
    from tests.conftest import login

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, instance_path=filled)
    rt = app.extensions["runtime"]
    client = app.test_client()
    login(client, "owner")
    secrets = {}
    with rt.sessions() as s:
        for photo in s.scalars(sa.select(Photo)):
            secrets[photo.original_key] = rt.storage.read(photo.original_key)
        for record in s.scalars(sa.select(ConsentRecord)):
            secrets[record.evidence_key] = rt.storage.read(record.evidence_key)
    assert secrets
    tried = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        path_args = [a for a in rule.arguments if a not in ("photo_id", "person_id")]
        for key in secrets:
            candidates = [f"/{key}", f"/media/{key}", f"/static/{key}", f"/static/../media/{key}"]
            if path_args:
                values = {a: key for a in rule.arguments}
                try:
                    built = rule.build(values, append_unknown=False)
                    assert built is not None
                    candidates.append(built[1])
                except Exception:
                    pass
            for url in candidates:
                response = client.get(url)
                tried += 1
                body = response.get_data()
                for secret in secrets.values():
                    assert secret not in body, f"{url} served a stored original or evidence file"
    assert tried > 10
    rt.close()


def test_downloads_are_attachments(filled: Path) -> None:
    from consentcam.web import create_app
    from tests.conftest import login

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, instance_path=filled)
    client = app.test_client()
    login(client, "owner")
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        record = s.scalars(sa.select(ConsentRecord)).one()
    downloads = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and ("evidence" in rule.rule or "download" in rule.rule)
    ]
    assert downloads, "there are download routes"
    checked = 0
    for rule in downloads:
        values = {
            a: (record.id if "consent" in a or a == "record_id" else record.person_id)
            for a in rule.arguments
        }
        try:
            built = rule.build(values, append_unknown=False)
            assert built is not None
            url = built[1]
        except Exception:
            continue
        response = client.get(url)
        if response.status_code == 200 and response.mimetype != "text/html":
            assert response.headers.get("Content-Disposition", "").startswith("attachment"), url
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            checked += 1
    assert checked >= 1
    rt.close()


def test_every_page_with_data_has_no_inline_script_and_no_server_error(filled: Path) -> None:
    """Every GET page of a filled instance, ids filled in with 1 (a person, photo, consent exist)."""
    from consentcam.web import create_app
    from tests.conftest import login
    from tests.hardening.test_web_security import INLINE_HANDLER, INLINE_SCRIPT

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, instance_path=filled)
    client = app.test_client()
    login(client, "owner")
    pages = 0
    problems = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint.endswith("static"):
            continue
        if rule.rule.startswith(("/api/", "/p/", "/logout")):
            continue
        values = {a: 1 for a in rule.arguments}
        try:
            built = rule.build(values, append_unknown=False)
            assert built is not None
            url = built[1]
        except Exception:
            continue  # a non-integer argument (a token): covered by its owner's tests
        response = client.get(url)
        if response.status_code >= 500:
            problems.append(f"{url} -> {response.status_code}")
        if response.mimetype == "text/html" and response.status_code == 200:
            pages += 1
            html = response.get_data(as_text=True)
            for pattern in (INLINE_SCRIPT, INLINE_HANDLER):
                problems += [f"{url}: {m.group(0)[:80]}" for m in pattern.finditer(html)]
    assert pages >= 8
    assert not problems, "\n".join(problems)
    app.extensions["runtime"].close()


@pytest.mark.postgres
def test_backup_of_a_postgresql_instance_dumps_its_own_schema(
    tmp_path: Path, postgres_url: str
) -> None:
    import shutil
    import tarfile

    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed")
    instance = tmp_path / "pg"
    result = CliRunner().invoke(
        main,
        [
            "--instance",
            str(instance),
            "init",
            "--owner-email",
            "owner@example.com",
            "--owner-password",
            OWNER_PASSWORD,
            "--database-url",
            postgres_url,
        ],
    )
    assert result.exit_code == 0, result.output
    archive = tmp_path / "pg.tar.gz"
    done = CliRunner().invoke(main, ["--instance", str(instance), "backup", "-o", str(archive)])
    assert done.exit_code == 0, done.output
    schema = postgres_url.rsplit("%3D", 1)[1]
    with tarfile.open(archive) as tar:
        member = tar.extractfile("database/database.sql")
        assert member is not None
        sql = member.read().decode()
        names = tar.getnames()
    assert f"CREATE TABLE {schema}.photo" in sql and "owner@example.com" in sql
    assert "CREATE SCHEMA public" not in sql
    assert "config.toml" in names and "manifest.json" in names
