"""Words every layer shares, each read or written one way: channel names, evidence files, times.

The web forms, the JSON API and the command line all read channels with ``parse_channels``;
evidence and permission documents are named with ``evidence_extension``; times go out as
``iso``. Each caller words its refusal with its own error class (a ``WordedError``), so the
message reaches the owner in her language.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from consentcam.domain.types import Channel
from consentcam.wording import N_, WordedError

#: The files accepted as consent evidence or a supplier's written permission, by MIME type,
#: with the extension a downloaded copy gets.
EVIDENCE_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "application/pdf": "pdf",
}


class ChannelError(WordedError, ValueError):
    """A channel choice that names no channel, or something that is not a name."""


def parse_channels(
    values: str | Iterable[object] | None, error: type[WordedError] = ChannelError
) -> tuple[Channel, ...]:
    """Read a choice of channels: "instagram,facebook", "instagram facebook", or a list of names.

    Strict: each name must be a channel (any case, spaces around it ignored), and anything but a
    string or a list of strings is refused with ``error``. A name given twice counts once, and
    the result is in the channels' own order (instagram, facebook, website, print), whatever the
    order given. No names at all give ``()``: whether that is allowed is the caller's rule.
    """
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    elif isinstance(values, bytes | dict) or not isinstance(values, Iterable):
        raise error(N_("channels must be names such as instagram or facebook"))
    chosen: set[Channel] = set()
    for raw in values:
        if not isinstance(raw, str):
            raise error(N_("channels must be names such as instagram or facebook"))
        for part in raw.replace(",", " ").split():
            try:
                chosen.add(Channel(part.strip().lower()))
            except ValueError:
                raise error(
                    N_("unknown channel %(channel)r (use %(allowed)s)"),
                    channel=part,
                    allowed=", ".join(c.value for c in Channel),
                ) from None
    return tuple(c for c in Channel if c in chosen)


def evidence_extension(mime: str | None) -> str:
    """The file extension for an evidence document of this MIME type ("bin" if unknown)."""
    return EVIDENCE_EXTENSIONS.get(mime or "", "bin")


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 text for JSON and exports; None stays None."""
    return value.isoformat() if value is not None else None
