"""Files on disk: originals, thumbnails, cleared copies, evidence and reports, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

KINDS = ("originals", "thumbs", "cleared", "evidence", "references", "reports", "exports")


class StorageError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Storage:
    """Content-addressed files under one media folder that is never served directly."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def key_for(self, kind: str, digest: str, ext: str) -> str:
        if kind not in KINDS:
            raise StorageError(f"unknown storage kind {kind!r}")
        ext = ext.lower().lstrip(".")
        if not ext.isalnum() or len(ext) > 5:
            raise StorageError(f"bad file extension {ext!r}")
        return f"{kind}/{digest[:2]}/{digest[2:4]}/{digest}.{ext}"

    def path(self, key: str) -> Path:
        """Return the absolute path of a key, refusing anything that escapes the media folder."""
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StorageError(f"storage key {key!r} is outside the media folder")
        return path

    def put(self, kind: str, data: bytes, ext: str) -> tuple[str, str]:
        """Store bytes under their SHA-256; return (key, sha256). Storing the same bytes twice is a no-op."""
        digest = sha256_bytes(data)
        key = self.key_for(kind, digest, ext)
        target = self.path(key)
        if target.exists() and target.stat().st_size == len(data):
            return key, digest
        self.write_atomic(target, data)
        return key, digest

    def put_named(self, key: str, data: bytes) -> str:
        """Store bytes under a chosen key (reports, exports), atomically; return the SHA-256."""
        self.write_atomic(self.path(key), data)
        return sha256_bytes(data)

    @staticmethod
    def write_atomic(target: Path, data: bytes) -> None:
        """Write to a temporary file, fsync it, rename it into place and fsync the folder."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(target.parent)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str | None) -> bool:
        return bool(key) and self.path(key).is_file()  # type: ignore[arg-type]

    def delete(self, key: str | None) -> None:
        if not key:
            return
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self, kind: str) -> Iterator[str]:
        base = self.root / kind
        if not base.exists():
            return
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def leftover_temporaries(self) -> list[Path]:
        """Partial files left by a process killed mid-write."""
        return [p for p in self.root.rglob(".tmp-*") if p.is_file()]


def make_private(folder: str | Path, *, deep: bool = False) -> None:
    """Folders 700 and files 600: the instance (database, WAL, queue, config, media) is no one
    else's to read on a shared machine. ``deep`` walks every file (after init and restore)."""
    root = Path(folder)
    if not root.is_dir():
        return
    os.chmod(root, 0o700)
    entries = root.rglob("*") if deep else root.iterdir()
    for entry in entries:
        try:
            if entry.is_symlink():
                continue
            os.chmod(entry, 0o700 if entry.is_dir() else 0o600)
        except OSError:
            continue
