"""Maintenance work behind the commands (consentcam.commands.maintenance): key rotation, backups."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
import sqlalchemy.orm as so
from cryptography.fernet import Fernet, InvalidToken

from consentcam import config as config_mod
from consentcam.crypto import Vault, new_key
from consentcam.models import ChannelConnection, Face, OutgoingMail, ReferenceFace
from consentcam.runtime import Runtime
from consentcam.uow import unit_of_work

#: Encrypted columns: (model, primary key column, encrypted column).
ENCRYPTED_COLUMNS = (
    (Face, Face.id, Face.template),
    (ReferenceFace, ReferenceFace.id, ReferenceFace.template),
    (ChannelConnection, ChannelConnection.id, ChannelConnection.access_token_enc),
    (OutgoingMail, OutgoingMail.id, OutgoingMail.body_enc),
)
#: Storage kinds whose files are vault tokens (consent evidence, supplier documents, references).
ENCRYPTED_KINDS = ("evidence", "references")
BATCH = 200
BACKUP_FORMAT = 1


# ---------------------------------------------------------------- config.toml


def read_config(instance: Path) -> dict[str, Any]:
    path = instance / config_mod.CONFIG_FILE
    if not path.exists():
        raise click.ClickException(f"no instance at {instance}: run `consentcam init` first")
    with path.open("rb") as fh:
        return tomllib.load(fh)


def config_keys(instance: Path) -> list[str]:
    raw = str(read_config(instance).get("encryption_key") or "")
    return [k.strip() for k in raw.split(",") if k.strip()]


def write_keys(instance: Path, keys: list[str]) -> None:
    """Rewrite config.toml with these keys (newest first), keeping every other setting."""
    values = read_config(instance)
    values["encryption_key"] = ",".join(keys)
    config_mod.write_instance_config(instance, values)


# ---------------------------------------------------------------- key rotation


def _under(fernet: Fernet, token: bytes) -> bool:
    try:
        fernet.decrypt(token)
        return True
    except InvalidToken:
        return False


def rotate_rows(
    rt: Runtime,
    vault: Vault,
    newest: Fernet,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Re-encrypt every encrypted column under the newest key, one committed batch at a time."""
    changed = 0
    for model, pk, column in ENCRYPTED_COLUMNS:
        last = 0
        while True:
            with unit_of_work(rt) as session:
                done, last = _rotate_batch(session, vault, newest, (model, pk, column), last)
            if done is None:
                break
            changed += done
            if progress:
                progress(model.__tablename__, last)
    return changed


def _rotate_batch(
    session: so.Session, vault: Vault, newest: Fernet, target: tuple[Any, Any, Any], last: int
) -> tuple[int | None, int]:
    """Re-encrypt the next BATCH rows of one column after id ``last``.

    Returns how many changed (None when no row was left) and the last id seen.
    """
    model, pk, column = target
    rows = session.execute(
        sa.select(pk, column).where(pk > last, column.is_not(None)).order_by(pk).limit(BATCH)
    ).all()
    if not rows:
        return None, last
    changed = 0
    for row_id, token in rows:
        last = row_id
        assert token is not None  # the query skips empty columns
        if _under(newest, bytes(token)):
            continue  # done by an earlier run that was interrupted
        session.execute(
            sa.update(model).where(pk == row_id).values({column.key: vault.rotate(bytes(token))})
        )
        changed += 1
    return changed, last


def rotate_files(rt: Runtime, vault: Vault, newest: Fernet) -> int:
    """Re-encrypt every encrypted file in place (atomically, so a kill leaves old or new bytes)."""
    changed = 0
    for kind in ENCRYPTED_KINDS:
        for key in list(rt.storage.keys(kind)):
            token = rt.storage.read(key)
            if _under(newest, token):
                continue
            rt.storage.write_atomic(rt.storage.path(key), vault.rotate(token))
            changed += 1
    return changed


def rotate_key(instance: Path, echo: Callable[[str], None] = click.echo) -> tuple[int, int]:
    """Put a new key first, re-encrypt everything under it, then drop the old keys.

    Resumable: with several keys already listed (an earlier run was stopped), the first one is
    the new key and the work simply continues.
    """
    if os.environ.get(config_mod.ENV_PREFIX + "ENCRYPTION_KEY"):
        raise click.ClickException(
            "CONSENTCAM_ENCRYPTION_KEY is set in the environment: rotate it there instead"
        )
    keys = config_keys(instance)
    if not keys:
        raise click.ClickException("config.toml has no encryption_key")
    if len(keys) == 1:
        keys = [new_key(), *keys]
        # The new key is written first, so a crash from here on leaves every token readable.
        write_keys(instance, keys)
        echo(
            "new key written to config.toml (the old one is kept until everything is re-encrypted)"
        )
    else:
        echo(f"continuing an unfinished rotation ({len(keys)} keys listed)")
    rt = Runtime.build(instance)
    try:
        vault = Vault(keys)
        newest = Fernet(keys[0].encode("ascii"))
        rows = rotate_rows(rt, vault, newest)
        files = rotate_files(rt, vault, newest)
    finally:
        rt.close()
    write_keys(instance, keys[:1])
    echo(f"re-encrypted {rows} row(s) and {files} file(s); the old key is removed")
    return rows, files


# ---------------------------------------------------------------- backup and restore


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _media_files(root: Path) -> Iterator[Path]:
    if not root.exists():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(".tmp-"):
            yield path


def snapshot_sqlite(url: str, target: Path) -> None:
    """A consistent copy of a live SQLite database through SQLite's own backup API."""
    source_path = sa.engine.make_url(url).database
    if not source_path:
        raise click.ClickException("the SQLite database has no file to back up")
    src = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _search_path(url: str) -> list[str]:
    from urllib.parse import parse_qs, unquote, urlsplit

    for option in parse_qs(urlsplit(url).query).get("options", []):
        for part in unquote(option).split():
            if part.startswith("-csearch_path="):
                return [n.strip().strip('"') for n in part.split("=", 1)[1].split(",") if n.strip()]
    return []


def _pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def make_backup(instance: Path, output: Path, *, with_key: bool = True) -> dict[str, Any]:
    """Write a .tar.gz with the database snapshot, the media files and config.toml.

    The database is copied first: files are written before their rows are committed and never
    changed afterwards, so every row in the snapshot finds its file in the media copy.
    """
    rt = Runtime.build(instance)
    url = str(rt.settings["DATABASE_URL"])
    media = Path(rt.settings["MEDIA_DIR"])
    rt.close()
    manifest: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "with_key": with_key,
        "files": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if url.startswith("sqlite"):
            db_file = tmp_path / "consentcam.db"
            snapshot_sqlite(url, db_file)
            manifest["database"] = {"kind": "sqlite", "file": "database/consentcam.db"}
        elif url.startswith("postgresql"):
            pg_dump = shutil.which("pg_dump")
            if not pg_dump:
                raise click.ClickException(
                    "pg_dump is not installed: install the PostgreSQL client tools, or back up "
                    "the database with your provider's tools and the media folder by hand"
                )
            db_file = tmp_path / "database.sql"
            args = [pg_dump, "--no-owner", "--no-privileges", "-f", str(db_file)]
            # An instance kept in its own schema (search_path in the URL) dumps that schema only.
            args += [f"--schema={name}" for name in _search_path(url)]
            subprocess.run([*args, _pg_url(url)], check=True)
            manifest["database"] = {"kind": "postgresql", "file": "database/database.sql"}
        else:
            raise click.ClickException(f"cannot back up a database at {url.split(':')[0]}")
        config = read_config(instance)
        if not with_key:
            config.pop("encryption_key", None)
        for key in ("database_url", "media_dir", "queue_url"):
            # Machine-specific places: the restored instance chooses its own.
            if key in config:
                manifest.setdefault("original", {})[key] = "set"
                config.pop(key)
        cfg_bytes = _toml_bytes(config)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".tmp-{output.name}")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(db_file, arcname=manifest["database"]["file"])
            _add_bytes(tar, "config.toml", cfg_bytes, mode=0o600)
            for path in _media_files(media):
                rel = path.relative_to(media).as_posix()
                manifest["files"][rel] = _sha256_file(path)
                tar.add(path, arcname=f"media/{rel}")
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
        os.chmod(partial, 0o600)
        os.replace(partial, output)
    return manifest


def _toml_bytes(values: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = config_mod.write_instance_config(Path(tmp), values)
        return path.read_bytes()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def restore_backup(
    archive: Path,
    instance: Path,
    *,
    database_url: str | None = None,
    encryption_key: str | None = None,
) -> dict[str, Any]:
    """Unpack a backup into a new instance folder and migrate its database to this version."""
    if (instance / config_mod.CONFIG_FILE).exists():
        raise click.ClickException(f"{instance} is already an instance: restore into a new folder")
    instance.mkdir(parents=True, exist_ok=True)
    staging = instance / ".restore"
    manifest = _unpack(archive, staging)
    try:
        config = tomllib.loads((staging / "config.toml").read_text("utf-8"))
        if encryption_key:
            config["encryption_key"] = encryption_key
        if not config.get("encryption_key"):
            raise click.ClickException(
                "the backup was made without the encryption key: pass --encryption-key"
            )
        if database_url:
            config["database_url"] = database_url
        if (staging / "media").exists():
            shutil.move(str(staging / "media"), instance / "media")
        _restore_database(manifest["database"], staging, instance, database_url)
        config_mod.write_instance_config(instance, config)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    bad = _migrate_and_check(instance, manifest)
    if bad:
        raise click.ClickException(f"{len(bad)} file(s) did not restore intact, e.g. {bad[0]}")
    return manifest


def _unpack(archive: Path, staging: Path) -> dict[str, Any]:
    """Extract the backup into ``staging``; its manifest."""
    with tarfile.open(archive, "r:gz") as tar:
        manifest: dict[str, Any] = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        if manifest.get("format") != BACKUP_FORMAT:
            raise click.ClickException("this backup was made by an unknown version")
        # The data filter refuses absolute paths, links and anything escaping the folder.
        tar.extractall(staging, filter="data")
    return manifest


def _restore_database(
    db_info: dict[str, Any], staging: Path, instance: Path, database_url: str | None
) -> None:
    """Put the SQLite file in place, or load the SQL dump into the given PostgreSQL database."""
    if db_info["kind"] == "sqlite" and not database_url:
        shutil.move(str(staging / db_info["file"]), instance / "consentcam.db")
    elif db_info["kind"] == "postgresql":
        if not database_url:
            raise click.ClickException("restoring a PostgreSQL backup needs --database-url")
        psql = shutil.which("psql")
        if not psql:
            raise click.ClickException("psql is not installed: restore database.sql by hand")
        dump = str(staging / db_info["file"])
        subprocess.run(
            [psql, "-v", "ON_ERROR_STOP=1", "-q", "-f", dump, _pg_url(database_url)], check=True
        )
    else:
        raise click.ClickException("a SQLite backup restores into the instance's own SQLite file")


def _migrate_and_check(instance: Path, manifest: dict[str, Any]) -> list[str]:
    """Migrate the restored database; the media files that are missing or changed."""
    from consentcam.db import upgrade

    media = instance / "media"
    rt = Runtime.build(instance)
    try:
        upgrade(rt.engine)
        return [
            rel
            for rel, digest in manifest["files"].items()
            if not (media / rel).is_file() or _sha256_file(media / rel) != digest
        ]
    finally:
        rt.close()
