"""Words every page shares: channel names and the gate's reasons, in the reader's language."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import get_translations
from markupsafe import Markup, escape

from consentcam.domain.types import Channel
from consentcam.web.translate import gettext as _

# A day or a moment as the gate words it: 2026-11-25, or 2026-11-25 14:30.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}(?::\d{2})?)?")


def channel_name(code: str) -> str:
    """A channel as a heading or a badge: "Instagram", "Website"."""
    try:
        return _(Channel(code).heading)
    except ValueError:
        return code


def channel_in_sentence(code: str) -> str:
    """A channel inside a sentence: "Instagram", "the website"."""
    try:
        return _(Channel(code).label)
    except ValueError:
        return code


def channel_names() -> dict[str, str]:
    return {channel.value: channel_name(channel.value) for channel in Channel}


def blocker_text(
    code: str,
    params: Mapping[str, Any] | None = None,
    *,
    face: Any = None,
    channel: str | None = None,
    fallback: str = "",
) -> str:
    """One of the gate's reasons, worded from its code and facts; the English message is the fallback."""
    p = dict(params or {})
    face = face if face is not None else p.get("face", "")
    person = p.get("person") or _("unknown person")
    where = channel_in_sentence(str(channel or p.get("channel_code") or ""))
    date = p.get("date", "")
    head = _("Face %(face)s (%(person)s)", face=face, person=person)
    if code == "scan_pending":
        return _("This photo has not been scanned for faces yet.")
    if code == "scan_failed":
        return _("The face scan of this photo failed; scan it again before publishing.")
    if code == "faces_unconfirmed":
        return _("Nobody has confirmed yet that everyone in this photo is marked.")
    if code == "face_unreviewed":
        return _("Face %(face)s: nobody has said yet who this is.", face=face)
    if code == "face_suggested_only":
        if p.get("person"):
            return _(
                "Face %(face)s: looks like %(person)s, but nobody has confirmed it yet.",
                face=face,
                person=person,
            )
        return _("Face %(face)s: a suggestion has not been confirmed yet.", face=face)
    if code == "no_reason_given":
        return _("Face %(face)s: marked as not identifiable, but no reason was given.", face=face)
    if code == "no_consent":
        return _("%(head)s: there is no consent on record.", head=head)
    if code == "channel_not_covered":
        return _("%(head)s: the consent does not cover %(channel)s.", head=head, channel=where)
    if code == "consent_withdrawn":
        return _(
            "%(head)s: consent for %(channel)s was withdrawn on %(date)s.",
            head=head,
            channel=where,
            date=date,
        )
    if code == "consent_expired":
        return _("%(head)s: consent expired on %(date)s.", head=head, date=date)
    if code == "consent_not_yet_given":
        return _("%(head)s: consent only applies from %(date)s.", head=head, date=date)
    if code == "outside_scope":
        return _(
            "%(head)s: consent covers only the photos listed on it, and this photo is not one of them.",
            head=head,
        )
    return fallback


def error_text(exc: BaseException, **words: Callable[[Any], str]) -> str:
    """A service's refusal in the reader's language.

    Errors built on consentcam.wording.WordedError carry an English template and its facts; the
    template is looked up in the catalogue and filled in. Anything else is shown as it is.
    ``words`` names facts that are codes and how to say them (e.g. ``status=status_label``).
    """
    template = getattr(exc, "template", None)
    params = getattr(exc, "params", None)
    if not isinstance(template, str) or not template:
        return str(exc)
    text = get_translations().ugettext(template)
    if not params:
        return text
    if isinstance(params, dict) and words:
        params = {k: words[k](v) if k in words else v for k, v in params.items()}
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        # A translation that does not fit its facts must never hide the refusal itself.
        return str(exc)


def keep_dates(text: Any) -> Markup:
    """Escape `text` and wrap each date in a span that never breaks (a phone would split it at "-")."""
    escaped = str(escape(text))
    return Markup(_DATE.sub(lambda m: f'<span class="nowrap">{m.group(0)}</span>', escaped))


def quarter_label(quarter: Any) -> str:
    """A quarter as people read it: "kvartal 4 2026" / "Q4 2026" ("2026Q4" stays in file names)."""
    text = str(quarter)
    match = re.fullmatch(r"(\d{4})Q([1-4])", text)
    if match is None:
        return text
    return _("Q%(number)s %(year)s", number=match.group(2), year=match.group(1))


def name_of(person: Any) -> str:
    """A person's name as shown; an erased person has only a number left ("Raderad person 4")."""
    if getattr(person, "erased_at", None) is not None:
        return _("Erased person %(id)s", id=person.id)
    return str(getattr(person, "name", ""))


def setting_help(text: str) -> Markup:
    """A setting's help text in the reader's language, its `names` shown as code."""
    translated = str(escape(get_translations().ugettext(text)))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", translated))


def code(text: str) -> Markup:
    """A command or setting name inside a sentence, shown as code."""
    return Markup("<code>%s</code>") % text


def init_app(app: Any) -> None:
    app.jinja_env.filters["keep_dates"] = keep_dates
    app.jinja_env.globals.update(
        channel_name=channel_name,
        channel_in_sentence=channel_in_sentence,
        blocker_text=blocker_text,
        error_text=error_text,
        setting_help=setting_help,
        quarter_label=quarter_label,
        name_of=name_of,
        code=code,
    )
