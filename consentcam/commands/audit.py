"""CLI commands for the audit, the event log, retention and the record of processing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consentcam.commands.context import Context, pass_ctx
from consentcam.uow import unit_of_work

if TYPE_CHECKING:
    from consentcam.runtime import Runtime


@click.command()
@click.option("--quarter", required=True, help="The quarter, e.g. 2026Q4.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "csv", "pdf"]),
    default="html",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write the report to.",
)
@click.option(
    "--rescan", is_flag=True, help="Scan the published copies again for unaccounted faces."
)
@pass_ctx
def audit(ctx: Context, quarter: str, fmt: str, output: Path, rescan: bool) -> None:
    """Run the quarter's audit, store its signed-ready HTML report, and write it as FORMAT."""
    from consentcam.domain.audit import Quarter
    from consentcam.services import audit as audits

    try:
        q = Quarter.parse(quarter)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--quarter") from exc
    if rescan:
        from consentcam.commands.context import require_engine

        require_engine()
    rt = ctx.runtime()

    def progress(done: int, total: int) -> None:
        # One line that updates in place on a terminal, one line per step otherwise.
        end = "\n" if done == total or not sys.stderr.isatty() else ""
        click.echo(f"\rre-scanning published copies: {done}/{total}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    with unit_of_work(rt) as session:
        run = audits.run_audit(session, rt, q, rescan=rescan, progress=progress if rescan else None)
    output.write_bytes(_report_bytes(rt, run, fmt))
    click.echo(
        f"audit {run.id} for {q}: {run.publication_count} publication(s), "
        f"{run.finding_count} finding(s); report SHA-256 {run.report_sha256}; wrote {output}"
    )


def _report_bytes(rt: Runtime, run: Any, fmt: str) -> bytes:
    """The stored audit report as HTML, or its snapshot as CSV or PDF."""
    from consentcam.services import audit as audits

    if fmt == "html":
        return bytes(audits.read_report(rt, run))
    snapshot = audits.read_snapshot(rt, run)
    if fmt == "csv":
        from consentcam.reports.csv import render_csv

        return render_csv(snapshot).encode("utf-8")
    from consentcam.reports.pdf import render_pdf

    return bytes(render_pdf(snapshot, html_sha256=run.report_sha256))


@click.group("log")
def log_group() -> None:
    """The tamper-evident event log."""


@log_group.command("verify")
@pass_ctx
def log_verify(ctx: Context) -> None:
    """Check every event's hash and link, and that the last head kept outside the log is in it."""
    from consentcam.services import audit as audits

    rt = ctx.runtime(queue=False)
    with unit_of_work(rt) as session:
        check = audits.verify_log(session, rt)
    if check.problem is not None:
        where = (
            f" (checked against the head kept in the {check.head_source})"
            if check.head_source
            else ""
        )
        click.echo(
            f"TAMPERED at event {check.problem.seq} ({check.problem.kind}): "
            f"{check.problem.message}{where}"
        )
        sys.exit(1)
    click.echo(f"{check.count} events, chain intact")


@click.command()
@click.option(
    "--inactive-for",
    "period",
    default=None,
    help="Period without activity, e.g. 2y, 18m, 90d (default: the RETENTION setting).",
)
@click.option("--dry-run", is_flag=True, help="List who would be erased; change nothing.")
@pass_ctx
def purge(ctx: Context, period: str | None, dry_run: bool) -> None:
    """Erase people with no activity for the retention period (skipping those still online)."""
    from consentcam.services import privacy

    rt = ctx.runtime()
    try:
        with unit_of_work(rt) as session:
            # A dry run changes nothing, so its unit of work commits nothing.
            result = privacy.purge(session, rt, period, dry_run=dry_run)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--inactive-for") from exc
    verb = "would erase" if dry_run else "erased"
    click.echo(
        f"{len(result.erase)} person(s) inactive since {result.cutoff.date()} ({verb}); "
        f"{len(result.kept_live)} kept because a live post shows them"
    )
    for item in result.erase:
        click.echo(
            f"  {verb}: person {item.person_id} {item.name} (last activity {item.last_activity_at.date()})"
        )
    for item in result.kept_live:
        posts = ", ".join(f"#{p}" for p in item.live_posts)
        click.echo(
            f"  kept: person {item.person_id} {item.name}: still shown in live post(s) {posts}; "
            "withdraw consent first"
        )


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@pass_ctx
def records(ctx: Context, fmt: str, output: Path | None) -> None:
    """Print the record of processing activities (GDPR Art. 30) from this instance's settings."""
    from functools import partial

    from consentcam.reports import i18n
    from consentcam.services.records import record_of_processing, to_html, to_markdown

    settings = ctx.runtime(queue=False).settings
    language = str(settings.get("LANGUAGE") or "en")
    record = record_of_processing(
        settings, gettext=partial(i18n.gettext, language), language=language
    )
    text = to_markdown(record) if fmt == "markdown" else to_html(record)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


def register(main: click.Group) -> None:
    """Add these commands to the `consentcam` group."""
    for command in (audit, log_group, purge, records):
        main.add_command(command)
