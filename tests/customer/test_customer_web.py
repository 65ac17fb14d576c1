"""The customer's pages and the owner's link pages through Flask, with a real SMTP server."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentcam.domain.types import MailState, QueueStatus, RemovalStatus
from consentcam.models import (
    ConsentLink,
    ConsentRecord,
    CustomerRequest,
    EmailCode,
    Event,
    OutgoingMail,
    Person,
    QueueItem,
    RemovalTask,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import links, mail, people, privacy
from consentcam.uow import unit_of_work
from tests.conftest import base_settings, login
from tests.customer.smtp import Inbox, html_of, smtp_server, text_of
from tests.web.people_helpers import data_url, signature_png
from tests.withdrawal.helpers import consenting_person, photo_with, publish, queue

LINK_URL = re.compile(r'value="(http://localhost/c/([A-Za-z0-9_-]+))"')


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings(instance: Path, smtp: tuple[str, Inbox]) -> dict[str, object]:
    # The limits have a test of their own; here they must not cut a round short.
    # Links take their address from the request only because the app answers "localhost" alone.
    return base_settings(
        instance,
        SMTP_URL=smtp[0],
        MAIL_FROM="studio@example.com",
        CODE_RATE_LIMIT="50/minute",
        TRUSTED_HOSTS="localhost",
    )


def _rt(app: Flask) -> Runtime:
    return app.extensions["runtime"]


def _make_link(client: FlaskClient, person_id: int | None = None, **form: str) -> tuple[str, str]:
    path = f"/people/{person_id}/consent-link" if person_id else "/consent-links/new"
    response = client.post(path, data={"language": "sv", **form})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:2000]
    match = LINK_URL.search(html)
    assert match, html[:3000]
    assert 'class="qr-big" src="data:image/png;base64,' in html
    return match.group(1), match.group(2)


def _sign_form(**extra: object) -> dict[str, object]:
    return {
        "channels": ["instagram", "facebook"],
        "signature": data_url(signature_png()),
        **extra,
    }


def _person(app: Flask, name: str = "Lena Berg", email: str | None = None) -> int:
    rt = _rt(app)
    with rt.sessions() as s:
        person = people.add_person(s, name, email=email)
        s.commit()
        return person.id


def test_the_whole_round_on_the_phone(
    app: Flask, owner_client: FlaskClient, smtp: tuple[str, Inbox]
) -> None:
    """Link, sign, receipt by e-mail with the right link, own page, withdraw Instagram."""
    _, inbox = smtp
    rt = _rt(app)
    with rt.sessions() as s:
        person = consenting_person(s, rt, channels=("facebook",))
        photo = photo_with(s, person)
        post = publish(s, photo, "instagram", person=person, publisher="manual")
        item = queue(s, photo_with(s, person), "instagram")
        s.commit()
        pid, post_id, item_id = person.id, post.id, item.id
    url, token = _make_link(owner_client, pid)
    state = owner_client.get(f"/consent-links/{_link_id(app, token)}/state").get_json()
    assert state["state"] == "waiting"

    phone = app.test_client()
    page = phone.get(url, headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Tillstånd att publicera bilder" in html and "Kraftkällan" in html
    assert 'class="main-nav"' not in html and "/logout" not in html
    sent = phone.post(
        url,
        data=_sign_form(email="lena@example.com", biometric="y"),
        headers={"Accept-Language": "sv-SE,sv;q=0.9", "User-Agent": "PhoneBrowser/1.0"},
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    receipt_path = sent.headers["Location"]
    receipt = phone.get(receipt_path, headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    assert receipt.status_code == 200
    assert "Kvitto" in receipt.get_data(as_text=True)

    state = owner_client.get(f"/consent-links/{_link_id(app, token)}/state").get_json()
    assert state["state"] == "used" and state["person_url"] == f"/people/{pid}"
    with rt.sessions() as s:
        record = s.scalars(sa.select(ConsentRecord).where(ConsentRecord.signed_via == "link")).one()
        assert record.user_agent == "PhoneBrowser/1.0" and record.biometric

    (message,) = inbox.wait_for(1)
    assert message["To"] == "lena@example.com"
    assert message["From"] == "studio@example.com"
    text = text_of(message)
    assert "Instagram, Facebook" in text or "Facebook, Instagram" in text
    found = re.search(r"http://localhost/m/[A-Za-z0-9_-]+", text)
    assert found is not None
    my_url = found.group(0)
    html_part = html_of(message)
    assert my_url in html_part and "<img" not in html_part  # no tracking pixel
    assert message["Subject"].startswith("Ditt samtycke")

    mine = phone.get(my_url)
    assert mine.status_code == 200
    assert 'id="withdraw-instagram"' in mine.get_data(as_text=True)
    confirm = phone.get(my_url + "/withdraw?what=instagram")
    assert confirm.status_code == 200
    done = phone.post(my_url + "/withdraw", data={"what": "instagram"})
    assert done.status_code == 302
    with rt.sessions() as s:
        queued = s.get(QueueItem, item_id)
        assert queued is not None and queued.status == QueueStatus.BLOCKED
        task = s.scalar(sa.select(RemovalTask).where(RemovalTask.publication_id == post_id))
        assert task is not None and task.status == RemovalStatus.OPEN
        assert s.scalar(sa.select(CustomerRequest.kind)) == "withdrawal"
    # The owner hears of it by e-mail and on the dashboard.
    notice = inbox.wait_for(2)[1]
    assert notice["To"] == "owner@example.com"
    assert "Lena Berg" in notice["Subject"]
    dashboard = owner_client.get("/").get_data(as_text=True)
    assert 'id="customer-requests"' in dashboard


def _link_id(app: Flask, token: str) -> int:
    with _rt(app).sessions() as s:
        link_id = s.scalar(
            sa.select(ConsentLink.id).where(ConsentLink.token_hash == links.hash_token(token))
        )
        assert link_id is not None
        return link_id


def test_every_unusable_link_gets_the_same_answer(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    pid = _person(app)
    phone = app.test_client()
    used_url, _ = _make_link(owner_client, pid)
    assert phone.post(used_url, data=_sign_form()).status_code == 303
    expired_url, expired_token = _make_link(owner_client, pid)
    with rt.sessions() as s:
        link = s.get(ConsentLink, _link_id(app, expired_token))
        assert link is not None
        link.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    good_url, good_token = _make_link(owner_client, pid)
    tampered = good_url[:-1] + ("x" if good_url[-1] != "x" else "y")
    erased = _person(app, "Omar Said")
    erased_url, _ = _make_link(owner_client, erased)
    with rt.sessions() as s:
        erased_person = s.get(Person, erased)
        assert erased_person is not None
        privacy.erase_person(s, rt, erased_person)
        s.commit()
    with rt.sessions() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(ConsentRecord))
        events = s.scalar(sa.select(sa.func.count()).select_from(Event))
    answers = set()

    def answer(response: TestResponse) -> str:
        # Only the path (for the language switch) and the time-stamped CSRF token may differ.
        html = re.sub(r'name="next" value="[^"]*"', "", response.get_data(as_text=True))
        return re.sub(r'name="csrf_token" value="[^"]*"', "", html)

    for url in (used_url, expired_url, tampered, erased_url, "http://localhost/c/nothing"):
        for response in (phone.get(url), phone.post(url, data=_sign_form())):
            assert response.status_code == 404
            answers.add(answer(response))
    for url in ("http://localhost/m/nothing", "http://localhost/m/nothing/copy"):
        response = phone.get(url)
        assert response.status_code == 404
        answers.add(answer(response))
    shown = [a.splitlines() for a in list(answers)[:2]]
    assert len(answers) == 1, "\n".join(difflib.unified_diff(shown[0], shown[1], lineterm=""))
    assert "Nothing was changed" in answers.pop()
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)) == before
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == events
    # The good link was untouched by all this.
    assert phone.get(good_url).status_code == 200


def test_the_customer_pages_are_public_and_hardened(app: Flask, owner_client: FlaskClient) -> None:
    pid = _person(app)
    url, _ = _make_link(owner_client, pid)
    phone = app.test_client()
    response = phone.get(url)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    # The owner's link pages are not public.
    assert phone.get(f"/people/{pid}/consent-link").status_code in (302, 401)


def test_customer_forms_need_the_csrf_token(
    instance: Path, smtp: tuple[str, Inbox], runtime: Runtime
) -> None:
    from consentcam.web import create_app

    app = create_app(
        base_settings(instance, WTF_CSRF_ENABLED=True, SMTP_URL=smtp[0]), instance_path=instance
    )
    rt = _rt(app)
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        issued = links.create_consent_link(s, rt, person)
        s.commit()
    phone = app.test_client()
    response = phone.post(f"/c/{issued.token}", data=_sign_form())
    assert response.status_code == 400
    with rt.sessions() as s:
        assert s.scalar(sa.select(ConsentLink.used_at)) is None
    app.extensions["runtime"].close()


def test_a_minors_link_asks_for_the_guardian(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        child = people.add_person(s, "Alva Berg", is_minor=True)
        s.commit()
        cid = child.id
    url, _ = _make_link(owner_client, cid)
    phone = app.test_client()
    assert "guardian_name" in phone.get(url).get_data(as_text=True)
    refused = phone.post(url, data=_sign_form())
    assert refused.status_code == 422
    assert "guardian" in refused.get_data(as_text=True)
    assert phone.post(url, data=_sign_form(guardian_name="Lena Berg")).status_code == 303
    with rt.sessions() as s:
        record = s.scalars(sa.select(ConsentRecord)).one()
        assert record.signed_by_guardian and record.signer_name == "Lena Berg"


def test_a_new_customer_writes_their_name(app: Flask, owner_client: FlaskClient) -> None:
    url, _ = _make_link(owner_client)
    phone = app.test_client()
    assert phone.post(url, data=_sign_form()).status_code == 422
    assert phone.post(url, data=_sign_form(name="Omar Said")).status_code == 303
    with _rt(app).sessions() as s:
        assert s.scalar(sa.select(Person.name).where(Person.name == "Omar Said"))


def test_the_data_copy_needs_the_code_and_five_wrong_codes_end_it(
    app: Flask, owner_client: FlaskClient, smtp: tuple[str, Inbox]
) -> None:
    _, inbox = smtp
    pid = _person(app)
    url, _ = _make_link(owner_client, pid)
    phone = app.test_client()
    sent = phone.post(url, data=_sign_form(email="lena@example.com"))
    my_url = "http://localhost" + sent.headers["Location"].split("/receipt/")[0]
    inbox.wait_for(1)
    assert phone.post(my_url + "/code").status_code == 302
    code_mail = inbox.wait_for(2)[1]
    found = re.search(r"\b(\d{6})\b", text_of(code_mail))
    assert found is not None
    code = found.group(1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _attempt in range(5):
        response = phone.post(my_url + "/copy", data={"code": wrong})
        assert response.status_code == 422
        assert response.mimetype == "text/html"
    assert "five times" in response.get_data(as_text=True)
    right = phone.post(my_url + "/copy", data={"code": code})
    assert right.status_code == 422 and right.mimetype == "text/html"
    with _rt(app).sessions() as s:
        assert not s.scalar(sa.select(Event).where(Event.kind == "person.exported"))
        assert s.scalar(sa.select(EmailCode.attempts)) == 5
    # A fresh code gives the ZIP.
    assert phone.post(my_url + "/code").status_code == 302
    found = re.search(r"\b(\d{6})\b", text_of(inbox.wait_for(3)[2]))
    assert found is not None
    code = found.group(1)
    download = phone.post(my_url + "/copy", data={"code": code})
    assert download.status_code == 200 and download.mimetype == "application/zip"


def test_the_link_pages_are_rate_limited(instance: Path, runtime: Runtime) -> None:
    from consentcam.web import create_app

    app = create_app(
        base_settings(instance, CUSTOMER_RATE_LIMIT="3/minute", CODE_RATE_LIMIT="2/minute"),
        instance_path=instance,
    )
    phone = app.test_client()
    answers = [phone.get("/m/nothing").status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]
    codes = [phone.post("/m/nothing/copy", data={"code": "123456"}).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    assert "Too many tries" in phone.post("/m/nothing/copy").get_data(as_text=True)
    app.extensions["runtime"].close()


def test_with_email_off_the_link_is_shown_and_the_owner_told(
    instance: Path, runtime: Runtime, users: dict[str, int]
) -> None:
    from consentcam.web import create_app

    app = create_app(base_settings(instance, TRUSTED_HOSTS="localhost"), instance_path=instance)
    client = app.test_client()
    login(client, "owner")
    pid = _person(app, email="lena@example.com")
    page = client.get(f"/people/{pid}/consent-link").get_data(as_text=True)
    assert 'id="mail-off"' in page
    url, _ = _make_link(client, pid, email="lena@example.com")
    assert 'id="mail-off"' in client.get("/").get_data(as_text=True)
    phone = app.test_client()
    sent = phone.post(url, data=_sign_form(email="lena@example.com"))
    assert sent.status_code == 303 and "sent=0" in sent.headers["Location"]
    receipt = phone.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'id="my-url"' in receipt and "/m/" in receipt
    with _rt(app).sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OutgoingMail)) == 0
    app.extensions["runtime"].close()


def test_a_failed_send_is_retried_then_shown_on_the_dashboard(
    app: Flask, owner_client: FlaskClient
) -> None:
    rt = _rt(app)
    with smtp_server(refuse=1) as (url, inbox):
        rt.settings["SMTP_URL"] = url
        with rt.sessions() as s:
            queued = mail.queue_mail(
                s,
                rt,
                kind="test",
                to="lena@example.com",
                subject="Hej",
                text="Hej",
                html="<p>Hej</p>",
            )
            s.commit()
            assert queued is not None
            mail_id = queued.id
        with unit_of_work(rt) as s:
            delay = mail.send_queued(s, rt, mail_id)
        assert delay == 60
        with rt.sessions() as s:
            row = s.get(OutgoingMail, mail_id)
            assert row is not None and row.last_error is not None
            assert row.state == MailState.QUEUED and row.attempts == 1 and "451" in row.last_error
        with unit_of_work(rt) as s:
            assert mail.send_queued(s, rt, mail_id) is None
        (message,) = inbox.wait_for(1)
        assert message["Subject"] == "Hej"
        with rt.sessions() as s:
            row = s.get(OutgoingMail, mail_id)
            assert row is not None
            assert row.state == MailState.SENT and row.body_enc is None and inbox.refused == 1
            # A month on, the next send forgets the row of this one.
            row.created_at = utcnow() - timedelta(days=31)
            s.commit()
            assert mail.forget_old(s, utcnow()) == 1
            s.commit()
        with rt.sessions() as s:
            assert s.get(OutgoingMail, mail_id) is None
    # A server that never answers: after MAIL_RETRIES tries it is failed and on the dashboard.
    with smtp_server(refuse=100) as (url, inbox):
        rt.settings["SMTP_URL"] = url
        rt.settings["MAIL_RETRIES"] = 2
        with rt.sessions() as s:
            queued = mail.queue_mail(
                s, rt, kind="test", to="omar@example.com", subject="Hej", text="Hej", html="Hej"
            )
            s.commit()
            assert queued is not None
            mail_id = queued.id
        with unit_of_work(rt) as s:
            assert mail.send_queued(s, rt, mail_id) == 60
        with unit_of_work(rt) as s:
            assert mail.send_queued(s, rt, mail_id) is None
            failed = s.get(OutgoingMail, mail_id)
            assert failed is not None
            assert failed.state == MailState.FAILED
    page = owner_client.get("/").get_data(as_text=True)
    assert 'id="mail-failures"' in page and "omar@example.com" in page


def test_the_worker_job_schedules_the_retry(app: Flask) -> None:
    """The job itself puts a refused message back on the queue with the growing delay."""
    rt = _rt(app)
    jobs = app.extensions["jobs"]
    with smtp_server(refuse=1) as (url, inbox):
        rt.settings["SMTP_URL"] = url
        with rt.sessions() as s:
            queued = mail.queue_mail(
                s, rt, kind="test", to="lena@example.com", subject="Hej", text="Hej", html="Hej"
            )
            s.commit()
        assert queued is not None
        jobs.enqueue("send_mail", queued.id)
        scheduled = jobs.huey.scheduled()
        assert [task.args for task in scheduled] == [(queued.id,)]
        assert inbox.messages == []


def test_the_api_makes_a_link_with_its_qr_code_and_reports_its_state(
    app: Flask, users: dict[str, int]
) -> None:
    from tests.hardening.helpers import owner_token

    token = owner_token(app, users)
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    pid = _person(app)
    made = client.post(f"/api/v1/people/{pid}/consent-links", json={"qr": "svg"}, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["qr"].lstrip().startswith("<svg") and body["link"]["state"] == "waiting"
    png = client.post(f"/api/v1/people/{pid}/consent-links", json={"qr": "png"}, headers=headers)
    import base64

    assert base64.b64decode(png.get_json()["qr"]).startswith(b"\x89PNG")
    link_id = body["link"]["id"]
    phone = app.test_client()
    assert phone.post(body["url"], data=_sign_form()).status_code == 303
    state = client.get(f"/api/v1/consent-links/{link_id}", headers=headers).get_json()
    assert state["state"] == "used" and state["consent_id"]
    assert client.get("/api/v1/consent-links/999999", headers=headers).status_code == 404
    assert (
        client.post("/api/v1/people/999999/consent-links", json={}, headers=headers).status_code
        == 404
    )


def test_the_api_mails_a_link_as_the_owners_page_does(
    app: Flask, owner_client: FlaskClient, users: dict[str, int], smtp: tuple[str, Inbox]
) -> None:
    from tests.hardening.helpers import owner_token

    _, inbox = smtp
    headers = {"Authorization": f"Bearer {owner_token(app, users)}"}
    pid = _person(app)
    made = app.test_client().post(
        f"/api/v1/people/{pid}/consent-links",
        json={"language": "sv", "email": "lena@example.com"},
        headers=headers,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["emailed"] is True
    by_api = inbox.wait_for(1)[0]
    _make_link(owner_client, pid, email="lena@example.com")
    by_page = inbox.wait_for(2)[1]
    assert made.get_json()["url"] in text_of(by_api)

    def without_link(message: EmailMessage) -> str:
        return re.sub(r"http://localhost/c/[A-Za-z0-9_-]+", "LINK", text_of(message))

    assert by_api["Subject"] == by_page["Subject"] and by_api["To"] == by_page["To"]
    assert without_link(by_api) == without_link(by_page)


def test_the_api_refuses_a_link_while_the_form_names_no_business(
    app: Flask, users: dict[str, int]
) -> None:
    from tests.hardening.helpers import owner_token

    headers = {"Authorization": f"Bearer {owner_token(app, users)}"}
    pid = _person(app)
    _rt(app).settings["BUSINESS_NAME"] = ""
    refused = app.test_client().post(
        f"/api/v1/people/{pid}/consent-links", json={}, headers=headers
    )
    assert refused.status_code == 409
    assert "business's name" in refused.get_json()["error"]
    with _rt(app).sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsentLink)) == 0


def test_the_receipt_pdf_holds_what_was_agreed_and_the_own_link(
    app: Flask, owner_client: FlaskClient
) -> None:
    import io

    from pypdf import PdfReader

    pid = _person(app)
    url, _ = _make_link(owner_client, pid)
    phone = app.test_client()
    sent = phone.post(url, data=_sign_form(biometric="y"))
    receipt = sent.headers["Location"].split("?")[0]
    pdf = phone.get(receipt + ".pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Lena Berg" in text and "Instagram" in text and "Facebook" in text
    assert "/m/" in text.replace("\n", "")
    with _rt(app).sessions() as s:
        digest = s.scalar(sa.select(ConsentRecord.evidence_sha256))
    assert digest is not None
    assert digest in text.replace("\n", "")
    # Another person's receipt is not reachable through this link.
    other = _person(app, "Omar Said")
    other_url, _ = _make_link(owner_client, other)
    other_sent = app.test_client().post(other_url, data=_sign_form())
    other_id = other_sent.headers["Location"].split("/receipt/")[1].split("?")[0]
    mine_prefix = receipt.rsplit("/", 1)[0]
    assert phone.get(f"{mine_prefix}/{other_id}").status_code == 404
    assert phone.get(f"{mine_prefix}/{other_id}.pdf").status_code == 404


def test_erasure_asked_on_the_own_page_is_a_task_for_the_owner(
    app: Flask, owner_client: FlaskClient
) -> None:
    pid = _person(app)
    url, _ = _make_link(owner_client, pid)
    phone = app.test_client()
    my_url = phone.post(url, data=_sign_form()).headers["Location"].split("/receipt/")[0]
    assert phone.get(my_url + "/erase").status_code == 200
    assert phone.post(my_url + "/erase").status_code == 302
    assert phone.post(my_url + "/erase").status_code == 302  # asked twice: one task
    dashboard = owner_client.get("/").get_data(as_text=True)
    assert "Lena Berg asks to be erased" in dashboard
    with _rt(app).sessions() as s:
        requests = s.scalars(sa.select(CustomerRequest)).all()
        assert [r.kind for r in requests] == ["erasure"]
        assert s.scalar(sa.select(Event.kind).where(Event.kind == "erasure.requested"))
    # The owner erases: the request is done and the link stops working.
    with _rt(app).sessions() as s:
        person = s.get(Person, pid)
        assert person is not None
        privacy.erase_person(s, _rt(app), person)
        s.commit()
    assert "asks to be erased" not in owner_client.get("/").get_data(as_text=True)
    assert phone.get(my_url).status_code == 404


def test_the_owner_stops_and_replaces_the_personal_link(
    app: Flask, owner_client: FlaskClient, smtp: tuple[str, Inbox]
) -> None:
    _, inbox = smtp
    pid = _person(app)
    url, _ = _make_link(owner_client, pid)
    phone = app.test_client()
    sent = phone.post(url, data=_sign_form(email="lena@example.com"))
    my_url = sent.headers["Location"].split("/receipt/")[0]
    inbox.wait_for(1)
    page = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    assert 'id="revoke-personal"' in page and 'id="new-consent-link"' in page
    assert owner_client.post(f"/people/{pid}/personal-link/new").status_code == 302
    new_mail = inbox.wait_for(2)[1]
    found = re.search(r"http://localhost/m/[A-Za-z0-9_-]+", text_of(new_mail))
    assert found is not None
    new_url = found.group(0)
    assert phone.get(my_url).status_code == 404
    assert phone.get(new_url).status_code == 200
    assert owner_client.post(f"/people/{pid}/personal-link/revoke").status_code == 302
    assert phone.get(new_url).status_code == 404
    # The customer can replace their own link too.
    with _rt(app).sessions() as s:
        person = s.get(Person, pid)
        assert person is not None
        token = links.issue_personal_link(s, person, actor_name=links.CUSTOMER)
        s.commit()
    replaced = phone.post(f"/m/{token}/new-link")
    assert replaced.status_code == 302 and token not in replaced.headers["Location"]
    assert phone.get(f"/m/{token}").status_code == 404
    assert phone.get(replaced.headers["Location"]).status_code == 200


def test_the_command_line_makes_a_link_and_reads_its_state(
    instance: Path, runtime: Runtime, tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner

    from consentcam.cli import main
    from consentcam.config import write_instance_config

    write_instance_config(
        instance,
        {
            key: runtime.settings[key]
            for key in (
                "SECRET_KEY",
                "ENCRYPTION_KEY",
                "DATABASE_URL",
                "MEDIA_DIR",
                "BUSINESS_NAME",
                "RESPONSIBLE_PERSON",
            )
        }
        | {"QUEUE_URL": "immediate", "PUBLIC_URL": "https://photos.example.se"},
    )
    with runtime.sessions() as s:
        person = people.add_person(s, "Lena Berg")
        s.commit()
        pid = person.id
    qr = tmp_path / "link.svg"
    args = ["--instance", str(instance), "person", "link", str(pid), "--qr", str(qr), "--json"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    made = json.loads(done.output)
    assert made["url"].startswith("https://photos.example.se/c/")
    assert qr.read_text().lstrip().startswith(("<?xml", "<svg"))
    state = CliRunner().invoke(
        main, ["--instance", str(instance), "person", "link-state", str(made["id"])]
    )
    assert state.exit_code == 0 and json.loads(state.output)["state"] == "waiting"
    missing = CliRunner().invoke(main, ["--instance", str(instance), "person", "link", "9999"])
    assert missing.exit_code != 0 and "no person 9999" in missing.output


def test_a_link_sent_by_email_works_and_biometric_consent_is_withdrawn_alone(
    app: Flask, owner_client: FlaskClient, smtp: tuple[str, Inbox]
) -> None:
    _, inbox = smtp
    pid = _person(app)
    shown, _ = _make_link(owner_client, pid, email="lena@example.com", language="en")
    (invite,) = inbox.wait_for(1)
    assert invite["To"] == "lena@example.com"
    assert "asks for your consent" in invite["Subject"]
    assert shown in text_of(invite)
    phone = app.test_client()
    sent = phone.post(shown, data=_sign_form(biometric="y"))
    my_url = sent.headers["Location"].split("/receipt/")[0]
    assert 'id="withdraw-biometric"' in phone.get(my_url).get_data(as_text=True)
    assert phone.post(my_url + "/withdraw", data={"what": "biometric"}).status_code == 302
    with _rt(app).sessions() as s:
        record = s.scalars(sa.select(ConsentRecord)).one()
        assert record.biometric_withdrawn_at is not None
        assert all(c.withdrawn_at is None for c in record.channels)
    page = phone.get(my_url).get_data(as_text=True)
    assert 'id="withdraw-biometric"' not in page and 'id="withdraw-instagram"' in page


def test_the_limits_hold_when_another_limiter_is_off(instance: Path, runtime: Runtime) -> None:
    """Flask-Limiter's shared RATELIMIT_ENABLED (off when no sign-in limit is set) is not ours."""
    from consentcam.web import create_app

    app = create_app(
        base_settings(instance, CUSTOMER_RATE_LIMIT="2/minute", RATELIMIT_ENABLED=False),
        instance_path=instance,
    )
    phone = app.test_client()
    assert [phone.get("/c/nothing").status_code for _ in range(3)] == [404, 404, 429]
    assert app.config["RATELIMIT_ENABLED"] is False
    app.extensions["runtime"].close()


def test_smtp_url_forms_and_a_required_starttls_that_is_missing() -> None:
    server = mail.parse_smtp_url("smtps://studio%40example.se:p%3Ass@mail.example.se")
    assert (server.host, server.port, server.security) == ("mail.example.se", 465, "tls")
    assert (server.username, server.password) == ("studio@example.se", "p:ss")
    assert mail.parse_smtp_url("smtp://mail.example.se").port == 587
    assert mail.parse_smtp_url("smtp+starttls://h:2525").security == "starttls-required"
    with pytest.raises(ValueError, match="SMTP_URL"):
        mail.parse_smtp_url("http://mail.example.se")
    # The local test server offers no STARTTLS: a URL that requires it must not send in clear.
    from email.message import EmailMessage

    message = EmailMessage()
    message["To"] = "lena@example.com"
    message.set_content("Hej")
    with smtp_server() as (url, inbox):
        required = url.replace("smtp://", "smtp+starttls://")
        with pytest.raises(mail.MailError, match="STARTTLS"):
            mail.deliver({"SMTP_URL": required}, message)
        assert inbox.messages == []
        mail.deliver({"SMTP_URL": url, "MAIL_FROM": "a@b.se"}, message)
        assert len(inbox.wait_for(1)) == 1


@pytest.mark.redis
def test_every_web_process_shares_the_limits_through_redis(
    instance: Path, runtime: Runtime
) -> None:
    """Two apps (two web processes) count together in Redis; in memory each counts alone."""
    import secrets

    from consentcam.web import create_app
    from tests.conftest import REDIS_URL, redis_available

    if not redis_available():
        pytest.skip("Redis is not running at " + REDIS_URL)
    name = "t-" + secrets.token_hex(6)  # this test's own counters
    apps = [
        create_app(
            base_settings(
                instance,
                CUSTOMER_RATE_LIMIT="3/minute",
                RATE_LIMIT_STORAGE=REDIS_URL,
                QUEUE_NAME=name,
            ),
            instance_path=instance,
        )
        for _ in range(2)
    ]
    first, second = (app.test_client() for app in apps)
    got = [first.get("/m/x").status_code, second.get("/m/x").status_code]
    got += [first.get("/m/x").status_code, second.get("/m/x").status_code]
    assert got == [404, 404, 404, 429]
    alone = [
        create_app(base_settings(instance, CUSTOMER_RATE_LIMIT="3/minute"), instance_path=instance)
        for _ in range(2)
    ]
    one, two = (app.test_client() for app in alone)
    assert [one.get("/m/x").status_code for _ in range(3)] == [404, 404, 404]
    assert two.get("/m/x").status_code == 404  # its own count in its own memory
    for app in apps + alone:
        app.extensions["runtime"].close()


def test_links_never_take_their_address_from_a_host_header(
    instance: Path, runtime: Runtime, users: dict[str, int], smtp: tuple[str, Inbox]
) -> None:
    """Without PUBLIC_URL or TRUSTED_HOSTS no link is made; with PUBLIC_URL, every link uses it."""
    from consentcam.web import create_app

    _, inbox = smtp
    bare = create_app(base_settings(instance, SMTP_URL=smtp[0]), instance_path=instance)
    client = bare.test_client()
    login(client, "owner")
    pid = _person(bare)
    page = client.get(f"/people/{pid}/consent-link").get_data(as_text=True)
    assert 'id="no-address"' in page
    refused = client.post(f"/people/{pid}/consent-link", data={"language": "sv"})
    assert "PUBLIC_URL" in refused.get_data(as_text=True) and "/c/" not in refused.get_data(
        as_text=True
    )
    with _rt(bare).sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsentLink)) == 0
    bare.extensions["runtime"].close()

    public = create_app(
        base_settings(instance, SMTP_URL=smtp[0], PUBLIC_URL="https://photos.example.se"),
        instance_path=instance,
    )
    client = public.test_client()
    login(client, "owner")
    made = client.post(
        f"/people/{pid}/consent-link", data={"language": "sv", "email": "lena@example.com"}
    ).get_data(as_text=True)
    found = re.search(r'value="(https://photos\.example\.se/c/[A-Za-z0-9_-]+)"', made)
    assert found is not None
    url = found.group(1)
    assert "photos.example.se/c/" in text_of(inbox.wait_for(1)[0])
    phone = public.test_client()
    sent = phone.post(
        url.replace("https://photos.example.se", ""), data=_sign_form(email="x@example.com")
    )
    assert sent.status_code == 303
    receipt = inbox.wait_for(2)[1]
    assert "https://photos.example.se/m/" in text_of(receipt) and "localhost" not in text_of(
        receipt
    )
    # A request with a Host the app does not answer to is refused before anything happens.
    assert phone.get("/c/x", headers={"Host": "evil.example"}).status_code == 400
    public.extensions["runtime"].close()
