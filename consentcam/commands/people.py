"""Commands for people and accounts: add a person with consent, consent links, reset a password."""

from __future__ import annotations

import json
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from consentcam.commands.context import Context, pass_ctx, require_engine


@click.group()
def user() -> None:
    """Accounts: reset a forgotten password."""


@user.command("password")
@click.argument("email")
@click.password_option(help="The new password (at least 12 characters).")
@pass_ctx
def user_password(ctx: Context, email: str, password: str) -> None:
    """Set a new password for an account and end all its sessions (a forgotten password)."""
    from consentcam.services import users
    from consentcam.uow import unit_of_work

    problem = users.password_problem(password)
    if problem:
        raise click.ClickException(problem)
    with unit_of_work(ctx.runtime()) as session:
        account = users.user_by_email(session, email)
        if account is None:
            raise click.ClickException(f"no account for {email}")
        users.reset_password(session, account, password)
    click.echo(f"new password set for {email}; every session of it is ended")


@click.group()
def person() -> None:
    """People and their consent."""


@person.command("add")
@click.argument("name")
@click.option(
    "--channels", required=True, help="Comma-separated: instagram,facebook,website,print."
)
@click.option(
    "--evidence",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed form: a scan or photo (JPEG, PNG) or a PDF.",
)
@click.option("--biometric", is_flag=True, help="The person agreed to automatic face recognition.")
@click.option(
    "--reference",
    "references",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A photo showing only this person's face (needs --biometric); repeat for more.",
)
@click.option("--email", default=None)
@click.option("--minor", is_flag=True, help="The person is under 18: --guardian signs.")
@click.option("--guardian", default=None, help="Name of the guardian who signed.")
@click.option("--expires", default=None, help="Expiry date, YYYY-MM-DD.")
@click.option(
    "--language",
    type=click.Choice(["en", "sv"]),
    default="en",
    show_default=True,
    help="Language of the form that was signed.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def person_add(ctx: Context, as_json: bool, **given: Any) -> None:
    """Add a person with a signed consent, and enrol reference faces under biometric consent."""
    _check_add_options(given)
    expires_at = _expiry(given["expires"])
    if given["references"]:
        require_engine()
    added = _add_person(ctx, given, expires_at)
    if as_json:
        click.echo(json.dumps(added))
    else:
        click.echo(
            f"added {added['name']} (person {added['id']}) with consent {added['consent']}; "
            f"{added['references']} reference face(s)"
        )


def _check_add_options(given: dict[str, Any]) -> None:
    if given["references"] and not given["biometric"]:
        raise click.ClickException(
            "--reference needs --biometric: reference faces are stored only with biometric consent"
        )
    if given["minor"] and not given["guardian"]:
        raise click.ClickException("--minor needs --guardian: a guardian signs for a minor")


def _expiry(expires: str | None) -> datetime | None:
    if not expires:
        return None
    try:
        return datetime.strptime(expires, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise click.ClickException(f"--expires {expires!r}: use YYYY-MM-DD") from exc


def _add_person(ctx: Context, given: dict[str, Any], expires_at: datetime | None) -> dict[str, Any]:
    """Add the person, their consent and reference faces in one unit of work."""
    from consentcam.services import people
    from consentcam.uow import unit_of_work

    rt = ctx.runtime()
    evidence: Path = given["evidence"]
    try:
        with unit_of_work(rt) as session:
            p = people.add_person(
                session, given["name"], email=given["email"], is_minor=given["minor"]
            )
            record = people.give_consent(
                session,
                rt,
                p,
                channels=[given["channels"]],
                evidence=evidence.read_bytes(),
                evidence_mime=mimetypes.guess_type(evidence.name)[0] or "",
                evidence_kind="scan",
                signer_name=given["guardian"] or given["name"],
                guardian=bool(given["guardian"]),
                expires_at=expires_at,
                biometric=given["biometric"],
                language=given["language"],
            )
            refs = [
                people.enrol_reference(session, rt, p, ref.read_bytes(), ref.name)
                for ref in given["references"]
            ]
            return {"id": p.id, "name": p.name, "consent": record.id, "references": len(refs)}
    except (people.ConsentError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@person.command("link")
@click.argument("person_id", type=int)
@click.option(
    "--language",
    type=click.Choice(["en", "sv"]),
    default="sv",
    show_default=True,
    help="Language of the form the link opens.",
)
@click.option(
    "--qr",
    "qr_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the link's QR code to this file (.svg or .png).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def person_link(
    ctx: Context, person_id: int, language: str, qr_file: Path | None, as_json: bool
) -> None:
    """Make a one-time consent link the person signs on their own phone (needs PUBLIC_URL)."""
    import segno

    from consentcam.models import Person
    from consentcam.services import links
    from consentcam.uow import unit_of_work

    rt = ctx.runtime()
    base = str(rt.settings.get("PUBLIC_URL") or "").rstrip("/")
    if not base:
        raise click.ClickException("set PUBLIC_URL: the link must say where this instance is")
    if qr_file is not None and qr_file.suffix.lower() not in (".svg", ".png"):
        raise click.ClickException("--qr: name a .svg or .png file")
    with unit_of_work(rt) as session:
        found = session.get(Person, person_id)
        if found is None or found.erased_at is not None:
            raise click.ClickException(f"no person {person_id}")
        issued = links.create_consent_link(session, rt, found, language=language)
        link_id, expires, name = issued.link.id, issued.link.expires_at, found.name
    url = _sign_url(ctx, base, issued.token)
    if qr_file is not None:
        segno.make(url, error="m").save(str(qr_file), scale=8, border=2)
    if as_json:
        click.echo(json.dumps({"id": link_id, "url": url, "expires_at": expires.isoformat()}))
    else:
        click.echo(
            f"consent link {link_id} for {name}, valid once until {expires:%Y-%m-%d %H:%M} UTC:"
        )
        click.echo(url)


def _sign_url(ctx: Context, base: str, token: str) -> str:
    """The address of the signing page for ``token``, as the web app names it."""
    from flask import url_for

    from consentcam.web import create_app

    app = create_app(instance_path=ctx.instance)
    try:
        with app.test_request_context(base_url=base):
            return base + url_for("mine.sign", token=token)
    finally:
        app.extensions["runtime"].close()


@person.command("link-state")
@click.argument("link_id", type=int)
@pass_ctx
def person_link_state(ctx: Context, link_id: int) -> None:
    """Say whether a consent link is waiting, used or expired."""
    from consentcam.models import ConsentLink
    from consentcam.services import links
    from consentcam.uow import unit_of_work

    with unit_of_work(ctx.runtime(queue=False)) as session:
        link = session.get(ConsentLink, link_id)
        if link is None:
            raise click.ClickException(f"no consent link {link_id}")
        click.echo(json.dumps(links.consent_link_json(link)))


def register(main: click.Group) -> None:
    """Add these commands to the `consentcam` group."""
    main.add_command(user)
    main.add_command(person)
