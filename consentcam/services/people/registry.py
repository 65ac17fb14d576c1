"""A person's own details: add, change, and as the API and the access export give them."""

from __future__ import annotations

import unicodedata
from typing import Any

import sqlalchemy.orm as so

from consentcam.domain.vocabulary import iso
from consentcam.models import Person, User, utcnow
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.people.errors import ConsentError
from consentcam.wording import N_


def person_name(name: str) -> str:
    """A person's name as stored: trimmed, and never empty."""
    name = name.strip()
    if not name:
        raise ConsentError(N_("a person needs a name"))
    if hidden_characters(name):
        raise ConsentError(N_("a name cannot contain control characters or text-direction marks"))
    return name


def hidden_characters(text: str) -> bool:
    """True when ``text`` holds a control character (NUL, line breaks) or an invisible format
    character such as U+202E, which reverses how the rest of a name is shown."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def _details(
    name: str, email: str | None, phone: str | None, is_minor: bool, note: str | None
) -> dict[str, Any]:
    """A person's details as stored: the name checked, the rest trimmed (empty: none)."""
    return {
        "name": person_name(name),
        "email": (email or "").strip() or None,
        "phone": (phone or "").strip() or None,
        "is_minor": bool(is_minor),
        "note": (note or "").strip() or None,
    }


def person_fields(person: Person) -> dict[str, Any]:
    """A person's own details as the JSON API and the access export give them."""
    return {
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "phone": person.phone,
        "is_minor": person.is_minor,
        "note": person.note,
        "created_at": iso(person.created_at),
    }


def add_person(
    session: so.Session,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    is_minor: bool = False,
    note: str | None = None,
    actor: User | None = None,
) -> Person:
    details = _details(name, email, phone, is_minor, note)
    name = details["name"]
    person = Person(**details)
    session.add(person)
    session.flush()
    # The name goes into the log sealed with the person's own key, shredded at erasure.
    events.record(
        session,
        "person.added",
        f"person:{person.id}",
        personal={"name": name},
        person_id=person.id,
        actor=_actor(actor),
    )
    return person


def update_person(
    session: so.Session,
    person: Person,
    *,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    is_minor: bool = False,
    note: str | None = None,
    actor: User | None = None,
) -> Person:
    """Change a person's details; the event lists the fields that changed."""
    new = _details(name, email, phone, is_minor, note)
    changed = sorted(k for k, v in new.items() if getattr(person, k) != v)
    for key, value in new.items():
        setattr(person, key, value)
    if changed:
        person.last_activity_at = utcnow()
        session.flush()
        events.record(
            session,
            "person.updated",
            f"person:{person.id}",
            {"fields": changed},
            actor=_actor(actor),
        )
    return person


def mark_minor(session: so.Session, person: Person, *, actor: User | None = None) -> None:
    """Record that the person is a minor (a guardian signed for them), keeping every other detail."""
    if person.is_minor:
        return
    update_person(
        session,
        person,
        name=person.name,
        email=person.email,
        phone=person.phone,
        is_minor=True,
        note=person.note,
        actor=actor,
    )
