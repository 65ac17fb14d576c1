"""Setting an instance up: `consentcam init` (config, database, first owner) and `migrate`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from consentcam import config as config_mod
from consentcam.commands.context import Context, pass_ctx


@dataclass
class Answers:
    """What `consentcam init` needs, from its options or asked for."""

    owner_email: str | None
    owner_name: str | None
    owner_password: str | None
    business: str | None
    responsible: str | None
    language: str | None


@click.command()
@click.option(
    "--owner-email", default=None, help="E-mail of the first owner account (else asked for)."
)
@click.option("--owner-name", default=None, help="The owner's own name (else asked for).")
@click.option(
    "--owner-password",
    default=None,
    envvar="CONSENTCAM_OWNER_PASSWORD",
    help="At least 12 characters (else asked for, twice, without showing it).",
)
@click.option("--business", default=None, help="The business's name, printed on forms and audits.")
@click.option(
    "--responsible",
    default=None,
    help="The person responsible for the data, named on the form (default: the owner).",
)
@click.option(
    "--language",
    type=click.Choice(["en", "sv"]),
    default=None,
    help="Default language of the app and the form: sv or en.",
)
@click.option("--database-url", default=None, help="Default: SQLite in the instance folder.")
@click.option("--queue-url", default=None, help="Default: SQLite queue in the instance folder.")
@pass_ctx
def init(
    ctx: Context,
    owner_email: str | None,
    owner_name: str | None,
    owner_password: str | None,
    business: str | None,
    responsible: str | None,
    language: str | None,
    database_url: str | None,
    queue_url: str | None,
) -> None:
    """Create the instance: config with fresh keys, migrated database, first owner.

    Given the owner's e-mail and password as options it asks nothing (what is not given keeps
    its default); otherwise it asks for each detail in turn, with a suggestion Enter accepts.
    """
    cfg_path = ctx.instance / config_mod.CONFIG_FILE
    if cfg_path.exists():
        raise click.ClickException(f"{cfg_path} exists already: this instance is set up")
    answers = Answers(owner_email, owner_name, owner_password, business, responsible, language)
    if owner_email is None or owner_password is None:
        _ask(answers)
    values = _config_values(answers)
    if database_url:
        values["database_url"] = database_url
    if queue_url:
        values["queue_url"] = queue_url
    config_mod.write_instance_config(ctx.instance, values)
    _create_database(ctx, answers)
    click.echo(f"Instance ready at {ctx.instance}. Start it with: consentcam serve")
    if not values["business_name"]:
        click.echo(
            "No business name yet: set it under Settings before recording consents "
            "(the consent form names the business)."
        )


def _ask(answers: Answers) -> None:
    """Ask for every detail the options left out, each with a suggestion Enter accepts."""
    from consentcam.services import users

    click.echo("Setting up consentcam. Press Enter to keep the suggestion in [brackets].")
    answers.owner_email = answers.owner_email or _ask_text(
        "Your e-mail (you sign in with it)", None
    )
    answers.owner_name = answers.owner_name or _ask_text(
        "Your own name (shown on what you do in the app)", None
    )
    if answers.owner_password is None:
        answers.owner_password = _ask_password(users.password_problem)
    answers.business = answers.business or _ask_text(
        "The business's name (printed on the consent form)", None
    )
    answers.responsible = answers.responsible or _ask_text(
        "Who is responsible for the customers' data (named on the form)", answers.owner_name
    )
    answers.language = answers.language or click.prompt(
        "Language of the app and the form (sv = Swedish, en = English)",
        default=_suggested_language(),
        type=click.Choice(["sv", "en"]),
    )


def _config_values(answers: Answers) -> dict[str, Any]:
    """The new config.toml's values: fresh keys and the checked answers."""
    from consentcam.crypto import new_key
    from consentcam.services import users

    assert answers.owner_email is not None and answers.owner_password is not None
    owner_name = (answers.owner_name or "").strip() or "Owner"
    answers.owner_name = owner_name
    checked = (("name", owner_name), ("business", answers.business))
    for label, text in (*checked, ("responsible", answers.responsible)):
        if text and config_mod.has_control_characters(text):
            raise click.ClickException(f"the {label} may not contain line breaks or tabs")
    problem = users.password_problem(answers.owner_password)
    if problem:
        raise click.ClickException(problem)
    return {
        "secret_key": config_mod.new_secret(),
        "encryption_key": new_key(),
        "business_name": (answers.business or "").strip(),
        "responsible_person": (answers.responsible or "").strip() or owner_name,
        "language": answers.language or "en",
    }


def _create_database(ctx: Context, answers: Answers) -> None:
    """Migrate the new database, add the first owner, and make the instance its user's alone."""
    from consentcam.db import upgrade
    from consentcam.services import users
    from consentcam.storage import make_private
    from consentcam.uow import unit_of_work

    assert answers.owner_email is not None and answers.owner_password is not None
    rt = ctx.runtime(queue=False)
    upgrade(rt.engine)
    with unit_of_work(rt) as session:
        users.create_user(
            session,
            answers.owner_email,
            answers.owner_name or "Owner",
            answers.owner_password,
            role="owner",
        )
    make_private(ctx.instance, deep=True)


def _ask_text(question: str, default: str | None) -> str:
    """Ask until a non-empty answer comes (Enter accepts ``default`` when there is one)."""
    while True:
        answer = str(click.prompt(question, default=default or None, show_default=bool(default)))
        answer = answer.strip()
        if answer and not config_mod.has_control_characters(answer):
            return answer
        click.echo("Please write an answer on one line.")


def _ask_password(problem: Callable[[str], str | None]) -> str:
    """Ask for the password twice until it is long enough and both agree."""
    while True:
        password = str(click.prompt("Choose a password (12 characters or more)", hide_input=True))
        why = problem(password)
        if why:
            click.echo(f"{why[:1].upper()}{why[1:]}. Try again.")
            continue
        again = str(click.prompt("The same password again", hide_input=True))
        if again == password:
            return password
        click.echo("The two passwords differ. Try again.")


def _suggested_language() -> str:
    """Swedish on a Swedish system, else English."""
    lang = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "sv" if lang.lower().startswith("sv") else "en"


@click.command()
@pass_ctx
def migrate(ctx: Context) -> None:
    """Bring the database schema up to date."""
    from consentcam.db import upgrade

    upgrade(ctx.runtime(queue=False).engine)
    click.echo("database is up to date")


def register(main: click.Group) -> None:
    """Add these commands to the `consentcam` group."""
    main.add_command(init)
    main.add_command(migrate)
