"""Maintenance commands: sweep the media folder, rotate the encryption key, back up and restore."""

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
    session_factory: so.sessionmaker[so.Session],
    vault: Vault,
    newest: Fernet,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Re-encrypt every encrypted column under the newest key, one committed batch at a time."""
    changed = 0
    for model, pk, column in ENCRYPTED_COLUMNS:
        last = 0
        while True:
            with session_factory() as session:
                rows = session.execute(
                    sa.select(pk, column)
                    .where(pk > last, column.is_not(None))
                    .order_by(pk)
                    .limit(BATCH)
                ).all()
                if not rows:
                    break
                for row_id, token in rows:
                    last = row_id
                    assert token is not None  # the query skips empty columns
                    if _under(newest, bytes(token)):
                        continue  # done by an earlier run that was interrupted
                    session.execute(
                        sa.update(model)
                        .where(pk == row_id)
                        .values({column.key: vault.rotate(bytes(token))})
                    )
                    changed += 1
                session.commit()
            if progress:
                progress(model.__tablename__, last)
    return changed


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
        rows = rotate_rows(rt.sessions, vault, newest)
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
    with tarfile.open(archive, "r:gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        if manifest.get("format") != BACKUP_FORMAT:
            raise click.ClickException("this backup was made by an unknown version")
        # The data filter refuses absolute paths, links and anything escaping the folder.
        staging = instance / ".restore"
        tar.extractall(staging, filter="data")
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
        media = instance / "media"
        if (staging / "media").exists():
            shutil.move(str(staging / "media"), media)
        db_info = manifest["database"]
        if db_info["kind"] == "sqlite" and not database_url:
            shutil.move(str(staging / db_info["file"]), instance / "consentcam.db")
        elif db_info["kind"] == "postgresql":
            if not database_url:
                raise click.ClickException("restoring a PostgreSQL backup needs --database-url")
            psql = shutil.which("psql")
            if not psql:
                raise click.ClickException("psql is not installed: restore database.sql by hand")
            subprocess.run(
                [
                    psql,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-f",
                    str(staging / db_info["file"]),
                    _pg_url(database_url),
                ],
                check=True,
            )
        else:
            raise click.ClickException(
                "a SQLite backup restores into the instance's own SQLite file"
            )
        config_mod.write_instance_config(instance, config)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from consentcam.db import upgrade

    rt = Runtime.build(instance)
    try:
        upgrade(rt.engine)
        bad = [
            rel
            for rel, digest in manifest["files"].items()
            if not (media / rel).is_file() or _sha256_file(media / rel) != digest
        ]
    finally:
        rt.close()
    if bad:
        raise click.ClickException(f"{len(bad)} file(s) did not restore intact, e.g. {bad[0]}")
    return manifest


# ---------------------------------------------------------------- commands


def register(main: click.Group) -> None:
    """Add the maintenance commands to the `consentcam` group."""

    @main.command("sweep")
    @click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
    @click.option(
        "--min-age",
        default=600.0,
        show_default=True,
        help="Seconds a file without a row must have existed (uploads in flight are younger).",
    )
    @click.pass_obj
    def sweep_command(ctx: Any, dry_run: bool, min_age: float) -> None:
        """Remove media files no row refers to, and partial files of killed processes."""
        from consentcam.services.sweeper import sweep

        rt = ctx.runtime()
        with rt.sessions() as session:
            result = sweep(session, rt, dry_run, min_age=min_age)
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"{verb} {len(result.orphans)} unreferenced file(s) and "
            f"{len(result.temporaries)} partial file(s)"
        )
        for key in result.missing:
            click.echo(f"missing: {key} is referenced but not on disk", err=True)

    @main.command("rotate-key")
    @click.pass_obj
    def rotate_key_command(ctx: Any) -> None:
        """Re-encrypt templates, evidence and tokens under a new key, then drop the old one.

        Stop the server and workers first (or restart them right after): a running process
        knows only the keys it started with. Safe to run again if it is interrupted.
        """
        rotate_key(ctx.instance)

    @main.command("backup")
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--without-key", is_flag=True, help="Leave the encryption key out of the backup.")
    @click.pass_obj
    def backup_command(ctx: Any, output: Path, without_key: bool) -> None:
        """Write a consistent snapshot of the database, media files and config to one file."""
        manifest = make_backup(ctx.instance, output, with_key=not without_key)
        click.echo(f"backup written to {output} ({len(manifest['files'])} file(s))")
        if not without_key:
            click.echo(
                "warning: the backup contains the encryption key; keep it as safe as the "
                "instance itself (or use --without-key and store the key apart)",
                err=True,
            )

    @main.command("restore")
    @click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option(
        "--instance",
        "target",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="A new, empty instance folder to restore into.",
    )
    @click.option("--database-url", default=None, help="Restore into this (PostgreSQL) database.")
    @click.option("--encryption-key", default=None, envvar="CONSENTCAM_RESTORE_KEY")
    def restore_command(
        archive: Path, target: Path, database_url: str | None, encryption_key: str | None
    ) -> None:
        """Restore a backup into a new instance folder."""
        from consentcam.storage import make_private

        manifest = restore_backup(
            archive, target.resolve(), database_url=database_url, encryption_key=encryption_key
        )
        make_private(target.resolve(), deep=True)
        click.echo(f"restored {len(manifest['files'])} file(s) into {target}")
