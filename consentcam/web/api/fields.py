"""The API's field types: each one validates a request and describes itself in the OpenAPI document.

Schemas are marshmallow schemas built from these helpers. A class whose name ends in ``Schema``
is a named component of the document (``PersonSchema`` is ``#/components/schemas/Person``);
any other schema class is written inline where it is used.

Messages read after the field's name: ``"{field} is required"`` becomes ``"name is required"``
in the 422 (or, for a query parameter, 400) answer. A message without ``{field}`` (a rule's own
sentence, such as the channel parser's) is shown as ``"channels: unknown channel 'tiktok' ..."``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import ChannelError, parse_channels
from consentcam.security import parse_int

MISSING: Any = ma.missing
MAX_ID = 2**31 - 1
CHANNELS = [c.value for c in Channel]
DATE_TIME = "date-time"

#: Messages every field shares ("{{field}}" survives marshmallow's formatting as "{field}").
COMMON = {"required": "{{field}} is required", "null": "{{field}} may not be null"}


class Shape(ma.Schema):
    """Base of every request and response schema of the API (unknown fields are ignored)."""

    error_messages = {"unknown": "unknown field", "type": "send a JSON object"}  # noqa: RUF012

    class Meta:
        unknown = ma.EXCLUDE


class Closed(Shape):
    """A request body that refuses unknown fields (``additionalProperties: false``)."""

    class Meta:
        unknown = ma.RAISE


class Open(Shape):
    """A request body that ignores unknown fields (documented without additionalProperties)."""

    class Meta:
        unknown = ma.EXCLUDE


class EmptyBodyAllowed:
    """Mixin: an empty request body counts as ``{}`` (any other body must be a JSON object)."""


def _meta(**given: Any) -> dict[str, Any]:
    """What the document says of a field: ``fmt`` is its format, the rest goes as it is."""
    given["format"] = given.pop("fmt", None)
    return {k: v for k, v in given.items() if v is not None}


def _common(required: bool, nullable: bool, default: Any, messages: Mapping[str, str]) -> Any:
    return {
        "required": required,
        "allow_none": nullable,
        "load_default": default,
        "error_messages": {**COMMON, **messages},
    }


class SearchRegexp(validate.Regexp):
    """A pattern that must occur somewhere in the text (JSON Schema's ``pattern``)."""

    def __call__(self, value: Any) -> Any:
        if self.regex.search(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


class Unique(validate.Validator):
    """Every item of a list only once (``uniqueItems``)."""

    def __call__(self, value: Any) -> Any:
        if len({repr(v) for v in value}) != len(value):
            raise ma.ValidationError("{field} lists an item twice")
        return value


def text(
    *,
    required: bool = False,
    nullable: bool = False,
    default: Any = MISSING,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    pattern_error: str = "{{field}} may not be blank",
    choices: Iterable[str] | None = None,
    **doc: Any,
) -> fields.String:
    """A string, with its limits."""
    checks: list[validate.Validator] = []
    if min_length is not None:
        checks.append(validate.Length(min=min_length, error="{{field}} may not be empty"))
    if max_length is not None:
        checks.append(
            validate.Length(max=max_length, error="{{field}} is longer than {max} characters")
        )
    if pattern is not None:
        checks.append(SearchRegexp(pattern, error=pattern_error))
    if choices is not None:
        checks.append(validate.OneOf(list(choices), error="{{field}} must be one of {choices}"))
    return fields.String(
        validate=checks,
        metadata=_meta(**doc),
        **_common(required, nullable, default, {"invalid": "{{field}} must be a string"}),
    )


def integer(
    *,
    required: bool = False,
    nullable: bool = False,
    default: Any = MISSING,
    minimum: int | None = None,
    maximum: int | None = None,
    **doc: Any,
) -> fields.Integer:
    """A whole number (never a bool or a string of digits)."""
    checks = []
    if minimum is not None or maximum is not None:
        low = "" if minimum is None else f" from {minimum}"
        high = "" if maximum is None else f" to {maximum}"
        checks.append(
            validate.Range(
                min=minimum, max=maximum, error="{{field}} must be a whole number" + low + high
            )
        )
    return fields.Integer(
        strict=True,
        validate=checks,
        metadata=_meta(**doc),
        **_common(required, nullable, default, {"invalid": "{{field}} must be an integer"}),
    )


def number(*, required: bool = False, nullable: bool = False, **doc: Any) -> fields.Float:
    return fields.Float(
        metadata=_meta(**doc),
        **_common(required, nullable, MISSING, {"invalid": "{{field}} must be a number"}),
    )


class StrictBoolean(fields.Boolean):
    """true or false, and nothing else (not 1, "yes" or "true")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


def boolean(
    *, required: bool = False, nullable: bool = False, default: Any = MISSING, **doc: Any
) -> fields.Boolean:
    return StrictBoolean(
        metadata=_meta(**doc),
        **_common(required, nullable, default, {"invalid": "{{field}} must be a boolean"}),
    )


def array(
    item: fields.Field[Any],
    *,
    required: bool = False,
    nullable: bool = False,
    default: Any = MISSING,
    min_items: int | None = None,
    max_items: int | None = None,
    unique: bool = False,
    **doc: Any,
) -> fields.List:
    """A list of ``item``."""
    checks: list[validate.Validator] = []
    if min_items is not None:
        checks.append(validate.Length(min=min_items, error="{{field}} needs at least {min} items"))
    if max_items is not None:
        checks.append(validate.Length(max=max_items, error="{{field}} has more than {max} items"))
    if unique:
        checks.append(Unique())
    return fields.List(
        item,
        validate=checks,
        metadata=_meta(**doc, **({"uniqueItems": True} if unique else {})),
        **_common(required, nullable, default, {"invalid": "{{field}} must be an array"}),
    )


def nested(
    schema: type[ma.Schema], *, required: bool = False, nullable: bool = False, **doc: Any
) -> fields.Nested:
    return fields.Nested(
        schema,
        metadata=_meta(**doc),
        **_common(required, nullable, MISSING, {"type": "{{field}} must be an object"}),
    )


def mapping(values: fields.Field[Any], *, required: bool = False, **doc: Any) -> fields.Dict:
    """An object of free keys whose values are all ``values``."""
    return fields.Dict(
        keys=fields.String(),
        values=values,
        metadata=_meta(**doc),
        **_common(required, False, MISSING, {"invalid": "{{field}} must be an object"}),
    )


def moment(*, required: bool = False, nullable: bool = False, **doc: Any) -> fields.Field[Any]:
    """A time in a response: ISO 8601 text."""
    return text(required=required, nullable=nullable, fmt=DATE_TIME, **doc)


class AwareDateTime(fields.Field[datetime]):
    """An ISO 8601 date-time with a time zone ("Z" or an offset), read as an aware datetime."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "{{field}} must be an ISO 8601 date-time with a time zone",
        "naive": "{{field}} needs a time zone (e.g. 2026-05-31T00:00:00Z)",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is None:
            raise self.make_error("naive")
        return parsed


def when(
    *, required: bool = False, nullable: bool = False, default: Any = MISSING, **doc: Any
) -> AwareDateTime:
    """A time in a request (parsed; a time zone is required)."""
    return AwareDateTime(
        metadata=_meta(fmt=DATE_TIME, type="string", **doc),
        **_common(required, nullable, default, {}),
    )


class Base64(fields.Field[bytes]):
    """Bytes sent as base64 text (``format: byte``)."""

    default_error_messages = {"invalid": "{{field}} must be base64"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self.make_error("invalid") from None


def base64_bytes(*, required: bool = False, nullable: bool = False, **doc: Any) -> Base64:
    return Base64(
        metadata=_meta(fmt="byte", type="string", **doc),
        **_common(required, nullable, MISSING, {}),
    )


class Email(fields.String):
    """An e-mail address (or nothing: empty text is allowed)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        address = super()._deserialize(value, attr, data, **kwargs)
        if address and ("@" not in address or address.startswith("@") or address.endswith("@")):
            raise ma.ValidationError("{field} is not an e-mail address")
        return address


def email(*, max_length: int = 254, nullable: bool = True, **doc: Any) -> Email:
    return Email(
        validate=[
            validate.Length(max=max_length, error="{{field}} is longer than {max} characters")
        ],
        metadata=_meta(fmt="email", **doc),
        **_common(False, nullable, MISSING, {"invalid": "{{field}} must be a string"}),
    )


class ChannelNames(fields.List):
    """A list of channel names, read by the one channel parser (``domain.vocabulary``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        try:
            parse_channels(value)
        except ChannelError as exc:
            raise ma.ValidationError(str(exc)) from None
        return list(value)


def channels(
    *,
    required: bool = False,
    default: Any = MISSING,
    min_items: int | None = None,
    max_items: int | None = None,
    unique: bool = False,
    distinct: bool = False,
    **doc: Any,
) -> ChannelNames:
    """A list of channels (each one of instagram, facebook, website, print).

    ``unique`` says in the document that a name comes once; ``distinct`` also refuses a list
    that repeats one (elsewhere the parser reads a repeated name once).
    """
    checks: list[validate.Validator] = []
    if min_items is not None:
        checks.append(validate.Length(min=min_items, error="{{field}} must name a channel"))
    if max_items is not None:
        checks.append(validate.Length(max=max_items, error="{{field}} has more than {max} items"))
    if distinct:
        checks.append(Unique())
    return ChannelNames(
        text(choices=CHANNELS),
        validate=checks,
        metadata=_meta(**doc, **({"uniqueItems": True} if unique else {})),
        **_common(required, False, default, {"invalid": "{{field}} must be an array"}),
    )


def channel_choice(**doc: Any) -> fields.String:
    return text(choices=CHANNELS, **doc)


class Checked(fields.Field[Any]):
    """A value a service checks itself (and words its own refusal); described, passed on as is."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return value


def checked_by_service(*, required: bool = False, **doc: Any) -> Checked:
    """A field the document describes (``type``, ``items``...) and the service alone checks."""
    return Checked(metadata=_meta(**doc), **_common(required, False, MISSING, {}))


# --- Query parameters: text in the URL, read strictly (ASCII digits only) ----------------------


class QueryInteger(fields.Field[int]):
    """A whole number in the query string; an empty value is the default."""

    def __init__(self, low: int, high: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if value == "" and self.load_default is not MISSING:
            return int(self.load_default)
        number = parse_int(value, self.low, self.high) if isinstance(value, str) else None
        if number is None:
            raise ma.ValidationError(
                f"{{field}} must be a whole number from {self.low} to {self.high}"
            )
        return number


def query_integer(low: int, high: int, *, default: Any = MISSING, **doc: Any) -> QueryInteger:
    schema = {"type": "integer", "minimum": low, "maximum": high}
    return QueryInteger(low, high, load_default=default, metadata=_meta(**doc, **schema))


class QueryChoice(fields.String):
    """One of a few words in the query string; an empty value means none was given."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == "":
            return self.load_default if self.load_default is not MISSING else None
        return super()._deserialize(value, attr, data, **kwargs)


def query_choice(choices: Iterable[str], *, default: Any = MISSING, **doc: Any) -> QueryChoice:
    names = list(choices)
    return QueryChoice(
        load_default=default,
        validate=[validate.OneOf(names, error="{{field}} must be one of {choices}")],
        metadata=_meta(**doc),
    )


class QueryBoolean(fields.Field[bool]):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value not in ("true", "false"):
            raise ma.ValidationError("{field} must be true or false")
        return bool(value == "true")


def query_boolean(**doc: Any) -> QueryBoolean:
    return QueryBoolean(metadata=_meta(type="boolean", **doc))


def field_message(path: str, message: str) -> str:
    """One refusal in words: the field's name where the message has ``{field}``."""
    if "{field}" in message:
        return message.replace("{field}", path)
    return f"{path}: {message}"


def refusal(messages: Any, path: str = "") -> list[str]:
    """Marshmallow's nested messages as sentences that name each field (unknown ones together)."""
    if isinstance(messages, str):
        return [field_message(path or "the request", messages)]
    if isinstance(messages, list):
        return [line for m in messages for line in refusal(m, path)]
    unknown = sorted(str(k) for k, v in messages.items() if v == ["unknown field"])
    lines = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    for key, value in messages.items():
        if str(key) in unknown:
            continue
        name = str(key) if key != "_schema" else ""
        where = (
            f"{path}[{name}]" if isinstance(key, int) else ".".join(p for p in (path, name) if p)
        )
        lines.extend(refusal(value, where))
    return lines
