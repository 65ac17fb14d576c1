"""Outgoing e-mail: queued in the database, sent over SMTP by the worker, retried, failures kept.

The caller renders the message (plain text and simple HTML, in the reader's language, with no
images and no tracking) and queues it in its own unit of work; the worker's job to send it is
queued once that commits. With no ``SMTP_URL`` e-mail is off: nothing is queued and the pages
show the links as QR codes and text to copy instead.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import first_and_total
from consentcam.domain.types import MailState
from consentcam.models import OutgoingMail, User, utcnow
from consentcam.runtime import Runtime, TaskQueue
from consentcam.uow import later, unit_of_work

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 30
#: How long the row of a sent e-mail (its address, subject and time) is kept.
SENT_KEPT = timedelta(days=30)
ERROR_MAX = 1000


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # "starttls" (when offered), "starttls-required" or "tls"
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    """Read ``SMTP_URL``: smtp:// (STARTTLS when offered), smtp+starttls:// or smtps://."""
    parts = urlsplit(url)
    schemes = {"smtp": "starttls", "smtp+starttls": "starttls-required", "smtps": "tls"}
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"SMTP_URL {url!r}: use smtp://host:587, smtp+starttls://host:587 or smtps://host:465"
        )
    security = schemes[parts.scheme]
    return SmtpServer(
        host=parts.hostname,
        port=parts.port or (465 if security == "tls" else 587),
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def mail_enabled(settings: dict[str, Any]) -> bool:
    """Whether the instance can send e-mail (an SMTP server and a sender are set)."""
    return bool(str(settings.get("SMTP_URL") or "").strip())


def sender(settings: dict[str, Any]) -> str:
    configured = str(settings.get("MAIL_FROM") or "").strip()
    if configured:
        return configured
    host = urlsplit(str(settings.get("PUBLIC_URL") or "")).hostname or "localhost"
    return f"no-reply@{host}"


def queue_mail(
    session: so.Session,
    rt: Runtime,
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    person_id: int | None = None,
) -> OutgoingMail | None:
    """Queue one message in the caller's transaction, to be sent once it commits; None when
    e-mail is off or there is no address."""
    to = (to or "").strip()
    if not mail_enabled(rt.settings) or not to:
        return None
    body = json.dumps({"text": text, "html": html}).encode("utf-8")
    mail = OutgoingMail(
        kind=kind,
        to_address=to[:254],
        subject=subject[:300],
        body_enc=rt.vault.encrypt(body),
        person_id=person_id,
        state="queued",
    )
    session.add(mail)
    session.flush()
    later(session, "send_mail", mail.id)
    return mail


def owner_addresses(session: so.Session) -> list[str]:
    """Where notices for the owner go: every active owner account."""
    return list(
        session.scalars(
            sa.select(User.email)
            .where(User.role == "owner", User.active.is_(True))
            .order_by(User.id)
        )
    )


def build_message(
    settings: dict[str, Any], mail: OutgoingMail, text: str, html: str
) -> EmailMessage:
    message = EmailMessage()
    origin = sender(settings)
    message["From"] = origin
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=origin.rpartition("@")[2] or "localhost")
    # Receipts and notices: no auto-replies back to us.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def deliver(settings: dict[str, Any], message: EmailMessage) -> None:
    """Hand one message to the SMTP server of ``SMTP_URL``; MailError when that fails."""
    server = parse_smtp_url(str(settings.get("SMTP_URL") or ""))
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if server.security == "tls":
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=SMTP_TIMEOUT, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT)
        with client:
            client.ehlo()
            if server.security != "tls":
                if client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                elif server.security == "starttls-required":
                    raise MailError(f"{server.host} does not offer STARTTLS")
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from exc


def retry_delay(rt: Runtime, attempts: int) -> int:
    """Seconds before the next try: MAIL_RETRY_DELAY, doubled after each failure."""
    first = max(1, int(rt.settings.get("MAIL_RETRY_DELAY") or 60))
    return int(first * 2 ** max(0, attempts - 1))


def send_queued(session: so.Session, rt: Runtime, mail_id: int) -> int | None:
    """Send one queued message; returns seconds until a retry, or None when done.

    The outcome (sent, or the failed try) is written in the caller's unit of work.

    A message is tried MAIL_RETRIES times; then it stays "failed" with its error for the
    dashboard. Once sent, its body (which may hold a personal link) is dropped.
    """
    mail = session.get(OutgoingMail, mail_id)
    if mail is None or mail.state != "queued" or mail.body_enc is None:
        return None
    body = json.loads(rt.vault.decrypt(bytes(mail.body_enc)))
    mail.attempts += 1
    try:
        deliver(rt.settings, build_message(rt.settings, mail, body["text"], body["html"]))
    except (MailError, ValueError) as exc:
        mail.last_error = str(exc)[:ERROR_MAX]
        retries = max(1, int(rt.settings.get("MAIL_RETRIES") or 5))
        if mail.attempts >= retries:
            mail.state = MailState.FAILED
            log.error("e-mail %s to %s failed for good: %s", mail.id, mail.to_address, exc)
            return None
        delay = retry_delay(rt, mail.attempts)
        log.warning(
            "e-mail %s failed (try %s), retrying in %ss: %s", mail.id, mail.attempts, delay, exc
        )
        return delay
    mail.state = MailState.SENT
    mail.sent_at = utcnow()
    mail.last_error = None
    mail.body_enc = None
    forget_old(session, mail.sent_at)
    session.flush()
    return None


def forget_old(session: so.Session, now: datetime) -> int:
    """Delete the rows of e-mails sent (or cancelled) more than SENT_KEPT ago: no address is
    kept longer than it serves as a record that the e-mail went out."""
    done = session.execute(
        sa.delete(OutgoingMail)
        .where(
            OutgoingMail.state.in_(("sent", "cancelled")),
            OutgoingMail.created_at < now - SENT_KEPT,
        )
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def failed_mails(session: so.Session, limit: int = 5) -> tuple[int, list[OutgoingMail]]:
    """How many e-mails failed for good, and the newest few (for the dashboard)."""
    query = (
        sa.select(OutgoingMail)
        .where(OutgoingMail.state == "failed")
        .order_by(OutgoingMail.id.desc())
    )
    return first_and_total(session, query, limit)


def retry_failed(session: so.Session, mail_id: int) -> OutgoingMail | None:
    """Put a failed message back in the queue (the owner fixed the settings), to be sent again
    once the caller's unit of work commits."""
    mail = session.get(OutgoingMail, mail_id)
    if mail is None or mail.state != "failed" or mail.body_enc is None:
        return None
    mail.state = MailState.QUEUED
    mail.attempts = 0
    session.flush()
    later(session, "send_mail", mail.id)
    return mail


def enqueue(rt: Runtime, ids: Iterable[int]) -> None:
    """Hand committed messages to the worker (those queued in a unit of work are handed over by
    its commit)."""
    jobs = rt.jobs
    if jobs is None:
        return
    for mail_id in ids:
        jobs.enqueue("send_mail", mail_id)


def register(jobs: TaskQueue) -> None:
    def send_mail_task(rt: Runtime, mail_id: int) -> None:
        with unit_of_work(rt) as session:
            delay = send_queued(session, rt, mail_id)
        if delay is not None:
            jobs.schedule("send_mail", (mail_id,), delay)

    jobs.task("send_mail")(send_mail_task)


def requeue_unsent(rt: Runtime) -> int:
    """Queue again every message still waiting (a worker stopped, a job lost)."""
    with rt.sessions() as session:
        ids = list(
            session.scalars(sa.select(OutgoingMail.id).where(OutgoingMail.state == "queued"))
        )
    enqueue(rt, ids)
    return len(ids)
