"""CLI commands for photos: confirm that everyone in one is marked, scan reviewed photos again."""

from __future__ import annotations

import json

import click

from consentcam.commands.context import Context, pass_ctx, require_engine
from consentcam.uow import unit_of_work


@click.group("photo")
def photo_group() -> None:
    """Photos: confirming that everyone is marked, scanning again."""


@photo_group.command("confirm")
@click.argument("photo_id", type=int)
@click.option("--by", "email", required=True, help="E-mail of the owner who looked at the photo.")
@pass_ctx
def confirm(ctx: Context, photo_id: int, email: str) -> None:
    """Record that everyone in the photo is marked (after looking at it)."""
    from consentcam.models import Photo
    from consentcam.services import confirmation, users

    rt = ctx.runtime()
    try:
        with unit_of_work(rt) as session:
            user = users.user_by_email(session, email)
            if user is None:
                raise click.ClickException(f"there is no user {email}")
            photo = session.get(Photo, photo_id)
            if photo is None:
                raise click.ClickException(f"there is no photo {photo_id}")
            confirmation.confirm_photo(session, rt, photo, user=user)
    except confirmation.ConfirmationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Photo {photo_id}: everyone is marked, confirmed by {photo.faces_confirmed_by} "
        f"at {photo.faces_confirmed_at:%Y-%m-%d %H:%M} UTC."
    )


@photo_group.command("rescan")
@click.argument("photo_ids", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every scanned photo.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo and line.")
@pass_ctx
def rescan(ctx: Context, photo_ids: tuple[int, ...], every: bool, as_json: bool) -> None:
    """Scan photos again with the current face engine, keeping every decision made.

    A face found now that nobody marked is added for review, and the photo must be confirmed
    again. Use it after the face engine improved.
    """
    import sqlalchemy as sa

    from consentcam.models import Photo
    from consentcam.services import marking

    if not photo_ids and not every:
        raise click.ClickException("name the photos to scan again, or give --all")
    require_engine()
    rt = ctx.runtime()
    if every:
        with unit_of_work(rt) as session:
            photo_ids = tuple(
                session.scalars(
                    sa.select(Photo.id).where(Photo.scan_state == "done").order_by(Photo.id)
                )
            )
    for photo_id in photo_ids:
        # One unit of work per photo: a photo done is kept if a later one fails.
        with unit_of_work(rt) as session:
            added = marking.rescan_photo(session, rt, photo_id)
            numbers = [f.number for f in added]
        if as_json:
            click.echo(json.dumps({"photo": photo_id, "new_faces": numbers}))
        elif numbers:
            click.echo(f"Photo {photo_id}: new faces {numbers}; confirm it again.")
        else:
            click.echo(f"Photo {photo_id}: no new face.")


def register(main: click.Group) -> None:
    """Add these commands to the `consentcam` group."""
    main.add_command(photo_group)
