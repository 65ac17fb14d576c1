"""Originals are content-addressed and written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consentcam.storage import Storage, StorageError, sha256_bytes


def test_same_bytes_same_key(tmp_path: Path) -> None:
    st = Storage(tmp_path)
    key1, d1 = st.put("originals", b"abc", "jpg")
    key2, d2 = st.put("originals", b"abc", "jpg")
    assert key1 == key2 and d1 == d2 == sha256_bytes(b"abc")
    assert st.read(key1) == b"abc"
    assert len(list(st.keys("originals"))) == 1


def test_keys_cannot_escape_the_media_folder(tmp_path: Path) -> None:
    st = Storage(tmp_path / "media")
    with pytest.raises(StorageError):
        st.path("../outside.txt")
    with pytest.raises(StorageError):
        st.key_for("originals", "ab" * 32, "php/../x")
    with pytest.raises(StorageError):
        st.key_for("nope", "ab" * 32, "jpg")


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = Storage(tmp_path)

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        st.put("originals", b"payload", "jpg")
    assert list(tmp_path.rglob("*.jpg")) == []
    assert st.leftover_temporaries() == []


def test_overwrite_is_all_or_nothing(tmp_path: Path) -> None:
    st = Storage(tmp_path)
    st.put_named("reports/r.html", b"old")
    st.put_named("reports/r.html", b"new")
    assert st.read("reports/r.html") == b"new"
    assert st.leftover_temporaries() == []
