"""The declarative base every model shares: UTC timestamps, enums kept as words, naming."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.types import TypeDecorator

from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import parse_channels


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


class ChannelChoice:
    """The channels a row covers, kept as child rows (one per channel) and read as words.

    A model mixes this in beside its own `channel_rows` relationship and says how to make one of
    its child rows (`_channel_row`). Reading and writing go through the one channel parser.
    """

    channel_rows: Any

    @staticmethod
    def _channel_row(channel: Channel) -> Any:
        raise NotImplementedError

    @property
    def channel_list(self) -> list[str]:
        """The channels covered, in the channels' own order."""
        return list(parse_channels([str(r.channel) for r in self.channel_rows]))

    @property
    def channels(self) -> str:
        """The channels as one space-separated text (`channel_list` as words)."""
        return " ".join(self.channel_list)

    @channels.setter
    def channels(self, value: str) -> None:
        have = {r.channel: r for r in self.channel_rows}
        self.channel_rows = [have.get(c) or self._channel_row(c) for c in parse_channels(value)]


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
