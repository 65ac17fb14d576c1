"""Consent links, personal links and e-mail codes as services: on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import upgrade
from consentcam.domain.types import QueueStatus, RemovalMethod, RemovalStatus
from consentcam.models import (
    ConsentLink,
    ConsentRecord,
    CustomerRequest,
    EmailCode,
    Event,
    PersonalLink,
    QueueItem,
    RemovalTask,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import links, people, privacy
from consentcam.services.people import ConsentError
from tests.conftest import base_settings
from tests.web.people_helpers import signature_png
from tests.withdrawal.helpers import consenting_person, photo_with, publish, queue


@pytest.fixture
def rt(instance: Path, migrated_database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.build(instance, base_settings(instance, DATABASE_URL=migrated_database_url))
    upgrade(runtime.engine)
    yield runtime
    runtime.close()


def _counts(session: so.Session) -> dict[str, int]:
    """Rows that signing, withdrawing or exporting would add: a refusal must change none."""
    return {
        model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
        for model in (ConsentRecord, PersonalLink, Event, RemovalTask, CustomerRequest)
    } | {
        "used_links": session.scalar(
            sa.select(sa.func.count())
            .select_from(ConsentLink)
            .where(ConsentLink.used_at.is_not(None))
        )
        or 0
    }


def _sign(session: so.Session, rt: Runtime, token: str, **extra: Any) -> links.Signed:
    values: dict[str, Any] = {
        "channels": ["instagram", "facebook"],
        "biometric": False,
        "signature": signature_png(),
        "language": "sv",
        "form_sha256": None,
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
    }
    values.update(extra)
    return links.sign_by_link(session, rt, token, **values)


def test_a_link_signed_on_the_phone_is_recorded_like_the_owners(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        issued = links.create_consent_link(s, rt, person, language="sv")
        s.commit()
        token, link_id = issued.token, issued.link.id
        # Only the hash is kept: the token itself is in no column of the link's row.
        row = s.get(ConsentLink, link_id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps({c.name: str(getattr(row, c.name)) for c in row.__table__.c})
        assert row.expires_at - row.created_at == timedelta(minutes=30)
        signed = _sign(s, rt, token, email="lena@example.com")
        s.commit()
        record = s.get(ConsentRecord, signed.record.id)
        assert record is not None
        assert record.signed_via == "link"
        assert record.user_agent is not None
        assert record.user_agent.startswith("Mozilla/5.0 (iPhone")
        assert record.evidence_kind == "signature"
        assert record.evidence_sha256 == hashlib.sha256(signature_png()).hexdigest()
        assert people.read_evidence(rt, record) == signature_png()
        assert record.form_version is not None
        assert record.form_version.language == "sv"
        assert "Kraftkällan" in record.form_version.body
        assert sorted(c.channel for c in record.channels) == ["facebook", "instagram"]
        used = s.get(ConsentLink, link_id)
        assert used is not None
        assert used.used_at is not None
        assert used.consent_id == record.id
        assert record.person.email == "lena@example.com"
        opened = links.open_personal_link(s, signed.personal_token)
        assert opened.person_id == person.id
        kinds = [e.kind for e in s.scalars(sa.select(Event).order_by(Event.seq))]
        assert kinds[-3:] == ["consent.given", "consent_link.used", "personal_link.issued"]


def test_a_new_customer_is_added_when_they_sign(rt: Runtime) -> None:
    with rt.sessions() as s:
        issued = links.create_consent_link(s, rt, None, language="en")
        s.commit()
        signed = _sign(s, rt, issued.token, name="  Omar Said ", language="en")
        s.commit()
        assert signed.person.name == "Omar Said"
        link = s.get(ConsentLink, issued.link.id)
        assert link is not None and link.person_id == signed.person.id


@pytest.mark.parametrize("how", ["reused", "expired", "tampered", "unknown", "erased"])
def test_an_unusable_link_is_refused_and_nothing_changes(rt: Runtime, how: str) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        issued = links.create_consent_link(s, rt, person)
        s.commit()
        token = issued.token
        now = None
        if how == "reused":
            _sign(s, rt, token)
            s.commit()
        elif how == "expired":
            now = issued.link.expires_at + timedelta(seconds=1)
        elif how == "tampered":
            token = token[:-1] + ("A" if token[-1] != "A" else "B")
        elif how == "unknown":
            token = links.new_token()
        elif how == "erased":
            privacy.erase_person(s, rt, person)
            s.commit()
        before = _counts(s)
        with pytest.raises(links.LinkRefused) as refused:
            _sign(s, rt, token, now=now)
        s.rollback()
        assert _counts(s) == before
        # The same words whatever the reason: nobody learns which tokens exist.
        assert str(refused.value) == str(links.LinkRefused())


def test_a_bad_signature_leaves_the_link_unused(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        issued = links.create_consent_link(s, rt, person)
        s.commit()
        with pytest.raises(ConsentError):
            _sign(s, rt, issued.token, signature=signature_png(ink=False))
        s.rollback()
        link = s.get(ConsentLink, issued.link.id)
        assert link is not None and link.used_at is None
        _sign(s, rt, issued.token)  # still works afterwards
        s.commit()


def test_a_minors_link_is_signed_by_a_guardian(rt: Runtime) -> None:
    with rt.sessions() as s:
        child = people.add_person(s, "Alva Berg", is_minor=True)
        issued = links.create_consent_link(s, rt, child)
        s.commit()
        with pytest.raises(ConsentError, match="guardian"):
            _sign(s, rt, issued.token)
        s.rollback()
        signed = _sign(s, rt, issued.token, guardian_name="Lena Berg")
        s.commit()
        assert signed.record.signed_by_guardian is True
        assert signed.record.signer_name == "Lena Berg"


def test_two_sends_of_one_link_record_one_consent(rt: Runtime) -> None:
    with rt.sessions() as first, rt.sessions() as second:
        person = people.add_person(first, "Lena Berg")
        issued = links.create_consent_link(first, rt, person)
        first.commit()
        _sign(first, rt, issued.token)
        first.commit()
        with pytest.raises(links.LinkRefused):
            _sign(second, rt, issued.token)
        second.rollback()
        count = second.scalar(
            sa.select(sa.func.count())
            .select_from(ConsentRecord)
            .where(ConsentRecord.person_id == person.id)
        )
        assert count == 1


def test_the_personal_link_is_replaced_and_revoked(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        old = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        new = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        s.commit()
        with pytest.raises(links.LinkRefused):
            links.open_personal_link(s, old)
        assert links.open_personal_link(s, new).person_id == person.id
        assert links.revoke_personal_links(s, person) == 1
        s.commit()
        with pytest.raises(links.LinkRefused):
            links.open_personal_link(s, new)


def test_a_wrong_code_five_times_kills_the_code(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg", email="lena@example.com")
        token = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        link = links.open_personal_link(s, token)
        code = links.new_code(s, link)
        s.commit()
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        messages = []
        for _ in range(5):
            with pytest.raises(links.CodeRefused) as refused:
                links.check_code(s, link, wrong)
            s.commit()
            messages.append(str(refused.value))
        assert messages[0] == "Wrong code. 4 tries left."
        assert messages[-1] == "Wrong code five times: ask for a new one."
        before = _counts(s)
        # Now even the right code is refused, and nothing was handed out.
        with pytest.raises(links.CodeRefused, match="new one"):
            links.check_code(s, link, code)
        s.commit()
        assert _counts(s) == before
        assert s.scalar(sa.select(EmailCode.attempts)) == 5
        # A new code works, once.
        fresh = links.new_code(s, link)
        links.check_code(s, link, fresh)
        s.commit()
        with pytest.raises(links.CodeRefused):
            links.check_code(s, link, fresh)


def test_an_expired_code_is_refused(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg", email="lena@example.com")
        token = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        link = links.open_personal_link(s, token)
        code = links.new_code(s, link)
        with pytest.raises(links.CodeRefused):
            links.check_code(s, link, code, now=utcnow() + timedelta(minutes=16))


def test_the_customers_withdrawal_runs_the_owners_service(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = consenting_person(s, rt)
        photo = photo_with(s, person)
        post = publish(s, photo, "instagram", person=person, publisher="manual")
        item = queue(s, photo_with(s, person), "instagram")
        token = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        s.commit()
        link = links.open_personal_link(s, token)
        result = links.withdraw_by_customer(s, rt, link, ["instagram"], False)
        s.commit()
        assert result.channels == ("instagram",)
        queued = s.get(QueueItem, item.id)
        assert queued is not None and queued.status == QueueStatus.BLOCKED
        task = s.scalar(sa.select(RemovalTask).where(RemovalTask.publication_id == post.id))
        assert task is not None and task.status == RemovalStatus.OPEN
        assert task.method == RemovalMethod.MANUAL
        assert task.due_at - result.at == timedelta(days=7)
        withdrawn = s.scalar(
            sa.select(Event).where(Event.kind == "consent.withdrawn").order_by(Event.seq.desc())
        )
        assert withdrawn is not None and withdrawn.actor == links.CUSTOMER
        # The owner sees it as a notice.
        total, requests = links.open_requests(s)
        assert total == 1 and requests[0].kind == "withdrawal"
        # Facebook still stands; a second withdrawal of Instagram changes nothing.
        record = links.my_record(s, person)
        assert record.active_channels == ["facebook"]
        again = links.withdraw_by_customer(s, rt, link, ["instagram"], False)
        s.commit()
        assert not again.changed
        assert links.open_requests(s)[0] == 1


def test_an_erased_person_loses_their_links(rt: Runtime) -> None:
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg", email="lena@example.com")
        token = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        link = links.open_personal_link(s, token)
        links.request_erasure(s, link)
        s.commit()
        privacy.erase_person(s, rt, person)
        s.commit()
        with pytest.raises(links.LinkRefused):
            links.open_personal_link(s, token)
        assert links.open_requests(s)[0] == 0


@pytest.mark.parametrize(("limit", "shown"), [(2, 2), (3, 3), (5, 3)])
def test_the_open_requests_are_counted_whether_or_not_they_fill_the_list(
    rt: Runtime, limit: int, shown: int
) -> None:
    with rt.sessions() as s:
        for name in ("Lena Berg", "Bo Ek", "Åsa Öberg"):
            person = people.add_person(s, name)
            token = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
            links.request_erasure(s, links.open_personal_link(s, token))
        s.commit()
        total, requests = links.open_requests(s, limit=limit)
        assert total == 3 and len(requests) == shown
        assert [r.person.name for r in requests] == ["Åsa Öberg", "Bo Ek", "Lena Berg"][:shown]


@pytest.mark.parametrize("missing", ["BUSINESS_NAME", "RESPONSIBLE_PERSON"])
def test_no_consent_link_while_the_form_cannot_name_the_business(rt: Runtime, missing: str) -> None:
    rt.settings[missing] = ""
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        with pytest.raises(links.LinkError, match="in the settings before recording a consent"):
            links.create_consent_link(s, rt, person, language="sv")
        s.rollback()


def test_the_form_shown_is_numbered_as_signing_stores_it(rt: Runtime) -> None:
    """Showing today's form writes nothing, and names the version that signing then stores."""
    from consentcam.models import ConsentFormVersion

    with rt.sessions() as s:
        shown = people.form_to_show(s, rt, "sv")
        assert (shown.version, shown.stored) == (1, False)
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsentFormVersion)) == 0
        stored = people.current_form(s, rt, "sv")
        s.commit()
        assert (stored.version, stored.sha256) == (shown.version, shown.sha256)
        again = people.form_to_show(s, rt, "sv")
        assert (again.version, again.stored) == (1, True)
        rt.settings["BUSINESS_NAME"] = "Kraftkällan Norr"  # the form's text changes
        changed = people.form_to_show(s, rt, "sv")
        assert (changed.version, changed.stored) == (2, False)
        assert "Kraftkällan Norr" in changed.body
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsentFormVersion)) == 1
        assert people.current_form(s, rt, "sv").version == 2


def test_one_person_look_up_erased_people_only_when_asked(rt: Runtime) -> None:
    from consentcam.services import listings

    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        s.commit()
        pid = person.id
        assert listings.person(s, pid) is person
        privacy.erase_person(s, rt, person, actor=None)
        s.commit()
        assert listings.person(s, pid) is None
        assert listings.person(s, pid, include_erased=True) is person
        assert listings.person(s, 2**31, include_erased=True) is None
        assert listings.person(s, 0, include_erased=True) is None
