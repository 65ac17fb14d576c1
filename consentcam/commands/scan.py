"""`consentcam scan`: faces in image files, named from the people enrolled here, without a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from consentcam import config as config_mod
from consentcam.commands.context import Context, pass_ctx, require_engine


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def scan(ctx: Context, as_json: bool, paths: tuple[Path, ...]) -> None:
    """Scan image files for faces, without a server, and name the people enrolled here."""
    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.pipeline import scan_image

    require_engine()
    settings, matcher, names = _enrolled(ctx)
    failed = False
    for path in paths:
        try:
            if not path.is_file():
                raise ImageRejected(f"{path}: no such file")
            result = scan_image(path, settings, name=str(path))
        except ImageRejected as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"path": str(path), "error": str(exc)}))
            else:
                click.echo(f"{path}: error: {exc}", err=True)
            continue
        _print_result(path, result, _named_faces(result, matcher, names), as_json)
    if failed:
        sys.exit(1)


def _enrolled(ctx: Context) -> tuple[Any, Any, dict[int, str]]:
    """The scan settings, the matcher over the enrolled faces and every person's name.

    Outside an instance: the default settings and nobody enrolled.
    """
    import numpy as np

    from consentcam.faces.match import Matcher
    from consentcam.faces.pipeline import ScanSettings

    if not (ctx.instance / config_mod.CONFIG_FILE).exists():
        return ScanSettings(), Matcher(np.zeros((0, 128)), []), {}
    import sqlalchemy as sa

    from consentcam.models import Person
    from consentcam.services.scanning import enrolled_matcher, scan_settings
    from consentcam.uow import unit_of_work

    rt = ctx.runtime(queue=False)
    with unit_of_work(rt) as session:
        matcher = enrolled_matcher(session, rt)
        names = {pid: name for pid, name in session.execute(sa.select(Person.id, Person.name))}
    return scan_settings(rt), matcher, names


def _named_faces(result: Any, matcher: Any, names: dict[int, str]) -> list[dict[str, Any]]:
    """Each face found: its box, the enrolled person it matches (or None) and the distance."""
    import numpy as np

    if not result.faces:
        return []
    matches = matcher.match_many(np.stack([f.encoding for f in result.faces]))
    faces: list[dict[str, Any]] = []
    for found, match in zip(result.faces, matches, strict=True):
        person = None
        if match.person_id is not None:
            person = {"id": int(match.person_id), "name": names.get(int(match.person_id), "")}
        faces.append(
            {
                "box": [int(v) for v in found.box],
                "person": person,
                "distance": None if match.distance is None else round(float(match.distance), 4),
            }
        )
    return faces


def _print_result(path: Path, result: Any, faces: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        record = {
            "path": str(path),
            "width": result.width,
            "height": result.height,
            "faces": faces,
            "seconds": round(result.seconds, 4),
        }
        click.echo(json.dumps(record))
        return
    click.echo(
        f"{path}: {result.width}x{result.height}, {len(faces)} face(s), {result.seconds:.2f} s"
    )
    for n, face in enumerate(faces, start=1):
        who = face["person"]["name"] if face["person"] else "nobody enrolled"
        click.echo(f"  face {n} at {face['box']}: {who}")


def register(main: click.Group) -> None:
    """Add this command to the `consentcam` group."""
    main.add_command(scan)
