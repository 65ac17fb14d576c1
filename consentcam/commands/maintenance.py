"""Maintenance commands: sweep the media folder, rotate the encryption key, back up and restore."""

from __future__ import annotations

from pathlib import Path

import click

from consentcam.commands.context import Context, pass_ctx


@click.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--min-age",
    default=600.0,
    show_default=True,
    help="Seconds a file without a row must have existed (uploads in flight are younger).",
)
@pass_ctx
def sweep_command(ctx: Context, dry_run: bool, min_age: float) -> None:
    """Remove media files no row refers to, and partial files of killed processes."""
    from consentcam.services.sweeper import sweep
    from consentcam.uow import unit_of_work

    rt = ctx.runtime(queue=False)
    with unit_of_work(rt) as session:
        result = sweep(session, rt, dry_run, min_age=min_age)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {len(result.orphans)} unreferenced file(s) and "
        f"{len(result.temporaries)} partial file(s)"
    )
    for key in result.missing:
        click.echo(f"missing: {key} is referenced but not on disk", err=True)


@click.command("rotate-key")
@pass_ctx
def rotate_key_command(ctx: Context) -> None:
    """Re-encrypt templates, evidence and tokens under a new key, then drop the old one.

    Stop the server and workers first (or restart them right after): a running process
    knows only the keys it started with. Safe to run again if it is interrupted.
    """
    from consentcam.maintenance import rotate_key

    rotate_key(ctx.instance)


@click.command("backup")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--without-key", is_flag=True, help="Leave the encryption key out of the backup.")
@pass_ctx
def backup_command(ctx: Context, output: Path, without_key: bool) -> None:
    """Write a consistent snapshot of the database, media files and config to one file."""
    from consentcam.maintenance import make_backup

    manifest = make_backup(ctx.instance, output, with_key=not without_key)
    click.echo(f"backup written to {output} ({len(manifest['files'])} file(s))")
    if not without_key:
        click.echo(
            "warning: the backup contains the encryption key; keep it as safe as the "
            "instance itself (or use --without-key and store the key apart)",
            err=True,
        )


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--instance",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new, empty instance folder to restore into.",
)
@click.option("--database-url", default=None, help="Restore into this (PostgreSQL) database.")
@click.option("--encryption-key", default=None, envvar="CONSENTCAM_RESTORE_KEY")
def restore_command(
    archive: Path, target: Path, database_url: str | None, encryption_key: str | None
) -> None:
    """Restore a backup into a new instance folder."""
    from consentcam.maintenance import restore_backup
    from consentcam.storage import make_private

    manifest = restore_backup(
        archive, target.resolve(), database_url=database_url, encryption_key=encryption_key
    )
    make_private(target.resolve(), deep=True)
    click.echo(f"restored {len(manifest['files'])} file(s) into {target}")


def register(main: click.Group) -> None:
    """Add the maintenance commands to the `consentcam` group."""
    for command in (sweep_command, rotate_key_command, backup_command, restore_command):
        main.add_command(command)
