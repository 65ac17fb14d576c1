"""The declarative base every model shares: UTC timestamps, enums kept as words, naming."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.types import TypeDecorator

from consentcam.domain.types import Channel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every back end (SQLite stores no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store UTC-aware timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A StrEnum kept as its word (the database holds the same text it always did).

    Rows come back as members of the enum, which compare equal to their words, so
    `photo.scan_state == "done"` and `photo.scan_state is ScanState.DONE` both hold. A word is
    written as given: a comparison with a word no member has finds nothing, as it always did.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 20) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return str(value.value if isinstance(value, StrEnum) else value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> E | None:
        return None if value is None else self.enum(value)


def channel_order(channels: Iterable[str]) -> list[Channel]:
    """The channels named, each once, in the channels' own order (instagram, facebook, ...)."""
    named = {Channel(c.strip()) for c in channels if c and c.strip()}
    return [c for c in Channel if c in named]


class ChannelRow(Protocol):
    """A child row naming one channel (of a permission, a queue item)."""

    @property
    def channel(self) -> Channel: ...


R = TypeVar("R", bound=ChannelRow)


def channel_rows(rows: Sequence[R], names: Iterable[str], make: Callable[[Channel], R]) -> list[R]:
    """The child rows naming ``names``, in the channels' order: those there kept, others made."""
    have = {r.channel: r for r in rows}
    return [have.get(c) or make(c) for c in channel_order(names)]


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}
